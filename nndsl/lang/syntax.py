"""The typed, frozen syntax tree of a .nn file.

Every node carries the :class:`Span` of the text it came from. Nothing after parsing sees a lark
``Tree`` or ``Token``.
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.diagnostics.span import Span  # noqa: F401  (every node carries one)
from nndsl.lang.syntax_blocks import BoolOp, IfStmt, Not, SeqStmt

MAX_MAGNITUDE = 10**60  # larger numbers are refused: no real size is this big

# ---- expressions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Num:
    value: int | float
    text: str
    span: Span


@dataclass(frozen=True)
class Str:
    value: str
    span: Span


@dataclass(frozen=True)
class Const:
    """``true``, ``false`` or ``none``."""

    value: bool | None
    span: Span


@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@dataclass(frozen=True)
class BinOp:
    op: str  # one of + - * / // % ** @ == != < <= > >=
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Unary:
    op: str  # - or +
    operand: Expr
    span: Span


@dataclass(frozen=True)
class TupleLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class ListLit:
    items: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class CallExpr:
    """``f(a, b=c)`` inside an expression: a layer call or a built-in function in a forward."""

    func: Expr
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class SliceExpr:
    """``start:stop:step`` inside brackets; absent parts are None."""

    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span


@dataclass(frozen=True)
class EllipsisLit:
    span: Span


@dataclass(frozen=True)
class Index:
    """``value[items]``; each item is an expression, a :class:`SliceExpr` or ``...``."""

    value: Expr
    items: tuple[Expr | SliceExpr | EllipsisLit, ...]
    span: Span


Expr = Num | Str | Const | Name | BinOp | Unary | TupleLit | ListLit | CallExpr | Index


Cond = Expr | BoolOp | Not


# ---- statements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Arg:
    """One call argument; ``name`` is None for a positional one."""

    name: str | None
    value: Expr
    span: Span


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Arg, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True)
class LayerStmt:
    """``name = Layer(...)`` or an anonymous ``Layer(...)``; also a block instance."""

    name: str | None
    name_span: Span | None
    call: Call
    span: Span


@dataclass(frozen=True)
class SharedStmt:
    """``shared name = Layer(...)``: declares one module that later statements use by name."""

    name: str
    name_span: Span
    call: Call
    span: Span


@dataclass(frozen=True)
class UseStmt:
    """A bare name in a body: a use of a shared layer."""

    name: str
    span: Span


@dataclass(frozen=True)
class RepeatStmt:
    name: str | None
    name_span: Span | None
    count: Expr
    var: str | None
    var_span: Span | None
    body: tuple[Stmt, ...]
    span: Span


Stmt = LayerStmt | SharedStmt | UseStmt | RepeatStmt | SeqStmt | IfStmt


# ---- forward --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TupleTarget:
    """``(h, c)`` on the left of ``=``: unpacks a tuple value."""

    items: tuple[Target, ...]
    span: Span


Target = Name | TupleTarget


@dataclass(frozen=True)
class Assign:
    """``h = expr``, or an unpacking ``r, (h, c) = expr`` (``target`` a :class:`TupleTarget`)."""

    target: Target
    value: Expr
    span: Span


@dataclass(frozen=True)
class Return:
    values: tuple[Expr, ...]
    span: Span


@dataclass(frozen=True)
class While:
    cond: Expr
    body: tuple[FStmt, ...]
    span: Span


FStmt = Assign | Return | While | IfStmt


@dataclass(frozen=True)
class Forward:
    """A body's forward: its inputs (none for a model, which declares them in its header) and
    statements. ``forward(x) = e`` is kept as a body of one ``return e``."""

    params: tuple[Param, ...] | None
    body: tuple[FStmt, ...]
    span: Span


# ---- definitions ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DimDecl:
    value: int | str
    span: Span


@dataclass(frozen=True)
class Input:
    name: str
    shape: tuple[DimDecl, ...]
    dtype: str | None
    dtype_span: Span | None
    span: Span
    optional: bool = False  # declared ``= none``: the caller may pass None


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@dataclass(frozen=True)
class Model:
    name: str
    name_span: Span
    inputs: tuple[Input, ...]
    body: tuple[Stmt, ...]
    span: Span
    forward: Forward | None = None


@dataclass(frozen=True)
class Block:
    name: str
    name_span: Span
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    span: Span
    forward: Forward | None = None
    keyword: str = "block"  # or "layer": the same construct, named as the user wrote it
    container: str | None = None  # `block B = Sequential { ... }`: the container as written
    container_span: Span | None = None


# ---- data and training ----------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """``batch 64``, ``loss cross_entropy(label_smoothing=0.1)``, ``metrics accuracy, mae``."""

    name: str
    args: tuple[Arg, ...]
    name_span: Span
    span: Span


@dataclass(frozen=True)
class DataAssign:
    """``x = [[1, 2], [3, 4]]`` inside a data section."""

    name: str
    value: Expr
    name_span: Span
    span: Span


@dataclass(frozen=True)
class Data:
    name: str
    name_span: Span
    stmts: tuple[DataAssign | Setting, ...]
    span: Span


@dataclass(frozen=True)
class Selector:
    """``hidden.weight``, ``Linear``, ``.bias``, ``layers[0].weight``: ints index, and a leading
    ``""`` stands for the leading dot."""

    parts: tuple[str | int, ...]
    span: Span

    @property
    def text(self) -> str:
        out = ""
        for p in self.parts:
            out += f"[{p}]" if isinstance(p, int) else ("" if not out and p == "" else "." + p)
        return out.lstrip(".") if self.parts[0] != "" else out


@dataclass(frozen=True)
class InitRule:
    """``Linear.weight ~ normal(0, 0.01)`` (``op`` "~", optionally ``keep <mask>``) or
    ``Linear.bias = 0`` (``op`` "=")."""

    selectors: tuple[Selector, ...]
    op: str
    value: Expr
    keep: Expr | None
    span: Span


@dataclass(frozen=True)
class InitBlock:
    rules: tuple[InitRule, ...]
    span: Span


@dataclass(frozen=True)
class Freeze:
    """``freeze encoder, .bias``: parameters the training leaves as they are."""

    selectors: tuple[Selector, ...]
    span: Span


@dataclass(frozen=True)
class Group:
    """``hidden.weight, out.weight: weight_decay=3`` inside an optimizer's braces."""

    selectors: tuple[Selector, ...]
    args: tuple[Arg, ...]
    span: Span


@dataclass(frozen=True)
class Optimizer:
    value: Expr
    groups: tuple[Group, ...]
    span: Span


@dataclass(frozen=True)
class Step:
    """``step Critic { fake = Maker(noise)  loss ... }``: one optimizer's update of each batch,
    in a train section of several models; ``model`` is the model it trains."""

    model: str
    model_span: Span
    stmts: tuple[Setting | Optimizer | DataAssign, ...]
    span: Span


@dataclass(frozen=True)
class Train:
    """``train AddNet on pairs { ... }``; ``train Maker, Critic on digits { step ... }`` trains
    several models, the first in ``model`` and the others in ``more``."""

    model: str
    model_span: Span
    data: str
    data_span: Span
    stmts: tuple[Setting | Optimizer | InitBlock | Freeze | Step, ...]
    span: Span
    more: tuple[tuple[str, Span], ...] = ()

    @property
    def name(self) -> str:
        return self.model


@dataclass(frozen=True)
class Program:
    items: tuple[Model | Block | Data | Train, ...]
