"""The types of a forward's values and the small pure helpers over them that
:mod:`nndsl.check.graph` uses: optional and poisoned values, shape comments and annotations,
and the fit of a call to a declared model's inputs."""

from __future__ import annotations

from nndsl.check.flow import Flow, code_shape, shown_dims
from nndsl.ir import expr as x
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim, fmt_shape, known
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, Slice, Tensor
from nndsl.lang import syntax as s
from nndsl.util.frozen import frozen


@frozen
class Maybe:
    """The type of an optional input: a tensor, or None when the caller passes nothing."""

    tensor: Tensor


class Poisoned:
    """The type of a name whose assignment failed: uses of it stay silent (already reported)."""


POISON = Poisoned()


def tensor_of(flow: Flow) -> Tensor:
    return Tensor(flow.shape, flow.dtype)


def type_text(t, formulas: bool = True) -> str:
    """A value's shape for comments: ``(B, 8)``, ``((B, 28, 64), ((1, B, 64), (1, B, 64)))``;
    sizes computed from constructor parameters keep their formula unless ``formulas`` is off."""
    if isinstance(t, Tensor):
        return code_shape(t.shape) if formulas else fmt_shape(t.shape)
    if isinstance(t, tuple):
        return "(" + ", ".join(type_text(x, formulas) for x in t) + ")"
    return ""


def shown(t) -> x.ShownType:
    """A value's type as its shape comment shows it (see :func:`type_text`)."""
    if isinstance(t, Tensor):
        return x.Shown(shown_dims(t.shape))
    if isinstance(t, tuple):
        return tuple(shown(i) for i in t)
    return None


def annotation_of(t) -> str:
    if isinstance(t, tuple):
        return "tuple[" + ", ".join(annotation_of(x) for x in t) + "]"
    return "torch.Tensor"


def tensors_only(t) -> bool:
    if isinstance(t, tuple):
        return all(tensors_only(x) for x in t)
    return isinstance(t, Tensor)


def fits(have: tuple, want: tuple, symbols: dict) -> bool:
    """Whether a shape fits a declared one; the declaration's own symbols bind to sizes."""
    if len(have) != len(want):
        return False
    for h, w in zip(have, want):
        if w == "B" or not isinstance(w, str):
            if h is not None and (
                h != w if isinstance(h, str) or isinstance(w, str) else int(h) != int(w)
            ):
                return False
        elif symbols.setdefault(w, h) != h:
            return False
    return True


def bind_symbols(t, symbols: dict):
    if isinstance(t, tuple):
        return tuple(bind_symbols(x, symbols) for x in t)
    dims = tuple(
        symbols.get(d, d) if isinstance(d, str) else Dim(int(d)) if known(d) else d for d in t.shape
    )
    return Tensor(dims, t.dtype)


def dtypes_text(t) -> str:
    if isinstance(t, Tensor):
        return t.dtype
    if isinstance(t, tuple):
        return ",".join(dtypes_text(x) for x in t)
    return type(t).__name__


def describe(t) -> str:
    if isinstance(t, Tensor):
        return f"{fmt_shape(t.shape)} {t.dtype}"
    return type_text(t) or "a number"


def op_span(err, e) -> s.Span:
    """Where an operator's or function's error (a ShapeError) points: the operand or argument
    at fault, or the item of a list argument (``cat([a, b])``), else the whole expression."""
    if isinstance(e, s.BinOp) and err.arg in ("left", "right"):
        return getattr(e, err.arg).span
    if isinstance(e, s.Index) and type(err.arg) is int and 0 <= err.arg < len(e.items):
        return getattr(e.items[err.arg], "span", e.span)  # the index item at fault
    if isinstance(e, (s.Unary, s.Index)) and err.arg == "operand":
        return e.operand.span if isinstance(e, s.Unary) else e.value.span
    if isinstance(e, s.CallExpr) and err.arg is not None:
        node = arg_node(e, err.arg)
        item = getattr(err, "item", None)
        if (
            isinstance(node, (s.ListLit, s.TupleLit))
            and item is not None
            and item < len(node.items)
        ):
            return node.items[item].span
        span = arg_span(e, err.arg)
        return span or e.span
    return e.span


def _arg(e: s.CallExpr, arg) -> s.Arg | None:
    """A call's argument, by position (int) or keyword (str), or None."""
    if isinstance(arg, int):
        positional = [a for a in e.args if a.name is None]
        return positional[arg] if arg < len(positional) else None
    return next((a for a in e.args if a.name == arg), None)


def arg_node(e: s.CallExpr, arg):
    """The expression of a call's argument, by position (int) or keyword (str), or None."""
    found = _arg(e, arg)
    return None if found is None else found.value


def index_item(item, value):
    """An index item as the operators take it: ``...``, ``None`` (a new axis), a slice of the
    values ``value(node)`` gives its parts, or ``value(item)``."""
    match item:
        case s.EllipsisLit():
            return ELLIPSIS
        case s.Const(value=None):
            return NEWAXIS
        case s.SliceExpr(start=a, stop=b, step=c):
            return Slice(*(None if p is None else value(p) for p in (a, b, c)))
    return value(item)


def arg_span(e: s.CallExpr, arg) -> s.Span | None:
    found = _arg(e, arg)
    return None if found is None else found.span


def tensor_infos(t):
    """A forward's return type as the TensorInfo structure ModelInfo keeps."""
    if isinstance(t, tuple):
        return tuple(tensor_infos(x) for x in t)
    return ir.TensorInfo(t.shape, t.dtype)
