"""The dataflow graph of every model, recorded while checking (:mod:`nndsl.ir.graph`).

The checker's steps that build modules and connect them are marked ``@recorded(hook)``: the
step runs inside the :class:`Recorder` hook of that name, which sees every layer with the
tensors it receives, in stacks, blocks, repeats (unrolled, one cluster each), nested models and
hand-written forwards (whose functions and operators become small nodes of their own; see
:mod:`nndsl.check.record_forward`). Recording changes nothing the checker reports or emits.

A producer (what made a value) is a node id, a tuple of producers (a tuple written in the
source), a frozenset of node ids (a value a loop may have changed), or None.
"""

from __future__ import annotations

from functools import partial

from nndsl.check.record_forward import ForwardRecording, ir_type
from nndsl.check.record_parts import Cluster, Fragment, Frame, Node
from nndsl.check.record_seq import SequenceRecording
from nndsl.ir import graph as dg
from nndsl.lang import syntax as s


def recorded(hook: str, when: str = "around"):
    """Mark a checker step for ``Recorder.<hook>`` (which only runs within a model): the hook
    runs the step (``around``: it gets the step to call, then the step's arguments), or is
    called with the step's arguments before it, or with its result and arguments after it, or
    (``both``) first with None for the result, then with the result."""

    def wrap(method):
        fn = getattr(Recorder, hook)

        def around(self, *args, **kw):
            rec = self.rec
            if not rec.frames and hook != "model":
                return method(self, *args, **kw)
            return fn(rec, partial(method, self, *args, **kw), *args, **kw)

        def before(self, *args, **kw):
            if self.rec.frames:
                fn(self.rec, *args, **kw)
            return method(self, *args, **kw)

        def after(self, *args, **kw):
            out = method(self, *args, **kw)
            if self.rec.frames:
                fn(self.rec, out, *args, **kw)
            return out

        def both(self, *args, **kw):
            rec = self.rec
            if not rec.frames:
                return method(self, *args, **kw)
            fn(rec, None, *args, **kw)
            out = method(self, *args, **kw)
            fn(rec, out, *args, **kw)
            return out

        run = {"around": around, "before": before, "after": after, "both": both}[when]
        run.__name__, run.__doc__ = method.__name__, method.__doc__
        return run

    return wrap


