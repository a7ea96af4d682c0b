"""The train section's ``predict``: raw rows, taken through the steps that make the model's
input from them in the data section, and how the script shows the outputs; and the data
section's ``classes``, the names of the class ids, against the classes the model scores.

Which tensor the rows are rows of: the one file read, table's columns or line written as a list
that the input is computed from, sample by sample and from nothing else but numbers and lists
inside expressions (for ``x = table[:, 0:64] / 16`` the 64 columns, divided by 16 in the
script as in training).
When the input is itself read or written so, or it reads a generator or several sources, the
rows are the model's input itself, as before. A step that mixes the samples on the way
(``mean(raw, 0)``) cannot take rows one by one: E0422.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from nndsl.check.data_expr import GENERATORS, SEEDED, nested_shape
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import training as tr
from nndsl.ir.dtypes import FLOAT_DTYPES
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.values import evaluate
from nndsl.lang import syntax as s
from nndsl.registry.training import LOSSES

# how the script shows the outputs, by the loss's task (nll: log-probabilities)
_KINDS = {"classes": "softmax", "binary_logits": "sigmoid", "binary": "probability"}


@dataclass
class _Trace:
    """What the input is computed from: its sources (the expression the loader writes for
    each, and its value), the lines between, a generator read, and the first step that mixes
    the samples."""

    sources: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)
    random: bool = False
    mixing: tuple | None = None  # (span, what it does)


def predict(b, st: s.Setting) -> tr.Predict:
    """``predict [[10, 11]]``: rows checked against what they are rows of; ``predict other``:
    the samples of the data section ``other``, checked against the model's input."""
    named = len(st.args) == 1 and isinstance(st.args[0].value, s.Name)
    if len(st.args) != 1 or not (named or isinstance(st.args[0].value, s.ListLit)):
        b.r._error(
            "E0106",
            "`predict` takes a list of inputs, e.g. `predict [[10, 11]]`, or names a data "
            "section, e.g. `predict new_digits`",
            st.span,
        )
        raise Reported
    inputs = [t for t in b.model.inputs if not t.optional]
    if len(inputs) != 1:
        b.r._error("E0106", "`predict` works for models with one input", st.span)
        raise Reported
    if named:
        return tr.Predict(tr.Seq((), "list"), "", *_shown(b), data=_section(b, st))
    node, want = st.args[0].value, inputs[0]
    if want.name in b.data.failed:  # its error is reported: what the rows become is unknown
        raise Reported
    shape, ints, _, _ = nested_shape(evaluate(node, {}).py, node.span)
    rows, shown = _rows(node), _shown(b)
    trace = _trace(b.data, want.name)
    if trace is None:  # the rows are the model's input
        _fits(b, shape, want.shape, node.span, f"`{b.model.name}` takes")
        dtype = "float32" if want.dtype.startswith(("float", "bfloat")) else want.dtype
        return tr.Predict(rows, dtype, *shown)
    if trace.mixing is not None:
        b.r._error(
            "E0422",
            f"`predict` rows go through the steps that make `{want.name}` in data "
            f"`{b.data.name}`, one row at a time, but this step {trace.mixing[1]}",
            trace.mixing[0],
            labels=(Label(st.span, "these rows"),),
            help="write what the step computes over the samples as numbers, "
            "e.g. `(raw - 4.5) / 2.5`",
        )
        raise Reported
    return _from_source(b, trace, want, rows, shape, ints, node.span, shown)


def _section(b, st: s.Setting):
    """The loader of the data section ``predict other`` names: the model's input alone (no
    targets), from a section held in memory."""
    name = st.args[0].value
    other = b.r._data(name.id, name.span)
    if other is None:
        raise Reported
    if other.stream:
        b.r._error(
            "E0106",
            f"`predict` takes a data section held in memory, but data `{other.name}` is streamed",
            name.span,
            help="predict a section that reads its files whole, or list rows",
        )
        raise Reported
    return b.data_code(other, other.span, targets=False)


def predicted_sections(trains) -> set[str]:
    """The data sections that train sections name in ``predict other``."""
    return {
        st.args[0].value.id
        for t in trains
        for st in t.stmts
        if isinstance(st, s.Setting) and st.name == "predict" and len(st.args) == 1
        if isinstance(st.args[0].value, s.Name)
    }


