"""The layer reference in docs/LANGUAGE.md, written from the registry so the two cannot drift."""

from __future__ import annotations

from .layers import ALL, REQUIRED, Layer

START, END = "<!-- layers:start -->", "<!-- layers:end -->"


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


def splice(document: str) -> str:
    """The document with the text between the layer markers replaced by a fresh table."""
    head, rest = document.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{layer_table()}{END}{tail}"
