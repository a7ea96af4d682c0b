"""The types of tensor expressions in a hand-written ``forward``, and torch's rules over them.

A tensor-valued expression has the type :class:`Tensor`: a shape (dims as :mod:`nndsl.ir.shapes`
describes them) and a dtype (:mod:`nndsl.ir.dtypes` holds the type and torch's promotion rules).
This module holds the rules that give an operation's result type: broadcasting, ``@`` and
basic indexing; the reductions and shape functions are in :mod:`nndsl.ir.shape_rules`. Each rule
follows torch on concrete shapes, and on symbolic or unknown dims it keeps what it can know and
refuses what cannot hold (``B`` is never assumed to be 4).

Errors are :class:`OpError`, whose ``arg`` names the operand at fault: ``"left"``/``"right"``,
``"operand"``, or a function parameter's name (``(name, i)`` for the i-th of a variadic one).
"""

from __future__ import annotations

import math
import operator

from nndsl.ir.dtypes import (
    Operand,
    Tensor,
    category,
    dtype_of,
    result_type,
    to_float,
)
from nndsl.ir.shapes import DimLike, Shape, ShapeError, fmt_dim, fmt_shape, known
from nndsl.lang.syntax import MAX_MAGNITUDE
from nndsl.util.frozen import frozen

COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
_PYTHON_OPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "//": operator.floordiv,
    "%": operator.mod,
    "**": operator.pow,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


class OpError(ShapeError):
    """An operation that torch would refuse, or that cannot be known to work."""


@frozen
class Slice:
    """``start:stop:step`` in an index; each part is a ``values.Value``, None when left out."""

    start: object = None
    stop: object = None
    step: object = None

    def __iter__(self):
        return iter((self.start, self.stop, self.step))


class _Marker:
    def __init__(self, code: str):
        self.code = code

    def __repr__(self) -> str:
        return self.code


ELLIPSIS = _Marker("...")
NEWAXIS = _Marker("None")  # written ``none`` in the language


# ---- dims -------------------------------------------------------------------------------------


def dim_conflict(x: DimLike, y: DimLike) -> str | None:
    """None when dims x and y can be equal; else the words a message that they differ ends with."""
    if x is None or y is None or x == y:
        return None
    for sym, other in ((x, y), (y, x)):
        if isinstance(sym, str):
            return f", and {sym} is not known to be {fmt_dim(other)}"
    return ""


def merge_dims(x: DimLike, y: DimLike) -> DimLike:
    """The one dim that compatible dims x and y both are, keeping a known size and its code."""
    if x is None:
        return y
    return y if getattr(x, "expr", None) is None and getattr(y, "expr", None) is not None else x


def axis(d: int, shape: Shape, arg: object, extra: int = 0) -> int:
    """A dim argument as an index, checked as torch does: a 0-D tensor takes dim 0 or -1, and
    ``extra`` widens the range for functions that add dims (``unsqueeze``, ``stack``)."""
    n = max(len(shape) + extra, 1)
    if not -n <= d < n:
        raise OpError(
            f"dim {d} is out of range for {fmt_shape(shape)}",
            help=f"use a dim from {-n} to {n - 1}",
            arg=arg,
        )
    return d % n


# the help where a `?` size meets another that it may not be
KNOWN_FIRST = (
    "make that size known first: slice a size known only at run time with `1:`, `:-1` or `:` "
    "(or index it with 0 or -1)"
)


def broadcast(a: Shape, b: Shape, what: str | None = None) -> Shape:
    """The broadcast of two shapes, aligned from the right.

    >>> broadcast(("B", 1, 4), (3, 1))
    ('B', 3, 4)
    """
    what = what or f"cannot broadcast {fmt_shape(a)} with {fmt_shape(b)}"
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x == 1 or y == 1:
            out.append(x if y == 1 else y)
            continue
        if (x is None) != (y is None):  # one size not known: they may not fit
            raise OpError(
                f"{what}: dim {i} is {fmt_dim(x)} and {fmt_dim(y)}, and `?`, a size the "
                "checker does not know, may be neither 1 nor the other",
                help=KNOWN_FIRST,
            )
        why = dim_conflict(x, y)
        if why is not None:
            raise OpError(f"{what}: dim {i} is {fmt_dim(x)} and {fmt_dim(y)}{why}")
        out.append(merge_dims(x, y))
    return tuple(out)