def _from_source(b, trace: _Trace, want, rows, shape, ints, span, shown) -> tr.Predict:
    """The rows as rows of the input's one source, and the lines from them to the input."""
    data = b.data
    ((old, (value, where)),) = trace.sources.items()
    sample = ("N", *value.py.shape[1:])
    _fits(b, shape, sample, span, f"`{want.name}` is made from rows of shape", where)
    if not ints and value.py.dtype not in FLOAT_DTYPES:
        b.r._error(
            "E0404",
            f"`{want.name}` is made from {value.py.dtype} rows, "
            "but these hold numbers that are not whole",
            span,
            labels=(Label(where, f"rows of this, {value.py.dtype}"),),
            help="write whole numbers",
        )
        raise Reported
    taken = set(trace.lines)
    param = _fresh("rows", taken)
    local = old.id if isinstance(old, ex.Name) else _fresh("raw", taken | {param})
    count = len(rows.items)
    body = {a.target.id: a.value for a in data.body if isinstance(a.target, ex.Name)}
    steps = tuple(
        ex.Assign(
            ex.Name(n),
            _samples_whole(_substitute(body[n], old, ex.Name(local))),
            ex.Shown((count, *data.tensors[n].shape[1:])),
        )
        for n in trace.lines
    )
    have = data.tensors[want.name].dtype
    convert = want.dtype if want.dtype != have or have == "bool" else None
    return tr.Predict(
        rows,
        value.py.dtype,
        *shown,
        name=local,
        source=old.id if isinstance(old, ex.Name) else "",
        param=param,
        shape=tuple(value.py.shape[1:]),
        steps=steps,
        feed=tr.Feed(want.name, convert),
    )


def _fits(b, shape: tuple, sample: tuple, span, what: str, where=None) -> None:
    """E0404 unless ``shape`` (rows) is shaped like samples of ``sample`` (N, ...); ``where``:
    the source they are rows of."""
    if len(shape) != len(sample) or any(
        isinstance(w, int) and w != h for h, w in zip(shape[1:], sample[1:])
    ):
        b.r._error(
            "E0404",
            f"these inputs have shape {fmt_shape(shape)}, but {what} {fmt_shape(sample)}",
            span,
            labels=() if where is None else (Label(where, "the rows are rows of this"),),
        )
        raise Reported


def _trace(data, name: str) -> _Trace | None:
    """How the input ``name`` is made from one source, row by row; None when the rows stand
    for the input itself."""
    if name not in data.tensors or name in data.failed or name not in data.exprs:
        return None
    if data.exprs[name].span in data.made:
        return None  # read from a file or written inline: the rows are rows of it
    found = _Trace(lines=[name])
    _walk(data.exprs[name], data, found)
    order = list(data.exprs)
    found.lines.sort(key=order.index)
    if found.random or len(found.sources) != 1:
        return None
    return found


def _walk(e, data, found: _Trace) -> None:
    """Note the sources, lines, generators and mixing steps ``e`` reads."""
    if e.span in data.made and isinstance(e, s.ListLit):
        return  # a list inside an expression is a constant, as a number is
    if e.span in data.made:
        found.sources.setdefault(data.made[e.span].expr, (data.made[e.span], e.span))
        return
    match e:
        case s.Name(id=n) if n in data.tensors:
            line = data.exprs[n]
            if line.span in data.made:  # a whole line is the source: keep its name
                found.sources.setdefault(ex.Name(n), (data.made[line.span], data.spans[n]))
            elif n not in found.lines:
                found.lines.append(n)
                _walk(line, data, found)
        case s.CallExpr(func=s.Name(id=f)) if f in GENERATORS or f in SEEDED:
            found.random = True
        case s.CallExpr(args=args):
            if e.span in data.mixing:
                found.mixing = found.mixing or (e.span, "computes over the samples")
            for a in args:
                items = a.value.items if isinstance(a.value, (s.ListLit, s.TupleLit)) else [a.value]
                for v in items:
                    _walk(v, data, found)
        case s.BinOp(left=left, right=right):
            _walk(left, data, found)
            _walk(right, data, found)
        case s.Unary(operand=operand):
            _walk(operand, data, found)
        case s.TupleLit(items=items):
            for v in items:
                _walk(v, data, found)
        case s.Index(value=base, items=items):
            if not items or not isinstance(items[0], s.SliceExpr):
                found.mixing = found.mixing or (e.span, "picks samples by number")
            _walk(base, data, found)
            for item in items:
                parts = (
                    (item.start, item.stop, item.step) if isinstance(item, s.SliceExpr) else (item,)
                )
                for part in parts:
                    if part is not None and not isinstance(part, s.EllipsisLit):
                        _walk(part, data, found)


