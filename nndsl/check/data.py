"""Data sections: the shape, dtype and (where it can be known) value range of every tensor a
``data`` section defines, and the Python lines that build those tensors in a training script.

Files are inspected here, at compile time and without torch (:mod:`nndsl.datafiles.inspect`), so a
missing column or a ragged row is a diagnostic with a location, not a failure an hour into a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nndsl.diagnostics.core import Diagnostic, Label, Reported
from nndsl.ir.shapes import ShapeError, fmt_shape
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, Slice, Tensor
from nndsl.lang import syntax as s
from nndsl.lang.pyexpr import ATOM, EvalError, Value, evaluate, literal
from nndsl.registry.functions import FUNCTIONS, binary, describe, index, unary
from nndsl.registry.functions import call as call_function
from nndsl.util.naming import problem, suggest

MAX_INLINE = 10_000  # numbers written inline in one data section: beyond, a file is better
MAX_GENERATED = 100_000_000  # elements one generated tensor may hold
# names the generated loader and Dataset use for themselves
RESERVED = frozenset(
    ("g", "cfg", "data_dir", "self", "idx", "torch", "np", "nn", "csv", "Path", "read_csv")
)
_RANGES = {"batch": (1, 2**63 - 1), "seed": (0, 2**63 - 1)}  # what torch takes
DATA_SETTINGS = ("batch", "shuffle", "drop_last", "seed", "split", "validation", "stream")
FILE_READERS = ("csv", "npy", "npz", "pt")
GENERATORS = ("linspace", "arange", "randn", "rand", "randint", "zeros", "ones")


@dataclass(frozen=True)
class TableType:
    """A CSV file read whole: its rows become one float32 tensor; columns are chosen by index
    or by name with ``t[:, ...]``."""

    table: object  # datafiles.Table
    path: str


@dataclass(frozen=True)
class ArchiveType:
    """An ``.npz`` archive or a ``.pt`` file holding a dict: pick a tensor with ``z["name"]``."""

    arrays: dict
    path: str
    numpy: bool  # npz (numpy arrays, converted with torch.from_numpy) or pt (torch tensors)


@dataclass
class DataInfo:
    """A checked data section."""

    name: str
    span: s.Span
    tensors: dict[str, Tensor] = field(default_factory=dict)
    spans: dict[str, s.Span] = field(default_factory=dict)
    ranges: dict[str, tuple] = field(default_factory=dict)  # name -> (min, max) of the values
    lines: list[str] = field(default_factory=list)
    readers: set[str] = field(default_factory=set)  # csv, npy, npz, pt
    random: bool = False
    samples: int | None = None
    batch: int | None = None
    shuffle: bool = True
    drop_last: bool = False
    seed: int = 0
    split: float = 0.0
    validation: str | None = None
    stream: bool = False
    plan: object = None  # check_stream.StreamPlan of a streamed section
    failed: set = field(default_factory=set)  # names whose value had an error
    setting_spans: dict[str, s.Span] = field(default_factory=dict)


def _dtype_code(dtype: str) -> str:
    return f"torch.{dtype}"


def _nested(py: object, span: s.Span) -> tuple[tuple, bool, int, tuple]:
    """The shape of a nested list of numbers, whether all are ints, how many numbers, and the
    (min, max) of the numbers."""
    if isinstance(py, bool) or isinstance(py, (int, float)):
        return (), isinstance(py, int), 1, (py, py)
    if not isinstance(py, list) or not py:
        raise EvalError("a data tensor is a number or a non-empty list of them", span, "E0106")
    parts = [_nested(x, span) for x in py]
    if any(p[0] != parts[0][0] for p in parts):
        raise EvalError(
            "the rows of this list have different lengths",
            span,
            "E0403",
            help="every row of a tensor has the same number of items",
        )
    lo = min(p[3][0] for p in parts)
    hi = max(p[3][1] for p in parts)
    return (len(py),) + parts[0][0], all(p[1] for p in parts), sum(p[2] for p in parts), (lo, hi)


class DataRules:
    """Checks one ``data`` section; mixed into nothing, used by :mod:`nndsl.check.train`."""

    def __init__(self, diags: list[Diagnostic], base: Path | None):
        self.diags = diags
        self.base = base or Path(".")

    def _error(self, code: str, message: str, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, **kw))

    def data(self, node: s.Data) -> DataInfo:
        info = DataInfo(node.name, node.name_span)
        env: dict[str, Value] = {}
        self.ranges: dict[str, tuple] = {}
        inline = 0
        for st in node.stmts:
            if isinstance(st, s.Setting):
                self._setting(st, info)
        if info.stream:
            from nndsl.check.stream import StreamPlan

            info.plan = StreamPlan()
        for st in node.stmts:
            if isinstance(st, s.Setting):
                continue
            if st.name in env:
                self._error(
                    "E0109", f"`{st.name}` is defined twice in data `{node.name}`", st.name_span
                )
                continue
            if st.name in RESERVED or problem(st.name, "local"):
                why = problem(st.name, "local") or "the generated loader uses it"
                self._error(
                    "E0110",
                    f"cannot name a data tensor `{st.name}`: {why}",
                    st.name_span,
                    help="choose another name",
                )
                info.failed.add(st.name)
                continue
            try:
                v, rng = self._value(st.value, env, info)
            except Reported:
                env[st.name] = Value(None, st.name)
                info.failed.add(st.name)
                continue
            except EvalError as err:
                self._error(err.code, err.message, err.span, help=err.help)
                env[st.name] = Value(None, st.name)
                info.failed.add(st.name)
                continue
            if isinstance(st.value, s.ListLit):
                inline += math.prod(v.py.shape) if isinstance(v.py, Tensor) else 0
                if inline > MAX_INLINE:
                    self._error(
                        "E0412",
                        f"more than {MAX_INLINE:,} numbers written inline",
                        st.value.span,
                        help="put the data in a CSV or .npy file",
                    )
            env[st.name] = Value(v.py, st.name)
            if isinstance(v.py, Tensor):
                info.tensors[st.name] = v.py
                info.spans[st.name] = st.name_span
                if rng is not None:
                    info.ranges[st.name] = rng
                comment = f"  # {fmt_shape(v.py.shape)}" if v.py.shape else ""
                info.lines.append(f"{st.name} = {v.code}{comment}")
                if info.plan is not None:
                    rows = f"  # {fmt_shape(('B', *v.py.shape[1:]))}" if v.py.shape else ""
                    self._stream(info, st, v.code, rows)
            elif isinstance(v.py, (TableType, ArchiveType)):
                info.lines.append(f"{st.name} = {v.code}")
                if info.plan is not None:
                    self._stream(info, st, v.code, None)
            else:
                self._error(
                    "E0106", f"a data value must be a tensor, not {describe(v.py)}", st.value.span
                )
        self._samples(info)
        if info.split and info.validation is not None:
            self._error(
                "E0413",
                "`split` and `validation` both choose the validation data; keep one",
                info.setting_spans["split"],
                labels=(Label(info.setting_spans["validation"], "and here"),),
            )
        return info

    def _stream(self, info: DataInfo, st: s.DataAssign, code: str, comment: str) -> None:
        from nndsl.check.stream import stream_line

        try:
            stream_line(info.plan, st, code, comment)
        except EvalError as err:
            self._error(err.code, err.message, err.span, help=err.help)

    # ---- settings -----------------------------------------------------------------------

    def _setting(self, st: s.Setting, info: DataInfo) -> None:
        if st.name not in DATA_SETTINGS:
            self._error(
                "E0401",
                f"unknown data setting `{st.name}`",
                st.name_span,
                help=suggest(st.name, DATA_SETTINGS) or "settings: " + ", ".join(DATA_SETTINGS),
            )
            return
        if st.name in info.setting_spans:
            self._error("E0105", f"`{st.name}` is set twice", st.name_span)
            return
        info.setting_spans[st.name] = st.span
        if len(st.args) != 1 or st.args[0].name is not None:
            self._error("E0104", f"`{st.name}` takes one value", st.span)
            return
        arg = st.args[0].value
        if st.name == "validation":
            if not isinstance(arg, s.Name):
                self._error("E0106", "`validation` names another data section", arg.span)
            else:
                info.validation = arg.id
            return
        try:
            v = evaluate(arg, {}).py
        except EvalError as err:
            self._error("E0106", err.message, err.span, help=err.help)
            return
        want = {"batch": "int", "seed": "int", "split": "float"}.get(st.name, "bool")  # else bool
        ok = (
            isinstance(v, bool)
            if want == "bool"
            else (
                isinstance(v, int) and not isinstance(v, bool)
                if want == "int"
                else isinstance(v, (int, float)) and not isinstance(v, bool)
            )
        )
        if not ok:
            example = {"bool": "true", "int": "64", "float": "0.2"}[want]
            self._error(
                "E0106", f"`{st.name}` takes a {want}, e.g. `{st.name} {example}`", arg.span
            )
            return
        lo, hi = _RANGES.get(st.name, (0, 1))
        if not lo <= v <= hi or (st.name == "split" and v in (0, 1)):  # 0 < split < 1
            rule = f"at least {lo}" if v < lo else "at most 2**63 - 1"
            rule = "between 0 and 1" if st.name == "split" else rule
            self._error("E0125", f"`{st.name}` must be {rule}, got {v}", arg.span)
            return
        setattr(info, st.name, v)

    def _samples(self, info: DataInfo) -> None:
        """Every tensor of a data section has the same first dim: the number of samples."""
        first = None
        for name, t in info.tensors.items():
            if not t.shape:
                self._error(
                    "E0403",
                    f"`{name}` is a single number; data tensors hold one row per sample",
                    info.spans[name],
                )
                continue
            if first is None:
                first = name
                info.samples = t.shape[0]
            elif t.shape[0] != info.samples:
                self._error(
                    "E0403",
                    f"`{name}` has {t.shape[0]} samples but `{first}` has {info.samples}",
                    info.spans[name],
                    help="every tensor of a data section has one row per sample",
                )

    # ---- values -------------------------------------------------------------------------

    def _value(self, e, env: dict[str, Value], info: DataInfo) -> tuple[Value, tuple | None]:
        """A data expression's typed value and the (min, max) of its values where known."""
        match e:
            case s.ListLit():
                lit = evaluate(e, {})
                shape, ints, _, rng = _nested(lit.py, e.span)
                dtype = "int64" if ints else "float32"
                if any(isinstance(x, bool) for x in _flat(lit.py)):
                    dtype = "bool" if all(isinstance(x, bool) for x in _flat(lit.py)) else dtype
                return Value(Tensor(shape, dtype), f"torch.tensor({lit.code})"), rng
            case s.Num() | s.Const() | s.Str():
                return evaluate(e, {}), None
            case s.Name(id=name):
                if name not in env:
                    hint = suggest(name, env)
                    if name in GENERATORS or name in FILE_READERS or name in FUNCTIONS:
                        hint = f"`{name}` is a function; call it"
                    raise EvalError(f"`{name}` is not defined", e.span, help=hint)
                v = env[name]
                if v.py is None:
                    raise Reported
                return v, self.ranges.get(name)
            case s.BinOp(op=op, left=left, right=right):
                a, _ = self._value(left, env, info)
                b, _ = self._value(right, env, info)
                return self._op(lambda: binary(op, a, b), e), None
            case s.Unary(op=op, operand=operand):
                a, _ = self._value(operand, env, info)
                return self._op(lambda: unary(op, a), e), None
            case s.Index(value=base, items=items):
                b, rng = self._value(base, env, info)
                if isinstance(b.py, TableType):
                    return self._columns(b, items, e)
                if isinstance(b.py, ArchiveType):
                    return self._member(b, items, e)
                picked = tuple(self._item(x, env, info) for x in items)
                return self._op(lambda: index(b, picked), e), rng
            case s.CallExpr(func=s.Name(id=name)):
                return self._call(name, e, env, info)
            case s.TupleLit():
                return evaluate(e, {}), None
        raise EvalError("this is not a data expression", e.span, "E0106")

    def _item(self, x, env, info):
        match x:
            case s.EllipsisLit():
                return ELLIPSIS
            case s.Const(value=None):
                return NEWAXIS
            case s.SliceExpr(start=a, stop=b, step=c):
                return Slice(
                    *(None if p is None else self._value(p, env, info)[0] for p in (a, b, c))
                )
        return self._value(x, env, info)[0]

    def _op(self, thunk, e) -> Value:
        try:
            return thunk()
        except ShapeError as err:
            span = e.span
            arg = getattr(err, "arg", None)
            if isinstance(e, s.BinOp) and arg in ("left", "right"):
                span = getattr(e, arg).span
            self._error("E0303", err.message, span, help=err.help)
            raise Reported from None

    def _call(self, name: str, e: s.CallExpr, env, info: DataInfo):
        args = [a for a in e.args if a.name is None]
        kwargs = {a.name: a for a in e.args if a.name is not None}
        if name in FILE_READERS:
            return self._read(name, e, args, kwargs, info)
        if name in GENERATORS:
            return self._generate(name, e, args, kwargs, info)
        if name in FUNCTIONS:

            def arg(node):  # a list argument is a list of sizes or dims, not a tensor
                if isinstance(node, (s.ListLit, s.TupleLit)):
                    return evaluate(node, {})
                return self._value(node, env, info)[0]

            vals = [arg(a.value) for a in args]
            kw = {k: arg(a.value) for k, a in kwargs.items()}
            return self._op(lambda: call_function(name, vals, kw), e), None
        hint = suggest(name, [*FILE_READERS, *GENERATORS, *FUNCTIONS])
        raise EvalError(f"unknown function `{name}`", e.func.span, "E0101", help=hint)

    def _numbers(self, args, what: str) -> list:
        out = []
        for a in args:
            v = evaluate(a.value, {}).py
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise EvalError(f"`{what}` takes numbers here", a.value.span, "E0106")
            if not math.isfinite(v):
                raise EvalError(f"`{what}` takes finite numbers, not {v}", a.value.span, "E0414")
            out.append(v)
        return out

    def _generate(self, name, e, args, kwargs, info: DataInfo) -> tuple[Value, tuple | None]:
        for k, a in kwargs.items():
            raise EvalError(
                f"`{name}` takes its arguments by position, not `{k}=`", a.span, "E0102"
            )
        nums = self._numbers(args, name)
        if name == "linspace":
            if len(nums) != 3 or not isinstance(nums[2], int) or nums[2] < 1:
                raise EvalError(
                    "write `linspace(start, end, steps)` with steps >= 1", e.span, "E0106"
                )
            a, b, n = nums
            self._dims([n], e)
            return Value(Tensor((n,), "float32"), f"torch.linspace({a!r}, {b!r}, {n})", ATOM), (
                min(a, b),
                max(a, b),
            )
        if name == "arange":
            if not 1 <= len(nums) <= 3:
                raise EvalError(
                    "write `arange(end)`, `arange(start, end)` or `arange(start, end, step)`",
                    e.span,
                    "E0106",
                )
            start, end, step = ([0] + nums + [1])[:3] if len(nums) == 1 else (nums + [1])[:3]
            if step == 0:
                raise EvalError("`arange` needs a step other than 0", e.span, "E0414")
            n = max(0, math.ceil((end - start) / step))
            if n > MAX_GENERATED:
                self._dims([n], e)
            if n < 1:
                raise EvalError(
                    f"`arange` from {start} to {end} by {step} is empty", e.span, "E0414"
                )
            ints = all(isinstance(x, int) for x in (start, end, step))
            code = ", ".join(repr(x) for x in nums)
            last = start + (n - 1) * step
            return Value(Tensor((n,), "int64" if ints else "float32"), f"torch.arange({code})"), (
                min(start, last),
                max(start, last),
            )
        if name == "randint":
            if len(nums) < 3 or not all(isinstance(x, int) for x in nums):
                raise EvalError(
                    "write `randint(low, high, size, ...)`: values in low .. high - 1",
                    e.span,
                    "E0106",
                )
            low, high, *dims = nums
            if high <= low:
                raise EvalError("`randint` needs high > low", e.span, "E0414")
            if low < -(2**63) or high > 2**63 - 1:
                raise EvalError(
                    "`randint` draws int64 values: low and high lie within ±2**63", e.span, "E0414"
                )
            self._dims(dims, e)
            info.random = True
            shape = ", ".join(map(str, dims))
            code = f"torch.randint({low}, {high}, ({shape},), generator=g)"
            return Value(Tensor(tuple(dims), "int64"), code), (low, high - 1)
        dims = nums
        if not dims or not all(isinstance(x, int) for x in dims):
            raise EvalError(f"write `{name}(size, ...)` with integer sizes", e.span, "E0106")
        self._dims(dims, e)
        generator = ", generator=g" if name in ("randn", "rand") else ""
        info.random = info.random or bool(generator)
        code = f"torch.{name}({', '.join(map(str, dims))}{generator})"
        rng = {"zeros": (0, 0), "ones": (1, 1), "rand": (0, 1)}.get(name)
        return Value(Tensor(tuple(dims), "float32"), code), rng

    def _dims(self, dims, e) -> None:
        if any(d < 1 for d in dims):
            raise EvalError("sizes must be at least 1", e.span, "E0125")
        if math.prod(dims) > MAX_GENERATED:
            raise EvalError(
                f"a generated tensor holds at most {MAX_GENERATED:,} values", e.span, "E0412"
            )

    # ---- files --------------------------------------------------------------------------

    def _read(self, name, e, args, kwargs, info: DataInfo) -> tuple[Value, tuple | None]:
        from nndsl.datafiles import inspect as datafiles

        if kwargs or len(args) != 1 or not isinstance(args[0].value, s.Str):
            raise EvalError(
                f'write `{name}("path/to/file.{name}")`: one path, relative to the .nn file',
                e.span,
                "E0106",
            )
        rel = args[0].value.value
        where = f"data_dir / {literal(rel).code}"
        info.readers.add(name)
        try:
            if name == "csv":
                table = datafiles.inspect_csv(rel, self.base)
                return (
                    Value(TableType(table, rel), f"read_csv({where}, skip={int(table.header)})"),
                    None,
                )
            if name == "npy":
                return _array(
                    datafiles.inspect_npy(rel, self.base), f"torch.from_numpy(np.load({where}))"
                )
            if name == "npz":
                return (
                    Value(
                        ArchiveType(datafiles.inspect_npz(rel, self.base), rel, True),
                        f"np.load({where})",
                    ),
                    None,
                )
            found = datafiles.inspect_pt(rel, self.base)
            code = f"torch.load({where}, weights_only=True)"
            if isinstance(found, dict):
                return Value(ArchiveType(found, rel, False), code), None
            return _array(found, code)
        except datafiles.DataFileError as err:
            hint = err.help
            if hint and hint.startswith("looked for"):  # an absolute path: say how paths resolve
                hint = "data paths are relative to the folder of the .nn file"
            self._error("E0402", err.message, args[0].value.span, help=hint)
            raise Reported from None

    def _member(self, b: Value, items, e) -> tuple[Value, tuple | None]:
        arch: ArchiveType = b.py
        if len(items) != 1 or not isinstance(items[0], s.Str):
            raise EvalError('pick one array by name: `z["images"]`', e.span, "E0106")
        key = items[0].value
        if key not in arch.arrays:
            names = ", ".join(sorted(arch.arrays))
            raise EvalError(
                f"{arch.path} has no array `{key}`",
                items[0].span,
                "E0402",
                help=suggest(key, arch.arrays) or f"it has: {names}",
            )
        arr = arch.arrays[key]
        code = f"{b.code}[{literal(key).code}]"
        if arch.numpy:
            code = f"torch.from_numpy({code})"
        lo = getattr(arr, "min", None)
        return Value(Tensor(tuple(arr.shape), arr.dtype), code), (
            None if lo is None else (lo, arr.max)
        )

    def _columns(self, b: Value, items, e) -> tuple[Value, tuple | None]:
        from nndsl.datafiles import inspect as datafiles

        tab: TableType = b.py
        everything = (
            isinstance(items[0], s.SliceExpr) and items[0].start is None and items[0].stop is None
        )
        if len(items) != 2 or not everything or items[0].step is not None:
            raise EvalError(
                "choose columns with `t[:, columns]`: an index, a name, a slice or a list",
                e.span,
                "E0106",
            )
        sel = items[1]
        key = self._column_key(sel)
        try:
            cols = tab.table.columns(key)
        except datafiles.DataFileError as err:
            self._error("E0402", err.message, sel.span, help=err.help)
            raise Reported from None
        if not cols:
            self._error("E0402", "this selects no columns", sel.span)
            raise Reported
        rows = tab.table.rows
        single = not isinstance(key, (slice, list))
        ints = single and cols[0].dtype == "int64"  # one whole-number column: labels or ids
        idx = [c.index for c in cols]
        if single:
            code = str(idx[0])
        elif idx == list(range(idx[0], idx[-1] + 1)):
            code = f"{idx[0]}:{idx[-1] + 1}"
        else:
            code = "[" + ", ".join(map(str, idx)) + "]"
        text = f"{b.code}[:, {code}]" + (".long()" if ints else "")
        shape = (rows,) if single else (rows, len(cols))
        rng = (min(c.min for c in cols), max(c.max for c in cols))
        return Value(Tensor(shape, "int64" if ints else "float32"), text), rng

    def _column_key(self, sel):
        """The selector as :meth:`datafiles.Table.columns` takes it."""
        match sel:
            case s.Num() | s.Unary():
                return self._int(sel)
            case s.Str(value=name):
                return name
            case s.SliceExpr(start=a, stop=b, step=c):
                return slice(*(None if p is None else self._int(p) for p in (a, b, c)))
            case s.ListLit(items=items):
                return [x.value if isinstance(x, s.Str) else self._int(x) for x in items]
        raise EvalError(
            "a column is an index, a name, a slice or a list of them", sel.span, "E0106"
        )

    def _int(self, node) -> int:
        v = evaluate(node, {}).py
        if not isinstance(v, int) or isinstance(v, bool):
            raise EvalError("a column index is a whole number", node.span, "E0106")
        return v


def _array(arr, code: str) -> tuple[Value, tuple | None]:
    rng = None if arr.min is None else (arr.min, arr.max)
    return Value(Tensor(tuple(arr.shape), arr.dtype), code), rng


def _flat(py):
    if isinstance(py, list):
        for x in py:
            yield from _flat(x)
    else:
        yield py