# ---- operators --------------------------------------------------------------------------------


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` as ``torch.matmul``: a 1-D operand is a vector, other dims are batch dims.

    >>> matmul(Tensor(("B", 5, 20), "float32"), Tensor((20, 8), "float32")).shape
    ('B', 5, 8)
    """
    for side, t in (("left", a), ("right", b)):
        if not t.shape:
            raise OpError(f"`@` needs tensors with dims, but the {side} operand is 0-D", arg=side)
    if a.dtype != b.dtype:
        raise OpError(
            f"`@` needs operands of one dtype, got {a.dtype} and {b.dtype}",
            help="convert one of them first, e.g. with `float(...)`",
        )
    if a.dtype == "bool":
        raise OpError("`@` does not work on bool tensors", help="convert them with `float(...)`")
    fa, fb = fmt_shape(a.shape), fmt_shape(b.shape)
    sa = a.shape if len(a.shape) >= 2 else (1,) + a.shape
    sb = b.shape if len(b.shape) >= 2 else b.shape + (1,)
    why = dim_conflict(sa[-1], sb[-2])
    if why is not None:
        hint = None
        if len(b.shape) >= 2 and dim_conflict(sa[-1], sb[-1]) is None:
            hint = "the right operand's last dim matches; transpose it: `transpose(..., -2, -1)`"
        raise OpError(
            f"`@` needs the inner sizes to match: {fa} @ {fb} multiplies "
            f"{fmt_dim(sa[-1])} by {fmt_dim(sb[-2])}{why}",
            help=hint,
        )
    batch = broadcast(sa[:-2], sb[:-2], f"`@` cannot broadcast the batch dims of {fa} and {fb}")
    rows = sa[-2:-1] if len(a.shape) >= 2 else ()
    cols = sb[-1:] if len(b.shape) >= 2 else ()
    return Tensor(batch + rows + cols, a.dtype)


def binary_type(op: str, a: Operand, b: Operand) -> Operand:
    """The type of ``a op b`` for an arithmetic or comparison operator or ``@``; on two Python
    numbers, the number Python computes.

    >>> binary_type("/", Tensor(("B", 4), "int64"), Tensor((4,), "int64"))
    Tensor(shape=('B', 4), dtype='float32')
    """
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        return _numbers(op, a, b)
    if op == "@":
        for side, v in (("left", a), ("right", b)):
            if not isinstance(v, Tensor):
                raise OpError(
                    f"`@` needs two tensors, but the {side} operand is a number", arg=side
                )
        return matmul(a, b)
    dtype = _binary_dtype(op, a, b)
    shape_a = a.shape if isinstance(a, Tensor) else ()
    shape_b = b.shape if isinstance(b, Tensor) else ()
    return Tensor(broadcast(shape_a, shape_b), dtype)


def _binary_dtype(op: str, a: Operand, b: Operand) -> str:
    dtype = result_type(a, b)
    if op in COMPARISONS:
        return "bool"
    if op == "-" and "bool" in (dtype_of(a), dtype_of(b)):
        side, v = ("left", a) if dtype_of(a) == "bool" else ("right", b)
        fix = "convert it first with `float(...)`" if isinstance(v, Tensor) else "write 1 or 0"
        raise OpError("`-` does not work on bool values", help=fix, arg=side)
    if op == "/":
        return to_float(dtype)
    if dtype == "bool" and op in ("//", "%", "**") and (op != "**" or isinstance(b, Tensor)):
        raise OpError(f"`{op}` does not work on two bool values", help="convert with `long(...)`")
    number_b = not isinstance(b, Tensor)
    if category(dtype) < 2 and number_b and op in ("//", "%") and b == 0:
        raise OpError("integer division by zero", arg="right")
    if category(dtype) < 2 and number_b and op == "**" and b < 0:
        raise OpError(
            "an integer tensor cannot be raised to a negative integer power",
            help=f"write the exponent as a float: `{float(b)}`",
            arg="right",
        )
    return dtype


def _numbers(op: str, a: float, b: float) -> object:
    """``a op b`` on two Python numbers, computed as Python does: ints stay ints."""
    if op == "@":
        raise OpError("`@` needs two tensors, got two numbers")
    if (op in ("/", "//", "%") and b == 0) or (op == "**" and a == 0 and b < 0):
        raise OpError("division by zero", arg="right")
    if op == "**" and (abs(b) > 256 or (abs(a) > 1 and abs(b) * math.log2(abs(a)) > 200)):
        raise OpError("this power is too large")
    result = _PYTHON_OPS[op](a, b)
    if isinstance(result, complex):
        raise OpError("this power is not a real number")
    if math.isfinite(result) and abs(result) > MAX_MAGNITUDE:
        raise OpError("this number is too large")
    return result


def unary_type(op: str, t: Tensor) -> Tensor:
    """The type of ``-t`` or ``+t``."""
    if t.dtype == "bool":
        raise OpError(
            f"`{op}` does not work on a bool tensor",
            help="to invert a mask `m`, write `m == false`" if op == "-" else None,
            arg="operand",
        )
    return t


# ---- indexing ---------------------------------------------------------------------------------


def index_shape(shape: Shape, items: tuple) -> Shape:
    """The shape of ``x[items]``; items are ints, ``slice`` objects, ``Ellipsis`` and ``None``.
    An error's ``arg`` is the position of the item at fault.

    >>> index_shape(("B", 10, 4), (slice(None), -1))
    ('B', 4)
    """
    ellipses = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        raise OpError("an index can have only one `...`", arg=ellipses[1])
    used = sum(1 for item in items if item is not None and item is not Ellipsis)
    if used > len(shape):
        raise OpError(
            f"too many indices: {used} for {fmt_shape(shape)}, which has {len(shape)} dims",
        )
    out: list = []
    k = 0
    for pos, item in enumerate(items):
        if item is None:
            out.append(1)
        elif item is Ellipsis:
            out.extend(shape[k : k + len(shape) - used])
            k += len(shape) - used
        elif isinstance(item, slice):
            out.append(_slice_dim(shape[k], item, pos))
            k += 1
        else:
            _check_index(shape[k], item, pos, k)
            k += 1
    return tuple(out) + tuple(shape[k:])


def _check_index(size: DimLike, i: int, pos: int, k: int) -> None:
    """An int index must be in range for every size the dim can have: any int for a known
    size's range; for a size known only at run time (the batch, ``T``), 0 or -1, which every
    size of at least 1 has."""
    if known(size) and not -size <= i < size:
        raise OpError(
            f"index {i} is out of range for dim {k}, which has size {size}",
            help=f"use an index from {-size} to {size - 1}" if size else None,
            arg=pos,
        )
    if size is None:
        raise OpError(
            f"index {i} of dim {k}, whose size the checker does not know (`?`): it may not be "
            "there",
            help="make that size known first: slice a size known only at run time with `1:`, "
            "`:-1` or `:`",
            arg=pos,
        )
    if isinstance(size, str) and i not in (0, -1):
        raise OpError(
            f"index {i} of dim {k}, whose size {size} is known only when the model runs: "
            f"it fits only when {size} is more than {i if i >= 0 else -i - 1}",
            help="index with 0 or -1, which fit any size, or give the dim a fixed size",
            arg=pos,
        )


def _slice_dim(size: DimLike, s: slice, pos: int) -> DimLike:
    if s.step is not None and s.step <= 0:
        raise OpError("a slice step must be greater than zero", arg=pos)
    if s.start in (None, 0) and s.stop is None and s.step in (None, 1):
        return size
    if known(size):
        return len(range(size)[s])
    if isinstance(size, str) and s.step in (None, 1):
        if (s.start, s.stop) in _ONE_OFF:  # all but the first or the last: one less
            return f"{size if size.isidentifier() else f'({size})'} - 1"
        if (s.start, s.stop) in _ONE:  # the first or the last alone
            return 1
    return None


# the slices of a size known only at run time whose length is known for every size of 1 or more
_ONE_OFF = ((1, None), (None, -1), (0, -1))  # x[:, 1:], x[:, :-1]
_ONE = ((None, 1), (0, 1), (-1, None))  # x[:, :1], x[:, -1:]
