"""A loss written as an expression: ``loss mse(recon, x, reduction=sum) + 0.001 * kl``.

Its names are the model's outputs (by the names its ``return`` gives them, and ``out`` for the
first) and the data section's tensors; its functions are the losses of the loss table, each
given its two operands (``mse(recon, x)``), and the element-wise functions and reductions of a
forward; numbers weigh them. Every operand is typed as in a forward, with the batch as ``B``,
and the whole must be one number. The result is a :class:`~nndsl.ir.training.LossStep`: what the
training script's ``step`` binds, computes and logs.
"""

from __future__ import annotations

from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import training as tr
from nndsl.ir.dtypes import FLOAT_DTYPES
from nndsl.ir.shapes import ShapeError, fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.functions import call as call_function
from nndsl.registry.operators import binary, unary
from nndsl.registry.training import LOSSES, bind_spec
from nndsl.util.naming import suggest

OUT = "out"  # the model's first output, in every loss expression
REDUCTIONS = ("mean", "sum")
_TARGETS = {"regression": "float", "binary": "float", "binary_logits": "float", "classes": "int"}


def is_expression(value) -> bool:
    """Whether a ``loss`` value is an expression, not a loss named alone (``mse``,
    ``huber(delta=0.5)``) that compares the first output with ``y``."""
    if isinstance(value, s.Name):
        return False
    if isinstance(value, s.CallExpr) and isinstance(value.func, s.Name):
        return any(a.name is None for a in value.args) or value.func.id not in LOSSES
    return True


def output_names(model: s.Model | None, count: int) -> tuple[str, ...]:
    """The names of a model's ``count`` outputs: those its ``return`` writes as names, ``out``
    for a single unnamed one and ``out<i>`` for the others."""
    if count == 1:
        return (OUT,)
    body = model.forward.body if model is not None and model.forward is not None else ()
    ret = next((st for st in reversed(body) if isinstance(st, s.Return)), None)
    items = () if ret is None else ret.values
    if len(items) == 1 and isinstance(items[0], s.TupleLit):
        items = items[0].items
    names: list[str] = []
    for i in range(count):
        e = items[i] if i < len(items) else None
        name = e.id if isinstance(e, s.Name) else OUT if i == 0 else f"{OUT}{i}"
        names.append(f"{OUT}{i}" if name in names or (i and name == OUT) else name)
    return tuple(names)


