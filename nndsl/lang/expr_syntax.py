"""The expressions of the syntax tree (:mod:`nndsl.lang.syntax`, which holds the rest and
re-exports these): numbers, strings, names, operators, calls, indexing and literals, and the
arguments of a call."""

from __future__ import annotations

from nndsl.diagnostics.span import Span
from nndsl.util.frozen import frozen

MAX_MAGNITUDE = 10**60  # larger numbers are refused: no real size is this big

# ---- expressions ----------------------------------------------------------------------------


@frozen
class Num:
    value: int | float
    text: str
    span: Span


@frozen
class Str:
    value: str
    span: Span


@frozen
class Const:
    """``true``, ``false`` or ``none``."""

    value: bool | None
    span: Span


@frozen
class Name:
    id: str
    span: Span


@frozen
class BinOp:
    op: str  # one of + - * / // % ** @ == != < <= > >=
    left: Expr
    right: Expr
    span: Span


@frozen
class Unary:
    op: str  # - or +
    operand: Expr
    span: Span


@frozen
class TupleLit:
    items: tuple[Expr, ...]
    span: Span


@frozen
class ListLit:
    items: tuple[Expr, ...]
    span: Span


@frozen
class CallExpr:
    """``f(a, b=c)`` inside an expression: a layer call or a built-in function in a forward.
    ``declared``: the output shape written after ``->`` (``torch.flip(x, [1]) -> same``), which
    only a call of a torch function has."""

    func: Expr
    args: tuple[Arg, ...]
    span: Span
    declared: Expr | None = None


@frozen
class SliceExpr:
    """``start:stop:step`` inside brackets; absent parts are None."""

    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span


@frozen
class EllipsisLit:
    span: Span


@frozen
class Index:
    """``value[items]``; each item is an expression, a :class:`SliceExpr` or ``...``."""

    value: Expr
    items: tuple[Expr | SliceExpr | EllipsisLit, ...]
    span: Span


Expr = Num | Str | Const | Name | BinOp | Unary | TupleLit | ListLit | CallExpr | Index


@frozen
class Arg:
    """One call argument; ``name`` is None for a positional one."""

    name: str | None
    value: Expr
    span: Span
