"""Lint warnings: each is reported where it should be and nowhere else, never on a program with
errors, and never changes the generated code."""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.check import lints
from nndsl.compiler import analyze, generate

ROOT = Path(__file__).resolve().parent.parent
DATA_FOLDER = ROOT / "examples"  # for data/iris.csv

REGRESSION_DATA = """
data pairs {
    x = randn(64, 4)
    y = sum(x, 1, keepdim=true)
}
"""
CLASS_DATA = """
data iris {
    table = csv("data/iris.csv")
    x = table[:, 0:4]
    y = table[:, "species"]
}
"""
BINARY_DATA = """
data coins {
    x = randn(64, 4)
    y = float(sum(x, 1, keepdim=true) > 0)
}
"""


def _codes(source: str) -> list[tuple[str, int]]:
    result = analyze(source, DATA_FOLDER)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    return [(d.code, d.span.line) for d in result.diagnostics]


def _warnings(source: str, code: str) -> list[int]:
    """The lines where ``code`` is reported; every one of them a warning."""
    result = analyze(source, DATA_FOLDER)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    found = [d for d in result.diagnostics if d.code == code]
    assert all(d.severity == "warning" for d in found)
    return [d.span.line for d in found]


# ---- W0403: an activation the loss applies itself -------------------------------------------


@pytest.mark.parametrize("last", ["Softmax(dim=1)", "LogSoftmax(dim=1)"])
def test_softmax_before_cross_entropy(last):
    source = f"model Net(x: [4]) {{\n    Linear(16) ReLU() Linear(3)\n    {last}\n}}\n"
    source += CLASS_DATA + "train Net on iris { loss cross_entropy }\n"
    assert _warnings(source, "W0403") == [3]


def test_softmax_in_a_forward_and_inside_a_block():
    source = (
        "block Head { Linear(3) Softmax(dim=1) }\n"
        "model Net(x: [4]) { Linear(8) ReLU() Head() }\n"
        "model Graph(x: [4]) {\n    fc = Linear(3)\n    forward {\n"
        "        h = fc(x)\n        p = log_softmax(h, 1)\n        return p\n    }\n}\n"
        + CLASS_DATA
        + "train Net on iris { loss cross_entropy }\n"
        + 'data iris2 {\n    t = csv("data/iris.csv")\n    x = t[:, 0:4]\n'
        + '    y = t[:, "species"]\n}\n'
        + "train Graph on iris2 { loss cross_entropy }\n"
    )
    assert _warnings(source, "W0403") == [1, 7]


def test_log_softmax_before_nll_and_logits_before_cross_entropy_are_fine():
    nll = "model Net(x: [4]) { Linear(16) ReLU() Linear(3) LogSoftmax(dim=1) }\n"
    assert _warnings(nll + CLASS_DATA + "train Net on iris { loss nll }\n", "W0403") == []
    logits = "model Net(x: [4]) { Linear(16) ReLU() Linear(3) }\n"
    assert _codes(logits + CLASS_DATA + "train Net on iris { loss cross_entropy }\n") == []


def test_sigmoid_before_bce_with_logits():
    model = "model Net(x: [4]) {\n    Linear(8) ReLU() Linear(1)\n    Sigmoid()\n}\n"
    source = model + BINARY_DATA + "train Net on coins { loss bce_with_logits }\n"
    assert _warnings(source, "W0403") == [3]
    assert _codes(model + BINARY_DATA + "train Net on coins { loss bce }\n") == []


def test_a_model_without_a_train_section_is_not_judged_by_a_loss():
    assert _codes("model Net(x: [4]) { Linear(3) Softmax(dim=1) }\n") == []


# ---- W0404: a clipped regression output -----------------------------------------------------


@pytest.mark.parametrize("loss", ["mse", "l1", "smooth_l1", "huber(delta=0.5)"])
@pytest.mark.parametrize("last", ["ReLU()", "Sigmoid()", "Tanh()", "ReLU6()", "Hardswish()"])
def test_activation_after_the_output_of_a_regression(loss, last):
    source = f"model Net(x: [4]) {{\n    Linear(8) ReLU() Linear(1)\n    {last}\n}}\n"
    source += REGRESSION_DATA + f"train Net on pairs {{ loss {loss} }}\n"
    assert _warnings(source, "W0404") == [3]


