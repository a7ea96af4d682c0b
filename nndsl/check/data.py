"""Data sections: the shape, dtype and (where it can be known) value range of every tensor a
``data`` section defines, and the statements (``ir.expr``) building them in a training script.

Files are inspected here, at compile time and without torch (:mod:`nndsl.datafiles.inspect`), so a
missing column or a ragged row is a diagnostic with a location, not a failure an hour into a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nndsl.check.data_expr import FILE_READERS, GENERATORS, DataExprRules
from nndsl.check.data_files import ArchiveType, FileRules, TableType
from nndsl.check.data_gen import GeneratorRules
from nndsl.check.data_text import SEQUENCE_FUNCTIONS, TextRules
from nndsl.diagnostics.core import Diagnostic, Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import MAX_INT
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.operators import describe
from nndsl.util.naming import problem, suggest

__all__ = [  # the generators and readers are named here too, for the tools
    "DATA_SETTINGS",
    "FILE_READERS",
    "GENERATORS",
    "SEQUENCE_FUNCTIONS",
    "DataInfo",
    "DataRules",
    "data_table",
]

# names the generated loader and Dataset use for themselves
RESERVED = frozenset("g cfg data_dir torch np nn csv Path read_csv read_text VOCABULARY".split())
STREAM_RESERVED = frozenset(("self", "idx"))  # names the Dataset of a streamed section uses
_RANGES = {"batch": (1, MAX_INT), "seed": (0, MAX_INT)}  # what torch takes
DATA_SETTINGS = (
    "batch",
    "shuffle",
    "drop_last",
    "seed",
    "split",
    "validation",
    "test",
    "stream",
    "classes",
)


@dataclass
class DataInfo:
    """A checked data section."""

    name: str
    span: s.Span
    tensors: dict[str, Tensor] = field(default_factory=dict)
    spans: dict[str, s.Span] = field(default_factory=dict)
    ranges: dict[str, tuple] = field(default_factory=dict)  # name -> (min, max) of the values
    body: list = field(default_factory=list)  # statements building the tensors
    readers: set[str] = field(default_factory=set)  # csv, npy, npz, pt, text
    # the characters of the first text file read, whose ids the section's text files get,
    # that file and its first character
    vocabulary: str | None = None
    text_file: str = ""
    text_first: str = ""
    sequences: set[str] = field(default_factory=set)  # tensors of text not cut into samples
    random: bool = False
    samples: int | None = None
    batch: int | None = None
    shuffle: bool = True
    drop_last: bool = False
    seed: int = 0
    split: float = 0.0
    validation: str | None = None
    test: float = 0.0  # `test 0.1`: the fraction held out to test on after training
    test_data: str | None = None  # `test other`: the data section tested on instead
    stream: bool = False
    plan: object = None  # check_stream.StreamPlan of a streamed section
    failed: set = field(default_factory=set)  # names whose value had an error
    setting_spans: dict[str, s.Span] = field(default_factory=dict)
    classes: tuple[str, ...] = ()  # `classes ["setosa", ...]`: the names of the class ids
    # for `predict` (nndsl.check.predict): each line's expression as written, the value of
    # each file read, table's columns or inline list, and the calls that mix the samples
    exprs: dict[str, s.Expr] = field(default_factory=dict)
    made: dict[s.Span, Value] = field(default_factory=dict)
    mixing: set[s.Span] = field(default_factory=set)


class DataRules(DataExprRules, FileRules, GeneratorRules, TextRules):
    """Checks one ``data`` section; mixed into nothing, used by :mod:`nndsl.check.train`."""

    def __init__(self, diags: list[Diagnostic], base: Path | None):
        self.diags = diags
        self.base = base or Path(".")

    def _error(self, code: str, message: str, span, **kw) -> None:
        self.diags.append(Diagnostic(code, message, span, **kw))

    def data(self, node: s.Data) -> DataInfo:
        info = DataInfo(node.name, node.name_span)
        env: dict[str, Value] = {}
        self.start_section(node)
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
            self.start_line(st)
            reserved = RESERVED | STREAM_RESERVED if info.stream else RESERVED
            if st.name in reserved or problem(st.name, "local"):
                why = problem(st.name, "local") or "the generated loader uses it"
                self._error(
                    "E0110",
                    f"cannot name a data tensor `{st.name}`: {why}",
                    st.name_span,
                    help="choose another name",
                )
                env[st.name] = Value(None, ex.Name(st.name))  # its uses stay silent
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
        self._held_out(info)
        return info

    def _held_out(self, info: DataInfo) -> None:
        """``test`` and ``split`` together leave samples to train on; ``test other`` names
        a section that is neither this one nor the validation data."""
        spans = info.setting_spans
        if info.test and info.split and info.test + info.split >= 1:
            self._error(
                "E0125",
                f"`test {info.test}` and `split {info.split}` hold out every sample: "
                "together they must be under 1",
                spans["test"],
                labels=(Label(spans["split"], "and here"),),
                help="hold out less, e.g. `test 0.1` and `split 0.2`",
            )
            info.test = 0.0  # reported: not again as a training set without a batch
        if info.test_data is not None and info.test_data in (info.name, info.validation):
            what = "itself, the samples it trains on"
            if info.test_data != info.name:
                what = f"`{info.test_data}`, its validation data, which chose the best weights"
            self._error(
                "E0413",
                f"data `{info.name}` is tested on {what}",
                spans["test"],
                help="test on another data section, or hold samples out with `test 0.1`",
            )

    def _keep(self, info: DataInfo, st: s.DataAssign, v: Value, rng: tuple | None) -> None:
        """A data value the loader builds: its statement, and for a tensor its type and range."""
        target = ex.Name(st.name)
        info.exprs[st.name] = st.value
        if isinstance(v.py, Tensor):
            info.tensors[st.name] = v.py
            if self.sequence(st.value, info):
                info.sequences.add(st.name)
            info.spans[st.name] = st.name_span
            if rng is not None:  # for the loss checks, and for the names built from it
                info.ranges[st.name] = self.ranges[st.name] = rng
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
        if st.name == "classes":
            self._classes(arg, info)
            return
        if st.name == "test":
            self._test(arg, info)
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

    def _test(self, arg, info: DataInfo) -> None:
        """``test 0.1``: a fraction of the samples (0 < test < 1) held out before the
        validation ``split``, to test the best weights on after training; ``test other``:
        the data section ``other`` instead."""
        if isinstance(arg, s.Name):
            info.test_data = arg.id
            return
        try:
            v = evaluate(arg, {}).py
        except EvalError:
            v = None
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self._error(
                "E0106",
                "`test` takes the fraction of the samples to test on, or a data section",
                arg.span,
                help="e.g. `test 0.1`, or `test held_out`",
            )
        elif not 0 < v < 1:
            self._error("E0125", f"`test` must be between 0 and 1, got {v}", arg.span)
        else:
            info.test = float(v)

    def _classes(self, arg, info: DataInfo) -> None:
        """``classes ["setosa", "versicolor", "virginica"]``: the names of class ids 0, 1, ...
        (0 and 1 for a binary loss), distinct strings of printable text."""
        help = 'e.g. `classes ["setosa", "versicolor", "virginica"]`'
        if not isinstance(arg, s.ListLit) or not arg.items:
            self._error("E0421", "`classes` takes a list of names", arg.span, help=help)
            return
        items, seen = arg.items, set()
        for item in items:
            ok = isinstance(item, s.Str) and item.value.strip() and item.value.isprintable()
            if not ok or item.value in seen:
                why = f"`{item.value}` is named twice" if ok else "names are strings"
                self._error(
                    "E0421",
                    f"`classes` takes the names of the class ids in order: {why}",
                    item.span,
                    help=help,
                )
                return
            seen.add(item.value)
        info.classes = tuple(i.value for i in items)

    def _samples(self, info: DataInfo) -> None:
        """Every tensor of a data section has the same first dim: the number of samples, but
        a sequence of text, which is not samples until ``windows`` cuts it."""
        first = None
        for name, t in info.tensors.items():
            if name in info.sequences:
                continue
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


def data_table(info: DataInfo) -> ir.DataTable:
    """The tensors of a checked section, as ``nndsl check`` lists them."""
    tensors = tuple((n, tuple(t.shape), t.dtype) for n, t in info.tensors.items())
    return ir.DataTable(info.name, info.samples, tensors, info.stream)
