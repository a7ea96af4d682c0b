"""Shapes as the checker sees them, and the small pure helpers that shape rules share.

A shape is a tuple of dims, batch first. A dim is one of:

- an ``int`` (often a :class:`Dim`, an int that remembers how generated code should write it),
- a ``str`` naming a symbolic size (``"B"`` for the batch, or a name the user declared),
- ``None`` for a size nobody can know before run time.

Shape rules never crash on a symbolic or unknown dim: arithmetic on one gives ``None``.
"""

from __future__ import annotations

DimLike = int | str | None
Shape = tuple  # tuple[DimLike, ...]


MAX_INT = 2**63 - 1  # torch's int64: the largest seed, count or number of elements


class Dim(int):
    """An int that carries the Python text generated code should use for it.

    >>> d = Dim(8, "width")
    >>> d + 1, d.expr
    (9, 'width')
    """

    expr: str | None

    def __new__(cls, value: int, expr: str | None = None) -> Dim:
        self = super().__new__(cls, value)
        self.expr = expr
        return self

    def __repr__(self) -> str:
        return int.__repr__(self)


class Size(str):
    """A size known only at run time, used as a value in a forward (``arange(T)``): the symbol
    its dims carry (``"T"``), which generated code reads from an input.

    >>> Size("T") == "T", fmt_shape((Size("T"), 4))
    (True, '(T, 4)')
    """

    __slots__ = ()


