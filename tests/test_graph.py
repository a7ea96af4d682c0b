"""`nndsl graph`: DOT and Mermaid output of the dataflow graph."""

from __future__ import annotations

import re
import shutil

import pytest
from compiled import CASES, EXAMPLES

from nndsl.check.checker import Checker
from nndsl.cli import main
from nndsl.compiler import analyze
from nndsl.tools.graph import (
    Graph,
    dot_quote,
    mermaid_quote,
    model_graph,
    to_dot,
    to_mermaid,
)

STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')


def _example(stem: str):
    return next(p for p in EXAMPLES if p.stem == stem)


def _program(path):
    result = analyze(path.read_text(encoding="utf-8"), path.parent)
    assert result.ok
    return result.program


def _parse_dot(text: str) -> dict:
    """A structural check of DOT without Graphviz: strings masked, braces balanced, every edge
    between declared nodes. Returns nodes (id -> label), edges and cluster labels."""
    try:
        import pydot  # noqa: F401 -- a real parser when one is installed

        assert pydot.graph_from_dot_data(text)
    except ImportError:
        pass
    masked = STRING.sub('""', text)
    assert '"' not in STRING.sub("", text), "an unterminated string"
    depth = 0
    for ch in masked:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        assert depth >= 0
    assert depth == 0
    assert re.match(r'digraph "" \{', masked)
    strings = iter(m.group(0) for m in STRING.finditer(text))
    nodes, edges, clusters = {}, [], []
    for line in masked.splitlines():
        line = line.strip()
        count = line.count('""')
        found = [next(strings) for _ in range(count)]
        if m := re.fullmatch(r'(n\d+) \[label="", shape=\w+\];', line):
            nodes[m[1]] = _unquote(found[0])
        elif m := re.fullmatch(r'(n\d+) -> (n\d+) \[label=""\];', line):
            edges.append((m[1], m[2], _unquote(found[0])))
        elif re.fullmatch(r"subgraph cluster_\d+ \{", line):
            clusters.append(None)
        elif re.fullmatch(r'label="";', line):
            clusters[-1] = _unquote(found[0])
        else:
            assert re.fullmatch(r'digraph "" \{|\}|rankdir=TB;|(node|edge) \[.*\];', line), line
    for a, b, _ in edges:
        assert a in nodes and b in nodes
    return {"nodes": nodes, "edges": edges, "clusters": clusters}


def _unquote(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], s[1:-1])


