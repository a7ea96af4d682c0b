"""Streamed data sections (``stream true``): arrays too large for memory stay on disk,
memory-mapped, and a DataLoader with worker processes reads one batch of rows at a time.

Only what can be computed batch by batch is allowed: arrays read from ``.npy`` or ``.pt`` files
(a ``.pt`` file may hold a dict of tensors), then row-wise expressions of them (arithmetic and
comparisons with numbers, element-wise functions, functions along a dim other than the samples'
such as ``cat([a, b], 1)``, ``reshape`` keeping the first dim, column indexing ``t[:, ...]``).
The generated ``Dataset`` opens the files once and runs those expressions on each batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nndsl.ir import expr as ex
from nndsl.ir.tensors import axis
from nndsl.ir.values import EvalError
from nndsl.lang import syntax as s
from nndsl.registry.calls import bind_call
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.readers import READERS, STREAM_READERS

# built-in functions that treat each sample alone, and those that do along a dim other than 0
ROW_WISE = (
    "float",
    "long",
    "abs",
    "relu",
    "sigmoid",
    "tanh",
    "exp",
    "log",
    "sqrt",
    "sin",
    "cos",
    "clamp",
    "gelu",
    "silu",
    "maximum",
    "minimum",
    "where",
    "zeros_like",
    "ones_like",
)
ALONG = (
    "cat",
    "stack",
    "sum",
    "mean",
    "prod",
    "amax",
    "amin",
    "max",
    "min",
    "argmax",
    "softmax",
    "log_softmax",
    "flatten",
    "transpose",
    "permute",
    "squeeze",
    "unsqueeze",
    "reshape",
)
_REDUCTIONS = ("sum", "mean", "prod", "amax", "amin", "max", "min", "argmax")
_DROP = "or drop `stream true`"


_DATA_DIR, _IDX = ex.Name("data_dir"), ex.Name("idx")


def data_path(rel: str) -> ex.Expr:
    """``data_dir / "images.npy"``: a data file, relative to the .nn file's folder."""
    return ex.BinOp("/", _DATA_DIR, ex.Lit(rel))


@dataclass
class StreamPlan:
    """The Dataset's ``__init__`` statements (files opened once) and per-batch statements."""

    sources: list = field(default_factory=list)
    lines: list = field(default_factory=list)
    arrays: dict[str, str] = field(default_factory=dict)  # name -> "numpy" | "torch"


def stream_line(
    plan: StreamPlan, st: s.DataAssign, made: ex.Expr, rows: ex.Shown | None, opened: bool
) -> None:
    """Add one assignment of a streamed section to ``plan``; raises EvalError when it cannot be
    computed batch by batch. ``rows``: the shape of one batch of it, for the comment. ``opened``
    for a file holding several arrays: it is only opened, its arrays are picked on later lines."""
    e = st.value
    reader = _reader(e)
    own = ex.self_attr(st.name)
    if reader is not None:
        name, path = reader
        where = data_path(path)
        if name == "npy":
            opening = ex.call("np.load", where, mmap_mode=ex.Lit("r"))
            plan.arrays[st.name] = "numpy"
        else:
            opening = ex.call("torch.load", where, mmap=ex.Lit(True), weights_only=ex.Lit(True))
            plan.arrays[st.name] = "torch"
        plan.sources.append(ex.Assign(own, opening))
        if not opened:
            plan.lines.append(_rows(st.name, plan.arrays[st.name], rows))
        return
    if (
        isinstance(e, s.Index)
        and isinstance(e.value, s.Name)
        and e.value.id in plan.arrays
        and _is_key(e)
    ):
        archive = e.value.id
        picked = ex.Index(ex.self_attr(archive), (ex.Lit(e.items[0].value),))
        plan.sources.append(ex.Assign(own, picked))
        plan.arrays[st.name] = plan.arrays[archive]
        plan.lines.append(_rows(st.name, plan.arrays[st.name], rows))
        return
    _row_wise(e, plan)
    plan.lines.append(ex.Assign(ex.Name(st.name), made, rows))


def _rows(name: str, kind: str, rows: ex.Shown | None) -> ex.Assign:
    batch = ex.Index(ex.self_attr(name), (_IDX,))
    if kind == "numpy":
        batch = ex.call("torch.from_numpy", batch)
    return ex.Assign(ex.Name(name), batch, rows)


def _reader(e) -> tuple[str, str] | None:
    if isinstance(e, s.CallExpr) and isinstance(e.func, s.Name) and e.func.id in READERS:
        if e.func.id not in STREAM_READERS:
            raise EvalError(
                f"`{e.func.id}` files cannot be streamed",
                e.span,
                "E0409",
                help="convert the data to .npy or .pt, or drop `stream`",
            )
        arg = e.args[0].value if len(e.args) == 1 else None
        if isinstance(arg, s.Str):
            return e.func.id, arg.value
    return None


def _is_key(e: s.Index) -> bool:
    return len(e.items) == 1 and isinstance(e.items[0], s.Str)


