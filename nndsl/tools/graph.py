"""``nndsl graph``: a model's dataflow graph as Graphviz DOT or Mermaid text.

The graph is recorded while checking: :class:`TraceChecker` is the checker with hooks on the
steps that build modules and connect them, so it sees every layer with the tensors it receives,
in stacks, blocks, repeats (unrolled, one cluster each), nested models and hand-written forwards
(whose functions and operators become small nodes of their own). The checker proper and the
generated code do not change. A shared layer is one node, with an edge for every use; a block,
repeat, nested model or ``while`` loop is a cluster. Block and model boundaries are recorded as
port nodes, removed at the end by joining what enters a port to what leaves it.

Every label goes through :func:`dot_quote` or :func:`mermaid_quote`, so no name or shape can
break out of its string.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nndsl.check.checker import Checker
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS


@dataclass(eq=False)
class Cluster:
    kind: str  # model, block, repeat, loop
    type: str
    parent: Cluster | None
    attr: str = ""


@dataclass(eq=False)
class Node:
    id: int
    kind: str  # input, output, layer, op, tensor, port
    type: str
    cluster: Cluster | None
    attr: str = ""
    detail: str = ""


@dataclass
class Fragment:
    """What a built module looks like from outside: the node or cluster it is, the nodes its
    inputs enter (a layer: itself for every input) and the producer of its result."""

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


class TraceChecker(Checker):
    """The checker, recording nodes and edges as it builds and connects modules.

    A producer (what made a value) is a node id, a tuple of producers (a tuple written in the
    source) or a frozenset of node ids (a value a loop may have changed), or None."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.nodes: list[Node] = []
        self.edges: list[tuple[int, int, str]] = []
        self.frames: list[Frame] = []
        self.made: Fragment | None = None
        self.keep: list = []  # objects keyed by id() below stay alive
        self.shared_frag: dict[int, Fragment] = {}
        self.scope_frames: dict[int, Frame] = {}
        self.expr: dict[int, tuple] = {}
        self.bind: dict[int, object] = {}
        self.decl_nodes: dict[int, int] = {}
        self.models: dict[str, tuple] = {}  # name -> (root cluster, input ids, output producer)
        self.in_cond = 0

    def _trains(self):
        return ()  # only models are drawn

    # ---- the graph ----------------------------------------------------------------------

    def node(self, kind: str, type: str, attr: str = "", detail: str = "", cluster=None) -> int:
        where = cluster if cluster is not None else self.frames[-1].cluster
        self.nodes.append(Node(len(self.nodes), kind, type, where, attr, detail))
        return len(self.nodes) - 1

    def connect(self, producer, typ, dst) -> None:
        """Edges from what made a value to ``dst``, labelled with the value's shape."""
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
            self.edges.append((producer, dst, _label(typ)))

    def _name(self, frag: Fragment, attr: str) -> None:
        frag.owner.attr = attr

    def _port(self, cluster: Cluster) -> int:
        return self.node("port", "", cluster=cluster)

    # ---- models -------------------------------------------------------------------------

    def _model(self, model):
        return self._traced_model(model, super()._model)

    def _graph_model(self, model):
        return self._traced_model(model, super()._graph_model)

    def _traced_model(self, model, check):
        root = Cluster("model", model.name, None)
        saved, self.frames = self.frames, []
        frame = Frame(root, [], base=root)
        self.frames.append(frame)
        for i, inp in enumerate(model.inputs):
            frame.ins.append(self.node("input", "input", inp.name))
            frame.names[inp.name] = i
        try:
            info = check(model)
        finally:
            self.frames = saved
        if info is None:
            return None
        for n, t in zip(frame.ins, info.inputs):
            self.nodes[n].detail = f"{fmt_shape(t.shape)} {t.dtype}"
        outs = self._outputs(info.returns, frame.out, root, ())
        self.models[model.name] = (root, list(frame.ins), outs)
        return info

    def _outputs(self, returns, producer, root, path: tuple):
        if isinstance(returns, tuple):
            parts = producer if isinstance(producer, tuple) else [producer] * len(returns)
            return tuple(
                self._outputs(r, p, root, path + (i,))
                for i, (r, p) in enumerate(zip(returns, parts))
            )
        name = "output" + "".join(f" {i}" for i in path)
        n = self.node("output", "output", name, fmt_shape(returns.shape), cluster=root)
        self.connect(producer, fmt_shape(returns.shape), n)
        return n

    def _model_use(self, call, flow, extra):
        built = super()._model_use(call, flow, extra)
        self.made = None
        if built is not None and call.name in self.models:
            self.made = self._copy_model(call.name)
        return built

    def _copy_model(self, name: str) -> Fragment:
        """A used model: a copy of its graph in a cluster, its inputs and outputs ports."""
        root, ins, outs = self.models[name]
        new_root = Cluster("model", name, self.frames[-1].cluster)
        clusters = {id(root): new_root}

        def copied(c: Cluster | None) -> Cluster | None:
            if c is None:
                return None
            if id(c) not in clusters:
                parent = copied(c.parent)
                if parent is None:
                    return None
                clusters[id(c)] = Cluster(c.kind, c.type, parent, c.attr)
            return clusters[id(c)]

        ids = {}
        for n in list(self.nodes):
            where = copied(n.cluster)
            if where is not None:
                kind = "port" if n.kind in ("input", "output") else n.kind
                ids[n.id] = self.node(kind, n.type, n.attr, n.detail, cluster=where)
        for a, b, label in list(self.edges):
            if a in ids and b in ids:
                self.edges.append((ids[a], ids[b], label))

        def mapped(p):
            return tuple(mapped(x) for x in p) if isinstance(p, tuple) else ids[p]

        return Fragment(new_root, [ids[i] for i in ins], mapped(outs))

    # ---- stacks -------------------------------------------------------------------------

    def _body(self, body, flow, scope):
        frame = self.frames[-1]
        self.scope_frames[id(scope)] = frame
        self.keep.append(scope)
        frame.cursor = frame.ins[0] if frame.ins else None
        out = super()._body(body, flow, scope)
        frame.out = frame.cursor
        return out

    def _stmt(self, stmt, flow, scope):
        self.made = None
        return super()._stmt(stmt, flow, scope)

    def _place(self, built, attr, anonymous, flow, scope, span, member=True):
        frag, count = self.made, len(scope.rows)
        out = super()._place(built, attr, anonymous, flow, scope, span, member)
        frame = self.scope_frames.get(id(scope))
        if frag is None or frame is None or len(scope.rows) <= count:
            return out
        self._name(frag, scope.rows[count].path)
        self.connect(frame.cursor, flow.text(), frag.input(0))
        frame.cursor = frag.out
        return out

    # ---- modules ------------------------------------------------------------------------

    def _layer(self, call, layer, flow, env, attr, extra=()):
        built = super()._layer(call, layer, flow, env, attr, extra)
        if built is not None:
            n = self.node("layer", layer.name)
            self.made = Fragment(self.nodes[n], [], n)
        return built

    def _block(self, call, block, flow, env, extra=()):
        cluster = Cluster("block", block.name, self.frames[-1].cluster)
        ins = [self._port(cluster) for _ in range(1 + len(extra))]
        frame = Frame(cluster, ins, base=cluster)
        self.frames.append(frame)
        try:
            built = super()._block(call, block, flow, env, extra)
        finally:
            self.frames.pop()
        self.made = Fragment(cluster, ins, frame.out) if built is not None else None
        return built

    def _repeat(self, stmt, flow, scope):
        cluster = Cluster("repeat", "repeat", self.frames[-1].cluster)
        port = self._port(cluster)
        frame = Frame(cluster, [port], cursor=port, width=max(1, len(stmt.body)), base=cluster)
        self.frames.append(frame)
        try:
            built = super()._repeat(stmt, flow, scope)
        finally:
            self.frames.pop()
        if built is not None:
            cluster.type = built.type
        self.made = Fragment(cluster, [port], frame.cursor) if built is not None else None
        return built

    def _repeat_item(self, inner, cur, sub):
        frame = self.frames[-1]
        k = frame.items
        frame.items += 1
        self.made = None
        built = super()._repeat_item(inner, cur, sub)
        frag = self.made
        if built is None or frag is None:
            return built
        if not isinstance(inner, s.UseStmt):
            w = frame.width
            self._name(frag, f"{k}" if w == 1 else f"{k // w}.{k % w}")
        self.connect(frame.cursor, cur.text(), frag.input(0))
        frame.cursor = frag.out
        return built

    def _call_shared(self, info, node, flow, scope, extra=()):
        first = info.module is None
        self.made = None
        built = super()._call_shared(info, node, flow, scope, extra)
        if first and self.made is not None:
            self.shared_frag[id(info)] = self.made
            self.keep.append(info)
        self.made = self.shared_frag.get(id(info)) if built is not None else None
        return built

    # ---- forwards -----------------------------------------------------------------------

    def _graph(self, body, forward, inputs, scope, feature):
        self.frames[-1].names = {name: i for i, (name, *_) in enumerate(inputs)}
        return super()._graph(body, forward, inputs, scope, feature)

    def _call_module(self, decl, e, flows, g, kind):
        info = decl.shared
        first = info.module is None
        self.made = None
        built = super()._call_module(decl, e, flows, g, kind)
        if first and self.made is not None:
            self.shared_frag[id(info)] = self.made
            self.keep.append(info)
        frag = self.shared_frag.get(id(info))
        if frag is not None:
            self._name(frag, decl.name)
        self.made = frag
        return built

    def _fx(self, e, g):
        value = super()._fx(e, g)
        producer = None if self.in_cond else self._produce(e, value, g)
        self.expr[id(e)] = (producer, value)
        return value

    def _condition(self, e, g):
        self.in_cond += 1
        try:
            return super()._condition(e, g)
        finally:
            self.in_cond -= 1

    def _assign(self, st, g):
        super()._assign(st, g)
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

    def _return(self, st, g):
        super()._return(st, g)
        nodes = st.values
        if len(nodes) == 1 and isinstance(nodes[0], s.TupleLit):
            nodes = nodes[0].items
        made = [self.expr.get(id(n), (None,))[0] for n in nodes]
        self.frames[-1].out = made[0] if len(made) == 1 else tuple(made)

    def _while(self, st, g):
        frame = self.frames[-1]
        cluster = Cluster("loop", "while", frame.cluster)
        saved, frame.cluster = frame.cluster, cluster
        first = len(g.lines)
        try:
            super()._while(st, g)
        finally:
            frame.cluster = saved
            if len(g.lines) > first:
                cluster.type = g.lines[first].strip().removesuffix(":")

    def _produce(self, e, value, g):
        match e:
            case s.Name():
                return self._name_producer(e.id, g)
            case s.BinOp():
                return self._op(e.op, [e.left, e.right], value)
            case s.Unary():
                return self._op(e.op, [e.operand], value)
            case s.TupleLit(items=items) | s.ListLit(items=items):
                return tuple(self.expr.get(id(x), (None,))[0] for x in items)
            case s.Index(value=base):
                producer, seen = self.expr.get(id(base), (None, None))
                if seen is not None and isinstance(seen.py, Tensor):
                    suffix = (
                        value.code[len(seen.code) :] if value.code.startswith(seen.code) else "[]"
                    )
                    return self._op(
                        suffix, [base] + [x for x in e.items if id(x) in self.expr], value
                    )
                if isinstance(producer, tuple) and len(e.items) == 1:
                    pick = e.items[0]
                    if isinstance(pick, s.Num) and isinstance(pick.value, int):
                        if -len(producer) <= pick.value < len(producer):
                            return producer[pick.value]
                return producer
            case s.CallExpr(func=s.Name(id=name)):
                if name in g.decls and g.decls[name].kind == "module":
                    frag = self.made
                    if frag is None:
                        return None
                    for i, a in enumerate(e.args):
                        producer, seen = self.expr.get(id(a.value), (None, None))
                        self.connect(producer, seen and seen.py, frag.input(i))
                    return frag.out
                if name in FUNCTIONS:
                    return self._op(name, [a.value for a in e.args], value)
        return None

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
                fmt_shape(decl.value.py.shape),
                cluster=frame.base or frame.cluster,
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

    def _op(self, label: str, operands: list, value):
        if not _has_tensor(value.py):
            return None
        n = self.node("op", label)
        for x in operands:
            producer, seen = self.expr.get(id(x), (None, None))
            if seen is not None:
                self.connect(producer, seen.py, n)
        return n