def _named(parsed, label: str) -> list[str]:
    return [n for n, text in parsed["nodes"].items() if text == label]


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: p.stem)
def test_every_example_draws(path, capsys):
    assert main(["graph", str(path)]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    assert parsed["edges"]
    assert main(["graph", str(path), "--format", "mermaid"]) == 0
    assert capsys.readouterr().out.startswith("flowchart TB\n")


def test_cnn_edges_carry_shapes(capsys):
    assert main(["graph", str(_example("cnn"))]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    label = parsed["nodes"]
    shapes = [(label[a].split("\n")[0], label[b].split("\n")[0], s) for a, b, s in parsed["edges"]]
    assert ("x", "conv1", "(B, 1, 28, 28)") in shapes
    assert ("conv1", "ReLU", "(B, 16, 28, 28)") in shapes
    assert ("conv2", "ReLU", "(B, 32, 14, 14)") in shapes
    assert ("Flatten", "out", "(B, 1568)") in shapes
    assert ("out", "output", "(B, 10)") in shapes
    assert len(parsed["edges"]) == 9  # input, eight layers, output: a chain
    assert "x\n(B, 1, 28, 28) float32" in label.values()


def test_shared_layer_drawn_once_with_two_uses(capsys):
    assert main(["graph", str(_example("tied"))]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    tied = _named(parsed, "tied\nLinear")
    assert len(tied) == 1
    ins = [e for e in parsed["edges"] if e[1] == tied[0]]
    outs = [e for e in parsed["edges"] if e[0] == tied[0]]
    assert len(ins) == 2 and len(outs) == 2
    assert all(e[2] == "(B, 8)" for e in ins + outs)


def test_block_becomes_a_cluster(capsys):
    assert main(["graph", str(_example("nested_blocks"))]) == 0
    text = capsys.readouterr().out
    parsed = _parse_dot(text)
    assert "body: repeat 4" in parsed["clusters"]
    assert [c for c in parsed["clusters"] if c.endswith(": Block1")] == [
        f"body.{i}: Block1" for i in range(4)
    ]
    assert "body.0.fc1\nLinear" in parsed["nodes"].values()
    block = re.search(r'subgraph cluster_\d+ \{\n\s*label="body.0: Block1";\n(.*?)\}', text, re.S)
    assert 'label="body.0.fc1\\nLinear"' in block.group(1)


def test_two_outputs_shown(capsys):
    assert main(["graph", str(_example("two_outputs"))]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    assert len(_named(parsed, "output 0\n(B, 1)")) == 1
    assert len(_named(parsed, "output 1\n(B, 8)")) == 1
    act = _named(parsed, "act\nReLU")[0]
    assert sum(1 for a, _, _ in parsed["edges"] if a == act) == 2  # to `out` and to output 1


def test_mermaid_exact(tmp_path):
    out = tmp_path / "probe.mmd"
    assert main(["graph", str(_example("two_outputs")), "-o", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == """\
flowchart TB
  n0[/"x<br/>(B, 2) float32"/]
  n1["hidden<br/>Linear"]
  n2["act<br/>ReLU"]
  n3["out<br/>Linear"]
  n4[\\"output 0<br/>(B, 1)"\\]
  n5[\\"output 1<br/>(B, 8)"\\]
  n0 -->|"(B, 2)"| n1
  n1 -->|"(B, 8)"| n2
  n2 -->|"(B, 8)"| n3
  n2 -->|"(B, 8)"| n5
  n3 -->|"(B, 1)"| n4
"""


HOSTILE = ['a"b', "x\\", '"]; evil -> n0 [label="', "end\nsubgraph x", "}{", "#quot;|<br>`\r\t"]


def test_hostile_labels_cannot_escape():
    g = Graph(
        '"}',
        [(i, "layer", h, None if i % 2 else 0) for i, h in enumerate(HOSTILE)],
        [('cluster "} {', None)],
        [(0, 1, h) for h in HOSTILE],
    )
    parsed = _parse_dot(to_dot(g))
    assert len(parsed["nodes"]) == len(HOSTILE) and len(parsed["edges"]) == len(HOSTILE)
    assert parsed["nodes"]["n0"] == HOSTILE[0]
    assert parsed["nodes"]["n2"] == HOSTILE[2]
    mermaid = to_mermaid(g)
    for line in mermaid.splitlines()[1:]:
        assert re.fullmatch(
            r'\s*(n\d+\["[^"]*"\]|subgraph c\d+\["[^"]*"\]|end|n\d+ -->\|"[^"|]*"\| n\d+)', line
        ), line
    assert "<br>" not in mermaid and "`" not in mermaid


def test_quoting():
    assert dot_quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert mermaid_quote('a"b\n<c>') == '"a#34;b<br/>#60;c#62;"'


def test_hostile_names_in_a_program(capsys, tmp_path):
    path = tmp_path / "names.nn"
    path.write_text(
        "model digraph(subgraph: [4]) {\n    end = Linear(3)\n    node = ReLU()\n"
        "    forward { return node(end(subgraph)) }\n}\n",
        encoding="utf-8",
    )
    assert main(["graph", str(path)]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    assert "end\nLinear" in parsed["nodes"].values()
    assert main(["graph", str(path), "--format", "mermaid"]) == 0


def test_model_option_and_clusters_of_several_models(capsys):
    chimera = _example("chimera")
    assert main(["graph", str(chimera)]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    assert {"model FixedHiddenMLP", "model NestMLP", "model Chimera"} <= set(parsed["clusters"])
    assert main(["graph", str(chimera), "--model", "NestMLP"]) == 0
    parsed = _parse_dot(capsys.readouterr().out)
    assert parsed["clusters"] == ["net: Body"]
    assert main(["graph", str(chimera), "--model", "Nope"]) == 2


def test_svg_without_dot_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    out = tmp_path / "cnn.svg"
    assert main(["graph", str(_example("cnn")), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "`dot`" in err
    assert not out.exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_svg_and_png_through_graphviz(tmp_path):
    svg, png = tmp_path / "tied.svg", tmp_path / "tied.png"
    assert main(["graph", str(_example("tied")), "-o", str(svg)]) == 0
    text = svg.read_text(encoding="utf-8")
    assert "<svg" in text and "(B, 8)" in text  # an edge's shape label, drawn
    assert main(["graph", str(_example("tied")), "-o", str(png)]) == 0
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tied.png", "tied.svg"]


def test_unknown_suffix_is_a_usage_error(tmp_path, capsys):
    assert main(["graph", str(_example("cnn")), "-o", str(tmp_path / "g.txt")]) == 2
    assert (
        main(["graph", str(_example("cnn")), "-o", str(tmp_path / "g.txt"), "--format", "dot"]) == 0
    )
    assert (tmp_path / "g.txt").read_text(encoding="utf-8").startswith('digraph "CNN" {')


def test_graph_checks_the_program_once(monkeypatch, capsys):
    runs = []
    real = Checker.run
    monkeypatch.setattr(Checker, "run", lambda self: runs.append(1) or real(self))
    assert main(["graph", str(_example("chimera"))]) == 0
    assert runs == [1]
    drawn = to_dot(model_graph(_program(_example("chimera")), ["Chimera"], "Chimera"))
    assert capsys.readouterr().out != drawn  # all three models against one
    assert main(["graph", str(_example("chimera")), "--model", "Chimera"]) == 0
    assert capsys.readouterr().out == drawn
