"""The values the checker passes between statements, and small pure helpers over them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from nndsl.diagnostics.core import Label
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import MAX_INT, Dim, ShapeError, fmt_shape, known
from nndsl.ir.values import Value
from nndsl.lang import syntax as s
from nndsl.registry.layers import Layer, check_rank
from nndsl.util.naming import Namespace, snake

MAX_REPEAT = 10_000


@dataclass
class Flow:
    """The tensor flowing through a stack: shape (None once an error made it unknown), dtype,
    and where it was produced, for secondary labels."""

    shape: tuple | None
    dtype: str
    span: s.Span | None = None

    _text: str | None = field(default=None, init=False, repr=False, compare=False)
    _code: str | None = field(default=None, init=False, repr=False, compare=False)

    def text(self) -> str:
        """The shape as messages and summaries write it (:func:`fmt_shape`), formatted once."""
        if self._text is None:
            self._text = fmt_shape(self.shape)
        return self._text

    def code(self) -> str:
        """The shape as generated comments write it (:func:`code_shape`), formatted once."""
        if self._code is None:
            formula = any(map(_is_formula, self.shape))
            self._code = code_shape(self.shape) if formula else self.text()
        return self._code

    def shown(self) -> ex.Shown:
        """The shape as generated comments show it (:func:`shown_dims`)."""
        return ex.Shown(shown_dims(self.shape))

    def at(self, span: s.Span | None) -> Flow:
        """The same tensor, produced at ``span``; shape texts already formatted come along."""
        return self.then(self.shape, self.dtype, span)

    def then(self, shape: tuple, dtype: str, span: s.Span | None) -> Flow:
        """What a layer makes of this tensor; a shape passed on as it is (the very same tuple)
        keeps the texts already formatted."""
        made = Flow(shape, dtype, span)
        if shape is self.shape:
            made._text, made._code = self._text, self._code
        return made


@dataclass
class Shared:
    decl: s.SharedStmt
    slot: int  # index of its placeholder in the owner's members
    attr: str
    owner: list  # the members list holding the placeholder
    first: s.Span | None = None
    layer: Layer | None = None
    args: dict | None = None
    in_shape: tuple | None = None
    out: Flow | None = None  # what the first use produced; every use of a block produces it
    rows: list = field(default_factory=list)  # the first use's summary rows of sub-modules
    module: ir.ModuleNew | None = None
    result: object = None  # a graph-style block's return type, when not `out`
    declared: ir.ShapeCheck | None = None  # the output shape its declaration declares


@dataclass
class Scope:
    """One generated class under construction."""

    env: dict[str, Value]
    ns: Namespace
    members: list = field(default_factory=list)
    steps: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    shared: dict[str, Shared] = field(default_factory=dict)
    named: dict[str, s.Span] = field(default_factory=dict)
    params: int = 0
    ties: list = field(default_factory=list)  # `self.head.weight = self.wte.weight`, after all


@dataclass
class Built:
    """A constructed module and what a stack needs to call it."""

    module: ir.ModuleNew
    out: Flow
    params: int
    type: str
    call: str = "tensor"
    func: str | None = None
    func_args: tuple = ()
    rows: list = field(default_factory=list)
    args: dict | None = None  # a registry layer's complete arguments
    result: object = None  # a graph-style block's or model's return type, when not `out`
    tensors: tuple = ()  # a registry layer's parameters and buffers (Layer.tensors)
    entry: Layer | None = None  # a registry layer's entry
    tied: tuple[str, ...] = ()  # the kinds of its tensors that are another layer's (tied)
    declared: ir.ShapeCheck | None = None  # a torch module's or imported class's output shape

    @property
    def prefix(self) -> str:
        """The start of its attribute names; empty for a block's (its snake-case name); a
        torch module's from its class (``torch.nn.Hardtanh``: ``hardtanh``)."""
        if self.entry is None:
            return snake(self.type.rsplit(".", 1)[-1]) if "." in self.type else ""
        return self.entry.attr_prefix

    def stack_call(self) -> tuple[int, tuple[ir.Arg, ...]]:
        """How a stack calls it: the input that many times, then these keyword arguments."""
        entry = self.entry
        if entry is None:
            return 1, ()
        if not entry.stack_kwargs:
            return entry.stack_inputs, ()
        kwargs = tuple(ir.Arg(k, ex.constant(v)) for k, v in entry.stack_kwargs)
        return entry.stack_inputs, kwargs

    @property
    def line(self) -> int:
        """The source line of the call that built it (for a later use, of that use)."""
        return self.out.span.line if self.out.span is not None else 0


# ---- helpers --------------------------------------------------------------------------------


def kind_of(item) -> str:
    return "model" if isinstance(item, s.Model) else "block"


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def from_label(flow: Flow) -> tuple[Label, ...]:
    if flow.span is None or flow.shape is None:
        return ()
    return (Label(flow.span, f"produces {fmt_shape(flow.shape)}"),)


IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _is_formula(d) -> bool:
    """Whether generated comments write dim ``d`` as its formula (it names a parameter)."""
    return isinstance(d, Dim) and bool(d.expr) and IDENT.search(d.expr) is not None