class LossExpr:
    """Checks one loss expression (for :mod:`nndsl.check.train_build`)."""

    def __init__(
        self, builder, outputs: dict[str, Tensor], data: dict[str, Tensor], failed=frozenset()
    ):
        self.b = builder
        self.failed = failed  # data tensors whose own errors are reported
        self.outputs = outputs  # name -> the type of the model output bound to it
        self.data = data  # name -> a data tensor's type in a batch (B, ...)
        self.calls: list[tr.LossCall] = []
        self.used: set[str] = set()
        self.feeds: dict[str, str | None] = {}  # data tensor -> the dtype the loss takes
        self.first = next(iter(outputs), OUT)
        self.scores: Tensor | None = None  # the type of the first loss's scores

    def error(self, code: str, message: str, span, **kw):
        self.b.error(code, message, span, **kw)
        raise Reported

    def check(self, e) -> tuple[Value, list]:
        """The loss's typed value; raises Reported after a diagnostic."""
        v = self.value(e)
        if not isinstance(v.py, Tensor) or v.py.shape != () or v.py.dtype not in FLOAT_DTYPES:
            shown = fmt_shape(v.py.shape) if isinstance(v.py, Tensor) else repr(v.py)
            self.error(
                "E0420",
                f"the loss must be one floating number, but this is {shown}",
                e.span,
                help="reduce it: `mean(...)` or `sum(...)`, or give a loss `reduction=mean`",
            )
        return v

    # ---- values -------------------------------------------------------------------------

    def value(self, e) -> Value:
        match e:
            case s.Num() | s.Const():
                return evaluate(e, {})
            case s.Name(id=name):
                return self.name(name, e)
            case s.BinOp(op=op, left=left, right=right):
                a, b = self.value(left), self.value(right)
                return self.op(lambda: binary(op, a, b), e, ((left, a), (right, b)))
            case s.Unary(op=op, operand=operand):
                a = self.value(operand)
                return self.op(lambda: unary(op, a), e)
            case s.CallExpr(func=s.Name(id=name)) if name in LOSSES:
                return self.loss_call(name, e)
            case s.CallExpr(func=s.Name(id=name)) if name in FUNCTIONS:
                args = [self.value(a.value) for a in e.args if a.name is None]
                kw = {a.name: self.value(a.value) for a in e.args if a.name is not None}
                return self.op(lambda: call_function(name, args, kw), e)
            case s.CallExpr(func=s.Name(id=name)):
                hint = suggest(name, [*LOSSES, *FUNCTIONS]) or "losses: " + ", ".join(LOSSES)
                self.error("E0401", f"unknown loss or function `{name}`", e.func.span, help=hint)
        self.error(
            "E0420",
            "a loss is built from losses, the model's outputs, the data and numbers",
            e.span,
            help="e.g. `loss mse(out, y) + 0.1 * l1(out, y)`",
        )

    def name(self, name: str, e: s.Name) -> Value:
        if name == OUT and name not in self.outputs and name not in self.data:
            name = self.first  # `out` is the first output, whatever its name
        if name in self.outputs:
            self.used.add(name)
            return Value(self.outputs[name], ex.Name(name))
        if name in self.failed:
            raise Reported
        if name in self.data:
            self.feeds.setdefault(name, None)
            return Value(self.data[name], ex.Name(name))
        if name in LOSSES:
            self.error(
                "E0420",
                f"`{name}` is a loss: give it what it compares",
                e.span,
                help=f"`{name}({self.first}, y)`",
            )
        known = [*self.outputs, *self.data]
        self.error(
            "E0108",
            f"`{name}` is neither an output of the model nor a data tensor",
            e.span,
            help=suggest(name, known) or "the names here: " + ", ".join(known),
        )

    def op(self, thunk, e, operands: tuple = ()) -> Value:
        try:
            return thunk()
        except ShapeError as err:
            labels = tuple(
                Label(n.span, fmt_shape(v.py.shape))
                for n, v in operands
                if isinstance(v.py, Tensor)
            )
            self.error("E0303", err.message, e.span, labels=labels, help=err.help)
        except EvalError as err:
            self.error(err.code, err.message, err.span or e.span, help=err.help)

    # ---- loss functions -------------------------------------------------------------------

    def loss_call(self, name: str, e: s.CallExpr) -> Value:
        spec = LOSSES[name]
        given = [a for a in e.args if a.name is None]
        if len(given) != 2:
            self.error(
                "E0420",
                f"`{name}` compares two tensors, given {len(given)}",
                e.span,
                help=f"`{name}({self.first}, y)`: the model's output, then the targets",
            )
        kwargs = [a for a in e.args if a.name is not None and a.name != "reduction"]
        bound = self.bound(spec, kwargs, name)
        reduction = self.reduction(e)
        a, b = (self.value(x.value) for x in given)
        self.fit(spec.extra, name, (given[0].value, a), (given[1].value, b))
        local = self.local(name)
        extra = () if reduction == "mean" else (tr.Arg("reduction", reduction),)
        if not self.calls:
            self.scores = a.py
        self.calls.append(
            tr.LossCall(local, spec.torch, (a.expr, b.expr), bound + extra, spec.extra, name)
        )
        return Value(Tensor((), "float32"), ex.Name(local))

    def bound(self, spec, kwargs: list, name: str) -> tuple:
        try:
            return bind_spec(spec, tuple(kwargs), name).kwargs()
        except EvalError as err:
            self.error(err.code, err.message, err.span, help=err.help)

    def reduction(self, e: s.CallExpr) -> str:
        arg = next((a for a in e.args if a.name == "reduction"), None)
        if arg is None:
            return "mean"
        v = arg.value
        value = v.id if isinstance(v, s.Name) else v.value if isinstance(v, s.Str) else None
        if value not in REDUCTIONS:
            self.error(
                "E0126",
                "`reduction` is `mean` or `sum`",
                v.span,
                help="`reduction=sum` adds up every value; `mean` (the default) averages them",
            )
        return value

    def local(self, name: str) -> str:
        """A name for a loss call's value in the step, unlike the names it reads."""
        taken = {*self.outputs, *self.data, *(c.local for c in self.calls), "model", "batch"}
        local, n = name, 1
        while local in taken:
            n += 1
            local = f"{name}_{n}"
        return local

    def fit(self, task: str, name: str, out: tuple, target: tuple) -> None:
        """The operands fit the loss: floating scores first, then targets of the kind the loss
        takes (class ids, or values shaped like the scores)."""
        (anode, a), (bnode, b) = out, target
        for node, v in ((anode, a), (bnode, b)):
            if not isinstance(v.py, Tensor):
                self.error("E0405", f"`{name}` compares tensors, not {v.py!r}", node.span)
        if a.py.dtype not in FLOAT_DTYPES:
            self.error(
                "E0405",
                f"`{name}` takes floating scores first, but this is {a.py.dtype}",
                anode.span,
                help="the model's output goes first, the targets second",
            )
        want = _TARGETS[task]
        if want == "int":
            self.class_ids(name, (anode, a.py), (bnode, b.py))
        else:
            self.same_shape(name, (anode, a.py), (bnode, b.py))
        self.convert(bnode, b.py, "int64" if want == "int" else "float32", name)

    def same_shape(self, name: str, out: tuple, target: tuple) -> None:
        """E0405 unless the two tensors have one shape (where both sizes are known)."""
        (anode, a), (bnode, b) = out, target
        if not _same(a.shape, b.shape):
            self.error(
                "E0405",
                f"`{name}` compares tensors of one shape: {fmt_shape(a.shape)} and "
                f"{fmt_shape(b.shape)}",
                bnode.span,
                labels=(Label(anode.span, fmt_shape(a.shape)),),
                help="reshape one of them, or compare other tensors",
            )

    def class_ids(self, name: str, out: tuple, target: tuple) -> None:
        (anode, a), (bnode, b) = out, target
        if len(a.shape) < 2 or not _same(b.shape, (a.shape[0], *a.shape[2:])):
            self.error(
                "E0405",
                f"`{name}` wants class scores (B, C, ...) and one class id per sample, but "
                f"gets {fmt_shape(a.shape)} and {fmt_shape(b.shape)}",
                bnode.span,
                labels=(Label(anode.span, fmt_shape(a.shape)),),
                help="the targets hold one class id per sample: shape (B,) for scores (B, C)",
            )
        if b.dtype in FLOAT_DTYPES:
            self.error(
                "E0405",
                f"`{name}` wants integer class ids as targets, but this is {b.dtype}",
                bnode.span,
                help="`long(...)` them in the data section, or use a regression loss",
            )
        classes = a.shape[1]
        data = bnode.id if isinstance(bnode, s.Name) and bnode.id in self.data else None
        rng = self.b.data.ranges.get(data) if data is not None else None
        if rng is not None and isinstance(classes, int) and (rng[0] < 0 or rng[1] >= classes):
            self.error(
                "E0406",
                f"`{data}` holds class ids {rng[0]} .. {rng[1]}, "
                f"but `{name}` is given scores of {classes} classes (0 .. {classes - 1})",
                bnode.span,
                labels=(Label(anode.span, fmt_shape(a.shape)),),
            )

    def convert(self, node, t: Tensor, dtype: str, name: str) -> None:
        """A data tensor a loss takes directly is fed in the dtype it takes (``y.long()``);
        anything else must already be in it."""
        if t.dtype == dtype or (dtype == "float32" and t.dtype in FLOAT_DTYPES):
            return
        if isinstance(node, s.Name) and node.id in self.data:
            if self.feeds.get(node.id) not in (None, dtype):
                self.error(
                    "E0405",
                    f"`{node.id}` is taken as {self.feeds[node.id]} by another loss and as "
                    f"{dtype} by `{name}`",
                    node.span,
                )
            self.feeds[node.id] = dtype
            return
        method = "long" if dtype == "int64" else "float"
        self.error(
            "E0405",
            f"`{name}` takes {dtype} here, but this is {t.dtype}",
            node.span,
            help=f"`{method}(...)` it",
        )