class ShapeError(Exception):
    """Raised by a shape rule or an inference function with a user-facing message.

    ``arg`` names the constructor argument at fault (the caret goes under it when the user wrote
    it); ``help`` is the fix to suggest; ``item``, for an argument that is a list, the index of
    the item at fault.
    """

    def __init__(
        self,
        message: str,
        *,
        help: str | None = None,
        arg: str | None = None,
        item: int | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.help = help
        self.arg = arg
        self.item = item


class RankError(ShapeError):
    """The input has a rank the layer does not accept."""


class MissingArgument(ShapeError):
    """A layer was called without an argument it needs and cannot infer (E0103, not E0303)."""


def known(*dims: DimLike) -> bool:
    """True when every dim is a concrete int.

    >>> known(3, 4), known(3, "B"), known(None)
    (True, False, False)
    """
    for d in dims:  # a loop, not all(...): this runs a few times for every layer checked
        if d.__class__ is bool or not isinstance(d, int):
            return False
    return True


def expr_of(value: object) -> str:
    """The Python text for a dim or argument value.

    >>> expr_of(Dim(8, "width")), expr_of(Dim(8)), expr_of(3)
    ('width', '8', '3')
    """
    text = getattr(value, "expr", None)
    return text if text is not None else repr(int(value)) if isinstance(value, int) else repr(value)


def product(dims: tuple) -> DimLike:
    """The product of dims, written as arithmetic when the factors are named or several.

    >>> p = product((Dim(32), 7, 7))
    >>> p, p.expr
    (1568, '32 * 7 * 7')
    >>> product((4, "T")) is None
    True
    """
    if not known(*dims):
        return None
    if len(dims) == 1:
        return dims[0]
    value = 1
    for d in dims:
        value *= int(d)
    parts = [t for t in map(expr_of, dims) if t != "1"]  # a factor of one says nothing
    if len(parts) > 1:
        parts = [f"({t})" if any(op in t for op in "+-") else t for t in parts]
    return Dim(value, " * ".join(parts) or "1")


def total(dims: tuple) -> DimLike:
    """The sum of known dims, written as a sum when a term is named (``in_channels + growth``),
    so that a size concatenated from parameters keeps its formula.

    >>> t = total((Dim(64, "in_channels"), Dim(32, "growth")))
    >>> t, t.expr, total((Dim(4, "w"), Dim(4, "w"))).expr, total((3, 4)).expr is None
    (96, 'in_channels + growth', '2 * w', True)
    """
    value = sum(int(d) for d in dims)
    if all(getattr(d, "expr", None) is None for d in dims):
        return Dim(value)
    parts = [expr_of(d) for d in dims if expr_of(d) != "0"]
    if len(parts) > 1 and len(set(parts)) == 1:  # cat([x, x]): twice its size
        one = parts[0]
        return Dim(value, f"{len(parts)} * {one if one.isidentifier() else f'({one})'}")
    return Dim(value, " + ".join(parts) or "0")


def merged(dims: tuple) -> DimLike:
    """The size of dims merged into one (flatten): their :func:`product`, or with symbolic
    sizes among them a symbol naming the product, so ``(B, T, 6)`` flattens to ``(B, T * 6)``.

    >>> merged((4, "T")), merged(("T",)), merged((3, None)) is None
    ('4 * T', 'T', True)
    """
    if known(*dims) or any(d is None for d in dims):
        return product(dims)
    if len(dims) == 1:
        return dims[0]
    return " * ".join(
        (
            d
            if isinstance(d, str) and d.isidentifier()
            else f"({d})" if isinstance(d, str) else str(int(d))
        )
        for d in dims
    )


def summed(dims: tuple) -> DimLike:
    """The size of dims joined end to end (cat): their sum, or with symbolic sizes among them
    a formula of the sum, so ``cat`` of two ``(B, 4)`` along dim 0 is ``(B * 2, 4)``; None
    where a size is not known at all.

    >>> summed((3, 4)), summed(("B", "B")), summed(("T", 2, "B", 1)), summed(("T", None))
    (7, 'B * 2', 'T + B + 3', None)
    """
    if any(d is None for d in dims):
        return None
    if known(*dims):  # numbers, each perhaps with the formula it was written as
        return total(dims)
    number = sum(int(d) for d in dims if not isinstance(d, str))
    terms: dict[str, int] = {}
    for d in dims:
        if isinstance(d, str):
            terms[d] = terms.get(d, 0) + 1
    if not terms:
        return number
    parts = [
        (t if t.isidentifier() else f"({t})") + (f" * {n}" if n > 1 else "")
        for t, n in terms.items()
    ]
    return " + ".join(parts + ([str(number)] if number else []))


def fmt_dim(d: DimLike) -> str:
    """How a dim reads in messages and shape comments.

    >>> fmt_dim(3), fmt_dim("B"), fmt_dim(None)
    ('3', 'B', '?')
    """
    if d is None:
        return "?"
    return d if isinstance(d, str) else str(int(d))


def fmt_shape(shape: Shape) -> str:
    """A shape as ``(B, 16, 14, 14)``.

    >>> fmt_shape(("B", 16, 14, 14))
    '(B, 16, 14, 14)'
    """
    return "(" + ", ".join([fmt_dim(d) for d in shape]) + ")"


def ntuple(value: object, n: int) -> tuple:
    """Expand an int argument to an n-tuple, as torch does for kernel sizes.

    >>> ntuple(3, 2), ntuple((1, 2), 2)
    ((3, 3), (1, 2))
    """
    if isinstance(value, (tuple, list)):
        if len(value) != n:
            raise ShapeError(f"expected {n} values but got {len(value)}")
        return tuple(value)
    return (value,) * n


def conv_out(size: DimLike, kernel: int, stride: int, padding: int, dilation: int = 1) -> DimLike:
    """Output length of a convolution or pooling window along one axis (floor mode).

    >>> conv_out(28, 5, 1, 2), conv_out(28, 2, 2, 0), conv_out("T", 3, 1, 1) is None
    (28, 14, True)
    """
    if not known(size):
        return None
    out = (int(size) + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise ShapeError(
            f"the window (kernel {kernel}, stride {stride}, padding {padding}) "
            f"does not fit an input of size {int(size)}",
            help="use a smaller kernel or more padding",
        )
    return out


def conv_transpose_out(
    size: DimLike, kernel: int, stride: int, padding: int, output_padding: int, dilation: int = 1
) -> DimLike:
    """Output length of a transposed convolution along one axis.

    >>> conv_transpose_out(7, 2, 2, 0, 0)
    14
    """
    if not known(size):
        return None
    return (int(size) - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def normalize_dim(dim: int, rank: int) -> int:
    """A possibly negative dim index as a non-negative one, checked against the rank.

    >>> normalize_dim(-1, 4), normalize_dim(1, 2)
    (3, 1)
    """
    if not -rank <= dim < rank:
        raise ShapeError(f"dim {dim} is out of range for a {rank}-D tensor", arg="dim")
    return dim % rank


def pool_out(
    size: DimLike,
    kernel: int,
    stride: int,
    padding: int,
    dilation: int = 1,
    ceil_mode: bool = False,
) -> DimLike:
    """Output length of a pooling window along one axis, with torch's ``ceil_mode`` rule.

    In ceil mode a last, partial window counts, unless it would start in the right padding.

    >>> (pool_out(9, 2, 2, 0), pool_out(9, 2, 2, 0, ceil_mode=True),
    ...  pool_out(6, 3, 2, 1, ceil_mode=True))
    (4, 5, 4)
    >>> pool_out("T", 2, 2, 0) is None
    True
    """
    if not known(size):
        return None
    n = int(size)
    span = n + 2 * padding - dilation * (kernel - 1) - 1 + (stride - 1 if ceil_mode else 0)
    out = span // stride + 1
    if ceil_mode and (out - 1) * stride >= n + padding:
        out -= 1
    if out < 1:
        raise ShapeError(
            f"the window (kernel {kernel}, stride {stride}, padding {padding}) "
            f"does not fit an input of size {n}",
            help="use a smaller kernel or more padding",
        )
    return out