def _leaves(producer) -> set[int]:
    if producer is None:
        return set()
    if isinstance(producer, (tuple, frozenset)):
        return set().union(*(_leaves(p) for p in producer)) if producer else set()
    return {producer}


def _has_tensor(t) -> bool:
    if isinstance(t, (tuple, list)):
        return any(_has_tensor(x) for x in t)
    return isinstance(t, Tensor)


def _label(t) -> str:
    """A value's shape as the checker writes it: ``(B, 8)``, ``((B, 8), (1, B, 8))``."""
    if isinstance(t, str):
        return t
    if isinstance(t, Tensor):
        return fmt_shape(t.shape)
    if isinstance(t, (tuple, list)):
        return "(" + ", ".join(_label(x) for x in t) + ")"
    return ""


# ---- the finished graph -------------------------------------------------------------------


@dataclass
class Graph:
    """A drawable graph: nodes (id, kind, label, cluster index or None), clusters (label,
    parent index or None) and edges (from, to, label), ids counting from 0 in drawing order."""

    name: str
    nodes: list[tuple[int, str, str, int | None]]
    clusters: list[tuple[str, int | None]]
    edges: list[tuple[int, int, str]]


def trace(program, source: str, base=None) -> TraceChecker:
    """Check a parsed program once more, recording the graph of every model."""
    checker = TraceChecker(program, source, base)
    checker.run()
    return checker