def test_functional_activation_returned_by_a_forward():
    source = (
        "model Net(x: [4]) {\n    fc = Linear(1)\n    forward {\n        return relu(fc(x))\n"
        "    }\n}\n" + REGRESSION_DATA + "train Net on pairs { loss mse }\n"
    )
    assert _warnings(source, "W0404") == [4]


def test_the_range_named_is_the_layers_own():
    source = "model Net(x: [4]) { Linear(8) ReLU() Linear(1) ReLU6() }\n" + REGRESSION_DATA
    [warning] = analyze(source + "train Net on pairs { loss mse }\n", DATA_FOLDER).diagnostics
    assert warning.code == "W0404" and "[0, 6]" in warning.message


def test_regression_ending_in_its_output_layer_is_fine():
    source = "model Net(x: [4]) { Linear(8) ReLU() Linear(1) }\n" + REGRESSION_DATA
    assert _codes(source + "train Net on pairs { loss mse }\n") == []


def test_activation_before_a_classification_loss_is_not_w0404():
    source = "model Net(x: [4]) { Linear(8) ReLU() Linear(1) Sigmoid() }\n" + BINARY_DATA
    assert _codes(source + "train Net on coins { loss bce }\n") == []


# ---- W0105: a bias batch norm cancels -------------------------------------------------------


@pytest.mark.parametrize(
    "layers, norm",
    [("Linear(8)", "BatchNorm1d()"), ("Conv2d(8, 3)", "BatchNorm2d()"),
     ("Conv2d(8, 3, bias=true)", "BatchNorm2d(momentum=0.5)")],
)  # fmt: skip
def test_bias_before_batch_norm(layers, norm):
    shape = "[4]" if layers.startswith("Linear") else "[1, 8, 8]"
    source = f"model Net(x: {shape}) {{\n    {layers}\n    {norm}\n    ReLU()\n}}\n"
    assert _warnings(source, "W0105") == [2]


def test_bias_before_batch_norm_in_a_repeat_and_a_forward():
    source = (
        "model Stack(x: [4]) {\n    repeat 2 {\n        Linear(8)\n        BatchNorm1d()\n    }\n}\n"
        "model Graph(x: [4]) {\n    fc = Linear(8)\n    bn = BatchNorm1d()\n"
        "    forward { return relu(bn(fc(x))) }\n}\n"
    )
    assert _warnings(source, "W0105") == [3, 8]


@pytest.mark.parametrize(
    "body",
    ["Linear(8, bias=false) BatchNorm1d()", "Linear(8) ReLU() BatchNorm1d()",
     "BatchNorm1d() Linear(8)", "Linear(8) LayerNorm()"],
)  # fmt: skip
def test_no_bias_warning(body):
    assert _codes(f"model Net(x: [4]) {{ {body} }}\n") == []


def test_bias_given_by_a_block_parameter_is_judged_by_its_value():
    block = "block Dense(b) { Linear(8, bias=b) BatchNorm1d() }\n"
    assert _codes(block + "model Net(x: [4]) { Dense(false) }\n") == []
    assert _warnings(block + "model Net(x: [4]) { Dense(true) Dense(true) }\n", "W0105") == [1]


def test_bias_before_batch_norm_follows_the_dataflow():
    """Through named values of a forward and into a block: what feeds the batch norm counts,
    not what is written next to it."""
    named = (
        "model Graph(x: [4]) {\n    fc = Linear(8)\n    bn = BatchNorm1d()\n"
        "    forward {\n        h = fc(x)\n        return bn(h)\n    }\n}\n"
    )
    assert _warnings(named, "W0105") == [2]
    into_block = (
        "block Norm { BatchNorm1d() ReLU() }\nmodel Net(x: [4]) {\n    Linear(8) Norm()\n}\n"
    )
    assert _warnings(into_block, "W0105") == [3]


def test_a_bias_also_read_elsewhere_is_not_cancelled():
    source = (
        "model Graph(x: [4]) {\n    fc = Linear(8)\n    bn = BatchNorm1d()\n"
        "    forward {\n        h = fc(x)\n        return bn(h) + h\n    }\n}\n"
    )
    assert _codes(source) == []


# ---- W0104: dropout last ----------------------------------------------------------------------


def test_dropout_as_the_last_layer():
    source = "model Net(x: [4]) {\n    Linear(8) ReLU() Linear(1)\n    Dropout(0.5)\n}\n"
    assert _warnings(source, "W0104") == [3]


