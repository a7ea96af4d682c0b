"""The typed, frozen syntax tree of a .nn file.

Every node carries the :class:`Span` of the text it came from. Nothing after parsing sees a lark
``Tree`` or ``Token``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, is_dataclass

from nndsl.diagnostics.span import Span  # noqa: F401  (every node carries one)
from nndsl.lang.expr_syntax import (  # noqa: F401  (the expressions, re-exported)
    MAX_MAGNITUDE,
    Arg,
    BinOp,
    CallExpr,
    Const,
    EllipsisLit,
    Expr,
    Index,
    ListLit,
    Name,
    Num,
    SliceExpr,
    Str,
    TupleLit,
    Unary,
)
from nndsl.lang.syntax_blocks import BoolOp, IfStmt, Not, SeqStmt
from nndsl.util.frozen import frozen

Cond = Expr | BoolOp | Not


# ---- statements -----------------------------------------------------------------------------


@frozen
class Call:
    """``Linear(8)`` in a body; ``name`` may be dotted (``torch.nn.Hardtanh``). ``shape``: the
    output shape written after ``->`` (``same``, ``[64, 8, 8]``), which a torch module or an
    imported class must have."""

    name: str
    args: tuple[Arg, ...]
    name_span: Span
    span: Span
    shape: Expr | None = None


@frozen
class LayerStmt:
    """``name = Layer(...)`` or an anonymous ``Layer(...)``; also a block instance."""

    name: str | None
    name_span: Span | None
    call: Call
    span: Span


@frozen
class SharedStmt:
    """``shared name = Layer(...)``: declares one module that later statements use by name."""

    name: str
    name_span: Span
    call: Call
    span: Span


@frozen
class UseStmt:
    """A bare name in a body: a use of a shared layer."""

    name: str
    span: Span


@frozen
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


@frozen
class TupleTarget:
    """``(h, c)`` on the left of ``=``: unpacks a tuple value."""

    items: tuple[Target, ...]
    span: Span


Target = Name | TupleTarget


@frozen
class Assign:
    """``h = expr``, or an unpacking ``r, (h, c) = expr`` (``target`` a :class:`TupleTarget`)."""

    target: Target
    value: Expr
    span: Span


@frozen
class Return:
    values: tuple[Expr, ...]
    span: Span


@frozen
class While:
    cond: Expr
    body: tuple[FStmt, ...]
    span: Span


FStmt = Assign | Return | While | IfStmt


@frozen
class Forward:
    """A body's forward: its inputs (none for a model, which declares them in its header) and
    statements. ``forward(x) = e`` is kept as a body of one ``return e``."""

    params: tuple[Param, ...] | None
    body: tuple[FStmt, ...]
    span: Span


# ---- definitions ----------------------------------------------------------------------------


@frozen
class DimDecl:
    value: int | str
    span: Span


@frozen
class Input:
    name: str
    shape: tuple[DimDecl, ...]
    dtype: str | None
    dtype_span: Span | None
    span: Span
    optional: bool = False  # declared ``= none``: the caller may pass None


@frozen
class Param:
    name: str
    default: Expr | None
    span: Span


@frozen
class Model:
    name: str
    name_span: Span
    inputs: tuple[Input, ...]
    body: tuple[Stmt, ...]
    span: Span
    forward: Forward | None = None


@frozen
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


@frozen
class Import:
    """``from "layers.py" import MyNorm, Gate``: classes of a Python file beside the .nn that
    bodies may use as layers; ``names`` as (name, span) pairs."""

    path: str
    path_span: Span
    names: tuple[tuple[str, Span], ...]
    span: Span


# ---- data and training ----------------------------------------------------------------------


@frozen
class Setting:
    """``batch 64``, ``loss cross_entropy(label_smoothing=0.1)``, ``metrics accuracy, mae``."""

    name: str
    args: tuple[Arg, ...]
    name_span: Span
    span: Span


@frozen
class DataAssign:
    """``x = [[1, 2], [3, 4]]`` inside a data section."""

    name: str
    value: Expr
    name_span: Span
    span: Span


@frozen
class Data:
    name: str
    name_span: Span
    stmts: tuple[DataAssign | Setting, ...]
    span: Span


@frozen
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


@frozen
class InitRule:
    """``Linear.weight ~ normal(0, 0.01)`` (``op`` "~", optionally ``keep <mask>``) or
    ``Linear.bias = 0`` (``op`` "=")."""

    selectors: tuple[Selector, ...]
    op: str
    value: Expr
    keep: Expr | None
    span: Span


@frozen
class InitBlock:
    rules: tuple[InitRule, ...]
    span: Span


@frozen
class KeyMap:
    """``"layer1.*" -> "body.0.*"`` in ``init from``: the file's keys that match ``source`` (one
    ``*`` at most) under the name ``target``, or left out when ``target`` is None."""

    source: str
    target: str | None
    span: Span


@frozen
class InitFrom:
    """``init from "base.safetensors" partial { "out.*" -> none }``: the weights training starts
    from, and whether the tensors the file lacks may keep their initialisation."""

    path: str
    path_span: Span
    partial: bool
    maps: tuple[KeyMap, ...]
    span: Span


@frozen
class Freeze:
    """``freeze encoder, .bias``: parameters the training leaves as they are."""

    selectors: tuple[Selector, ...]
    span: Span


@frozen
class Group:
    """``hidden.weight, out.weight: weight_decay=3`` inside an optimizer's braces."""

    selectors: tuple[Selector, ...]
    args: tuple[Arg, ...]
    span: Span


@frozen
class Optimizer:
    value: Expr
    groups: tuple[Group, ...]
    span: Span


@frozen
class Step:
    """``step Critic { fake = Maker(noise)  loss ... }``: one optimizer's update of each batch,
    in a train section of several models; ``model`` is the model it trains."""

    model: str
    model_span: Span
    stmts: tuple[Setting | Optimizer | DataAssign, ...]
    span: Span


@frozen
class Train:
    """``train AddNet on pairs { ... }``; ``train Maker, Critic on digits { step ... }`` trains
    several models, the first in ``model`` and the others in ``more``."""

    model: str
    model_span: Span
    data: str
    data_span: Span
    stmts: tuple[Setting | Optimizer | InitBlock | InitFrom | Freeze | Step, ...]
    span: Span
    more: tuple[tuple[str, Span], ...] = ()

    @property
    def name(self) -> str:
        return self.model


@frozen
class Program:
    items: tuple[Model | Block | Data | Train | Import, ...]


def names_read(node) -> Iterator[str]:
    """The names a node of the tree reads, in the order of the text (a called function's own
    name aside: ``f(x)`` reads ``x``)."""
    if isinstance(node, Name):
        yield node.id
    elif isinstance(node, CallExpr):
        if not isinstance(node.func, Name):
            yield from names_read(node.func)
        for a in node.args:
            yield from names_read(a.value)
    elif isinstance(node, tuple):
        for item in node:
            yield from names_read(item)
    elif is_dataclass(node) and not isinstance(node, (type, Span)):
        for f in fields(node):
            yield from names_read(getattr(node, f.name))
