"""Sequences (``Sequential``, ``ModuleList``), ``if`` on block parameters, ``repeat 0`` and
tables indexed by a repeat's variable: the names torch gives the generated modules, the classes
the uses of a block share, and the mistakes each is refused with."""

from __future__ import annotations

import pytest
import torch
from compiled import load_module

from nndsl.check.parameters import model_tensors
from nndsl.check.unify import Clash, unify
from nndsl.compiler import analyze, generate
from nndsl.ir import expr as ex


def _compiled(source: str):
    result = analyze(source)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    assert not result.diagnostics, [f"{d.code} {d.message}" for d in result.diagnostics]
    return generate(result.program, "test.nn"), result.program


def _keys(source: str, model: str = "M") -> dict[str, tuple]:
    """The generated model's state_dict keys and shapes, after checking that the checker names
    the same tensors."""
    code, program = _compiled(source)
    info = next(m for m in program.models if m.name == model)
    net = load_module(code, "test")[model]()
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert {t.name: t.shape for t in model_tensors(info)} == got
    return got


def _codes(source: str) -> list[str]:
    result = analyze(source)
    assert not result.ok
    return [d.code for d in result.diagnostics if d.severity == "error"]


def _classes(code: str) -> list[str]:
    return [line.split("(")[0][6:] for line in code.splitlines() if line.startswith("class ")]


# ---- numbering ------------------------------------------------------------------------------


def test_sequential_children_are_numbered_as_torch_numbers_them():
    keys = _keys("""model M(x: [3, 8, 8]) {
            features = Sequential {
                Conv2d(4, 3, padding=1)
                repeat 2 { ReLU() Conv2d(4, 1, bias=false) }
                Sequential { BatchNorm2d() }
            }
            Flatten()
            head = Sequential { Dropout(0.1) Linear(2) }
        }""")
    assert list(keys) == [
        "features.0.weight",
        "features.0.bias",
        "features.2.weight",  # a repeat adds each copy's layers as children: 1 ReLU, 2 Conv2d
        "features.4.weight",
        "features.5.0.weight",
        "features.5.0.bias",
        "features.5.0.running_mean",
        "features.5.0.running_var",
        "features.5.0.num_batches_tracked",
        "head.1.weight",
        "head.1.bias",
    ]


def test_module_list_is_numbered_and_applied_in_a_loop():
    code, program = _compiled("model M(x: [4]) { blocks = ModuleList { repeat 3 { Linear(4) } } }")
    assert "for layer in self.blocks:" in code
    net = load_module(code, "test")["M"]()
    assert [k for k in net.state_dict()] == [
        f"blocks.{i}.{p}" for i in range(3) for p in ("weight", "bias")
    ]
    assert net(torch.randn(2, 4)).shape == (2, 4)


def test_block_that_is_a_sequential_is_an_nn_sequential():
    code, _ = _compiled(
        """block CBR(c) = Sequential { Conv2d(c, 3, padding=1, bias=false) BatchNorm2d() ReLU() }
        model M(x: [3, 8, 8]) { stem = CBR(8) }"""
    )
    assert "class CBR(nn.Sequential):" in code
    net = load_module(code, "test")["M"]()
    assert isinstance(net.stem, torch.nn.Sequential)
    assert list(net.state_dict())[:2] == ["stem.0.weight", "stem.1.weight"]


# ---- repeat 0 and tables --------------------------------------------------------------------


def test_repeat_zero_builds_nothing_and_shares_the_class():
    source = """block Stage(c, n) = Sequential { Conv2d(c, 3, padding=1) repeat n - 1 { Conv2d(c, 3, padding=1) } }
    model M(x: [3, 8, 8]) { a = Stage(4, 1) b = Stage(4, 3) c = repeat 0 { Linear(2) } }"""
    code, _ = _compiled(source)
    assert _classes(code) == ["Stage", "M"]
    assert "for _ in range(n - 1)" in code
    keys = _keys(source)
    assert [k for k in keys if k.startswith("a.")] == ["a.0.weight", "a.0.bias"]
    assert "b.2.weight" in keys and not any(k.startswith("c.") for k in keys)


def test_tables_indexed_by_the_repeat_variable():
    keys = _keys("model M(x: [4]) { body = repeat 3 as i { Linear([8, 16, 32][i]) } }")
    assert keys["body.0.weight"] == (8, 4)
    assert keys["body.1.weight"] == (16, 8)
    assert keys["body.2.weight"] == (32, 16)


@pytest.mark.parametrize(
    "args, code",
    [("[8, 16][2]", "E0125"), ("[8, 16][0.5]", "E0106"), ("(8)[0]", "E0106")],
)
def test_bad_table_index(args, code):
    assert code in _codes(f"model M(x: [4]) {{ Linear({args}) }}")


# ---- if -------------------------------------------------------------------------------------

RESIDUAL = """block Res(planes, stride=1) {
    conv = Conv2d(planes, 3, stride=stride, padding=1)
    if stride != 1 or in != planes {
        downsample = Sequential { Conv2d(planes, 1, stride=stride, bias=false) BatchNorm2d() }
    }
    forward(x) { return relu(conv(x) + downsample(x)) }
}
model M(x: [4, 8, 8]) { a = Res(4) b = Res(8, 2) }
"""