def test_dropout_last_inside_a_block_or_a_forward():
    source = (
        "block Out { Linear(1) Dropout(0.2) }\n"
        "model Net(x: [4]) { Linear(8) ReLU() Out() }\n"
        "model Graph(x: [4]) {\n    fc = Linear(8)\n    drop = Dropout(0.5)\n"
        "    forward { return drop(fc(x)) }\n}\n"
    )
    assert _warnings(source, "W0104") == [1, 5]  # the Dropout, where it is declared


def test_dropout_between_layers_is_fine():
    assert _codes("model Net(x: [4]) { Linear(8) ReLU() Dropout(0.5) Linear(1) }\n") == []


# ---- W0405: validating on the training data ---------------------------------------------------


MODEL = "model Net(x: [4]) { Linear(8) ReLU() Linear(1) }\n"


def test_data_validated_on_itself():
    source = MODEL + (
        "data pairs {\n    x = randn(64, 4)\n    y = sum(x, 1, keepdim=true)\n"
        "    validation pairs\n}\ntrain Net on pairs { loss mse }\n"
    )
    assert _warnings(source, "W0405") == [5]


def test_validation_computing_the_same_tensors():
    source = (
        "model Net(x: [4]) { Linear(16) ReLU() Linear(3) }\n"
        'data iris {\n    t = csv("data/iris.csv")\n    x = t[:, 0:4]\n    y = t[:, "species"]\n'
        "    validation again\n}\n"
        'data again {\n    x = csv("data/iris.csv")[:, 0:4]\n'
        '    y = csv("data/iris.csv")[:, "species"]\n    batch 8\n}\n'
        "train Net on iris { loss cross_entropy }\n"
    )
    assert _warnings(source, "W0405") == [6]


def test_same_random_draws_from_the_same_seed():
    data = "data {name} {{\n    x = randn(64, 4)\n    y = sum(x, 1, keepdim=true)\n{extra}}}\n"
    same = data.format(name="a", extra="    validation b\n") + data.format(name="b", extra="")
    assert _warnings(MODEL + same + "train Net on a { loss mse }\n", "W0405") == [5]
    other = data.format(name="a", extra="    validation b\n") + data.format(
        name="b", extra="    seed 1\n"
    )
    assert _codes(MODEL + other + "train Net on a { loss mse }\n") == []


def test_other_validation_data_is_fine():
    source = MODEL + (
        "data a {\n    x = randn(64, 4)\n    y = sum(x, 1, keepdim=true)\n    validation b\n}\n"
        "data b {\n    x = randn(16, 4)\n    y = sum(x, 1, keepdim=true)\n}\n"
        "train Net on a { loss mse }\n"
    )
    assert _codes(source) == []


def test_same_inputs_with_other_targets_are_not_the_same_data():
    """As examples/dropout.nn: the same x, targets drawn with another seed."""
    assert not [
        c for c, _ in _codes((ROOT / "examples" / "dropout.nn").read_text()) if c == "W0405"
    ]


# ---- covered by existing codes ----------------------------------------------------------------


def test_unused_layer_and_value_are_w0101_and_w0103():
    """A layer whose output is never used: a stack always feeds each layer to the next, so only
    a forward can leave one unused, which W0101 (never called) and W0103 (result never read)
    report; no lint repeats them."""
    source = (
        "model Net(x: [4]) {\n    fc = Linear(8)\n    spare = Linear(2)\n    out = Linear(1)\n"
        "    forward {\n        h = fc(x)\n        skip = out(h)\n        return out(h)\n    }\n}\n"
    )
    assert sorted(_codes(source)) == [("W0101", 3), ("W0103", 7)]
    used = (
        "model Net(x: [4]) {\n    fc = Linear(8)\n    out = Linear(1)\n"
        "    forward {\n        h = fc(x)\n        return out(h)\n    }\n}\n"
    )
    assert _codes(used) == []


def test_shared_layer_never_used_is_w0101():
    assert _codes("model Net(x: [4]) {\n    shared t = Linear(4)\n    Linear(1)\n}\n") == [
        ("W0101", 2)
    ]
    assert _codes("model Net(x: [4]) {\n    shared t = Linear(4)\n    t\n    Linear(1)\n}\n") == []


def test_init_rule_matching_nothing_is_already_the_error_e0407():
    source = (
        MODEL
        + REGRESSION_DATA
        + (
            "train Net on pairs {\n    loss mse\n    init {\n        Conv2d.weight ~ normal(0, 0.01)\n"
            "    }\n}\n"
        )
    )
    result = analyze(source, DATA_FOLDER)
    assert [d.code for d in result.diagnostics] == ["E0407"]