def model_graph(checker: TraceChecker, names: list[str], title: str) -> Graph:
    """The graph of the named models (each in a cluster of its own when there are several)."""
    roots = [checker.models[n][0] for n in names]
    edges = _collapse(checker)

    def root_of(c: Cluster | None):
        while c is not None and c.parent is not None:
            c = c.parent
        return c

    keep = [n for n in checker.nodes if n.kind != "port" and root_of(n.cluster) in roots]
    chosen = {n.id for n in keep}
    wrap = len(roots) > 1
    clusters: dict[int, int] = {}
    cluster_list: list[tuple[str, int | None]] = []

    def cluster_index(c: Cluster | None) -> int | None:
        if c is None or (c.parent is None and not wrap):
            return None
        if id(c) not in clusters:
            parent = cluster_index(c.parent)
            label = f"model {c.type}" if c.parent is None else _cluster_label(c)
            clusters[id(c)] = len(cluster_list)
            cluster_list.append((label, parent))
        return clusters[id(c)]

    ids = {}
    out_nodes = []
    for n in sorted(keep, key=lambda n: roots.index(root_of(n.cluster))):
        ids[n.id] = len(out_nodes)
        out_nodes.append((len(out_nodes), n.kind, _node_label(n), cluster_index(n.cluster)))
    out_edges = []
    for a, b, label in edges:
        if a in chosen and b in chosen:
            edge = (ids[a], ids[b], label)
            if edge not in out_edges:
                out_edges.append(edge)
    return Graph(title, out_nodes, cluster_list, out_edges)


