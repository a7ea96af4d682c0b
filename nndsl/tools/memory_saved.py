"""The activations autograd keeps for the backward of a training step, summed without torch.

A model's call is walked over the dataflow graph the checker records (:mod:`nndsl.ir.graph`):
every layer, function and operator of it, in order, each given the tensors it receives. A
tensor (:class:`Held`) knows its storage, its dtype and whether it needs a gradient (it does
when a parameter that trains, one not frozen, is upstream of it). A call that autograd records
(one with an input or a parameter needing a gradient) keeps what its registry entry's
``saves`` says (:mod:`nndsl.registry.saves`): its input or output (the same storage kept by two
calls is counted once, as a view is its base's storage), or fresh tensors of a size in units of
its own. Under autocast, a half-precision layer's result is half and it keeps a half copy of an
input of float32 (and of its weights); a float32 one (a norm, softmax, a loss) keeps a float32
copy of a half input; the others compute in their input's dtype.

Approximations: a ``while`` loop's body counts once; a shared layer used at several places
keeps its input at each (its output is the last use's); a layer's arguments come from the graph
(a nested model's from that model's own graph).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import reduce

from nndsl.check.parameters import model_tensors
from nndsl.ir import graph as dg
from nndsl.ir import nodes as ir
from nndsl.ir.dtypes import FLOAT_DTYPES, promote_types
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import REGISTRY
from nndsl.registry.operators import OPERATOR_AUTOCAST, OPERATOR_SAVES
from nndsl.registry.saves import Saved
from nndsl.tools.memory_units import units
from nndsl.tools.sizes import dim_size

BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "bool": 1}
BYTES.update({"int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1})


@dataclass(frozen=True)
class Held:
    """A tensor of the step: the storage it lives in (``key``, of ``nbytes``; a view shares its
    base's), its shape and dtype, whether it needs a gradient and whether it is a parameter
    (never counted: the parameters are a figure of their own)."""

    key: object
    nbytes: int
    shape: tuple
    dtype: str
    grad: bool = False
    param: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class Step:
    """One training step's walk: the program, the sizes (``B``, ``T``...), the device kind
    (``cuda`` or ``cpu``), the half dtype of autocast ("" without), the parameters frozen, and
    what autograd keeps so far, each storage's bytes by its key."""

    program: ir.ProgramIR
    sizes: dict[str, int]
    device: str = "cuda"
    half: str = ""
    frozen: frozenset[str] = frozenset()
    saved: dict = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=itertools.count)
    _args: dict = field(default_factory=dict)

    def fresh(self, shape: tuple, dtype: str, grad: bool = False) -> Held:
        """A tensor in a storage of its own."""
        return Held(("t", next(self._ids)), math.prod(shape) * BYTES[dtype], shape, dtype, grad)

    def keep(self, t: Held | None) -> None:
        if t is not None and not t.param:
            self.saved[t.key] = t.nbytes

    def keep_new(self, nbytes: float) -> None:
        self.saved[("t", next(self._ids))] = int(nbytes)

    def shape(self, t: dg.Type) -> tuple | None:
        """The sizes of a tensor type (raises UnknownSize for a size without a value)."""
        if not isinstance(t, dg.TensorType):
            return None
        return tuple(dim_size(d, self.sizes) for d in t.dims)

    def dtype(self, kind: str, checked: str, tensors: list) -> str:
        """What a call computes in: autocast's choice for its kind (``half``, ``float32``),
        else its tensors' dtype (``checked``, the checker's, when it has no floating one)."""
        if checked not in FLOAT_DTYPES:
            return checked
        if self.half and kind:
            return self.half if kind == "half" else "float32"
        floats = [t.dtype for t in tensors if t is not None and t.dtype in FLOAT_DTYPES]
        return reduce(promote_types, floats) if floats else checked

    @property
    def total(self) -> int:
        return sum(self.saved.values())

    def args_of(self, model: str) -> dict[int, Mapping]:
        if model not in self._args:
            self._args[model] = resolved_args(self.program, model, self._args)
        return self._args[model]


def call_model(step: Step, name: str, inputs: list) -> object:
    """Model ``name`` called on ``inputs`` (Held, or None for an input left out): what it
    returns, nested as it returns it, each tensor a Held (None for what is not one)."""
    info = next(m for m in step.program.models if m.name == name)
    trained: dict[str, int] = {}
    for t in model_tensors(info):
        if t.trainable and t.name not in step.frozen:
            trained[t.module] = trained.get(t.module, 0) + math.prod(t.shape)
            trained[t.name] = math.prod(t.shape)
    walk = _Walk(step, step.program.graphs[name], trained, step.args_of(name))
    return walk.run(inputs)


