"""The operators a hand-written ``forward`` applies to values: arithmetic, ``@``,
comparisons and indexing.

Each takes :class:`~nndsl.ir.values.Value` operands and returns a Value whose ``py`` is the
result's type (a :class:`~nndsl.ir.tensors.Tensor`, a Python number, or a tuple of those) and
whose ``expr`` is the :mod:`nndsl.ir.expr` expression computing it. The type rules live in
:mod:`nndsl.ir.tensors`; this module checks operands and builds the expressions.
"""

from __future__ import annotations

from nndsl.ir import expr as x
from nndsl.ir import tensors as t
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, OpError, Slice, Tensor
from nndsl.ir.values import Value
from nndsl.registry.saves import INPUT, Saved

# What autograd keeps of an operator for the backward (nndsl.registry.saves; one not here keeps
# nothing: + and -, and an operand that is a number is no tensor to keep): a product or a matmul
# keeps each operand for the other's gradient, a quotient its divisor and, for the divisor's
# gradient, the dividend. ``@`` runs in half precision under autocast, ``**`` in float32; an
# index is a view of its tensor.
OPERATOR_SAVES = {
    "*": (Saved("input", when="other grad"),),
    "@": (Saved("input", when="other grad"),),
    "/": (Saved("input", index=1), Saved("input", index=0, when="other grad")),
    "**": INPUT,
}
OPERATOR_AUTOCAST = {"@": "half", "**": "float32"}


def describe(py: object) -> str:
    """A value as messages name it: ``the number 2``, ``a tensor (B, 4)``, ``a tuple``."""
    if isinstance(py, Tensor):
        return f"a tensor {fmt_shape(py.shape)}"
    if isinstance(py, bool) or py is None:
        return f"`{str(py).lower()}`"
    if isinstance(py, (int, float)):
        return f"the number {py!r}"
    return {tuple: "a tuple", list: "a list", str: "a string"}.get(type(py), type(py).__name__)


def is_number(py: object) -> bool:
    return isinstance(py, (int, float))


def is_int(py: object) -> bool:
    return isinstance(py, int) and not isinstance(py, bool)


def binary(op: str, left: Value, right: Value) -> Value:
    """``left op right`` for an arithmetic or comparison operator, or ``@``."""
    for side, v in (("left", left), ("right", right)):
        if not isinstance(v.py, Tensor) and not is_number(v.py):
            raise OpError(f"`{op}` needs tensors or numbers, got {describe(v.py)}", arg=side)
    py = t.binary_type(op, left.py, right.py)
    return Value(py, x.BinOp(op, left.expr, right.expr))


def unary(op: str, operand: Value) -> Value:
    """``-operand`` or ``+operand``."""
    v = operand.py
    if isinstance(v, Tensor):
        py = t.unary_type(op, v)
    elif is_number(v):
        py = -v if op == "-" else +v
    else:
        raise OpError(f"`{op}` needs a tensor or a number, got {describe(v)}", arg="operand")
    return Value(py, x.Unary(op, operand.expr))


def index(base: Value, items: tuple) -> Value:
    """``base[items]``: basic indexing of a tensor, or picking one value of a tuple.

    Items are Values (ints), :class:`~nndsl.ir.tensors.Slice`, ``ELLIPSIS`` and ``NEWAXIS``; an
    error in an item has ``arg`` set to the item's position.
    """
    expr = x.Index(base.expr, tuple(_item_expr(i) for i in items))
    if isinstance(base.py, Tensor):
        native = tuple(_native(item, pos) for pos, item in enumerate(items))
        return Value(Tensor(t.index_shape(base.py.shape, native), base.py.dtype), expr)
    if isinstance(base.py, (tuple, list)):
        return Value(_pick(base.py, items), expr)
    raise OpError(f"cannot index {describe(base.py)}", arg="operand")


_ELLIPSIS, _NEWAXIS = x.Lit(Ellipsis), x.NONE


def _item_expr(item: object) -> object:
    if item is ELLIPSIS or item is NEWAXIS:
        return _ELLIPSIS if item is ELLIPSIS else _NEWAXIS
    if isinstance(item, Slice):
        return x.Slice(*(None if p is None else p.expr for p in item))
    return item.expr


def _native(item: object, pos: int) -> object:
    """An index item as Python passes it to torch: an int, a slice, Ellipsis or None."""
    if item is ELLIPSIS or item is NEWAXIS:
        return Ellipsis if item is ELLIPSIS else None
    if isinstance(item, Slice):
        return slice(*(_slice_part(part, pos) for part in item))
    if isinstance(item.py, Tensor):
        raise OpError("indexing with a tensor is not supported yet", arg=pos)
    if not is_int(item.py):
        raise OpError(
            f"an index is an int, a slice, `...` or `none`, not {describe(item.py)}", arg=pos
        )
    return item.py


def _slice_part(part: Value | None, pos: int) -> int | None:
    if part is None or part.py is None:
        return None
    if not is_int(part.py):
        raise OpError(f"a slice bound is an int, not {describe(part.py)}", arg=pos)
    return part.py


def _pick(seq: tuple | list, items: tuple) -> object:
    n = len(seq)
    if len(items) != 1 or not isinstance(items[0], Value) or not is_int(items[0].py):
        raise OpError(f"a tuple of {n} values is indexed by one int", arg=0)
    i = items[0].py
    if not -n <= i < n:
        raise OpError(
            f"index {i} is out of range for a tuple of {n} values",
            help=f"use an index from {-n} to {n - 1}",
            arg=0,
        )
    return seq[i]
