"""The dataflow graph the checker records for every model (nndsl.ir.graph)."""

from __future__ import annotations

from compiled import EXAMPLES

from nndsl.check.checker import check
from nndsl.compiler import analyze
from nndsl.ir.graph import TensorType, type_label
from nndsl.lang.parser import parse


def _program(stem: str):
    path = next(p for p in EXAMPLES if p.stem == stem)
    result = analyze(path.read_text(encoding="utf-8"), path.parent)
    assert result.ok
    return result.program


def test_the_checked_program_carries_each_models_dataflow():
    program = _program("tied")
    assert list(program.graphs) == [m.name for m in program.models]
    g = program.graphs["Tied"]
    assert g.name == "Tied" and "Nope" not in program.graphs
    (tied,) = [n for n in g.nodes if n.attr == "tied"]
    assert (tied.kind, tied.name) == ("layer", "Linear")
    assert len(tied.inputs) == 2  # one node, used twice
    values = {v.id: v for v in g.values}
    assert {values[i].type for i in tied.inputs} == {TensorType(("B", 8), "float32")}
    assert tied.span is not None and tied.span.line == 3
    x = next(n for n in g.nodes if n.id == g.inputs[0])
    assert (x.kind, x.attr, x.type) == ("input", "x", TensorType(("B", 20), "float32"))
    assert all(isinstance(d, (int, str)) for v in g.values for d in v.type.dims)


def test_clusters_of_blocks_and_repeats_are_recorded():
    g = _program("nested_blocks").graphs["RGNet"]
    root, *inner = g.clusters
    assert root.parent is None and root.kind == "model"
    kinds = [c.kind for c in inner]
    assert kinds.count("repeat") == 1 and kinds.count("block") == 4
    fc1 = [n for n in g.nodes if n.attr == "fc1"]
    assert len(fc1) == 4 and len({n.cluster for n in fc1}) == 4


def test_a_forwards_operators_and_loop_are_nodes():
    g = _program("chimera").graphs["FixedHiddenMLP"]
    ops = {n.name for n in g.nodes if n.kind == "op"}
    assert {"@", "+"} <= ops
    assert any(c.kind == "loop" for c in g.clusters)
    assert [n.name for n in g.nodes if n.kind == "tensor"] == ["Buffer"]


def test_types_read_as_the_checker_writes_shapes():
    t = TensorType(("B", 8), "float32")
    assert type_label(t) == "(B, 8)"
    assert type_label((t, (TensorType((1, "B", 8), "float32"),))) == "((B, 8), ((1, B, 8)))"
    assert type_label(None) == ""


def test_a_nested_model_is_a_copy_in_a_cluster_of_its_own():
    program = _program("chimera")
    outer, inner = program.graphs["Chimera"], program.graphs["NestMLP"]
    nested = [c for c in outer.clusters if c.kind == "model" and c.parent is not None]
    assert {c.name for c in nested} == {"NestMLP", "FixedHiddenMLP"}
    assert not {n.id for n in inner.nodes} & {n.id for n in outer.nodes}
    ports = [n for n in outer.nodes if n.kind == "port"]
    assert ports and all(
        n.kind != "input" for n in outer.nodes if n.cluster != outer.clusters[0].id
    )


def test_only_a_program_without_errors_carries_graphs():
    bad = "model M(x: [4]) {\n    Linear(8)\n    Conv2d(3)\n}\n"
    checked, diagnostics = check(parse(bad), bad)
    assert diagnostics and dict(checked.graphs) == {}
    good = "model M(x: [4]) {\n    Linear(8)\n}\n"
    checked, _ = check(parse(good), good)
    assert [n.name for n in checked.graphs["M"].nodes] == ["input", "Linear", "output"]


def test_the_links_the_lints_read_are_the_graphs_without_types():
    """Dataflow.links() reads the recording straight off, without making the graphs; it must
    say what the graphs say: the same nodes, each fed by the same producers in order."""
    from nndsl.ir.graph import _links_of

    for path in EXAMPLES:
        result = analyze(path.read_text(encoding="utf-8"), path.parent)
        links = result.program.graphs.links()
        assert list(links) == list(result.program.graphs)
        for name, g in result.program.graphs.items():
            fast, slow = links[name], _links_of(g)
            assert sorted(fast.nodes) == sorted(slow.nodes), (path.name, name)
            for n, node in slow.nodes.items():
                got = fast.nodes[n]
                assert (got.kind, got.name, got.span) == (node.kind, node.name, node.span)
                assert list(fast.fed.get(n, ())) == slow.fed[n], (path.name, name, n)
            assert fast.outputs == slow.outputs
