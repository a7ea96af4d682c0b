"""One generated class per distinct code: a block used at several sizes is one class taking its
sizes as constructor arguments, a repeat is a loop over its count (never its copies written
out), and each class is right for every use, and for counts no use gives."""

from __future__ import annotations

import doctest
import re

import pytest
import torch
from compiled import load_module

import nndsl.check.comments
import nndsl.check.progression
from nndsl.compiler import analyze, generate

DENSE_LAYER = """
block DenseLayer(growth, bn_size=4) {
    norm1 = BatchNorm2d()
    conv1 = Conv2d(bn_size * growth, 1, bias=false)
    norm2 = BatchNorm2d()
    conv2 = Conv2d(growth, 3, padding=1, bias=false)
    forward(x) {
        y = conv1(relu(norm1(x)))
        y = conv2(relu(norm2(y)))
        return cat([x, y], dim=1)
    }
}
"""

# DenseNet-121 as torchvision builds it
DENSENET = DENSE_LAYER + """
block Transition(out) {
    norm = BatchNorm2d()
    ReLU()
    conv = Conv2d(out, 1, bias=false)
    AvgPool2d(2, stride=2)
}
block DenseBlock(n, growth) = Sequential {
    repeat n { DenseLayer(growth) }
}
model DenseNet121(x: [3, 224, 224]) {
    conv0 = Conv2d(64, 7, stride=2, padding=3, bias=false)
    norm0 = BatchNorm2d()
    ReLU()
    MaxPool2d(3, stride=2, padding=1)
    block1 = DenseBlock(6, 32)
    t1 = Transition(128)
    block2 = DenseBlock(12, 32)
    t2 = Transition(256)
    block3 = DenseBlock(24, 32)
    t3 = Transition(512)
    block4 = DenseBlock(16, 32)
    norm5 = BatchNorm2d()
    ReLU()
    AdaptiveAvgPool2d((1, 1))
    Flatten()
    classifier = Linear(1000)
}
"""


def _compiled(source: str):
    result = analyze(source)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    return generate(result.program, "test.nn"), result.program


def _classes(code: str) -> list[str]:
    return re.findall(r"^class (\w+)", code, re.M)


def _run(code: str, program) -> dict:
    """The generated namespace, after building each model (every class at the sizes its uses
    give) and checking its parameter count and output shape against the checker's."""
    namespace = load_module(code, "test")
    for info in program.models:
        model = namespace[info.name]().eval()
        assert sum(p.numel() for p in model.parameters()) == info.total_params
        shape = tuple(4 if d == "B" else int(d) for d in info.inputs[0].shape)
        with torch.no_grad():
            out = model(torch.randn(shape))
        assert tuple(out.shape) == tuple(4 if d == "B" else d for d in info.returns.shape)
    return namespace


def test_densenet121_is_four_classes_with_torchvisions_parameters():
    code, program = _compiled(DENSENET)
    assert _classes(code) == ["DenseLayer", "DenseBlock", "Transition", "DenseNet121"]
    assert "*[DenseLayer(in_channels + i * growth, growth) for i in range(n)]" in code
    assert "(B, in_channels + n * growth, H, W)" in code
    net = load_module(code, "densenet")["DenseNet121"]().eval()
    assert sum(p.numel() for p in net.parameters()) == 7_978_856  # torchvision's densenet121
    assert program.models[0].total_params == 7_978_856
    with torch.no_grad():
        assert tuple(net(torch.randn(1, 3, 64, 64)).shape) == (1, 1000)


STAGES = """
block Stage(n, growth) {
    layers = repeat n { DenseLayer(growth) }
    norm = BatchNorm2d()
}
block Dense(n, growth) = Sequential { repeat n { DenseLayer(growth) } }
block Wide(n) = Sequential {
    Conv2d(16, 1)
    repeat n { DenseLayer(8, bn_size=1) }
}
block Convs(n) = Sequential { repeat n { Conv2d(8, 3, padding=1) } }
block Pyramid(n) = Sequential {
    repeat n as i { Conv2d(4 * 2 ** i, 3, padding=1) ReLU() }
}
"""


@pytest.mark.parametrize(
    "uses, classes",
    [
        # a graph-style block whose repeat grows, at counts 3, 1, 0 and another growth
        (
            "a = Stage(3, 4) b = Stage(1, 4) c = Stage(0, 4) d = Stage(2, 6)",
            ["Stage", "DenseLayer"],
        ),
        # a sequence block, at count 0 first and at other image sizes
        ("a = Dense(0, 4) b = Dense(2, 4) MaxPool2d(2) c = Dense(3, 2)", ["Dense", "DenseLayer"]),
        # widths of constants in a block whose count is a parameter
        ("a = Wide(2) b = Wide(3)", ["Wide", "DenseLayer"]),
        # widths of the loop variable, read by the next copy, at counts 1 first, 3 and 2
        ("a = Pyramid(1) b = Pyramid(3) c = Pyramid(2)", ["Pyramid"]),
        # a size only the first copy reads otherwise, at counts 1 and 3
        ("a = Convs(1) b = Convs(3)", ["Convs"]),
        # the layer itself, at several input sizes, in a model's loop
        ("repeat 3 { DenseLayer(4) } DenseLayer(2)", ["DenseLayer"]),
    ],
)
def test_a_block_used_at_several_sizes_is_one_class(uses, classes):
    source = DENSE_LAYER + STAGES + f"model M(x: [3, 8, 8]) {{ Conv2d(8, 1) {uses} }}"
    code, program = _compiled(source)
    assert sorted(_classes(code)) == sorted([*classes, "M"])
    assert not re.search(r"\w+_\d+\(", code.split("class M")[0])  # no copy written out
    _run(code, program)


def test_a_class_is_right_for_counts_no_use_gives():
    uses = "a = Stage(2, 4) b = Wide(1) c = Pyramid(2) d = Convs(1)"
    code, program = _compiled(DENSE_LAYER + STAGES + f"model M(x: [3, 8, 8]) {{ {uses} }}")
    namespace = _run(code, program)
    for n in (0, 1, 5):
        stage = namespace["Stage"](6, n, 3).eval()
        wide = namespace["Wide"](6, n).eval()
        x = torch.randn(2, 6, 4, 4)
        with torch.no_grad():
            assert stage(x).shape == (2, 6 + n * 3, 4, 4)
            assert wide(x).shape == (2, 16 + n * 8, 4, 4)
            if n:
                assert namespace["Pyramid"](6, n)(x).shape == (2, 4 * 2 ** (n - 1), 4, 4)
                assert namespace["Convs"](6, n)(x).shape == (2, 8, 4, 4)


def test_a_layer_whose_comments_differ_is_one_class():
    code, program = _compiled("""
        layer Pair(x, y) = cat([x, y], dim=-1)
        model M(a: [6], b: [4], c: [10]) {
            first = Pair()
            second = Pair()
            forward { return second(first(a, b), c) }
        }""")
    assert _classes(code) == ["Pair", "M"]
    assert "# (B, ?)" in code  # no formula of its parameters gives the second input's size
    namespace = load_module(code, "test")
    out = namespace["M"]()(torch.randn(2, 6), torch.randn(2, 4), torch.randn(2, 10))
    assert out.shape == (2, 20)


@pytest.mark.parametrize("module", [nndsl.check.progression, nndsl.check.comments])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.failed == 0
