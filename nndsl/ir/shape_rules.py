"""The shapes that reductions and the shape functions of a ``forward`` give (``sum``,
``reshape``, ``flatten``, ``transpose``, ``permute``, ``squeeze``, ``unsqueeze``, ``cat``,
``stack``), following torch on concrete shapes and keeping what can be known of symbolic ones.
Errors are :class:`~nndsl.ir.tensors.OpError`, as for the operators."""

from __future__ import annotations

from collections import Counter

from nndsl.ir.shapes import (
    DimLike,
    Shape,
    fmt_dim,
    fmt_shape,
    known,
    merged,
    product,
    summed,
)
from nndsl.ir.tensors import KNOWN_FIRST, OpError, axis, dim_conflict, merge_dims


def reduce_shape(shape: Shape, dim: int | tuple | None, keepdim: bool) -> Shape:
    """The shape after reducing over ``dim`` (an int, a tuple of ints, or None for all dims).

    >>> reduce_shape(("B", 4, 5), (1, -1), True)
    ('B', 1, 1)
    """
    if dim is None:
        return (1,) * len(shape) if keepdim else ()
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        raise OpError("`dim` is empty", help="leave `dim` out to reduce over all dims", arg="dim")
    picked = [axis(d, shape, "dim") for d in dims]
    for i, p in enumerate(picked):
        if p in picked[:i]:
            raise OpError(f"`dim` names dim {p} twice: {tuple(dims)}", arg="dim")
    if not shape:
        return ()
    if keepdim:
        return tuple(1 if i in picked else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in picked)


def reduced_dims(shape: Shape, dim: int | tuple | None) -> tuple[int, ...]:
    """The dims a reduction over ``dim`` takes away (every dim when None), counted from 0."""
    if dim is None:
        return tuple(range(len(shape)))
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else (dim,)
    return tuple(axis(d, shape, "dim") for d in dims)


def reshape_shape(shape: Shape, sizes: tuple) -> Shape:
    """The shape ``reshape`` gives; one size may be -1, the rest of the elements.

    >>> reshape_shape(("B", 784), (-1, 28, 28)), reshape_shape((6, 4, "B"), (-1, 6, 2))
    (('B', 28, 28), ('B * 2', 6, 2))
    """
    holes = [i for i, s in enumerate(sizes) if s == -1]
    if len(holes) > 1:
        raise OpError("only one size can be -1", arg=("sizes", holes[1]))
    for i, s in enumerate(sizes):
        if not isinstance(s, str) and s < -1:
            raise OpError(
                f"size {s} is not valid: give sizes of 0 or more, or one -1", arg=("sizes", i)
            )
    if any(isinstance(s, str) for s in sizes):
        return _reshape_named(shape, tuple(sizes), bool(holes))
    target = 1
    for s in sizes:
        target *= int(s) if s != -1 else 1
    have = 1
    for d in shape:
        have *= int(d) if known(d) else 1
    unknown = [d for d in shape if not known(d)]
    if unknown:
        fill = _fill_symbolic(shape, sizes, unknown, have, target)
    else:
        fill = _fill_known(shape, sizes, have, target, bool(holes))
    return tuple(fill if s == -1 else s for s in sizes)


def _fill_known(shape: Shape, sizes: tuple, have: int, target: int, hole: bool) -> int | None:
    there = f"cannot reshape {fmt_shape(shape)} ({have} elements) to {fmt_shape(sizes)}"
    if not hole:
        if have != target:
            raise OpError(f"{there} ({target} elements)")
        return None
    if target == 0:
        raise OpError(f"{there}: with a size of 0 the -1 could be anything")
    if have % target:
        raise OpError(f"{there}: {have} is not a multiple of {target}")
    return have // target