def _same(a: tuple, b: tuple) -> bool:
    """Shapes that agree wherever both sizes are known."""
    return len(a) == len(b) and all(
        not isinstance(x, int) or not isinstance(y, int) or x == y for x, y in zip(a, b)
    )


def terms(total: s.Expr, value: Value, calls: list[tr.LossCall]) -> tuple:
    """The parts a loss of several is logged by: each summand, its weight left out, named
    after its loss function or the one name it reads (``loss/mse``, ``loss/kl``)."""
    parts = _summands(total, value.expr)
    if len(parts) < 2:
        return ()
    out, seen = [], set()
    for i, (node, expr) in enumerate(parts):
        label = _label(node) or f"term{i + 1}"
        key, n = f"loss/{label}", 1
        while key in seen:
            n += 1
            key = f"loss/{label}_{n}"
        seen.add(key)
        out.append((key, expr))
    return tuple(out)


def _summands(node, expr) -> list:
    """(syntax, expression) of each term of a sum or difference, weights removed."""
    if isinstance(node, s.BinOp) and node.op in "+-" and isinstance(expr, ex.BinOp):
        return _summands(node.left, expr.left) + _summands(node.right, expr.right)
    if isinstance(node, s.BinOp) and node.op == "*" and isinstance(expr, ex.BinOp):
        if isinstance(node.left, (s.Num, s.Unary)):
            return _summands(node.right, expr.right)
        if isinstance(node.right, (s.Num, s.Unary)):
            return _summands(node.left, expr.left)
    if isinstance(node, s.Unary) and isinstance(expr, ex.Unary):
        return _summands(node.operand, expr.operand)
    return [(node, expr)]


def _label(node) -> str | None:
    match node:
        case s.Name(id=name):
            return name
        case s.CallExpr(func=s.Name(id=name)) if name in LOSSES:
            return name
        case s.CallExpr(args=args) if len(args) == 1 and isinstance(args[0].value, s.Name):
            return args[0].value.id
    return None
