"""The drawing of a dataflow graph as Graphviz DOT or Mermaid text.

Every label goes through :func:`dot_quote` or :func:`mermaid_quote`, so no name or shape can
break out of its string.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Graph:
    """A drawable graph: nodes (id, kind, label, cluster index or None), clusters (label,
    parent index or None) and edges (from, to, label), ids counting from 0 in drawing order."""

    name: str
    nodes: list[tuple[int, str, str, int | None]]
    clusters: list[tuple[str, int | None]]
    edges: list[tuple[int, int, str]]


def dot_quote(text: str) -> str:
    """A DOT string literal; a newline becomes a line break, other control characters a space.

    >>> dot_quote('a"b\\\\c\\nd')
    '"a\\\\"b\\\\\\\\c\\\\nd"'
    """
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ch == "\x7f":
            out.append(" ")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_MERMAID_SAFE = set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,:()*+-/=@[]'"
)


def mermaid_quote(text: str) -> str:
    """A Mermaid string: every character that could mean something to Mermaid (quotes, ``#``,
    ``<``, ``|``, braces, ...) written as an entity code; a newline becomes ``<br/>``.

    >>> mermaid_quote('a"b\\n<c>')
    '"a#34;b<br/>#60;c#62;"'
    """
    lines = [
        "".join(ch if ch in _MERMAID_SAFE else f"#{ord(ch)};" for ch in line)
        for line in text.split("\n")
    ]
    return '"' + "<br/>".join(lines) + '"'


DOT_SHAPES = {
    "input": "invhouse",
    "output": "house",
    "layer": "box",
    "op": "ellipse",
    "tensor": "note",
}
MERMAID_SHAPES = {
    "input": ("[/", "/]"),
    "output": ("[\\", "\\]"),
    "layer": ("[", "]"),
    "op": ("([", "])"),
    "tensor": ("[(", ")]"),
}


def to_dot(g: Graph) -> str:
    out = [
        f"digraph {dot_quote(g.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]

    def body(cluster: int | None, indent: str) -> None:
        for i, kind, label, c in g.nodes:
            if c == cluster:
                out.append(f"{indent}n{i} [label={dot_quote(label)}, shape={DOT_SHAPES[kind]}];")
        for k, (label, parent) in enumerate(g.clusters):
            if parent == cluster:
                out.append(f"{indent}subgraph cluster_{k} {{")
                out.append(f"{indent}  label={dot_quote(label)};")
                body(k, indent + "  ")
                out.append(f"{indent}}}")

    body(None, "  ")
    for a, b, label in g.edges:
        out.append(f"  n{a} -> n{b} [label={dot_quote(label)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def to_mermaid(g: Graph) -> str:
    out = ["flowchart TB"]

    def body(cluster: int | None, indent: str) -> None:
        for i, kind, label, c in g.nodes:
            if c == cluster:
                left, right = MERMAID_SHAPES[kind]
                out.append(f"{indent}n{i}{left}{mermaid_quote(label)}{right}")
        for k, (label, parent) in enumerate(g.clusters):
            if parent == cluster:
                out.append(f"{indent}subgraph c{k}[{mermaid_quote(label)}]")
                body(k, indent + "  ")
                out.append(f"{indent}end")

    body(None, "  ")
    for a, b, label in g.edges:
        out.append(f"  n{a} -->|{mermaid_quote(label)}| n{b}")
    return "\n".join(out) + "\n"