def test_parameters_outside_every_group_form_the_default_group_without_a_warning():
    source = (
        MODEL
        + REGRESSION_DATA
        + (
            "train Net on pairs {\n    loss mse\n    optimizer sgd(lr=0.1) {\n"
            "        .bias: weight_decay=0\n    }\n}\n"
        )
    )
    result = analyze(source, DATA_FOLDER)
    assert result.ok and result.diagnostics == []
    groups = {name: group for name, _, _, group in result.program.trains[0].table}
    assert {g for n, g in groups.items() if n.endswith(".weight")} == {"default"}
    assert {g for n, g in groups.items() if n.endswith(".bias")} != {"default"}


# ---- lints in general -------------------------------------------------------------------------


def test_no_lint_on_a_program_with_errors():
    source = (
        "model Net(x: [4]) {\n    Linear(8) ReLU() Linaer(1)\n}\nmodel B(x: [4]) { Dropout(0.5) }\n"
    )
    result = analyze(source, DATA_FOLDER)
    assert [d.code for d in result.diagnostics] == ["E0101"]


def test_lints_do_not_change_the_generated_code(monkeypatch):
    source = (
        "model Net(x: [1, 8, 8]) {\n    Conv2d(8, 3)\n    BatchNorm2d()\n    ReLU()\n"
        "    Flatten()\n    Linear(3)\n    Softmax(dim=1)\n    Dropout(0.1)\n}\n"
    )
    linted = analyze(source, DATA_FOLDER)
    assert {d.code for d in linted.diagnostics} == {"W0104", "W0105"}
    monkeypatch.setattr(lints, "lint", lambda program, checked: [])
    plain = analyze(source, DATA_FOLDER)
    assert plain.diagnostics == []
    assert generate(linted.program, "net.nn") == generate(plain.program, "net.nn")


def test_no_bundled_example_triggers_a_lint():
    found = {}
    for path in sorted((ROOT / "examples").glob("*.nn")):
        result = analyze(path.read_text(encoding="utf-8"), path.parent)
        found[path.name] = sorted({d.code for d in result.diagnostics})
    assert {k: v for k, v in found.items() if v} == {}


# ---- W0406, and W0403 by range: the loss against the range of the output --------------------


@pytest.mark.parametrize(
    "last, warned",
    [("", True), ("Softmax(dim=1)", True), ("LogSoftmax(dim=1)", False), ("ReLU()", True)],
)
def test_nll_wants_log_probabilities(last, warned):
    source = f"model Net(x: [4]) {{\n    Linear(16) ReLU() Linear(3)\n    {last}\n}}\n"
    source += CLASS_DATA + "train Net on iris {\n    loss nll\n}\n"
    assert _warnings(source, "W0406") == ([12] if warned else [])


def test_nll_after_log_softmax_in_a_forward_is_fine():
    source = (
        "model Net(x: [4]) {\n    fc = Linear(3)\n    forward { return log(softmax(fc(x), 1)) }\n"
        "}\n" + CLASS_DATA + "train Net on iris { loss nll }\n"
    )
    assert _codes(source) == []


def test_nll_warning_names_the_range_and_the_layer():
    source = "model Net(x: [4]) {\n    Linear(3)\n    Softmax(dim=1)\n}\n" + CLASS_DATA
    [d] = analyze(source + "train Net on iris { loss nll }\n", DATA_FOLDER).diagnostics
    assert d.code == "W0406" and "[0, 1]" in d.message
    assert [label.span.line for label in d.labels] == [3] and "cross_entropy" in d.help


def test_probabilities_behind_other_layers_before_cross_entropy():
    model = "model Net(x: [4]) {\n    Linear(3)\n    Softmax(dim=1)\n    Flatten()\n}\n"
    assert _warnings(
        model + CLASS_DATA + "train Net on iris { loss cross_entropy }\n", "W0403"
    ) == [3]


def test_probabilities_by_arithmetic_before_bce_with_logits():
    model = (
        "model Net(x: [4]) {\n    fc = Linear(1)\n    forward {\n"
        "        return 1 - sigmoid(fc(x))\n    }\n}\n"
    )
    source = model + BINARY_DATA + "train Net on coins { loss bce_with_logits }\n"
    assert _warnings(source, "W0403") == [4]
    assert _codes(model + BINARY_DATA + "train Net on coins { loss bce }\n") == []