class Recorder(ForwardRecording, SequenceRecording):
    """Nodes and edges, as the checker builds and connects modules."""

    def __init__(self):
        self.nodes: list[Node] = []
        self.edges: list[tuple[int, int, object]] = []
        self.frames: list[Frame] = []
        self.made: Fragment | None = None
        self.keep: list = []  # objects keyed by id() below stay alive
        self.shared_frag: dict[int, Fragment] = {}
        self.scope_frames: dict[int, Frame] = {}
        self.expr: dict[int, tuple] = {}
        self.bind: dict[int, object] = {}
        self.decl_nodes: dict[int, int] = {}
        # name -> (root cluster, input ids, output producer, first node, first edge)
        self.models: dict[str, tuple] = {}
        self.in_cond = 0
        self.placing: tuple = (None, 0)

    # ---- the graph ----------------------------------------------------------------------

    def node(self, kind, type, attr="", detail=None, cluster=None, span=None) -> int:
        where = cluster if cluster is not None else self.frames[-1].cluster
        self.nodes.append(Node(len(self.nodes), kind, type, where, attr, detail, span))
        return len(self.nodes) - 1

    def connect(self, producer, typ, dst) -> None:
        """Edges from what made a value to ``dst``, with the value's type."""
        if producer is None or dst is None:
            return
        if isinstance(producer, tuple):
            parts = typ if isinstance(typ, (tuple, list)) else [typ] * len(producer)
            for p, t in zip(producer, parts):
                self.connect(p, t, dst)
        elif isinstance(producer, frozenset):
            for p in sorted(producer):
                self.connect(p, typ, dst)
        else:
            self.edges.append((producer, dst, typ))  # the type is read when frozen

    def _name(self, frag: Fragment, attr: str) -> None:
        frag.owner.attr = attr

    def _port(self, cluster: Cluster) -> int:
        return self.node("port", "", cluster=cluster)

    # ---- models -------------------------------------------------------------------------

    def model(self, check, model):
        root = Cluster("model", model.name, None, span=model.span)
        saved, self.frames = self.frames, []
        frame = Frame(root, [], base=root)
        self.frames.append(frame)
        first = len(self.nodes), len(self.edges)
        for i, inp in enumerate(model.inputs):
            frame.ins.append(self.node("input", "input", inp.name, span=inp.span))
            frame.names[inp.name] = i
        try:
            info = check()
        finally:
            self.frames = saved
        if info is None:
            return None
        for n, t in zip(frame.ins, info.inputs):
            self.nodes[n].detail = t
        outs = self._outputs(info.returns, frame.out, root, ())
        self.models[model.name] = (root, list(frame.ins), outs, *first)
        return info

    def _outputs(self, returns, producer, root, path: tuple):
        if isinstance(returns, tuple):
            parts = producer if isinstance(producer, tuple) else [producer] * len(returns)
            return tuple(
                self._outputs(r, p, root, path + (i,))
                for i, (r, p) in enumerate(zip(returns, parts))
            )
        name = "output" + "".join(f" {i}" for i in path)
        n = self.node("output", "output", name, returns, cluster=root)
        self.connect(producer, returns, n)
        return n

    def model_use(self, check, call, flow, extra):
        built = check()
        self.made = None
        if built is not None and call.name in self.models:
            self.made = self._copy_model(call.name)
        return built

    def _copy_model(self, name: str) -> Fragment:
        """A used model: a copy of its graph in a cluster, its inputs and outputs ports."""
        root, ins, outs, first_node, first_edge = self.models[name]
        new_root = Cluster("model", name, self.frames[-1].cluster, span=root.span)
        clusters = {id(root): new_root}

        def copied(c: Cluster | None) -> Cluster | None:
            if c is None:
                return None
            if id(c) not in clusters:
                parent = copied(c.parent)
                if parent is None:
                    return None
                clusters[id(c)] = Cluster(c.kind, c.type, parent, c.attr, c.span)
            return clusters[id(c)]

        ids = {}
        for n in self.nodes[first_node:]:
            where = copied(n.cluster)
            if where is not None:
                kind = "port" if n.kind in ("input", "output") else n.kind
                ids[n.id] = self.node(kind, n.type, n.attr, n.detail, where, n.span)
        for a, b, typ in self.edges[first_edge:]:
            if a in ids and b in ids:
                self.edges.append((ids[a], ids[b], typ))

        def mapped(p):
            return tuple(mapped(x) for x in p) if isinstance(p, tuple) else ids[p]

        return Fragment(new_root, [ids[i] for i in ins], mapped(outs))

    # ---- stacks -------------------------------------------------------------------------

    def body(self, check, body, flow, scope):
        frame = self.frames[-1]
        self.scope_frames[id(scope)] = frame
        self.keep.append(scope)
        frame.cursor = frame.ins[0] if frame.ins else None
        out = check()
        frame.out = frame.cursor
        return out

    def place(self, out, built, attr, anonymous, flow, scope, span, member=True):
        if out is None:  # before the step: what it will place, and where
            self.placing = self.made, len(scope.rows)
            return
        frag, count = self.placing
        rows = scope.rows
        if frag is None or len(rows) <= count:
            return
        frame = self.scope_frames.get(id(scope))
        if frame is None:
            return
        frag.owner.attr = rows[count].path
        cursor, dst = frame.cursor, frag.input(0)
        if cursor.__class__ is int and dst is not None:  # one tensor from one node (a stack)
            self.edges.append((cursor, dst, flow))
        else:
            self.connect(cursor, flow, dst)
        frame.cursor = frag.out

    # ---- modules ------------------------------------------------------------------------

    def layer(self, built, call, layer, flow, env, attr, extra=()):
        if built is not None:
            nodes = self.nodes
            node = Node(
                len(nodes),
                "layer",
                layer.name,
                self.frames[-1].cluster,
                span=call.span,
                args=built.args,
            )
            nodes.append(node)
            self.made = node

    def block(self, check, call, block, flow, env, extra=()):
        cluster = Cluster("block", block.name, self.frames[-1].cluster, span=call.span)
        ins = [self._port(cluster) for _ in range(1 + len(extra))]
        frame = Frame(cluster, ins, base=cluster)
        self.frames.append(frame)
        try:
            built = check()
        finally:
            self.frames.pop()
        self.made = Fragment(cluster, ins, frame.out) if built is not None else None
        return built

    def repeat(self, check, stmt, flow, scope):
        cluster = Cluster("repeat", "repeat", self.frames[-1].cluster, span=stmt.span)
        port = self._port(cluster)
        frame = Frame(cluster, [port], cursor=port, width=max(1, len(stmt.body)), base=cluster)
        self.frames.append(frame)
        try:
            built = check()
        finally:
            self.frames.pop()
        if built is not None:
            cluster.type = built.type
        self.made = Fragment(cluster, [port], frame.cursor) if built is not None else None
        return built

    def repeat_item(self, check, inner, cur, sub):
        frame = self.frames[-1]
        k = frame.items
        frame.items += 1
        self.made = None
        built = check()
        frag = self.made
        if built is None or frag is None:
            return built
        if not isinstance(inner, s.UseStmt):
            w = frame.width
            self._name(frag, f"{k}" if w == 1 else f"{k // w}.{k % w}")
        self.connect(frame.cursor, cur, frag.input(0))
        frame.cursor = frag.out
        return built

    def call_shared(self, check, info, node, flow, scope, extra=()):
        first = info.module is None
        self.made = None
        built = check()
        if first and self.made is not None:
            self.shared_frag[id(info)] = self.made
            self.keep.append(info)
        self.made = self.shared_frag.get(id(info)) if built is not None else None
        return built

    # ---- the finished graphs ------------------------------------------------------------

    def finish(self) -> dg.Dataflow:
        """The graph of every checked model, frozen on first use; what only checking needed
        is let go."""
        self.keep = self.shared_frag = self.scope_frames = self.expr = self.bind = None
        self.decl_nodes = self.made = None
        return dg.Dataflow(partial(freeze, self), partial(links, self))