def _fill_symbolic(shape: Shape, sizes: tuple, unknown: list, have: int, target: int) -> DimLike:
    """The -1 of a reshape of a shape with sizes only known at run time (the batch, ``T``): it
    must fit whatever they are, so the known sizes must divide what the input has."""
    there = f"cannot reshape {fmt_shape(shape)} to {fmt_shape(sizes)}"
    _no_unknown(shape, there)
    if not have:  # an empty input, whatever the sizes known at run time are
        if -1 in sizes and target == 0:
            raise OpError(f"{there}: with a size of 0 the -1 could be anything")
        if -1 not in sizes and target:
            raise OpError(f"{there}: the input holds no values, the shape {target}")
        return 0
    unknown, have = _factored(unknown, have)
    names = " x ".join(fmt_dim(d) for d in unknown)
    if -1 not in sizes:
        raise OpError(
            f"{there}: that fits only when {names} is {target / have:g}",
            help="use -1 for the size that takes the rest, e.g. the batch",
        )
    if target == 0:
        raise OpError(f"{there}: with a size of 0 the -1 could be anything")
    if have % target:
        raise OpError(
            f"{there}: the -1 would be {names} x {have} / {target}, "
            f"a whole number only for some sizes",
            help=f"the other sizes must divide {have}; keep {names} in the -1",
        )
    return merged((*unknown, have // target) if have != target else tuple(unknown))


def _no_unknown(shape: Shape, there: str) -> None:
    """Raise where a size of ``shape`` is not known (``?``): whether a reshape of it fits
    cannot be told."""
    if None in shape:
        raise OpError(
            f"{there}: dim {shape.index(None)} has a size the checker does not know (`?`), "
            "which may not fit",
            help="make that size known first: slice a size known only at run time with `1:`, "
            "`:-1` or `:` (or index it with 0 or -1)",
        )


def _factored(unknown: list, have: int) -> tuple[list, int]:
    """Sizes known only at run time split into their symbols and their number: ``B * 2`` is
    ``B`` and a factor 2 of what the input is known to hold. A formula of another form (``T +
    4``) stays whole, as a size of its own: the -1 fits it when the numbers alone divide."""
    names: list = []
    for d in unknown:
        factors = str(d).split(" * ")
        if all(f.isidentifier() or f.isdigit() for f in factors):
            names += [f for f in factors if f.isidentifier()]
            for f in factors:
                have *= int(f) if f.isdigit() else 1
        else:
            names.append(d)
    return names, have


def _reshape_named(shape: Shape, sizes: tuple, hole: bool) -> Shape:
    """A reshape to sizes some of which are sizes read from an input (``reshape(x, B, T, 4,
    8)``): each must be a size the input has, and the rest must fit as numbers do.

    >>> _reshape_named(("B", "T", 32), ("B", "T", 4, 8), False)
    ('B', 'T', 4, 8)
    >>> _reshape_named(("B", "T", 32), (-1, "T", 16), True)
    ('B * 2', 'T', 16)
    """
    there = f"cannot reshape {fmt_shape(shape)} to {fmt_shape(sizes)}"
    _no_unknown(shape, there)
    # a formula of another form than a product (`T - 1`) is a size of its own
    ours = [_factors(d) or ([d], 1) for d in shape]
    theirs = [_factors(s) for s in sizes if s != -1]
    if None in theirs:
        return tuple(None if s == -1 else s for s in sizes)  # sizes too vague to judge
    names = [n for named, _ in ours for n in named]
    rest = Counter(names)
    for named, _ in theirs:
        for n in named:
            if not rest[n]:
                raise OpError(
                    f"{there}: {n} is not a size of the input left to reshape",
                    help="each size such as `T` must be one the input has",
                )
            rest[n] -= 1
    left = list(rest.elements())  # the input's sizes no size names: for the -1
    have = target = 1
    for _, n in ours:
        have *= n
    for _, n in theirs:
        target *= n
    if not hole:
        if left:
            raise OpError(
                f"{there}: {' x '.join(left)} is left out",
                help="use -1 for the size that takes the rest",
            )
        if have != target:
            raise OpError(f"{there}: {have} values for each {' x '.join(names)} become {target}")
        return sizes
    if target == 0 or have % target:
        raise OpError(f"{there}: {have} is not a multiple of {target}")
    ratio = have // target
    if target == 1 and not left:  # the input's known sizes, as the formula they were
        return tuple(product(tuple(d for d in shape if known(d))) if s == -1 else s for s in sizes)
    fill = merged(tuple(left) + ((ratio,) if ratio != 1 or not left else ()))
    return tuple(fill if s == -1 else s for s in sizes)


def _factors(d: DimLike) -> tuple[list[str], int] | None:
    """A dim as a product: its sizes known at run time and its number (``B * 4`` is
    ``(["B"], 4)``); None for one that is not a product of those (``T - 1``, unknown).

    >>> _factors("B * T * 2"), _factors(8), _factors("T - 1")
    ((['B', 'T'], 2), ([], 8), None)
    """
    if known(d):
        return [], int(d)
    if not isinstance(d, str):
        return None
    named, number = [], 1
    for part in d.split(" * "):
        if part.isdigit():
            number *= int(part)
        elif part.isidentifier():
            named.append(part)
        else:
            return None
    return named, number


def flatten_shape(shape: Shape, start: int, end: int) -> Shape:
    """The shape ``flatten`` gives: dims ``start`` to ``end`` merged into one.

    >>> flatten_shape(("B", 32, 7, 7), 1, -1)[1].expr
    '32 * 7 * 7'
    """
    s, e = axis(start, shape, "start_dim"), axis(end, shape, "end_dim")
    if not shape:
        return (1,)
    if s > e:
        raise OpError(
            f"start_dim {start} comes after end_dim {end} in {fmt_shape(shape)}", arg="start_dim"
        )
    return shape[:s] + (merged(tuple(shape[s : e + 1])),) + shape[e + 1 :]


def transpose_shape(shape: Shape, dim0: int, dim1: int) -> Shape:
    """The shape with two dims swapped."""
    i, j = axis(dim0, shape, "dim0"), axis(dim1, shape, "dim1")
    if not shape:
        return ()
    out = list(shape)
    out[i], out[j] = shape[j], shape[i]
    return tuple(out)


def permute_shape(shape: Shape, dims: tuple) -> Shape:
    """The shape with its dims reordered; ``dims`` must name each dim once."""
    if len(dims) != len(shape):
        raise OpError(f"`permute` needs {len(shape)} dims for {fmt_shape(shape)}, got {len(dims)}")
    picked = [axis(d, shape, ("dims", i)) for i, d in enumerate(dims)]
    for i, p in enumerate(picked):
        if p in picked[:i]:
            raise OpError(f"dim {p} appears twice in {tuple(dims)}", arg=("dims", i))
    return tuple(shape[p] for p in picked)


def squeeze_shape(shape: Shape, dim: int) -> Shape:
    """The shape without ``dim``, which must have size 1 (torch would silently keep it)."""
    k = axis(dim, shape, "dim")
    if not shape:
        return ()
    size = shape[k]
    if size is None:  # torch removes it only where it turns out to be 1
        raise OpError(
            f"dim {dim} of {fmt_shape(shape)} has a size known only when the model runs, so "
            "squeeze may or may not remove it",
            help="index it (`x[:, 0]`) where it is always 1, or leave the dim in",
            arg="dim",
        )
    if size != 1:
        detail = (
            f"{size} is not known to be 1" if isinstance(size, str) else "squeeze would do nothing"
        )
        raise OpError(f"dim {dim} of {fmt_shape(shape)} has size {size}, {detail}", arg="dim")
    return shape[:k] + shape[k + 1 :]


def unsqueeze_shape(shape: Shape, dim: int) -> Shape:
    """The shape with a dim of size 1 inserted at ``dim``."""
    k = axis(dim, shape, "dim", extra=1)
    return shape[:k] + (1,) + shape[k:]


def cat_shape(shapes: list, dim: int) -> Shape:
    """The shape of ``cat``: equal sizes outside ``dim``, summed inside it."""
    _need_items(shapes, "cat")
    first = shapes[0]
    for i, s in enumerate(shapes):
        if not s:
            raise OpError(
                f"item {i} is 0-D and cannot be concatenated",
                help="use `stack`",
                arg="tensors",
                item=i,
            )
    k = axis(dim, first, "dim")
    out = _same_shapes(shapes, "cat", skip=k)
    sizes = [s[k] for s in shapes]
    out[k] = summed(tuple(sizes))
    return tuple(out)


def stack_shape(shapes: list, dim: int) -> Shape:
    """The shape of ``stack``: equal shapes, with a new dim of the list's length at ``dim``."""
    _need_items(shapes, "stack")
    k = axis(dim, shapes[0], "dim", extra=1)
    out = _same_shapes(shapes, "stack", skip=None)
    return tuple(out[:k]) + (len(shapes),) + tuple(out[k:])


def _need_items(shapes: list, name: str) -> None:
    if not shapes:
        raise OpError(f"`{name}` needs at least one tensor", arg="tensors")


def _same_shapes(shapes: list, name: str, skip: int | None) -> list:
    """The shape all of ``shapes`` share (dim ``skip`` aside), or an error naming the item."""
    first = shapes[0]
    out = list(first)
    where = "" if skip is None else f" outside dim {skip}"
    for i, s in enumerate(shapes[1:], 1):
        if len(s) != len(first):
            raise OpError(
                f"`{name}` needs tensors with the same number of dims: item {i} is "
                f"{fmt_shape(s)} but item 0 is {fmt_shape(first)}",
                arg="tensors",
                item=i,
            )
        for j, (x, y) in enumerate(zip(out, s)):
            why = None if j == skip else dim_conflict(x, y)
            unknown = j != skip and (x is None) != (y is None)
            if unknown:
                why = ", and `?`, a size the checker does not know, may not be the other"
            if why is not None:
                raise OpError(
                    f"`{name}` needs equal sizes{where}: item {i} is {fmt_shape(s)} but item 0 "
                    f"is {fmt_shape(first)}, dim {j} is {fmt_dim(y)} and {fmt_dim(x)}{why}",
                    help=KNOWN_FIRST if unknown else None,
                    arg="tensors",
                    item=i,
                )
            out[j] = x if j == skip else merge_dims(x, y)
    return out
