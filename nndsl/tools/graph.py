"""``nndsl graph``: a model's dataflow graph as Graphviz DOT, Mermaid, SVG or PNG.

The graph is the one the checker records for every model (:mod:`nndsl.ir.graph`), read here
as it is: every layer with the tensors it receives, in stacks, blocks, repeats (unrolled, one
cluster each), nested models and hand-written forwards (whose functions and operators are small
nodes of their own). A shared layer is one node, with an edge for every use; a block, repeat,
nested model or ``while`` loop is a cluster. Block and model boundaries are port nodes, removed
here by joining what enters a port to what leaves it.
"""

from __future__ import annotations

from nndsl.codegen.expr import items, write
from nndsl.ir import expr as ex
from nndsl.ir import graph as dg
from nndsl.ir import nodes as ir
from nndsl.tools.graph_text import Graph, dot_quote, mermaid_quote, to_dot, to_mermaid

__all__ = ["Graph", "dot_quote", "mermaid_quote", "model_graph", "run_dot", "to_dot", "to_mermaid"]


def model_graph(program: ir.ProgramIR, names: list[str], title: str) -> Graph:
    """The graph of the named models (each in a cluster of its own when there are several)."""
    graphs = [program.graphs[n] for n in names]
    clusters = {c.id: c for g in graphs for c in g.clusters}
    edges = _collapse(
        {n.id for g in graphs for n in g.nodes if n.kind == "port"},
        [(a, b, dg.type_label(t)) for g in graphs for a, b, t in g.edges()],
    )
    keep = [n for g in graphs for n in g.nodes if n.kind != "port"]
    chosen = {n.id for n in keep}
    wrap = len(graphs) > 1
    index: dict[int, int] = {}
    cluster_list: list[tuple[str, int | None]] = []

    def cluster_index(cid: int) -> int | None:
        c = clusters[cid]
        if c.parent is None and not wrap:
            return None
        if cid not in index:
            parent = None if c.parent is None else cluster_index(c.parent)
            label = f"model {c.name}" if c.parent is None else _cluster_label(c, clusters)
            index[cid] = len(cluster_list)
            cluster_list.append((label, parent))
        return index[cid]

    ids = {}
    out_nodes = []
    for n in keep:
        ids[n.id] = len(out_nodes)
        label = _node_label(n, clusters)
        out_nodes.append((len(out_nodes), n.kind, label, cluster_index(n.cluster)))
    out_edges = list(  # each edge once, in order
        dict.fromkeys(
            (ids[a], ids[b], label) for a, b, label in edges if a in chosen and b in chosen
        )
    )
    return Graph(title, out_nodes, cluster_list, out_edges)


def _collapse(ports: set[int], edges: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """The edges with every port node removed: what entered a port goes where it led."""
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


def _path(cid: int, clusters: dict) -> list[str]:
    parts = []
    c = clusters[cid]
    while c.parent is not None:
        if c.attr:
            parts.append(c.attr)
        c = clusters[c.parent]
    return parts[::-1]


def _cluster_label(c: dg.Cluster, clusters: dict) -> str:
    if c.kind == "loop":
        return c.name if isinstance(c.name, str) else f"while {write(c.name)}"
    path = ".".join(_path(c.id, clusters))
    return f"{path}: {c.name}" if path else c.name


def _node_label(n: dg.Node, clusters: dict) -> str:
    shape = dg.type_label(n.type)
    if n.kind == "input":
        return f"{n.attr}\n{shape} {n.type.dtype}" if n.type is not None else f"{n.attr}\n"
    if n.kind == "output":
        return f"{n.attr}\n{shape}"
    if n.kind == "tensor":
        return f"{'.'.join(_path(n.cluster, clusters) + [n.attr])}\n{n.name} {shape}"
    if isinstance(n.name, ex.Index):
        return f"[{items(n.name)}]"
    if n.kind == "op" or not n.attr:
        return n.name
    return f"{'.'.join(_path(n.cluster, clusters) + [n.attr])}\n{n.name}"


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
    import sys
    from pathlib import Path

    from nndsl.compiler import analyze

    out = args.output or "-"
    fmt, dot_program = _format(out, args.format)
    if fmt is None:
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
    chosen = [args.model] if args.model else names
    g = model_graph(result.program, chosen, chosen[0] if len(chosen) == 1 else source.stem)
    body = to_mermaid(g) if fmt == "mermaid" else to_dot(g)
    if out == "-":
        sys.stdout.write(body)
        return 0
    return _write(Path(out), body, fmt, dot_program)


def _format(out: str, asked: str | None) -> tuple[str | None, str | None]:
    """The format to write and, for svg and png, Graphviz's `dot`; (None, None) after saying
    why it cannot be written."""
    import shutil
    import sys
    from pathlib import Path

    fmt = asked or ("dot" if out == "-" else FORMATS.get(Path(out).suffix.lower()))
    if fmt is None:
        print(
            f"nndsl: error: cannot tell the format of {out} from its suffix; use .dot, .mmd, "
            ".svg or .png, or pass --format dot|mermaid",
            file=sys.stderr,
        )
        return None, None
    if out == "-" and fmt in ("svg", "png"):
        print(f"nndsl: error: {fmt} is written to a file: pass -o FILE.{fmt}", file=sys.stderr)
        return None, None
    dot_program = shutil.which("dot") if fmt in ("svg", "png") else None
    if fmt in ("svg", "png") and dot_program is None:
        print(
            f"nndsl: error: writing .{fmt} needs the `dot` program of Graphviz, which is not "
            "installed; write a .dot or .mmd file instead",
            file=sys.stderr,
        )
        return None, None
    return fmt, dot_program


def _write(out, body: str, fmt: str, dot_program: str | None) -> int:
    import sys

    from nndsl.codegen.outputs import write_atomic

    if fmt in ("svg", "png"):
        drawn, why = run_dot(body, fmt, dot_program)
        if drawn is None:
            print(f"nndsl: error: dot failed: {why}", file=sys.stderr)
            return 1
        write_atomic(out, drawn)
        return 0
    write_atomic(out, body)
    return 0


def run_dot(body: str, fmt: str, dot_program: str) -> tuple[bytes | None, str]:
    """A DOT text drawn by Graphviz's ``dot`` as ``svg`` or ``png``: the image and "", or None
    and the last line dot printed when it failed."""
    import subprocess

    done = subprocess.run(
        [dot_program, f"-T{fmt}"], input=body.encode("utf-8"), capture_output=True, check=False
    )
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return None, err[-1] if err else str(done.returncode)
    return done.stdout, ""