def links(rec: Recorder) -> dict[str, dg.Links]:
    """Each model's untyped dataflow, read straight off the recorded lists."""
    fed: dict[int, list[int]] = {}
    for a, b, _ in rec.edges:
        fed.setdefault(b, []).append(a)
    places: dict[int, tuple[int, bool]] = {}

    def place(c: Cluster) -> tuple[int, bool]:
        """The id() of the cluster's model, and whether it lies in a `while` loop."""
        found = places.get(id(c))
        if found is None:
            up = (id(c), False) if c.parent is None else place(c.parent)
            found = places[id(c)] = up[0], up[1] or c.kind == "loop"
        return found

    by_root: dict[int, dict] = {}
    in_loops = set()
    for n in rec.nodes:
        r, in_loop = place(n.cluster)
        by_root.setdefault(r, {})[n.id] = n
        if in_loop:
            in_loops.add(n.id)
    looped = frozenset(in_loops)
    return {
        name: dg.Links(name, by_root.get(id(r), {}), fed, outs, looped)
        for name, (r, _, outs, *_) in rec.models.items()
    }


_NO_ARGS: dict = {}


def _values(edges: list) -> tuple[dict[tuple, dg.Value], dict[int, list[int]]]:
    """A value per producer and type, and the values each node receives in order."""
    types: dict[tuple, dg.TensorType] = {}  # most values share a few shapes: one type each

    def type_of(raw) -> dg.Type:
        shape = getattr(raw, "shape", None)
        if shape.__class__ is not tuple:
            return ir_type(raw)
        key = (shape, raw.dtype)
        found = types.get(key)
        if found is None:
            found = types[key] = ir_type(raw)
        return found

    values: dict[tuple, dg.Value] = {}
    inputs: dict[int, list[int]] = {}
    new_value = dg.Value
    for a, b, raw in edges:
        key = (a, type_of(raw))
        value = values.get(key)
        if value is None:
            value = values[key] = new_value(len(values), a, key[1])
        inputs.setdefault(b, []).append(value.id)
    return values, inputs


def freeze(rec: Recorder) -> tuple[dg.Graph, ...]:
    clusters: dict[int, dg.Cluster] = {}
    roots: dict[int, int] = {}  # cluster id() -> the id() of its model's cluster

    def cluster_id(c: Cluster) -> int:
        if id(c) not in clusters:
            parent = None if c.parent is None else cluster_id(c.parent)
            clusters[id(c)] = dg.Cluster(len(clusters), c.kind, c.type, parent, c.attr, c.span)
            roots[id(c)] = id(c) if c.parent is None else roots[id(c.parent)]
        return clusters[id(c)].id

    values, inputs = _values(rec.edges)
    nodes: dict[int, list[dg.Node]] = {}
    new_node, no_inputs, cluster_ids = dg.Node, (), {}
    for n in rec.nodes:
        c = n.cluster
        where = cluster_ids.get(id(c))
        if where is None:
            where = cluster_ids[id(c)] = cluster_id(c)
        got = inputs.get(n.id)
        node = new_node(
            n.id,
            n.kind,
            n.type,
            where,
            n.attr,
            tuple(got) if got else no_inputs,
            None if n.detail is None else ir_type(n.detail),
            n.span,
            n.args or _NO_ARGS,
        )
        nodes.setdefault(roots[id(c)], []).append(node)
    by_root: dict[int, list[dg.Cluster]] = {}
    for key, c in clusters.items():
        by_root.setdefault(roots[key], []).append(c)
    by_node = {v.node: [] for v in values.values()}
    for v in values.values():
        by_node[v.node].append(v)
    out = []
    for name, (root, ins, outs, *_) in rec.models.items():
        mine = nodes.get(id(root), [])
        made = [v for n in mine for v in by_node.get(n.id, ())]
        graph = dg.Graph(
            name, tuple(mine), tuple(made), tuple(by_root.get(id(root), ())), tuple(ins), outs
        )
        out.append(graph)
    return tuple(out)
