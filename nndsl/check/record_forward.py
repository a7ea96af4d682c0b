"""The recording of hand-written forwards (mixed into :class:`nndsl.check.record.Recorder`):
every expression's producer, so that calls, operators, functions, parameters and buffers
become nodes, and values bound to names, changed in loops or returned become edges."""

from __future__ import annotations

from nndsl.check.flow import Flow
from nndsl.check.record_parts import Cluster, Node
from nndsl.ir import expr as ex
from nndsl.ir import graph as dg
from nndsl.ir.nodes import TensorInfo
from nndsl.ir.shapes import Size
from nndsl.ir.tensors import Tensor
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS


def ir_type(t) -> dg.Type:
    """The dataflow type of what the checker holds: a Flow, Tensor, TensorInfo or a tuple."""
    if isinstance(t, (Tensor, Flow, TensorInfo)):
        if t.shape is None:
            return None
        return dg.TensorType(tuple(t.shape), t.dtype)
    if isinstance(t, (tuple, list)):
        return tuple(ir_type(x) for x in t)
    return t if isinstance(t, dg.TensorType) else None


def has_tensor(t) -> bool:
    if isinstance(t, (tuple, list)):
        return any(has_tensor(x) for x in t)
    return isinstance(t, Tensor)


def _leaves(producer) -> set[int]:
    if producer is None:
        return set()
    if isinstance(producer, (tuple, frozenset)):
        return set().union(*(_leaves(p) for p in producer)) if producer else set()
    return {producer}


