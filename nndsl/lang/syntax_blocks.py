"""The syntax nodes of sequences and conditions (part of :mod:`nndsl.lang.syntax`, which
exports them): ``Sequential { ... }``, ``if`` and the words of its condition."""

from __future__ import annotations

from nndsl.diagnostics.span import Span
from nndsl.util.frozen import frozen


@frozen
class BoolOp:
    """``a and b`` or ``a or b`` in the condition of an ``if``."""

    op: str  # "and" or "or"
    left: object  # a condition: an expression, BoolOp or Not
    right: object
    span: Span


@frozen
class Not:
    """``not a`` in the condition of an ``if``."""

    operand: object
    span: Span


@frozen
class SeqStmt:
    """``name = Sequential { ... }`` (or ``ModuleList``): layers numbered as its children."""

    name: str | None
    name_span: Span | None
    kind: str  # the container as written: Sequential or ModuleList (the checker says which is)
    kind_span: Span
    body: tuple
    span: Span


@frozen
class IfStmt:
    """``if cond { ... } else { ... }``: in a body, the layers built when ``cond`` holds (or the
    others); in a forward, the statements run then. ``orelse`` is None without ``else``."""

    cond: object  # an expression, BoolOp or Not
    body: tuple
    orelse: tuple | None
    span: Span
