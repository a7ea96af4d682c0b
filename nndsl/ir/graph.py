"""Each model's dataflow, as the checker saw it (in the spirit of torch.fx's ``Graph``).

A :class:`Graph` holds a model's nodes: its inputs and outputs, every layer it calls (a shared
layer is one node, with an input for every use), the operators and functions of hand-written
forwards, its parameters and buffers (``tensor`` nodes), and ``port`` nodes where a block,
repeat or nested model begins. What flows along an edge is a :class:`Value`: the node that made
it and its type. Nodes sit in clusters (the model, and inside it blocks, repeats, nested models
and ``while`` loops). Node, value and cluster ids count once over the whole program, in the
order the checker met them, so the graphs of several models can be drawn together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import field
from typing import Protocol

from nndsl.diagnostics.span import Span
from nndsl.ir.shapes import fmt_shape
from nndsl.util.frozen import frozen


@frozen(slots=True)
class TensorType:
    """A tensor's type: its dims (ints, symbol names such as ``"B"``, None when unknown)."""

    dims: tuple
    dtype: str


# A value's type: a TensorType, a tuple of types (a tuple a layer or a forward returns), or
# None (a number, or nothing the graph knows of).
Type = TensorType | tuple | None


def type_label(t: Type) -> str:
    """A type as the checker writes shapes: ``(B, 8)``, ``((B, 8), (1, B, 8))``, ``""``."""
    if isinstance(t, TensorType):
        return fmt_shape(t.dims)
    if isinstance(t, tuple):
        return "(" + ", ".join(type_label(x) for x in t) + ")"
    return ""


@frozen
class Cluster:
    """A model (``parent`` None), or a block, repeat, nested model or ``while`` loop in one.
    ``name``: the model, block or repeat type, or a loop's condition (an :mod:`nndsl.ir.expr`
    expression); ``attr``: the attribute the block or repeat is stored as in its parent."""

    id: int
    kind: str  # model, block, repeat, loop
    name: object
    parent: int | None
    attr: str = ""
    span: Span | None = None


@frozen(slots=True)
class Value:
    """What flows along an edge: made by node ``node``, of type ``type``."""

    id: int
    node: int
    type: Type


@frozen(slots=True)
class Node:
    """One node. ``kind``: input, output, layer, op (an operator, index or function), tensor
    (a parameter or buffer) or port. ``name``: the layer type, operator or function (an
    index: its :class:`nndsl.ir.expr.Index`, or ``[]``), ``Parameter``/``Buffer``,
    ``input``/``output``; ``attr``: the attribute of the module it
    calls in its cluster (an input's or output's name; a tensor's attribute); ``inputs``: the
    values it receives, in order of use; ``type``: an input's, output's or tensor's own type;
    ``args``: a layer's arguments, every one (given, inferred or by default); an op's
    operands: ``keys`` their positions (or keywords), ``in`` the operand each input comes from,
    and under an operand's key its number (None: a tensor whose maker is not known)."""

    id: int
    kind: str
    name: object
    cluster: int
    attr: str = ""
    inputs: tuple[int, ...] = ()
    type: Type = None
    span: Span | None = None
    args: Mapping = field(
        default_factory=dict, compare=False
    )  # a layer's arguments, an op's operands


@frozen
class Graph:
    """One model's dataflow: ``inputs`` the ids of its input nodes, ``outputs`` of its output
    nodes (nested as the model returns them), ``clusters`` its own cluster first."""

    name: str
    nodes: tuple[Node, ...]
    values: tuple[Value, ...]
    clusters: tuple[Cluster, ...]
    inputs: tuple[int, ...]
    outputs: object

    def edges(self) -> list[tuple[int, int, Type]]:
        """(from node, to node, type) for every input of every node."""
        values = {v.id: v for v in self.values}
        return [(values[i].node, n.id, values[i].type) for n in self.nodes for i in n.inputs]


class LinkNode(Protocol):
    """A node as :class:`Links` holds it: what a :class:`Node` says but its inputs and type."""

    id: int
    kind: str
    name: object
    span: Span | None
    args: Mapping | None


@frozen
class Links:
    """One model's dataflow without types: its nodes by id, the producers that feed each node
    (one per input, in order), and its output nodes (nested as the model returns them). What
    the lints read; far cheaper to make than the :class:`Graph`. ``looped``: the nodes inside a
    ``while`` loop, whose inputs were recorded for one pass of the loop only."""

    name: str
    nodes: Mapping[int, LinkNode]
    fed: Mapping[int, list[int]]
    outputs: object
    looped: frozenset[int] = frozenset()


class Dataflow(Mapping):
    """Each checked model's :class:`Graph` by name, in the order the models were checked.

    The checker records cheap lists while it checks; they become graphs on first use, so that
    compiling, which never reads them, does not pay for them. :meth:`links` gives each model's
    untyped :class:`Links` from the same lists, without making the graphs."""

    def __init__(
        self,
        make: Callable[[], tuple[Graph, ...]] | None = None,
        links: Callable[[], dict[str, Links]] | None = None,
    ):
        self._make = make
        self._graphs: dict[str, Graph] | None = None if make else {}
        self._links = links

    def links(self) -> dict[str, Links]:
        """Each model's :class:`Links` by name."""
        if self._links is None:  # graphs without recordings: read the links off them
            return {name: _links_of(g) for name, g in self._all().items()}
        return self._links()

    def _all(self) -> dict[str, Graph]:
        if self._graphs is None:
            self._graphs = {g.name: g for g in self._make()}
            self._make = None
        return self._graphs

    def __getitem__(self, name: str) -> Graph:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"Dataflow({list(self)})"


def _links_of(g: Graph) -> Links:
    made_by = {v.id: v.node for v in g.values}
    fed = {n.id: [made_by[i] for i in n.inputs] for n in g.nodes}
    clusters = {c.id: c for c in g.clusters}
    loops: dict[int, bool] = {}

    def in_loop(c: int | None) -> bool:
        if c is None or c not in clusters:
            return False
        if c not in loops:
            loops[c] = clusters[c].kind == "loop" or in_loop(clusters[c].parent)
        return loops[c]

    looped = frozenset(n.id for n in g.nodes if in_loop(n.cluster))
    return Links(g.name, {n.id: n for n in g.nodes}, fed, g.outputs, looped)
