"""`freeze` in a train section: the selected parameters keep their values, the optimizer
never sees them, and mistakes in the selectors are located."""

from __future__ import annotations

import pytest
import torch

import nndsl
from nndsl.compiler import analyze

SOURCE = """
model Net(x: [4]) {
    encoder = Linear(8)
    ReLU()
    head = Linear(2)
}

data d {
    x = randn(64, 4)
    y = argmax(x[:, 0:2], 1)
    batch 8
}

train Net on d {
    loss cross_entropy
    optimizer sgd(lr=0.5) GROUPS
    FREEZE
    epochs 2
}
"""


def program(freeze: str, groups: str = ""):
    return SOURCE.replace("FREEZE", freeze).replace(" GROUPS", groups)


def test_frozen_parameters_keep_their_initial_values(tmp_path):
    source = program("freeze encoder, .bias")
    net = nndsl.loads(source)
    torch.manual_seed(0)  # the seed the script builds the model with
    start = net.Net().state_dict()
    trained = nndsl.train(source, out=tmp_path / "run", quiet=True, device="cpu")
    end = trained.model.state_dict()
    for name in ("encoder.weight", "encoder.bias", "head.bias"):
        assert torch.equal(end[name], start[name]), name
    assert not torch.equal(end["head.weight"], start["head.weight"])  # the rest trained


def test_check_lists_frozen_parameters_and_the_script_says_why():
    result = analyze(program("freeze encoder"))
    assert result.ok
    t = result.program.trains[0]
    assert t.frozen == ("encoder.weight", "encoder.bias")
    groups = {name: group for name, _, _, group in t.table}
    assert groups["encoder.weight"] == "frozen" and groups["head.weight"] == "default"


@pytest.mark.parametrize(
    "freeze, groups, code",
    [
        ("freeze decoder", "", "E0407"),  # matches nothing
        ("freeze encoder, head", "", "E0417"),  # nothing left to train
        ("freeze .bias", " {\n        head.bias: lr=0.1\n    }", "E0413"),  # frozen and grouped
    ],
)
def test_mistakes_are_located(freeze, groups, code):
    source = program(freeze, groups)
    found = [(d.code, d.span.line) for d in analyze(source).diagnostics if d.severity == "error"]
    line = source[: source.index("freeze")].count("\n") + 1
    assert found == [(code, line)], found


def test_a_group_beside_frozen_parameters_trains_the_rest(tmp_path):
    source = program("freeze encoder", " {\n        head.bias: lr=0.1\n    }")
    assert nndsl.train(source, out=tmp_path / "run", quiet=True, device="cpu").history


def test_fmt_puts_freeze_on_its_own_line():
    from nndsl.tools.fmt import format_source

    text = "train Net on d {\n  loss mse\n      freeze   encoder,.bias\n}\n"
    assert format_source(text) == "train Net on d {\n    loss mse\n    freeze encoder, .bias\n}\n"
