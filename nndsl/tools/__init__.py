"""Tools around the language: fmt, graph, summary, explain, new, completion, highlighting."""