def _substitute(e, old, new):
    """``e`` with every ``old`` in it replaced by ``new``."""
    if e == old:
        return new
    if isinstance(e, tuple):
        return tuple(_substitute(x, old, new) for x in e)
    if not isinstance(
        e, (ex.Attr, ex.Call, ex.BinOp, ex.Unary, ex.Slice, ex.Index, ex.Tuple, ex.List)
    ):
        return e
    return replace(e, **{f.name: _substitute(getattr(e, f.name), old, new) for f in fields(e)})


def _samples_whole(e):
    """``e`` keeping every sample: ``raw[0:1000]`` picks training samples, not rows."""
    if isinstance(e, tuple):
        return tuple(_samples_whole(x) for x in e)
    if isinstance(e, ex.Index) and e.items and isinstance(e.items[0], ex.Slice):
        if len(e.items) == 1:
            return _samples_whole(e.value)
        e = replace(e, items=(ex.Slice(), *e.items[1:]))
    if not isinstance(
        e, (ex.Attr, ex.Call, ex.BinOp, ex.Unary, ex.Slice, ex.Index, ex.Tuple, ex.List)
    ):
        return e
    return replace(e, **{f.name: _samples_whole(getattr(e, f.name)) for f in fields(e)})


def _fresh(name: str, taken: set) -> str:
    while name in taken:
        name += "_"
    return name


def _rows(e: s.Expr) -> tr.Seq | tr.Number:
    """The rows of ``predict`` as written: lists of numbers, each number as the source wrote it
    (``1e-3``), computed ones as they compute (``2 * 3``)."""
    if isinstance(e, s.ListLit):
        return tr.Seq(tuple(_rows(x) for x in e.items), "list")
    v = evaluate(e, {})
    return tr.Number(v.py, v.expr)


# ---- showing the outputs, and the classes' names ---------------------------------------------


def _first_output(model):
    out = model.returns
    while isinstance(out, tuple):
        out = out[0]
    return out


def _kind(b) -> str:
    """How the script shows the first output: as class probabilities (softmax, or exp of
    log-probabilities), as probabilities of 1 (sigmoid of logits, or as they are), or as
    values. A loss expression whose first loss scores another output: as values."""
    step = getattr(b, "loss_step", None)
    if step is not None and step.calls[0].operands[0] != ex.Name(step.outputs[0]):
        return "values"
    kind = _KINDS.get(b.task, "values")
    return "exp" if kind == "softmax" and _nll(b) else kind


def _nll(b) -> bool:
    """Whether the loss (the first of an expression) takes log-probabilities."""
    step = getattr(b, "loss_step", None)
    if step is not None:
        return step.calls[0].target == LOSSES["nll"].torch
    v = b.setting("loss").args[0].value
    return (v.id if isinstance(v, s.Name) else getattr(v.func, "id", "")) == "nll"


def _shown(b) -> tuple[str, tuple[str, ...], bool]:
    kind = _kind(b)
    out = _first_output(b.model)
    one = len(out.shape) == 1 or (len(out.shape) == 2 and out.shape[1] == 1)
    if kind == "values":
        return kind, (), False
    return kind, b.data.classes, one if kind in ("sigmoid", "probability") else len(out.shape) == 2


def class_names(b) -> None:
    """E0421 when data's ``classes`` names other than the classes the model scores: C for a
    class-id loss, 2 (0 and 1) for a binary one."""
    names = b.data.classes
    if not names or _kind(b) == "values":
        return
    out = _first_output(b.model)
    want = out.shape[1] if b.task == "classes" and len(out.shape) > 1 else 2
    if not isinstance(want, int) or want == len(names):
        return
    what = "a binary loss has the two classes 0 and 1"
    if b.task == "classes":
        what = f"`{b.model.name}` scores {want} classes"
    b.r._error(
        "E0421",
        f"data `{b.data.name}` names {len(names)} classes, but {what}",
        b.data.setting_spans["classes"],
        labels=(Label(b.setting("loss").span, "the loss"),),
        help=f"give {want} names, one per class id in order",
    )
    raise Reported
