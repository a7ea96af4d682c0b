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
from nndsl.ir.expr import formula_text
from nndsl.ir.shapes import Size, fmt_shape
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
    if isinstance(py, Size):
        return f"the size {py}"
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
    if isinstance(left.py, Size) or isinstance(right.py, Size):
        if isinstance(left.py, Tensor) or isinstance(right.py, Tensor):  # x / T: an int
            a, b = (2 if isinstance(v.py, Size) else v.py for v in (left, right))
            return Value(t.binary_type(op, a, b), x.BinOp(op, left.expr, right.expr))
        return _size_arithmetic(op, left, right)
    for side, v in (("left", left), ("right", right)):
        if not isinstance(v.py, Tensor) and not is_number(v.py):
            raise OpError(f"`{op}` needs tensors or numbers, got {describe(v.py)}", arg=side)
    py = t.binary_type(op, left.py, right.py)
    return Value(py, x.BinOp(op, left.expr, right.expr))


def _size_arithmetic(op: str, left: Value, right: Value) -> Value:
    """``B * T``, ``T // 2``, ``T - 1``: a size known at run time, computed from sizes and ints,
    as the formula a shape writes for it."""
    for side, v in (("left", left), ("right", right)):
        if not (isinstance(v.py, Size) or is_int(v.py)) or op not in _SIZE_OPS:
            what = f"`{op}`" if op in _SIZE_OPS else f"`{op}` on sizes"
            raise OpError(
                f"{what} needs sizes or ints, got {describe(v.py)}",
                help="sizes such as `T` take `+`, `-`, `*` and `//` with ints and sizes, and "
                "go into functions as they are: `arange(T)`, `reshape(x, B * T, -1)`",
                arg=side,
            )
    expr = x.BinOp(op, left.expr, right.expr)
    return Value(Size(formula_text(expr)), expr)


_SIZE_OPS = ("+", "-", "*", "//")


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
        picks = [
            p for p, i in enumerate(items) if isinstance(i, Value) and isinstance(i.py, Tensor)
        ]
        if picks:
            return Value(_gather(base.py, items, picks), expr)
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


def _gather(base: Tensor, items: tuple, picks: list[int]) -> Tensor:
    """``x[idx]``, ``x[:, idx]``: one integer tensor among slices, ``...`` and ``none`` picks
    along its dim, which its own dims replace (torch's advanced indexing, kept to that case)."""
    pos = picks[0]
    idx = items[pos].py
    if len(picks) > 1:
        raise OpError(
            "an index takes one tensor; several are not supported",
            help="index with one tensor at a time, e.g. `x[a][:, b]`",
            arg=picks[1],
        )
    ints = [p for p, i in enumerate(items) if isinstance(i, Value) and p != pos]
    if ints:
        raise OpError(
            "an index with a tensor takes slices, `...` and `none` besides it, not ints",
            help="pick with the int first: `x[0][idx]`",
            arg=ints[0],
        )
    if idx.dtype == "bool":
        raise OpError(
            "indexing with a bool mask gives a size known only at run time",
            help="keep the shape with `where(mask, x, 0)` or `masked_fill(x, mask == false, 0)`",
            arg=pos,
        )
    if idx.dtype not in ("int64", "int32"):
        raise OpError(
            f"an index tensor holds int64 or int32 positions, not {idx.dtype}",
            help="convert it with `long(...)`",
            arg=pos,
        )
    whole = Slice()
    native = tuple(_native(whole if p == pos else i, p) for p, i in enumerate(items))
    shape = t.index_shape(base.shape, native)
    used = sum(1 for i in native if i is not None and i is not Ellipsis)
    # the dims the items before it give: one each, and `...` those no item indexes
    before = sum(len(base.shape) - used if i is Ellipsis else 1 for i in native[:pos])
    return Tensor(shape[:before] + tuple(idx.shape) + shape[before + 1 :], base.dtype)


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