def _row_wise(e, plan: StreamPlan) -> None:
    """Refuse what a batch cannot compute from its own rows: generated or inline data, files
    read inside an expression, names that are not streamed, indexing across the samples. Calls
    of built-in functions were checked with their types (:func:`mixes_samples`)."""
    match e:
        case s.Num() | s.Const():
            return
        case s.Name(id=name):
            target = ex.Name(name)
            if name in plan.arrays or any(st.target == target for st in plan.lines):
                return
            raise EvalError(f"`{name}` is not streamed data", e.span, "E0409")
        case s.BinOp(left=left, right=right):
            _row_wise(left, plan)
            _row_wise(right, plan)
            return
        case s.Unary(operand=operand):
            _row_wise(operand, plan)
            return
        case s.Index(value=s.Name(id=name)) if name in plan.arrays and _is_key(e):
            raise EvalError(
                "in a streamed section, pick an array from a file on its own line",
                e.span,
                "E0409",
                help=f"e.g. `raw = {name}[...]`, then use `raw`",
            )
        case s.Index(value=base, items=items) if items and _full(items[0]):
            _row_wise(base, plan)
            return
        case s.CallExpr(func=s.Name(id=name), args=args) if name in FUNCTIONS:
            for a in args:
                for v in (
                    a.value.items if isinstance(a.value, (s.ListLit, s.TupleLit)) else [a.value]
                ):
                    _row_wise(v, plan)
            return
    raise _refused(e)


def _refused(e) -> EvalError:
    """Why a part of a streamed expression cannot be computed from one batch of rows."""
    match e:
        case s.Index():
            return EvalError(
                "a streamed section keeps the first dim, the samples, whole when it indexes",
                e.span,
                "E0409",
                help=f"index the other dims, as in `x[:, 0:4]`, {_DROP}",
            )
        case s.CallExpr(func=s.Name(id=name)) if name in READERS:
            return EvalError(
                "in a streamed section, read a file on a line of its own",
                e.span,
                "E0409",
                help=f'e.g. `raw = {name}("...")`, then use `raw`',
            )
        case s.ListLit():
            return EvalError(
                "a streamed section computes from the rows of its files and from numbers; a list "
                "written inline is neither",
                e.span,
                "E0409",
                help=f"write numbers, {_DROP}",
            )
    return EvalError(
        "a streamed data section reads its samples from files, batch by batch; this creates "
        "samples",
        e.span,
        "E0409",
        help=f"keep to arithmetic, element-wise functions and `t[:, ...]`, {_DROP}",
    )


def mixes_samples(name: str, args: list, kwargs: dict) -> tuple[str, str] | None:
    """Why a (checked) call of the built-in function ``name`` cannot be computed from one batch
    of rows alone, as (message, help); None when it can."""
    if name in ROW_WISE:
        return None
    if name in ("randn_like", "rand_like"):
        return (
            f"`{name}` draws new data, and a streamed section reads its samples from files",
            f"read the data from a file, {_DROP}",
        )
    if name not in ALONG:
        return f"`{name}` cannot be computed batch by batch", f"compute it elsewhere, {_DROP}"
    a = bind_call(FUNCTIONS[name], args, kwargs)
    first = a.py(FUNCTIONS[name].params[0].name)
    shape = tuple(first[0].shape if name in ("cat", "stack") else first.shape)
    if name in _REDUCTIONS and a.py("dim") is None:
        return (
            f"`{name}` over every dim mixes the samples, which a streamed section reads in batches",
            f"give a dim other than 0, as in `{name}(x, 1)`, {_DROP}",
        )
    if name == "reshape":
        sizes = tuple(a.py("sizes"))
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        if sizes[:1] == (-1,) and math.prod(sizes[1:]) == math.prod(shape[1:]):
            return None
        return (
            "this reshape does not keep one row per sample, as a streamed section needs",
            f"write `reshape(x, -1, ...)` with the sizes of one sample, {_DROP}",
        )
    if 0 in _dims_touched(name, a, shape):
        return (
            f"`{name}` along dim 0 mixes the samples, which a streamed section reads in batches",
            f"use another dim, {_DROP}",
        )
    return None


def _dims_touched(name: str, a, shape: tuple) -> set[int]:
    """The dims (as indices from 0) that ``name`` reduces, joins along, inserts or moves."""
    if name in _REDUCTIONS:
        dim = a.py("dim")
        return {axis(d, shape, "dim") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
    if name in ("cat", "softmax", "log_softmax", "squeeze"):
        return {axis(a.py("dim"), shape, "dim")}
    if name in ("stack", "unsqueeze"):
        return {axis(a.py("dim"), shape, "dim", extra=1)}
    if name == "flatten":
        start, end = (axis(a.py(p), shape, p) for p in ("start_dim", "end_dim"))
        return {start} if start < end else set()
    if name == "transpose":
        d0, d1 = (axis(a.py(p), shape, p) for p in ("dim0", "dim1"))
        return {d0, d1} if d0 != d1 else set()
    first = axis(tuple(a.py("dims"))[0], shape, "dims")  # permute: dim 0 stays first
    return {0} if first != 0 else set()


def _full(item) -> bool:
    return (
        isinstance(item, s.SliceExpr)
        and item.start is None
        and item.stop is None
        and item.step is None
    )
