"""Hover for ``nndsl lsp``: the inferred shape and dtype of the layer, operation, input or
model under the cursor, read from the checked program's dataflow graphs (every layer, operation
and input with its span and type), and a layer's parameters and MACs from its model's layer
table, counted as ``nndsl summary --batch 1`` counts them."""

from __future__ import annotations

import re

from nndsl.diagnostics.span import Span
from nndsl.ir import nodes as ir
from nndsl.ir.graph import TensorType
from nndsl.ir.shapes import fmt_shape
from nndsl.lang import syntax as s
from nndsl.tools.lsp_document import Document, Range, enclosing, inside, span_range, word_at
from nndsl.tools.summary_full import row_macs, totals


def _type_text(t) -> str:
    if isinstance(t, TensorType):
        return f"{fmt_shape(t.dims)} {t.dtype}"
    if isinstance(t, tuple):
        return "(" + ", ".join(_type_text(x) for x in t) + ")"
    return ""


def hover(doc: Document, line: int, character: int) -> tuple[str, Range] | None:
    """Markdown for the layer, operation, input or model under the cursor: its inferred
    shape and dtype, and a layer's, block's or model's parameters and MACs; None elsewhere or
    while the program has errors."""
    program = doc.analysis.program
    if program is None:
        return None
    at = (line + 1, character + 1)
    found = []
    for g in program.graphs.values():
        found += [(n.span, g, n) for n in g.nodes if inside(n.span, *at)]
        found += [(c.span, g, c) for c in g.clusters if inside(c.span, *at)]
    called = not found
    if called:
        found = _named_layer(doc, line, character, program)
    if not found:
        return None

    def size(span: Span) -> tuple:
        return (span.end_line - span.line, span.end_column - span.column)

    span = min((f[0] for f in found), key=size)
    counts = _counts(doc, program)
    texts = [_describe(counts, program, g, x) for sp, g, x in found if sp == span]
    shown = list(dict.fromkeys(t for t in texts if t))
    if called:  # the range is the name under the cursor, not the declaration
        word = word_at(doc, line, character)
        left = len(re.search(r"\w*$", doc.lines[line][:character])[0])
        span = Span(line + 1, character + 1 - left, line + 1, character + 1 - left + len(word))
    return ("\n\n".join(shown), span_range(span)) if shown else None


def _named_layer(doc: Document, line: int, character: int, program: ir.ProgramIR) -> list:
    """The layer nodes a name under the cursor calls (``act`` in ``act(hidden(x))``): those of
    that attribute declared in the model or block the cursor is in."""
    tree, word = doc.tree, word_at(doc, line, character)
    if tree is None or not word:
        return []
    item, end = enclosing(tree, line + 1)
    if not isinstance(item, (s.Model, s.Block)):
        return []
    found = []
    for g in program.graphs.values():
        for x in (*g.nodes, *g.clusters):
            kind_ok = getattr(x, "kind", "") in ("layer", "block", "repeat", "model")
            if kind_ok and x.attr == word and x.span and item.span.line <= x.span.line < end:
                found.append((x.span, g, x))
    return found


def _describe(counts: _Counts, program: ir.ProgramIR, g, x) -> str:
    if not hasattr(x, "inputs"):  # a cluster: a model, or a block or repeat of one
        model = next((m for m in program.models if m.name == x.name), None)
        if x.kind != "model" or model is None:
            head = f"**{x.kind} {x.name}**" + (f" `{x.attr}`" if x.attr else "")
            found = counts.row(g.name, _path(g, x.parent, x.attr)) if x.attr else None
            if found is None:
                return head
            r, macs = found
            return f"{head} → `{r.shape_text}`\n\n{r.params:,} parameters (`{r.path}`), {macs}"
        inputs = ", ".join(_type_text(TensorType(t.shape, t.dtype)) for t in model.inputs)
        return (
            f"**model {model.name}**: {inputs} → {_returns(model.returns)}\n\n"
            f"{model.total_params:,} parameters, {counts.total(model.name)}"
        )
    values = {v.id: v for v in g.values}
    out = [_type_text(v.type) for v in g.values if v.node == x.id] or [_type_text(x.type)]
    head = {
        "layer": f"**{x.name}**" + (f" `{x.attr}`" if x.attr else ""),
        "input": f"input `{x.attr}`",
        "tensor": f"{x.name} `{x.attr}`",
        "output": "output",
    }.get(x.kind, f"`{x.name}`")
    lines = [f"{head} → `{' '.join(dict.fromkeys(out))}`"]
    ins = [_type_text(values[i].type) for i in x.inputs if i in values]
    if ins and x.kind in ("layer", "op"):
        lines.append("in: " + ", ".join(f"`{t}`" for t in ins))
    if x.kind == "layer":
        lines += _params(counts, g, x)
    return "\n\n".join(lines) + (f"\n\nin model `{g.name}`" if len(program.models) > 1 else "")


def _returns(t) -> str:
    if isinstance(t, tuple):
        return "(" + ", ".join(_returns(x) for x in t) + ")"
    return _type_text(TensorType(t.shape, t.dtype))


def _path(g, cluster: int, attr: str) -> str:
    """The module path of ``attr`` in ``cluster``, as the layer table writes it: ``a.fc``."""
    clusters = {c.id: c for c in g.clusters}
    parts = [attr]
    c = clusters.get(cluster)
    while c is not None and c.parent is not None:
        parts.append(c.attr)
        c = clusters.get(c.parent)
    return ".".join(p for p in reversed(parts) if p)


class _Counts:
    """The layer-table rows of each model of one analysis by module path, with the text of
    their MACs, and each model's total: counted once per document version, on first use."""

    def __init__(self, program: ir.ProgramIR):
        self.models = {m.name: m for m in program.models}
        self.rows: dict[str, dict[str, tuple[ir.Row, str]]] = {}
        self.totals: dict[str, str] = {}

    def row(self, model: str, path: str) -> tuple[ir.Row, str] | None:
        """The row of ``path`` in the layer table of ``model``, and the text of its MACs."""
        if model not in self.models:
            return None
        if model not in self.rows:
            m = self.models[model]
            macs, unknown = row_macs(m, 1)
            found = zip(reversed(m.rows), reversed(macs))  # the first row of a path wins
            self.rows[model] = {r.path: (r, _macs_text(n, unknown)) for r, n in found}
        return self.rows[model].get(path)

    def total(self, model: str) -> str:
        if model not in self.totals:
            n = totals(self.models[model], 1)
            left = ", ".join(sorted(n["unknown"]))
            out = _macs_text(n["macs"], ()) + (
                f" (layers with sizes {left} left out)" if left else ""
            )
            self.totals[model] = out
        return self.totals[model]


def _counts(doc: Document, program: ir.ProgramIR) -> _Counts:
    if "counts" not in doc.memo:
        doc.memo["counts"] = _Counts(program)
    return doc.memo["counts"]


def _macs_text(macs: int | None, unknown) -> str:
    """The MACs of one sample, as ``nndsl summary --batch 1`` counts them."""
    if macs is None:
        return f"MACs depend on {', '.join(sorted(unknown))}"
    return f"{macs:,} MACs per sample"


def _params(counts: _Counts, g, node) -> list[str]:
    """The parameter count and MACs of a layer node, from the row of its module in the layer
    table."""
    found = counts.row(g.name, _path(g, node.cluster, node.attr)) if node.attr else None
    if found is None:
        return []
    r, macs = found
    return [f"{r.params:,} parameters (`{r.path}`), {macs}"]