def _collapse(checker: TraceChecker) -> list[tuple[int, int, str]]:
    """The edges with every port node removed: what entered a port goes where it led."""
    edges = list(checker.edges)
    ports = {n.id for n in checker.nodes if n.kind == "port"}
    incoming: dict[int, list] = {}
    outgoing: dict[int, list] = {}
    for e in edges:
        outgoing.setdefault(e[0], []).append(e)
        incoming.setdefault(e[1], []).append(e)
    alive = set(range(len(edges)))
    index = {id(e): i for i, e in enumerate(edges)}
    for p in sorted(ports):
        ins = [e for e in incoming.pop(p, []) if index[id(e)] in alive]
        outs = [e for e in outgoing.pop(p, []) if index[id(e)] in alive]
        for e in ins + outs:
            alive.discard(index[id(e)])
        for a, _, label in ins:
            for _, b, _ in outs:
                if a == p or b == p:
                    continue
                new = (a, b, label)
                index[id(new)] = len(edges)
                edges.append(new)
                alive.add(len(edges) - 1)
                outgoing.setdefault(a, []).append(new)
                incoming.setdefault(b, []).append(new)
    return sorted(e for i, e in enumerate(edges) if i in alive)


def _path(c: Cluster | None) -> list[str]:
    parts = []
    while c is not None and c.parent is not None:
        if c.attr:
            parts.append(c.attr)
        c = c.parent
    return parts[::-1]