def code_shape(shape: tuple) -> str:
    """A shape as generated code's comments write it: sizes computed from constructor
    parameters keep their formula, so a block class documents every use: ``(B, width * 2)``."""
    return fmt_shape(shown_dims(shape))


def shown_dims(shape: tuple) -> tuple:
    """The dims a shape comment shows: a size computed from constructor parameters as its
    formula (``"width * 2"``), others as they are."""
    if not any(map(_is_formula, shape)):  # the usual case: the shape as it is
        return tuple(shape)
    return tuple(d.expr if _is_formula(d) else d for d in shape)


def item_row(path: str, built: Built, ref, index: int, cur: Flow) -> ir.Row:
    """The layer-table row of one item of a repeat or a sequence, built from ``cur``; ``ref``
    is the shared layer it uses, None for a layer of its own (its slot is then ``index``)."""
    return ir.Row(
        path,
        built.type,
        built.out.shape,
        built.params,
        isinstance(built.module, ir.SharedRef),
        tensors=built.tensors,
        tied=built.tied,
        slot=ref.slot if ref else index,
        alias=ref.attr if ref else "",
        line=built.line,
        inputs=(cur.shape,),
        counted=built.declared is None,
    )


def nested_rows(rows: list[ir.Row], prefix: str) -> list[ir.Row]:
    """Rows of a sub-module, their module paths under ``prefix`` (functional rows have none)."""
    return [replace(r, path=r.path and f"{prefix}.{r.path}", depth=r.depth + 1) for r in rows]


def plain(d):
    return Dim(int(d)) if known(d) else d


def strip_var(shape: tuple, var: str) -> tuple:
    """Drop dim expressions that mention the loop variable (they belong to another iteration)."""
    pattern = re.compile(rf"\b{re.escape(var)}\b")
    return tuple(
        Dim(int(d)) if isinstance(d, Dim) and d.expr and pattern.search(d.expr) else d
        for d in shape
    )


def declared_names(body: tuple) -> set[str]:
    return {st.name for st in body if getattr(st, "name", None) and not isinstance(st, s.UseStmt)}


def input_dims(rank: int) -> dict[str, int]:
    """Which input size a block takes as a parameter: the features of (B, F) and (B, T, F),
    the channels of (B, C, H, W) and larger."""
    if rank < 2:
        return {}
    return {"in_features": -1} if rank <= 3 else {"in_channels": 1}


def block_input(shape: tuple, taken: set[str]) -> tuple:
    """The input shape as seen inside a block: its feature/channel size named as a parameter."""
    out = [plain(d) for d in shape]
    for name, index in input_dims(len(shape)).items():
        if name not in taken and known(out[index]):
            out[index] = Dim(int(out[index]), name)
    return tuple(out)


def feature_value(shape: tuple) -> Value | None:
    """What ``in`` stands for inside a block: the input's feature or channel size, named as the
    constructor parameter it is (see :func:`block_input`), or None where it is not known."""
    for name, i in input_dims(len(shape)).items():
        if getattr(shape[i], "expr", None) == name:
            return Value(shape[i], ex.Name(name))
    return None


def export_dim(d, mapping: dict[str, str]):
    """A dim leaving a block, its expression rewritten in the caller's terms when possible.

    >>> export_dim(Dim(16, "width * 2"), {"width": "w + 1"}).expr
    '(w + 1) * 2'
    """
    if not isinstance(d, Dim) or not d.expr:
        return plain(d)
    if d.expr in mapping:
        return Dim(int(d), mapping[d.expr])
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        code = mapping.get(m.group(0))
        if code is None:
            missing = True
            return m.group(0)
        return code if IDENT.fullmatch(code) or code.isdigit() else f"({code})"

    text = IDENT.sub(sub, d.expr)
    if missing or (any(op in text for op in "+-(") and not IDENT.search(text)):
        return plain(d)  # constants added or grouped (64 + 32) read best as their value
    return Dim(int(d), text)


def annotation(v: object) -> str:
    for t, name in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if isinstance(v, t):
            return name
    return "tuple" if isinstance(v, tuple) else "list" if isinstance(v, list) else "object"


def too_large(label: str, out: tuple, params: int) -> str | None:
    """Why a layer would hold what no tensor can (2**63 elements or more), or None."""
    per_sample = 1
    for d in out:
        if d.__class__ is not bool and isinstance(d, int):  # known(d), inline: once a layer
            per_sample *= int(d)
    if params > MAX_INT:
        what = f"{params:.3g} parameters"
    elif per_sample > MAX_INT:
        what = f"{per_sample:.3g} values per sample"
    else:
        return None
    return f"{label} would hold {what}; a tensor holds at most 2**63 - 1"


def second_input(layer: Layer, given: dict, second: Flow, label: str) -> None:
    """The second input's rank, and Bilinear's in2_features: inferred from the second input,
    or checked against it (the rule of the layer's call checks any other's second input)."""
    check_rank(layer, second.shape)
    if not any(a.name == "in2_features" for a in layer.args):
        return
    size = second.shape[-1]
    if "in2_features" not in given:
        given["in2_features"] = size if known(size) else None
    elif known(size) and int(size) != int(given["in2_features"]):
        raise ShapeError(
            f"{label} expects in2_features={int(given['in2_features'])} but its second input "
            f"has {int(size)}",
            arg="in2_features",
        )