def resolved_args(program: ir.ProgramIR, name: str, memo: dict) -> dict[int, Mapping]:
    """Each layer node's arguments by node id. The graph copies a nested model's nodes without
    them: a copy's nodes are that model's own, in the same order, so they are read there."""
    graph = program.graphs[name]
    out = {n.id: n.args for n in graph.nodes if n.args}
    clusters = {c.id: c for c in graph.clusters}
    for c in graph.clusters:
        if c.kind != "model" or c.parent is None or c.name not in program.graphs:
            continue
        inner = [n for n in graph.nodes if _inside(n.cluster, c.id, clusters)]
        own = program.graphs[c.name].nodes
        if len(inner) != len(own) or c.name == name:
            continue
        if c.name not in memo:
            memo[c.name] = resolved_args(program, c.name, memo)
        for copy, node in zip(inner, own):
            out.setdefault(copy.id, memo[c.name].get(node.id, {}))
    return out


def _inside(cluster: int, root: int, clusters: dict) -> bool:
    while cluster is not None:
        if cluster == root:
            return True
        cluster = clusters[cluster].parent
    return False


class _Walk:
    """One model call: each value's Held by value id, node by node."""

    def __init__(self, step: Step, graph: dg.Graph, trained: dict, args: dict):
        self.step, self.graph, self.trained, self.args = step, graph, trained, args
        self.clusters = {c.id: c for c in graph.clusters}
        self.made: dict[int, list[dg.Value]] = {}
        for v in graph.values:
            self.made.setdefault(v.node, []).append(v)
        self.values: dict[int, object] = {}

    def run(self, inputs: list) -> object:
        for node, held in zip(self.graph.inputs, inputs):
            for v in self.made.get(node, ()):
                self.values[v.id] = held
        todo = {n.id: (n, self._uses(n)) for n in self.graph.nodes if n.kind != "input"}
        progress = True
        while todo and progress:  # in order, each node once what it receives is known
            progress = False
            for nid, (node, uses) in list(todo.items()):
                while uses and all(i in self.values for i in uses[0]):
                    self._node(node, [self.values[i] for i in uses.pop(0)])
                    progress = True
                if not uses:
                    del todo[nid]
        return self._returned(self.graph.outputs)

    def _uses(self, node: dg.Node) -> list[tuple[int, ...]]:
        """The inputs of each use: a shared one-input layer is one node with an input a use."""
        layer = REGISTRY.get(node.name) if node.kind == "layer" else None
        if layer is not None and layer.inputs == 1 and layer.call == "tensor":
            return [(i,) for i in node.inputs] or [()]
        return [node.inputs]

    def _returned(self, outputs: object) -> object:
        if isinstance(outputs, tuple):
            return tuple(self._returned(o) for o in outputs)
        node = next(n for n in self.graph.nodes if n.id == outputs)
        return self.values.get(node.inputs[0]) if node.inputs else None

    def _node(self, node: dg.Node, ins: list) -> None:
        if node.kind == "output":
            return
        if node.kind == "port":
            outs = [ins[0] if ins else None] * len(self.made.get(node.id, ()))
        elif node.kind == "tensor":
            outs = [self._tensor(node, v) for v in self.made.get(node.id, ())]
        elif node.kind == "layer":
            outs = self._layer(node, ins)
        else:
            outs = self._op(node, ins)
        for v, held in zip(self.made.get(node.id, ()), outs):
            self.values[v.id] = held

    def path(self, node: dg.Node) -> str:
        """The module path of a node, as torch names it (``hidden.0.fc``)."""
        parts, c = [node.attr], node.cluster
        while c is not None and self.clusters[c].parent is not None:
            parts.append(self.clusters[c].attr)
            c = self.clusters[c].parent
        return ".".join(p for p in reversed(parts) if p)

    def _tensor(self, node: dg.Node, v: dg.Value) -> Held | None:
        shape = self.step.shape(v.type)
        if shape is None:
            return None
        grad = node.name == "Parameter" and self.path(node) in self.trained
        return Held(("param", self.path(node)), 0, shape, v.type.dtype, grad, True)

    def _results(self, node: dg.Node, kind: str, tensors: list, grad: bool, alias: bool):
        """The Held of each value the node makes: views of its first input when ``alias``."""
        outs: list = []
        for v in self.made.get(node.id, ()):
            shape = self.step.shape(v.type)
            if shape is None:
                outs.append(None)
                continue
            dtype = self.step.dtype(kind, v.type.dtype, tensors)
            grad_here = grad and dtype in FLOAT_DTYPES
            x = tensors[0] if tensors else None
            if alias and x is not None and (alias != "cast" or x.dtype == dtype):
                outs.append(Held(x.key, x.nbytes, shape, dtype, grad_here, x.param))
            else:
                outs.append(self.step.fresh(shape, dtype, grad_here))
        return outs

    def _layer(self, node: dg.Node, ins: list) -> list:
        layer = REGISTRY.get(node.name)
        path, a = self.path(node), self.args.get(node.id, {})
        params = self.trained.get(path, 0)
        tensors = [t for t in ins if isinstance(t, Held)]
        rec = params > 0 or any(t.grad for t in tensors)
        if layer is None:
            return self._results(node, "", tensors, rec, False)
        p = a.get("p", 1)
        alias = "view" in layer.traits or a.get("inplace") or ("dropout" in layer.traits and p == 0)
        outs = self._results(node, layer.autocast, tensors, rec, bool(alias))
        if rec:
            out = next((o for o in outs if isinstance(o, Held)), None)
            Keep(self.step, node.id, layer.autocast, a, params).all(layer.saves, tensors, out)
        return outs

    def _op(self, node: dg.Node, ins: list) -> list:
        name, a = node.name, node.args or {}
        where = a.get("in", tuple(range(len(ins))))
        at = dict(zip(where, ins))
        operands = [at.get(k) for k in a.get("keys", where)]
        operands = [o if isinstance(o, Held) else None for o in operands]
        tensors = [o for o in operands if o is not None]
        if not isinstance(name, str) or name == "[]":
            if name == "[]" and ins and isinstance(ins[0], tuple):  # one value of a tuple
                return [ins[0][a.get(1, 0)]]
            return self._results(node, "", tensors, any(t.grad for t in tensors), True)
        func = FUNCTIONS.get(name)
        saves = func.saves if func else OPERATOR_SAVES.get(name, ())
        kind = func.autocast if func else OPERATOR_AUTOCAST.get(name, "")
        grad = (func is None or func.grad) and any(t.grad for t in tensors)
        outs = self._results(node, kind, tensors, grad, bool(func and func.alias))
        out = next((o for o in outs if isinstance(o, Held)), None)
        if out is not None and out.grad:
            Keep(self.step, node.id, kind).all(saves, operands, out)
        return outs


