"""Value ranges of model outputs (nndsl.check.ranges): what each layer, function and operator
bounds, through blocks, repeats, nested models and loops, and that torch's outputs keep to it."""

from __future__ import annotations

import doctest
import math

import pytest
import torch

import nndsl
import nndsl.ir.ranges
from nndsl.check.ranges import output_range
from nndsl.compiler import analyze
from nndsl.ir.ranges import UNBOUNDED, Interval
from nndsl.registry.layers import REGISTRY

INF = math.inf


def _stack(body: str) -> str:
    return f"model Net(x: [4]) {{\n    {body}\n}}\n"


def _forward(body: str) -> str:
    return f"model Net(x: [4]) {{\n    fc = Linear(3)\n    forward {{\n        {body}\n    }}\n}}\n"


CASES = [
    (_stack("Linear(3)"), UNBOUNDED),
    (_stack("Linear(3) Sigmoid()"), Interval(0, 1)),
    (_stack("Linear(3) Softmax(dim=1)"), Interval(0, 1)),
    (_stack("Linear(3) Hardsigmoid()"), Interval(0, 1)),
    (_stack("Linear(3) Tanh()"), Interval(-1, 1)),
    (_stack("Linear(3) ReLU()"), Interval(0, INF)),
    (_stack("Linear(3) ReLU6()"), Interval(0, 6)),
    (_stack("Linear(3) Softplus()"), Interval(0, INF)),
    (_stack("Linear(3) LogSoftmax(dim=1)"), Interval(-INF, 0)),
    (_stack("Linear(3) Hardtanh(-2, 3)"), Interval(-2, 3)),
    (_stack("Linear(3) Sigmoid() ReLU()"), Interval(0, 1)),  # ReLU clips what it gets
    (_stack("Linear(3) Sigmoid() Dropout(0.5)"), Interval(0, 2)),
    (_stack("Linear(3) Sigmoid() Flatten() Identity()"), Interval(0, 1)),
    (_stack("Linear(3) Sigmoid() Linear(1)"), UNBOUNDED),
    (_stack("Linear(16) Sigmoid() Unflatten(1, (1, 4, 4)) MaxPool2d(2)"), Interval(0, 1)),
    (_stack("Linear(16) Sigmoid() Unflatten(1, (1, 4, 4)) ZeroPad2d(1)"), Interval(0, 1)),
    (_stack("Linear(16) Tanh() Unflatten(1, (1, 4, 4)) ConstantPad2d(1, 3.0)"), Interval(-1, 3)),
    (_stack("Linear(16) Tanh() Unflatten(1, (1, 4, 4)) ZeroPad2d(1)"), Interval(-1, 1)),
    (_stack("Linear(16) Sigmoid() Unflatten(1, (1, 4, 4)) Upsample(scale_factor=2)"), Interval(0, 1)),
    (_stack("repeat 3 { Linear(4) Tanh() }"), Interval(-1, 1)),
    (_stack("shared t = Sigmoid()\n    Linear(4) t t"), Interval(0, 1)),
    (_forward("return sigmoid(fc(x))"), Interval(0, 1)),
    (_forward("return 1 - sigmoid(fc(x))"), Interval(0, 1)),
    (_forward("return (tanh(fc(x)) + 1) / 2"), Interval(0, 1)),
    (_forward("return sigmoid(fc(x)) * 2"), Interval(0, 2)),
    (_forward("return -relu(fc(x))"), Interval(-INF, 0)),
    (_forward("return sigmoid(fc(x)) ** 2"), Interval(0, 1)),
    (_forward("return tanh(fc(x)) ** 2"), Interval(0, 1)),
    (_forward("return clamp(fc(x), 0, 1)"), Interval(0, 1)),
    (_forward("return clamp(fc(x), min=-1)"), Interval(-1, INF)),
    (_forward("return abs(tanh(fc(x)))"), Interval(0, 1)),
    (_forward("return exp(fc(x))"), Interval(0, INF)),
    (_forward("return log(softmax(fc(x), 1))"), Interval(-INF, 0)),
    (_forward("return log(fc(x))"), UNBOUNDED),  # a negative number has no log
    (_forward("return sqrt(sigmoid(fc(x)))"), Interval(0, 1)),
    (_forward("return cos(fc(x))"), Interval(-1, 1)),
    (_forward("return maximum(sigmoid(fc(x)), tanh(fc(x)))"), Interval(0, 1)),
    (_forward("return minimum(sigmoid(fc(x)), tanh(fc(x)))"), Interval(-1, 1)),
    (_forward("h = fc(x)\n        return where(h > 0, sigmoid(h), zeros_like(h))"), Interval(0, 1)),
    (_forward("return mean(sigmoid(fc(x)), 1, keepdim=true)"), Interval(0, 1)),
    (_forward("return sum(sigmoid(fc(x)), 1, keepdim=true)"), UNBOUNDED),
    (_forward("return sigmoid(fc(x))[:, 0:2]"), Interval(0, 1)),
    (_forward("return cat([sigmoid(fc(x)), relu(x)], 1)"), Interval(0, INF)),
    (_forward("h = sigmoid(fc(x))\n        return reshape(transpose(h[:, none], 1, 2), -1, 3)"), Interval(0, 1)),
    (_forward("return sigmoid(fc(x)) % 0.5"), Interval(0, 0.5)),
    (_forward("return sigmoid(fc(x)) / fc(x)"), UNBOUNDED),
    # a loop is recorded once: what it changes is not bounded by one pass
    (_forward("h = sigmoid(fc(x))\n        while sum(h) > 1 { h = h * 2 }\n        return h"), UNBOUNDED),
]  # fmt: skip

