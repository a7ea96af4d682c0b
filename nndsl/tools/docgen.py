"""The reference tables in docs/LANGUAGE.md, written from the tables the compiler itself uses
(the layer registry, the built-in functions, the losses, optimizers, schedulers and init
functions of a train section, and the diagnostic codes) so that the docs cannot drift from
the code."""

from __future__ import annotations

import re

from nndsl.registry.layers import ALL, REQUIRED, Layer

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
        if a.name == "inplace":
            continue  # torch's flag, said once above the table
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
    from nndsl.codegen.expr import write
    from nndsl.registry.functions import function_rows

    rows = ["| Function | What it does | Generated code |", "| --- | --- | --- |"]
    rows += [f"| `{sig}` | {doc} | `{write(e)}` |" for sig, doc, e in function_rows()]
    return "\n".join(rows) + "\n"


# What each kind of ``Spec.extra`` means to a reader; a new kind without an entry here fails
# the docs test instead of being left out.
LOSS_TARGETS = {
    "regression": "float32, shaped like the output",
    "classes": "int64 class ids 0 .. C - 1, one per sample",
    "binary": "0 .. 1, shaped like the output",
    "binary_logits": "0 .. 1, shaped like the output",
}
SCHEDULER_STEPS = {
    "epoch": "after each epoch",
    "batch": "after each optimizer step",
    "plateau": "after each epoch, with the monitored loss",
}


def _init_dims(extra: str) -> str:
    return "any" if int(extra) == 0 else f"{int(extra)} or more dims"


def _table_kinds() -> dict:
    """Per train table: its rows' source, the header and the last column drawn from ``extra``."""
    from nndsl.registry.training import INITS, LOSSES, OPTIMIZERS, SCHEDULERS

    return {
        "losses": (LOSSES, ("Loss", "PyTorch", "Compares", "Targets"), LOSS_TARGETS.__getitem__),
        "optimizers": (OPTIMIZERS, ("Optimizer", "PyTorch", "What it is"), None),
        "schedulers": (
            SCHEDULERS,
            ("Scheduler", "PyTorch", "What it does", "Steps"),
            SCHEDULER_STEPS.__getitem__,
        ),
        "inits": (INITS, ("Init", "PyTorch", "What it draws", "Tensors"), _init_dims),
    }


TRAIN_TABLES = ("losses", "optimizers", "schedulers", "inits")


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of a generated table."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def _dsl_literals(signature: str) -> str:
    """Python's spelling of true, false and none in a signature, as a .nn file writes them."""
    return re.sub(r"\b(True|False|None)\b", lambda m: m.group(0).lower(), signature)


def train_table(name: str) -> str:
    """Markdown: one row per entry of a train section's table (``losses``, ``optimizers``,
    ``schedulers`` or ``inits``), from :func:`nndsl.registry.training.spec_rows`."""
    from nndsl.registry.training import spec_rows

    table, head, last = _table_kinds()[name]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for (sig, torch, doc), spec in zip(spec_rows(table), table.values()):
        cells = [f"`{_dsl_literals(sig)}`", f"`{torch}`", doc]
        if last is not None:
            cells.append(last(spec.extra))
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def codes_table() -> str:
    """Markdown: one row per diagnostic code of :mod:`nndsl.diagnostics.codes`, retired ones
    included (their meaning names their successors)."""
    from nndsl.diagnostics.codes import CODES

    rows = ["| Code | Meaning |", "| --- | --- |"]
    rows += [f"| {code} | {CODES[code].title} |" for code in sorted(CODES)]
    return "\n".join(rows) + "\n"


def _replace(document: str, start: str, end: str, table: str) -> str:
    head, rest = document.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}{end}{tail}"


def splice(document: str) -> str:
    """The document with the text between each pair of markers replaced by a fresh table."""
    document = _replace(document, START, END, layer_table())
    document = _replace(document, FUNCTIONS_START, FUNCTIONS_END, function_table())
    for name in TRAIN_TABLES:
        document = _replace(document, *markers(name), train_table(name))
    return _replace(document, *markers("codes"), codes_table())
