"""The pieces a :class:`nndsl.check.record.Recorder` builds while the checker runs: they are
mutable (a layer learns its attribute once it is placed, a repeat its type once it is built)
and become the frozen :mod:`nndsl.ir.graph` at the end."""

from __future__ import annotations

from dataclasses import dataclass, field

from nndsl.lang import syntax as s


@dataclass(eq=False)
class Cluster:
    kind: str  # model, block, repeat, loop
    type: str
    parent: Cluster | None
    attr: str = ""
    span: s.Span | None = None


@dataclass(eq=False, slots=True)
class Node:
    id: int
    kind: str  # input, output, layer, op, tensor, port
    type: str
    cluster: Cluster
    attr: str = ""
    detail: object = None  # an input's, output's or tensor's own type
    span: s.Span | None = None
    args: dict | None = None  # a layer's complete arguments; an op's operands (see graph.Node)

    @property
    def name(self) -> str:
        """The layer type, operator or function, as :class:`nndsl.ir.graph.Node` names it."""
        return self.type

    # A layer is its own Fragment: the node its inputs enter and the producer of its result.
    @property
    def owner(self) -> Node:
        return self

    @property
    def out(self) -> int:
        return self.id

    def input(self, i: int) -> int:
        return self.id


@dataclass(slots=True)
class Fragment:
    """What a built module looks like from outside: the node or cluster it is, the nodes its
    inputs enter (a layer: itself for every input) and the producer of its result. A layer's
    own :class:`Node` serves as its fragment."""

    owner: object
    ins: list
    out: object

    def input(self, i: int):
        if isinstance(self.owner, Node):
            return self.owner.id
        return self.ins[min(i, len(self.ins) - 1)] if self.ins else None


@dataclass
class Frame:
    """One body being checked: its cluster, input nodes and, for a stack, the current tensor."""

    cluster: Cluster
    ins: list
    names: dict = field(default_factory=dict)
    cursor: object = None
    out: object = None
    items: int = 0
    width: int = 1
    base: Cluster | None = None
