"""Metrics written as calls over the model's outputs and the data, as a loss expression's
operands are: ``metrics accuracy(logits, y), mae(out1, ink), top_k(logits, y, k=5)``.

Each becomes the expression of its value for each sample of a batch (``out.argmax(1) == y``),
which the training script's step returns beside the loss (the support module averages it over
the epoch's samples, in one reduction for many batches); ``f1`` becomes the batch's confusion
matrix instead, which the support module adds up over the epoch and scores.
"""

from __future__ import annotations

from nndsl.check.loss_expr import LossExpr, _label
from nndsl.ir import expr as ex
from nndsl.ir.dtypes import FLOAT_DTYPES
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import Value, evaluate
from nndsl.lang import syntax as s

# the metrics a `metrics` setting can write as calls
METRIC_CALLS = ("accuracy", "mae", "top_k", "multilabel_accuracy", "f1")


class MetricExpr(LossExpr):
    """One metric written as a call over outputs and data, as a loss's operands are."""

    def metric(self, e: s.CallExpr) -> tuple[str, ex.Expr, str]:
        """(its key, the expression of its value for each sample, the name it reads)."""
        name = e.func.id
        given = [a for a in e.args if a.name is None]
        kw = {a.name: a for a in e.args if a.name is not None}
        allowed = {"top_k": {"k"}, "multilabel_accuracy": {"threshold"}}
        allowed.update(dict.fromkeys(("accuracy", "f1"), {"threshold"}))
        extra = set(kw) - allowed.get(name, set())
        if len(given) != 2 or extra:
            self.error(
                "E0420",
                f"`{name}` takes the scores and the targets"
                + (f", and {', '.join(sorted(allowed[name]))}" if name in allowed else ""),
                e.span,
                help=f"`{name}({self.first}, y)`",
            )
        (anode, bnode), (a, b) = (g.value for g in given), [self.value(g.value) for g in given]
        for node, v in ((anode, a), (bnode, b)):
            if not isinstance(v.py, Tensor):
                self.error("E0405", f"`{name}` measures tensors, not {v.py!r}", node.span)
        classes = b.py.dtype not in FLOAT_DTYPES and len(a.py.shape) >= 2
        if name == "top_k" or (name in ("accuracy", "f1") and classes):
            self.class_ids(name, (anode, a.py), (bnode, b.py))
            self.convert(bnode, b.py, "int64", name)
        else:
            self.same_shape(name, (anode, a.py), (bnode, b.py))
        expr = self.code(name, a, b, kw, e)
        key = f"top{self.k}" if name == "top_k" else name
        return key, expr, _label(anode) or "out"

    def number(self, arg, name: str, default: float, integer: bool = False) -> float:
        if arg is None:
            return default
        v = evaluate(arg.value, {}).py
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if not ok or isinstance(v, bool) or (integer and v < 1):
            what = "a whole number of at least 1" if integer else "a number"
            self.error("E0126", f"`{arg.name}` of `{name}` is {what}", arg.value.span)
        return v

    def code(self, name: str, a: Value, b: Value, kw: dict, e) -> ex.Expr:
        if name == "mae":
            return ex.method(ex.BinOp("-", ex.method(a.expr, "float"), b.expr), "abs")
        if name == "top_k":
            k = self.k = self.number(kw.get("k"), name, 5, integer=True)
            classes = a.py.shape[1]
            if isinstance(classes, int) and k > classes:
                self.error("E0405", f"`top_k` with k={k} of {classes} classes", e.span)
            top = ex.Attr(ex.method(a.expr, "topk", ex.Lit(k), ex.Lit(1)), "indices")
            hit = ex.method(
                ex.BinOp("==", top, ex.method(b.expr, "unsqueeze", ex.Lit(1))), "any", ex.Lit(1)
            )
            return hit
        classes = b.py.dtype not in FLOAT_DTYPES and len(a.py.shape) >= 2
        if name == "accuracy" and classes:
            return ex.BinOp("==", ex.method(a.expr, "argmax", ex.Lit(1)), b.expr)
        if name == "f1" and classes:
            return self.confusion(a, b.expr, e)
        t = self.number(kw.get("threshold"), name, 0.5)
        if name == "f1":  # binary: of the scores above the threshold, the targets above 0.5
            hits = (ex.BinOp(">", b.expr, ex.Lit(0.5)), ex.BinOp(">", a.expr, ex.Lit(t)))
            return ex.call("kit.confusion", *hits, ex.Lit(2))
        same = ex.BinOp("==", ex.BinOp(">", a.expr, ex.Lit(t)), ex.BinOp(">", b.expr, ex.Lit(0.5)))
        if name == "multilabel_accuracy":
            return ex.method(same, "all", ex.Lit(-1))
        return same

    def confusion(self, a: Value, targets: ex.Expr, e) -> ex.Expr:
        """The batch's confusion matrix of class scores ``a`` and class ids ``targets``."""
        classes = a.py.shape[1]
        if not isinstance(classes, int):
            self.error(
                "E0405",
                f"`f1` counts each class, but the scores have `{classes}` classes, a number "
                "known only when the script runs",
                e.span,
            )
        predicted = ex.method(a.expr, "argmax", ex.Lit(1))
        return ex.call("kit.confusion", targets, predicted, ex.Lit(classes))