def test_a_last_sigmoid_is_warned_about_once():
    model = "model Net(x: [4]) {\n    Linear(1)\n    Sigmoid()\n}\n"
    source = model + BINARY_DATA + "train Net on coins { loss bce_with_logits }\n"
    assert _codes(source) == [("W0403", 3)]


# ---- W0407: outputs the loss does not train -------------------------------------------------

PROBE = """model Probe(x: [4]) {
    hidden = Linear(8)
    out = Linear(1)
    forward {
        h = relu(hidden(x))
        return RETURN
    }
}
"""


@pytest.mark.parametrize(
    "returned, named",
    [
        ("out(h), h", ["`h` (output 1)"]),
        ("out(h), h * 2, (h, x)", ["output 1", "`h` (output 2.0)", "`x` (output 2.1)"]),
    ],
)
def test_outputs_after_the_first_are_not_trained(returned, named):
    source = PROBE.replace("RETURN", returned) + REGRESSION_DATA
    [d] = analyze(source + "train Probe on pairs { loss mse }\n", DATA_FOLDER).diagnostics
    assert d.code == "W0407" and d.severity == "warning" and d.span.line == 6
    assert all(n in d.message for n in named) and len(d.labels) == len(named) - 1


def test_one_output_or_no_train_section_is_fine():
    one = (
        PROBE.replace("RETURN", "out(h)") + REGRESSION_DATA + "train Probe on pairs { loss mse }\n"
    )
    assert _codes(one) == []
    assert _codes(PROBE.replace("RETURN", "out(h), h")) == []


def test_a_returned_recurrent_state_is_not_an_untrained_output():
    source = (
        "model Net(x: [T, 1], h: [1, B, 8] = none) {\n    rnn = RNN(8)\n    out = Linear(1)\n"
        "    forward {\n        r, h = rnn(x, h)\n        return out(r), h\n    }\n}\n"
        "data seqs {\n    x = randn(8, 5, 1)\n    y = randn(8, 5, 1)\n}\n"
        "train Net on seqs { loss mse }\n"
    )
    assert _codes(source) == []


# ---- W0408: data tensors nothing reads ------------------------------------------------------


def test_a_tensor_nothing_reads():
    source = "model Net(x: [4]) { Linear(1) }\n" + REGRESSION_DATA.replace(
        "    y =", "    z = randn(64, 2)\n    w = z * 2\n    y ="
    )
    found = analyze(source + "train Net on pairs { loss mse }\n", DATA_FOLDER).diagnostics
    assert [(d.code, d.span.line) for d in found] == [("W0408", 5), ("W0408", 6)]
    assert "`z` is not used by the model or the loss" in found[0].message
    assert "remove it" in found[0].help


def test_tensors_that_inputs_and_targets_are_computed_from_are_used():
    source = (
        "model Net(x: [4]) { Linear(1) }\n"
        "data pairs {\n    raw = randn(64, 4)\n    x = raw * 2\n    s = sum(raw, 1)\n"
        "    y = reshape(s, -1, 1)\n}\ntrain Net on pairs { loss mse }\n"
    )
    assert _codes(source) == []
    iris = "model Net(x: [4]) { Linear(3) }\n" + CLASS_DATA  # `table` gives x and y
    assert _codes(iris + "train Net on iris { loss cross_entropy }\n") == []


def test_a_validation_section_is_read_as_the_training_data_is():
    source = (
        "model Net(x: [4]) { Linear(1) }\n"
        "data pairs {\n    x = randn(64, 4)\n    y = sum(x, 1, keepdim=true)\n    validation held\n}\n"
        "data held {\n    x = randn(16, 4)\n    y = sum(x, 1, keepdim=true)\n    extra = x + 1\n"
        "    seed 1\n}\ntrain Net on pairs { loss mse }\n"
    )
    assert _codes(source) == [("W0408", 10)]


def test_data_for_an_optional_input_is_not_fed():
    source = (
        "model Net(x: [T, 1], h: [1, B, 8] = none) {\n    rnn = RNN(8)\n    out = Linear(1)\n"
        "    forward {\n        r, _h = rnn(x, h)\n        return out(r)\n    }\n}\n"
        "data seqs {\n    x = randn(8, 5, 1)\n    y = randn(8, 5, 1)\n    h = randn(8, 1, 8)\n}\n"
        "train Net on seqs { loss mse }\n"
    )
    assert _codes(source) == [("W0408", 12)]
