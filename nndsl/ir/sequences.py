"""The IR of sequences and of layers chosen by a condition (part of :mod:`nndsl.ir.nodes`,
which exports them)."""

from __future__ import annotations

from nndsl.ir.expr import Expr, Unseen
from nndsl.util.frozen import frozen


@frozen
class SeqNew:
    """``nn.Sequential(a, b, ...)`` (or ``nn.ModuleList([...])``): children numbered from 0.
    Each item is a module, a :class:`Splice` or a :class:`CondItems`."""

    kind: str  # Sequential or ModuleList
    items: tuple


@frozen
class Splice:
    """A ``repeat`` inside a sequence: the layers of each copy, children one after another
    (``*[Block(64) for _ in range(n)]``). Its ``items`` are :data:`UNSEEN` while no use has
    built a copy."""

    repeat: object  # the RepeatNew of nndsl.ir.nodes


@frozen
class CondItems:
    """An ``if`` inside a sequence: ``*([a] if cond else [b])``, the children its condition
    chooses. A branch no use has built is :data:`UNSEEN`."""

    cond: Expr
    then: tuple | Unseen
    orelse: tuple | Unseen


@frozen
class CondNew:
    """A layer declared under an ``if`` before a forward: built when ``cond`` holds (``then``)
    or fails (``orelse``); where the other branch declares no layer of that name, that branch
    is ``nn.Identity()``. A branch no use has built is :data:`UNSEEN`."""

    cond: Expr
    then: object
    orelse: object