class ForwardRecording:
    def graph(self, check, body, forward, inputs, scope, feature):
        self.frames[-1].names = {name: i for i, (name, *_) in enumerate(inputs)}
        return check()

    def call_module(self, check, decl, e, flows, g, kind):
        info = decl.shared
        first = info.module is None
        self.made = None
        built = check()
        if first and self.made is not None:
            self.shared_frag[id(info)] = self.made
            self.keep.append(info)
        frag = self.shared_frag.get(id(info))
        if frag is not None:
            self._name(frag, decl.name)
        self.made = frag
        return built

    def escape(self, built, call, flow, scope, attr) -> None:
        """A torch module or an imported class, built: a layer node of its full name."""
        if built is not None:
            node = Node(
                len(self.nodes), "layer", call.name, self.frames[-1].cluster, span=call.span
            )
            node.args = {}
            self.nodes.append(node)
            self.made = node

    def fx(self, e, value, g) -> None:
        """After the checker typed ``e``: what produced it."""
        producer = None if self.in_cond else self._produce(e, value, g)
        self.expr[id(e)] = (producer, value)

    def condition(self, check, e, g):
        self.in_cond += 1
        try:
            return check()
        finally:
            self.in_cond -= 1

    def assign(self, check, st, g):
        check()
        self._bind_target(st.target, self.expr.get(id(st.value), (None,))[0], g)

    def _bind_target(self, t, producer, g) -> None:
        if isinstance(t, s.TupleTarget):
            for i, x in enumerate(t.items):
                part = (
                    producer[i] if isinstance(producer, tuple) and i < len(producer) else producer
                )
                self._bind_target(x, part, g)
        elif t.id != "_" and t.id in g.values:
            b = g.values[t.id]
            self.bind[id(b)] = producer
            self.keep.append(b)

    def return_(self, check, st, g):
        check()
        nodes = st.values
        if len(nodes) == 1 and isinstance(nodes[0], s.TupleLit):
            nodes = nodes[0].items
        made = [self.expr.get(id(n), (None,))[0] for n in nodes]
        self.frames[-1].out = made[0] if len(made) == 1 else tuple(made)

    def while_(self, check, st, g):
        frame = self.frames[-1]
        cluster = Cluster("loop", "while", frame.cluster, span=st.span)
        saved, frame.cluster = frame.cluster, cluster
        first = len(g.body)
        try:
            check()
        finally:
            frame.cluster = saved
            if len(g.body) > first and isinstance(g.body[first], ex.While):
                cluster.type = g.body[first].cond  # a loop is named by its condition

    def _produce(self, e, value, g):
        match e:
            case s.Name():
                return self._name_producer(e.id, g)
            case s.BinOp():
                return self._op(e.op, [e.left, e.right], value, e)
            case s.Unary():
                return self._op(e.op, [e.operand], value, e)
            case s.TupleLit(items=items) | s.ListLit(items=items):
                return tuple(self.expr.get(id(x), (None,))[0] for x in items)
            case s.Index(value=base):
                return self._index(e, base, value)
            case s.CallExpr(func=s.Name(id=name)):
                if name in g.decls and g.decls[name].kind == "module":
                    chosen = g.decls[name].cond
                    if chosen is not None and chosen.absent:  # the identity: the input itself
                        return self.expr.get(id(e.args[0].value), (None,))[0]
                    frag = self.made
                    if frag is None:
                        return None
                    for i, a in enumerate(e.args):
                        producer, seen = self.expr.get(id(a.value), (None, None))
                        self.connect(producer, seen and seen.py, frag.input(i))
                    return frag.out
                if name in FUNCTIONS or "." in name:  # a built-in or a torch function
                    keys = [a.name or i for i, a in enumerate(e.args)]
                    return self._op(name, [a.value for a in e.args], value, e, keys)
        return None

    def _index(self, e, base, value):
        producer, seen = self.expr.get(id(base), (None, None))
        if seen is not None and isinstance(seen.py, Tensor):
            label = value.expr if isinstance(value.expr, ex.Index) else "[]"  # named by its items
            return self._op(label, [base] + [x for x in e.items if id(x) in self.expr], value, e)
        if isinstance(producer, tuple) and len(e.items) == 1:
            pick = e.items[0]
            if isinstance(pick, s.Num) and isinstance(pick.value, int):
                if -len(producer) <= pick.value < len(producer):
                    return producer[pick.value]
        return producer

    def _name_producer(self, name: str, g):
        b = g.values.get(name)
        if b is not None:
            return self._binding_producer(b, name)
        decl = g.decls.get(name)
        if decl is None or decl.value is None:
            return None
        if id(decl) not in self.decl_nodes:
            frame = self.frames[-1]
            kind = "Parameter" if decl.kind == "param" else "Buffer"
            self.decl_nodes[id(decl)] = self.node(
                "tensor",
                kind,
                name,
                decl.value.py,
                cluster=frame.base or frame.cluster,
                span=decl.span,
            )
            self.keep.append(decl)
        return self.decl_nodes[id(decl)]

    def _binding_producer(self, b, name: str):
        if id(b) in self.bind:
            return self.bind[id(b)]
        if b.sources:
            found: set[int] = set()
            for x in b.sources:
                found |= _leaves(self._binding_producer(x, name))
            return frozenset(found) or None
        frame = self.frames[-1]
        if name in frame.names and frame.names[name] < len(frame.ins):
            return frame.ins[frame.names[name]]
        return None

    def _op(self, label: str, operands: list, value, e, keys=None):
        """An operator, index or function node. Its ``args`` say what the value ranges of
        :mod:`nndsl.check.ranges` need: ``keys`` every operand's position (or keyword), ``in``
        the operand each input edge comes from, and under an operand's key its number, or
        None where a tensor operand has no known producer; ``formulas`` the formula of each
        operand that is a size known only at run time (``T - 1``)."""
        if not has_tensor(value.py):
            return None
        n = self.node("op", label, span=e.span)
        keys = list(range(len(operands))) if keys is None else keys
        args: dict = {"keys": tuple(keys)}
        came: list = []
        for key, x in zip(keys, operands):
            producer, seen = self.expr.get(id(x), (None, None))
            if seen is None:
                args[key] = None
                continue
            if isinstance(seen.py, Size):  # `arange(T - 1)`: its formula, for the ranges
                args.setdefault("formulas", {})[key] = str(seen.py)
            if isinstance(seen.py, (int, float)):
                args[key] = seen.py
            elif not _complete(producer):
                args[key] = None
            before = len(self.edges)
            self.connect(producer, seen.py, n)
            came += [key] * (len(self.edges) - before)
        args["in"] = tuple(came)
        self.nodes[n].args = args
        return n


def _complete(producer) -> bool:
    """Whether every tensor of a value has a node that made it."""
    if producer is None:
        return False
    if isinstance(producer, tuple):
        return all(_complete(p) for p in producer)
    return True