def test_layer_declared_under_if_is_the_identity_where_it_fails():
    code, _ = _compiled(RESIDUAL)
    assert _classes(code) == ["Res", "M"]  # one class for both uses
    assert "if stride != 1 or in_channels != planes:" in code
    assert "self.downsample = nn.Identity()" in code
    keys = _keys(RESIDUAL)
    assert "b.downsample.0.weight" in keys and "b.downsample.1.running_var" in keys
    assert not any(k.startswith("a.downsample") for k in keys)
    net = load_module(code, "test")["M"]().eval()
    x = torch.randn(2, 4, 8, 8)
    a = torch.relu(net.a.conv(x) + x)
    assert torch.allclose(net.a(x), a)


def test_the_identity_passes_its_input_on_in_the_dataflow():
    _, program = _compiled(RESIDUAL)
    graph = program.graphs["M"]
    kinds = {n.id: (n.kind, n.name) for n in graph.nodes}
    into = {}
    for a, b, _ in graph.edges():
        into.setdefault(b, []).append(kinds[a])
    first_add = min(n for n, kind in kinds.items() if kind == ("op", "+"))
    assert sorted(into[first_add]) == [("layer", "Conv2d"), ("port", "")]  # conv(x) and x


def test_if_in_a_sequence_chooses_the_children():
    source = """block B(e) = Sequential { if e != 1 { Linear(in) } else { ReLU() } Linear(2) }
    model M(x: [4]) { a = B(1) b = B(6) }"""
    code, _ = _compiled(source)
    assert "*([nn.Linear(in_features, in_features)] if e != 1 else [nn.ReLU()])" in code
    keys = _keys(source)
    assert "a.1.weight" in keys and "b.0.weight" in keys and "b.1.weight" in keys


def test_if_in_a_forward_runs_the_branch_and_keeps_what_it_reads():
    source = """block R(out, stride=1) {
        conv = Conv2d(out, 3, stride=stride, padding=1)
        forward(x) {
            if stride == 1 and in == out { return x + conv(x) }
            return conv(x)
        }
    }
    model M(x: [4, 8, 8]) { a = R(4) b = R(8, 2) }"""
    code, _ = _compiled(source)
    assert "if self.stride == 1 and self.in_channels == self.out:" in code
    net = load_module(code, "test")["M"]().eval()
    x = torch.randn(1, 4, 8, 8)
    assert torch.allclose(net.a(x), x + net.a.conv(x))
    assert net(x).shape == (1, 8, 4, 4)


def test_a_class_is_complete_where_its_uses_built_both_branches():
    code, _ = _compiled(RESIDUAL.replace("a = Res(4) b = Res(8, 2)", "b = Res(8, 2)"))
    assert "if stride != 1 or in_channels != planes:" in code  # the other branch is Identity


def test_a_condition_every_use_decides_alike_is_not_written():
    code, _ = _compiled("""block G(w, gated=false) {
            if gated { g = Linear(w) } else { g = Linear(w * 2) }
            forward(x) { if gated { return x * g(x) } return g(x) }
        }
        model M(x: [4]) { a = G(4) b = G(2) }""")
    assert _classes(code) == ["G", "M"]
    assert "gated" not in code.split("def forward")[1] and "if gated" not in code
    assert "self.g = nn.Linear(in_features, w * 2)" in code


def test_uses_at_other_image_sizes_share_a_class():
    code, _ = _compiled(
        """block C(c, stride=1) = Sequential { Conv2d(c, 3, stride=stride, padding=1) }
        model M(x: [3, 32, 32]) { a = C(8) b = C(8, 2) c = C(8) }"""
    )
    assert _classes(code) == ["C", "M"]
    assert '"""block C: (B, in_channels, H, W) -> (B, c, H // stride, W // stride)."""' in code


@pytest.mark.parametrize(
    "source, code",
    [
        ("block B { if in > 2 { ReLU() } } model M(x: [4]) { B() }", "E0130"),
        ("model M(x: [4]) { repeat 2 as i { if i > 0 { ReLU() } } }", "E0130"),
        ("block B(n) = Sequential { if n { ReLU() } } model M(x: [4]) { B(3) }", "E0106"),
        ("block B(n) = Sequential { if n < 'a' { ReLU() } } model M(x: [4]) { B(3) }", "E0106"),
        ("model M(x: [4]) { Sequential { fc = Linear(2) } }", "E0115"),
        ("model M(x: [4, 4]) { Sequential { LSTM(2) } }", "E0116"),
        ("model M(x: [4]) { Sequental { Linear(2) } }", "E0101"),
        ("block B = ModuleList { Linear(2) } model M(x: [4]) { B() }", "E0101"),
        (
            "block B { l = ModuleList { Linear(2) } forward(x) = l(x) } model M(x: [4]) { B() }",
            "E0120",
        ),
        (
            "block B(n) { if n > 1 { if n > 2 { a = Linear(2) } } forward(x) = x }"
            " model M(x: [4]) { B(3) }",
            "E0130",
        ),
        (
            "block B(n) { if n > 1 { w = param([2]) } forward(x) = x }" " model M(x: [4]) { B(3) }",
            "E0130",
        ),
    ],
)
def test_mistakes(source, code):
    assert code in _codes(source)


def test_only_sizes_that_agree_at_every_use_fit():
    env = {"c": 4, "e": 1}
    assert unify(ex.Name("c"), ex.BinOp("*", ex.Name("c"), ex.Name("e")), [env], env)
    for a, b in [
        (ex.Lit("relu"), ex.Lit("tanh")),
        (ex.Lit(True), ex.Lit(1)),
        (ex.Lit(2), ex.Lit(3)),
    ]:
        with pytest.raises(Clash):
            unify(a, b, [env], env)
