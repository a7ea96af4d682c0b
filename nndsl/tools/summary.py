"""The per-model layer table printed by ``nndsl check``, built from the IR without torch."""

from __future__ import annotations

from nndsl.ir import nodes as ir
from nndsl.ir.shapes import fmt_shape


def summary_table(program: ir.ProgramIR) -> str:
    """What ``nndsl check`` prints: each model's layer table, then :func:`section_tables`."""
    return "\n".join([model_table(m) for m in program.models] + section_tables(program))


def section_tables(program: ir.ProgramIR) -> list[str]:
    """The table of each data section (its tensors), then of each train section (its
    parameters)."""
    return [_data_table(d) for d in program.datas] + [_train_table(t) for t in program.trains]


def _data_table(d: ir.DataTable) -> str:
    """Each tensor of a data section, with its shape and dtype."""
    count = "no tensors" if d.samples is None else f"{d.samples:,} samples"
    title = f"Data {d.name}: {count}" + (", streamed" if d.stream else "")
    rows = [(name, fmt_shape(shape), dtype) for name, shape, dtype in d.tensors]
    return _table(title, ("Tensor", "Shape", "Dtype"), rows)


def _train_table(t: ir.TrainIR) -> str:
    """Which rule initialises each parameter and which optimizer group holds it."""
    head = ("Parameter", "Shape", "Init", "Optimizer group")
    rows = [(name, fmt_shape(shape), init, group) for name, shape, init, group in t.table]
    return _table(t.summary.removesuffix("."), head, rows)


def _table(title: str, head: tuple, rows: list) -> str:
    """A title, then the heading, a rule and a row per item, in columns."""
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)
    ]
    out = [title]
    for cells in [head, None, *rows]:
        if cells is None:
            out.append("  " + "-" * (sum(widths) + 2 * (len(head) - 1)))
        else:
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip())
    return "\n".join(out) + "\n"


def model_table(m: ir.ModelInfo) -> str:
    """A model's layer table and its parameter total, as ``nndsl check`` prints them."""
    out = layer_table(m)
    out.append(f"  Total params: {m.total_params:,} (shared weights counted once{uncounted(m)})")
    return "\n".join(out) + "\n"


def uncounted(m: ir.ModelInfo) -> str:
    """What a model's parameter total leaves out: the torch modules and imported classes,
    whose parameters nndsl cannot know without running them."""
    types = sorted({r.type for r in m.rows if not r.counted})
    return f"; not counting those of {', '.join(types)}" if types else ""


def layer_table(m: ir.ModelInfo, extra: tuple[str, list[str]] | None = None) -> list[str]:
    """The lines of a model's layer table: its signature, the heading, a rule, a row per
    layer, a rule. ``extra``: one more right-aligned column, its heading and a cell per row
    (``nndsl summary`` adds the MACs)."""
    head = ["Layer", "Type", "Output shape", "Params"]
    rows = [
        [
            "  " * r.depth + (r.path or "-"),
            r.type,
            r.shape_text,
            (
                "?"
                if not r.counted
                else (
                    "(shared)"
                    if r.shared and not r.params
                    else "(tied)" if r.tied and not r.params else f"{r.params:,}"
                )
            ),
        ]
        for r in m.rows
    ]
    if extra is not None:
        head.append(extra[0])
        for row, cell in zip(rows, extra[1]):
            row.append(cell)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]

    def line(cells) -> str:
        left = "  ".join(c.ljust(w) for c, w in zip(cells[:3], widths))
        return "  " + "  ".join([left, *(c.rjust(w) for c, w in zip(cells[3:], widths[3:]))])

    rule = "  " + "-" * (sum(widths) + 2 * (len(head) - 1))
    inputs = ", ".join(fmt_shape(t.shape) for t in m.inputs)
    out = [f"model {m.name}: {inputs} -> {_returns(m.returns)}"]
    return out + [line(head), rule] + [line(r) for r in rows] + [rule]


def _returns(t) -> str:
    if isinstance(t, tuple):
        return "(" + ", ".join(_returns(x) for x in t) + ")"
    return fmt_shape(t.shape)
