"""Data sections: the shape, dtype and (where it can be known) value range of every tensor a
``data`` section defines, and the statements (``ir.expr``) building them in a training script.

Files are inspected here, at compile time and without torch (:mod:`nndsl.datafiles.inspect`), so a
missing column or a ragged row is a diagnostic with a location, not a failure an hour into a run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from nndsl.check.data_files import ArchiveType, FileRules, TableType
from nndsl.check.data_gen import GeneratorRules
from nndsl.diagnostics.core import Diagnostic, Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import MAX_INT, ShapeError
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, Slice, Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.functions import call as call_function
from nndsl.registry.operators import binary, describe, index, unary
from nndsl.registry.readers import READERS
from nndsl.util.naming import problem, suggest

MAX_INLINE = 10_000  # numbers written inline in one data section: beyond, a file is better
# names the generated loader and Dataset use for themselves
RESERVED = frozenset(
    ("g", "cfg", "data_dir", "self", "idx", "torch", "np", "nn", "csv", "Path", "read_csv")
)
_RANGES = {"batch": (1, MAX_INT), "seed": (0, MAX_INT)}  # what torch takes
DATA_SETTINGS = ("batch", "shuffle", "drop_last", "seed", "split", "validation", "stream")
FILE_READERS = tuple(READERS)
GENERATORS = ("linspace", "arange", "randn", "rand", "randint", "zeros", "ones")


@dataclass
class DataInfo:
    """A checked data section."""

    name: str
    span: s.Span
    tensors: dict[str, Tensor] = field(default_factory=dict)
    spans: dict[str, s.Span] = field(default_factory=dict)
    ranges: dict[str, tuple] = field(default_factory=dict)  # name -> (min, max) of the values
    body: list = field(default_factory=list)  # statements building the tensors
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


class DataRules(FileRules, GeneratorRules):
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
            except (Reported, EvalError) as err:
                if isinstance(err, EvalError):
                    self._error(err.code, err.message, err.span, help=err.help)
                env[st.name] = Value(None, ex.Name(st.name))
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
            env[st.name] = Value(v.py, ex.Name(st.name))
            self._keep(info, st, v, rng)
        self._samples(info)
        if info.split and info.validation is not None:
            self._error(
                "E0413",
                "`split` and `validation` both choose the validation data; keep one",
                info.setting_spans["split"],
                labels=(Label(info.setting_spans["validation"], "and here"),),
            )
        return info

    def _keep(self, info: DataInfo, st: s.DataAssign, v: Value, rng: tuple | None) -> None:
        """A data value the loader builds: its statement, and for a tensor its type and range."""
        target = ex.Name(st.name)
        if isinstance(v.py, Tensor):
            info.tensors[st.name] = v.py
            info.spans[st.name] = st.name_span
            if rng is not None:
                info.ranges[st.name] = rng
            shape = tuple(v.py.shape)
            info.body.append(ex.Assign(target, v.expr, ex.Shown(shape) if shape else None))
            if info.plan is not None:
                rows = ex.Shown(("B", *shape[1:])) if shape else None
                self._stream(info, st, v.expr, rows, False)
        elif isinstance(v.py, (TableType, ArchiveType)):
            info.body.append(ex.Assign(target, v.expr))
            if info.plan is not None:
                self._stream(info, st, v.expr, None, True)
        else:
            what = describe(v.py)
            self._error("E0106", f"a data value must be a tensor, not {what}", st.value.span)

    def _stream(self, info: DataInfo, st: s.DataAssign, e: ex.Expr, rows, opened: bool) -> None:
        from nndsl.check.stream import stream_line

        try:
            stream_line(info.plan, st, e, rows, opened)
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
                return Value(Tensor(shape, dtype), ex.call("torch.tensor", lit.expr)), rng
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

    def _item(self, item, env, info):
        match item:
            case s.EllipsisLit():
                return ELLIPSIS
            case s.Const(value=None):
                return NEWAXIS
            case s.SliceExpr(start=a, stop=b, step=c):
                return Slice(
                    *(None if p is None else self._value(p, env, info)[0] for p in (a, b, c))
                )
        return self._value(item, env, info)[0]

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


def _flat(py):
    if isinstance(py, list):
        for x in py:
            yield from _flat(x)
    else:
        yield py


def data_table(info: DataInfo) -> ir.DataTable:
    """The tensors of a checked section, as ``nndsl check`` lists them."""
    tensors = tuple((n, tuple(t.shape), t.dtype) for n, t in info.tensors.items())
    return ir.DataTable(info.name, info.samples, tensors, info.stream)
