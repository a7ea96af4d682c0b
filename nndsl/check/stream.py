"""Streamed data sections (``stream true``): arrays too large for memory stay on disk,
memory-mapped, and a DataLoader with worker processes reads one batch of rows at a time.

Only what can be computed batch by batch is allowed: arrays read from ``.npy`` or ``.pt`` files
(a ``.pt`` file may hold a dict of tensors), then row-wise expressions of them (arithmetic with
numbers, element-wise functions, ``reshape`` keeping the first dim, column indexing ``t[:, ...]``).
The generated ``Dataset`` opens the files once and runs those expressions on each batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nndsl.ir import expr as ex
from nndsl.ir.values import EvalError
from nndsl.lang import syntax as s
from nndsl.registry.readers import READERS, STREAM_READERS

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
)


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
    """Refuse what mixes samples: reductions, reshapes of the first dim, generated data."""
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
        case s.CallExpr(func=s.Name(id="reshape"), args=args) if len(args) > 1 and _minus_one(
            args[1]
        ):
            _row_wise(args[0].value, plan)
            return
        case s.CallExpr(func=s.Name(id=name), args=args) if name in ROW_WISE:
            for a in args:
                _row_wise(a.value, plan)
            return
    raise EvalError(
        "a streamed data section computes batch by batch; this mixes or creates samples",
        e.span,
        "E0409",
        help="keep to arithmetic, element-wise functions, `reshape(x, -1, ...)` and `t[:, ...]`",
    )


def _full(item) -> bool:
    return (
        isinstance(item, s.SliceExpr)
        and item.start is None
        and item.stop is None
        and item.step is None
    )


def _minus_one(arg: s.Arg) -> bool:
    v = arg.value
    return (
        isinstance(v, s.Unary)
        and v.op == "-"
        and isinstance(v.operand, s.Num)
        and v.operand.value == 1
    )