@dataclass
class Keep:
    """What one call that autograd records keeps, by its ``saves``: ``call`` tells it apart
    (a half copy of an input is the call's own), ``kind`` its autocast kind, ``args`` and
    ``params`` (the values of its parameters that train) what its rules read."""

    step: Step
    call: object
    kind: str = ""
    args: Mapping = field(default_factory=dict)
    params: int = 0

    def all(self, saves: tuple[Saved, ...], operands: list, out: Held | None) -> None:
        """Keep what ``saves`` says of a call of these operands (Held, None for a number)."""
        step = self.step
        for s in saves:
            if s.device and s.device != step.device or not self.when(s.when, operands, out):
                continue
            if s.what == "output":
                step.keep(out)
            elif s.what == "input":
                self.inputs(s, operands)
            elif s.size != "weights" or step.half:
                values = units(s.size, operands, out, self.args, self.params)
                step.keep_new(values * s.count * BYTES[self.dtype(s.dtype, operands, out)])

    def inputs(self, s: Saved, operands: list) -> None:
        chosen = range(len(operands)) if s.index < 0 else [s.index]
        for i in chosen:
            t = operands[i] if i < len(operands) else None
            others = [o for j, o in enumerate(operands) if j != i and o is not None]
            if t is None or s.when == "other grad" and not any(o.grad for o in others):
                continue
            self.step.keep(self.computed(t))

    def computed(self, t: Held) -> Held:
        """The input as the call computes with it: under autocast, a copy in its dtype."""
        want = self.step.dtype(self.kind, t.dtype, [t])
        if want == t.dtype or t.dtype not in FLOAT_DTYPES:
            return t
        key = ("cast", t.key) if t.param else ("cast", self.call, t.key)
        return Held(key, t.numel * BYTES[want], t.shape, want)

    def dtype(self, dtype: str, operands: list, out: Held | None) -> str:
        if dtype == "mask":
            return "bool" if self.step.device == "cuda" else self.dtype("", operands, out)
        return dtype or self.step.dtype(self.kind, "float32", operands)

    def when(self, when: str, operands: list, out: Held | None) -> bool:
        a = self.args
        first = next((o for o in operands if o is not None), None)
        return {
            "": True,
            "other grad": True,
            "trained": self.params > 0,
            "input grad": first is not None and first.grad,
            "dropping": (a.get("p", a.get("dropout")) or 0) > 0,
            "no dropout": not (a.get("p", a.get("dropout")) or 0) > 0,
            "undropped gelu": a.get("activation") == "gelu" and not (a.get("dropout") or 0) > 0,
            "affine": bool(a.get("affine", a.get("elementwise_affine"))),
            "tracking": bool(a.get("track_running_stats")),
            "zero padded": a.get("padding_mode", "zeros") == "zeros",
            "padded": a.get("padding_mode", "zeros") != "zeros",
            "reflected": a.get("padding_mode") in ("reflect", "replicate") and first.grad,
            "partial": out is not None and math.prod(out.shape[2:]) != 1,
        }[when]