NESTED = """
block Head(width) { Linear(width) Sigmoid() }
model Inner(x: [4]) { Linear(4) Tanh() }
model Net(x: [4]) {
    Linear(4)
    Inner()
    head = Head(2)
}
"""


def _range(source: str) -> Interval:
    result = analyze(source)
    assert result.ok, [d.message for d in result.diagnostics]
    return output_range(result.program.graphs.links()["Net"]).interval


@pytest.mark.parametrize("source, expected", CASES, ids=[str(i) for i in range(len(CASES))])
def test_output_range(source, expected):
    assert _range(source) == expected


def test_blocks_and_nested_models_are_looked_through():
    assert _range(NESTED) == Interval(0, 1)
    assert _range(NESTED.replace("head = Head(2)", "Flatten()")) == Interval(-1, 1)


def test_the_origin_is_the_layer_that_set_the_range():
    result = analyze(_stack("Linear(3) Sigmoid() Flatten()"))
    found = output_range(result.program.graphs.links()["Net"])
    assert found.origin.name == "Sigmoid" and found.origin.span.line == 2


def test_a_long_stack_needs_no_deep_recursion():
    source = _stack("repeat 1500 { Linear(2) ReLU() Dropout(0.1) }  Sigmoid() Flatten()")
    assert _range(source) == Interval(0, 1)


@pytest.mark.parametrize(
    "source, expected",
    [(s, e) for s, e in CASES if e.bounded] + [(NESTED, Interval(0, 1))],
    ids=lambda v: "" if isinstance(v, Interval) else str(v.count("\n")),
)
def test_torch_keeps_to_the_range(source, expected):
    """The claimed bound holds for the generated model, in training mode (dropout on), on
    inputs far larger than the data would be."""
    torch.manual_seed(0)
    model = nndsl.loads(source).Net()
    model.train()
    with torch.no_grad():
        y = model(torch.randn(512, 4) * 20)
    assert expected.lo <= y.min().item() and y.max().item() <= expected.hi


@pytest.mark.parametrize("layer", [v for v in REGISTRY.values() if v.clips], ids=lambda v: v.name)
def test_every_layer_range_parses(layer):
    interval = Interval.parse(layer.clips)
    assert interval.lo <= interval.hi and interval.bounded


def test_interval_doctests():
    result = doctest.testmod(nndsl.ir.ranges)
    assert result.failed == 0 and result.attempted > 0


def test_interval_arithmetic_is_conservative():
    a, b = Interval(-1, 2), Interval(0.5, 3)
    for x in (-1, 0, 2):
        for y in (0.5, 1, 3):
            for op, got in ((x + y, a + b), (x - y, a - b), (x * y, a * b), (x / y, a / b)):
                assert got.lo <= op <= got.hi
    assert Interval(1, 2) / Interval(-1, 1) == UNBOUNDED  # the divisor may be 0
    assert str(Interval(0, INF)) == "[0, inf)" and str(UNBOUNDED) == "(-inf, inf)"