def _cluster_label(c: Cluster) -> str:
    if c.kind == "loop":
        return c.type
    path = ".".join(_path(c))
    return f"{path}: {c.type}" if path else c.type


def _node_label(n: Node) -> str:
    if n.kind == "input":
        return f"{n.attr}\n{n.detail}"
    if n.kind == "output":
        return f"{n.attr}\n{n.detail}"
    if n.kind == "tensor":
        return f"{'.'.join(_path(n.cluster) + [n.attr])}\n{n.type} {n.detail}"
    if n.kind == "op" or not n.attr:
        return n.type
    return f"{'.'.join(_path(n.cluster) + [n.attr])}\n{n.type}"


# ---- writing ------------------------------------------------------------------------------


def dot_quote(text: str) -> str:
    """A DOT string literal; a newline becomes a line break, other control characters a space.

    >>> dot_quote('a"b\\\\c\\nd')
    '"a\\\\"b\\\\\\\\c\\\\nd"'
    """
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ord(ch) < 32 or ch == "\x7f":
            out.append(" ")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_MERMAID_SAFE = set(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,:()*+-/=@[]'"
)


def mermaid_quote(text: str) -> str:
    """A Mermaid string: every character that could mean something to Mermaid (quotes, ``#``,
    ``<``, ``|``, braces, ...) written as an entity code; a newline becomes ``<br/>``.

    >>> mermaid_quote('a"b\\n<c>')
    '"a#34;b<br/>#60;c#62;"'
    """
    lines = [
        "".join(ch if ch in _MERMAID_SAFE else f"#{ord(ch)};" for ch in line)
        for line in text.split("\n")
    ]
    return '"' + "<br/>".join(lines) + '"'


DOT_SHAPES = {
    "input": "invhouse",
    "output": "house",
    "layer": "box",
    "op": "ellipse",
    "tensor": "note",
}
MERMAID_SHAPES = {
    "input": ("[/", "/]"),
    "output": ("[\\", "\\]"),
    "layer": ("[", "]"),
    "op": ("([", "])"),
    "tensor": ("[(", ")]"),
}


