"""The layer and function references in docs/LANGUAGE.md, written from the registry and the
function table so the two cannot drift."""

from __future__ import annotations

from .layers import ALL, REQUIRED, Layer

START, END = "<!-- layers:start -->", "<!-- layers:end -->"
FUNCTIONS_START, FUNCTIONS_END = "<!-- functions:start -->", "<!-- functions:end -->"


def _dsl(value: object) -> str:
    """A default value as it is written in a .nn file."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "none"}[value]
    return f'"{value}"' if isinstance(value, str) else repr(value)


def _signature(layer: Layer) -> str:
    parts = []
    for a in layer.args:
        if a.infer is not None:
            parts.append(f"{a.name}?")
        elif a.default is REQUIRED:
            parts.append(a.name)
        else:
            parts.append(f"{a.name}={_dsl(a.default)}")
    return f"{layer.name}({', '.join(parts)})"


def layer_table() -> str:
    """Markdown: one row per registry entry."""
    rows = [
        "| Layer | Input | Example | What it does |",
        "| --- | --- | --- | --- |",
    ]
    for layer in ALL:
        rows.append(
            f"| `{_signature(layer)}` | `{layer.layout}` | `{layer.example}` | {layer.doc} |"
        )
    return "\n".join(rows) + "\n"


def function_table() -> str:
    """Markdown: one row per built-in function of a forward."""
    from .functions import function_rows

    rows = ["| Function | What it does | Generated code |", "| --- | --- | --- |"]
    rows += [f"| `{sig}` | {doc} | `{code}` |" for sig, doc, code in function_rows()]
    return "\n".join(rows) + "\n"


def _replace(document: str, start: str, end: str, table: str) -> str:
    head, rest = document.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}{end}{tail}"


def splice(document: str) -> str:
    """The document with the text between each pair of markers replaced by a fresh table."""
    document = _replace(document, START, END, layer_table())
    return _replace(document, FUNCTIONS_START, FUNCTIONS_END, function_table())