def to_dot(g: Graph) -> str:
    out = [
        f"digraph {dot_quote(g.name)} {{",
        "  rankdir=TB;",
        '  node [shape=box, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]

    def body(cluster: int | None, indent: str) -> None:
        for i, kind, label, c in g.nodes:
            if c == cluster:
                out.append(f"{indent}n{i} [label={dot_quote(label)}, shape={DOT_SHAPES[kind]}];")
        for k, (label, parent) in enumerate(g.clusters):
            if parent == cluster:
                out.append(f"{indent}subgraph cluster_{k} {{")
                out.append(f"{indent}  label={dot_quote(label)};")
                body(k, indent + "  ")
                out.append(f"{indent}}}")

    body(None, "  ")
    for a, b, label in g.edges:
        out.append(f"  n{a} -> n{b} [label={dot_quote(label)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def to_mermaid(g: Graph) -> str:
    out = ["flowchart TB"]

    def body(cluster: int | None, indent: str) -> None:
        for i, kind, label, c in g.nodes:
            if c == cluster:
                left, right = MERMAID_SHAPES[kind]
                out.append(f"{indent}n{i}{left}{mermaid_quote(label)}{right}")
        for k, (label, parent) in enumerate(g.clusters):
            if parent == cluster:
                out.append(f"{indent}subgraph c{k}[{mermaid_quote(label)}]")
                body(k, indent + "  ")
                out.append(f"{indent}end")

    body(None, "  ")
    for a, b, label in g.edges:
        out.append(f"  n{a} -->|{mermaid_quote(label)}| n{b}")
    return "\n".join(out) + "\n"


# ---- the command --------------------------------------------------------------------------

FORMATS = {
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".svg": "svg",
    ".png": "png",
}


def command(args, text: str, report) -> int:
    """``nndsl graph``: 0 written, 1 diagnostics, 2 usage (unknown model or format, no `dot`)."""
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    from nndsl.codegen.outputs import write_atomic
    from nndsl.compiler import analyze
    from nndsl.lang.parser import parse

    out = args.output or "-"
    fmt = args.format or ("dot" if out == "-" else FORMATS.get(Path(out).suffix.lower()))
    if fmt is None:
        print(
            f"nndsl: error: cannot tell the format of {out} from its suffix; use .dot, .mmd, "
            ".svg or .png, or pass --format dot|mermaid",
            file=sys.stderr,
        )
        return 2
    if out == "-" and fmt in ("svg", "png"):
        print(f"nndsl: error: {fmt} is written to a file: pass -o FILE.{fmt}", file=sys.stderr)
        return 2
    dot_program = shutil.which("dot") if fmt in ("svg", "png") else None
    if fmt in ("svg", "png") and dot_program is None:
        print(
            f"nndsl: error: writing .{fmt} needs the `dot` program of Graphviz, which is not "
            "installed; write a .dot or .mmd file instead",
            file=sys.stderr,
        )
        return 2
    source = Path(args.file)
    result = analyze(text, source.parent)
    report(result.diagnostics)
    if not result.ok:
        return 1
    names = [m.name for m in result.program.models]
    if args.model is not None and args.model not in names:
        print(
            f"nndsl: error: no model `{args.model}` in {args.file}; it has "
            f"{', '.join(names) or 'none'}",
            file=sys.stderr,
        )
        return 2
    checker = trace(parse(text), text, source.parent)
    chosen = [args.model] if args.model else names
    g = model_graph(checker, chosen, chosen[0] if len(chosen) == 1 else source.stem)
    body = to_mermaid(g) if fmt == "mermaid" else to_dot(g)
    if out == "-":
        sys.stdout.write(body)
        return 0
    if fmt in ("svg", "png"):
        done = subprocess.run(
            [dot_program, f"-T{fmt}"], input=body.encode("utf-8"), capture_output=True, check=False
        )
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            print(
                f"nndsl: error: dot failed: {err[-1] if err else done.returncode}", file=sys.stderr
            )
            return 1
        write_atomic(Path(out), done.stdout)
        return 0
    write_atomic(Path(out), body)
    return 0
