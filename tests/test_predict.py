"""`predict`: raw rows through the data section's steps to the model's input, the checks of
their shape and dtype, the names of `classes`, and what the generated script prints."""

from __future__ import annotations

import csv
import importlib.util
import shutil
import sys

import pytest
from compiled import EXAMPLES

from nndsl.codegen.expr import statements
from nndsl.compiler import analyze, generate, generate_kit, generate_train

DATA = EXAMPLES[0].parent / "data"
ZERO = [0, 0, 5, 13, 9, 1, 0, 0, 0, 0, 13, 15, 10, 15, 5, 0, 0, 3, 15, 2, 0, 11, 8, 0, 0, 4]
ZERO += [12, 0, 0, 8, 8, 0, 0, 5, 8, 0, 0, 9, 8, 0, 0, 4, 11, 0, 1, 12, 7, 0, 0, 2, 14, 5]
ZERO += [10, 12, 0, 0, 0, 0, 6, 13, 10, 0, 0, 0]  # the first image of digits.csv, a zero

DIGITS = """
model Net(x: [1, 8, 8]) {
    Flatten()
    Linear(10)
}

data digits {
    table = csv("data/digits.csv")
    LINES
    y = table[:, "label"]
}

train Net on digits {
    loss cross_entropy
    epochs 1
    predict ROWS
}
"""


def digits(lines: str, rows=None):
    rows = [ZERO] if rows is None else rows
    return DIGITS.replace("LINES", lines).replace("ROWS", str(rows))


def check(source: str):
    return analyze(source, DATA.parent)


def predicted(source: str):
    result = check(source)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    return result.program.trains[0].predict


def errors(source: str) -> list[tuple[str, int, int]]:
    """(code, line, column) of each error."""
    result = check(source)
    return [
        (d.code, d.span.line, d.span.column) for d in result.diagnostics if d.severity == "error"
    ]


def place(source: str, text: str, nth: int = 0) -> tuple[int, int]:
    """(line, column) of the ``nth`` (from 0) occurrence of ``text`` in ``source``."""
    at = -1
    for _ in range(nth + 1):
        at = source.index(text, at + 1)
    before = source[:at]
    return before.count("\n") + 1, at - before.rfind("\n")


# ---- which tensor the rows are rows of ---------------------------------------------------------


def test_rows_of_the_table_columns_go_through_reshape_and_division():
    p = predicted(digits("x = reshape(table[:, 0:64], -1, 1, 8, 8) / 16"))
    assert p.name == "raw" and p.source == "" and p.shape == (64,) and p.dtype == "float32"
    assert statements(p.steps) == ["x = raw.reshape(-1, 1, 8, 8) / 16  # (1, 1, 8, 8)"]


def test_rows_of_a_line_keep_its_name_and_lines_between_follow_in_order():
    p = predicted(
        digits(
            "pixels = table[:, 0:64]\n    scaled = pixels / 16\n    x = reshape(scaled, -1, 1, 8, 8)"
        )
    )
    assert p.name == "pixels" and p.source == "pixels"
    assert statements(p.steps) == [
        "scaled = pixels / 16  # (1, 64)",
        "x = scaled.reshape(-1, 1, 8, 8)  # (1, 1, 8, 8)",
    ]


def test_a_slice_of_the_samples_is_not_applied_to_the_rows():
    p = predicted(digits("part = table[:, 0:64]\n    x = reshape(part[0:1797], -1, 1, 8, 8) / 16"))
    assert statements(p.steps) == ["x = part.reshape(-1, 1, 8, 8) / 16  # (1, 1, 8, 8)"]


def test_lists_inside_an_expression_are_constants():
    mean = str([[7.0] * 64])
    p = predicted(digits(f"x = reshape((table[:, 0:64] - {mean}) / 16, -1, 1, 8, 8)"))
    assert p.shape == (64,) and len(p.steps) == 1


SMALL = """
model M(x: [2]) {
    Linear(1)
}

data d {
    LINES
    y = [[1], [2], [3]]
}

train M on d {
    loss mse
    predict ROWS
}
"""


def small(lines: str, rows: str) -> str:
    return SMALL.replace("LINES", lines).replace("ROWS", rows)


@pytest.mark.parametrize(
    "lines",
    [
        "x = [[1, 2], [3, 4], [5, 6]]",  # written as it is
        "x = 2 * rand(3, 2) - 1",  # generated: the rows are points of the model's input
        "p = randn(3, 1)\n    x = cat([p, abs(p)], 1)",
        "a = [[1], [2], [3]]\n    b = [[4], [5], [6]]\n    x = cat([a, b], 1)",  # two sources
    ],
)
def test_rows_are_the_input_itself_when_it_is_read_generated_or_has_several_sources(lines):
    p = predicted(small(lines, "[[0.5, 0.5]]"))
    assert p.steps == () and p.dtype == "float32" and p.kind == "values"


def test_rows_of_an_integer_list_are_int64_and_converted_for_the_model():
    p = predicted(small("raw = [[1, 2], [3, 4], [5, 6]]\n    x = raw * 2", "[[1, 2]]"))
    assert p.dtype == "int64" and p.feed.dtype == "float32"


# ---- the checks ----------------------------------------------------------------------------------


def test_rows_of_the_wrong_width_are_located_with_what_they_are_rows_of():
    source = digits("x = reshape(table[:, 0:64], -1, 1, 8, 8) / 16", [ZERO[:63]])
    result = check(source)
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    assert d.code == "E0404" and "(1, 63)" in d.message and "(N, 64)" in d.message
    assert (d.span.line, d.span.column) == place(source, "[[0, 0, 5")
    assert (d.labels[0].span.line, d.labels[0].span.column) == place(source, "table[:, 0:64]")


def test_rows_of_an_input_whose_data_failed_leave_only_the_data_error():
    """Without its file the data section cannot say what the rows become: its own error is
    the one reported, not a second one about the rows' shape."""
    source = digits("x = reshape(table[:, 0:64], -1, 1, 8, 8) / 16")
    missing = source.replace("data/digits.csv", "data/no_such_digits.csv")
    assert errors(missing) == [("E0402", *place(missing, '"data/no_such'))]


def test_fractions_for_whole_number_rows_are_refused():
    source = small("raw = [[1, 2], [3, 4], [5, 6]]\n    x = raw * 2", "[[1.5, 2]]")
    assert errors(source) == [("E0404", *place(source, "[[1.5"))]


def test_the_input_itself_keeps_its_shape_check():
    source = small("x = [[1, 2], [3, 4], [5, 6]]", "[[1, 2, 3]]")
    assert errors(source) == [("E0404", *place(source, "[[1, 2, 3]]"))]


@pytest.mark.parametrize(
    "line, at",
    [
        ("x = reshape(table[:, 0:64] - mean(table[:, 0:64], 0), -1, 1, 8, 8)", "mean("),
        ("raw = table[:, 0:64]\n    x = reshape(raw / amax(raw), -1, 1, 8, 8)", "amax("),
        ("raw = table[:, 0:64]\n    x = reshape(raw - raw[0], -1, 1, 8, 8)", "raw[0]"),
    ],
)
def test_a_step_that_mixes_or_picks_samples_is_located(line, at):
    source = digits(line)
    assert errors(source) == [("E0422", *place(source, at))]


def test_mixing_steps_are_fine_without_predict():
    source = digits("x = reshape(table[:, 0:64] - mean(table[:, 0:64], 0), -1, 1, 8, 8)")
    source = source.replace(f"    predict {[ZERO]}\n", "")
    assert check(source).ok


IRIS = """
model Iris(x: [4]) {
    Linear(OUT)
}

data iris {
    table = csv("data/iris.csv")
    x = table[:, 0:4]
    y = table[:, "species"]
    CLASSES
}

train Iris on iris {
    loss LOSS
    predict [[5.1, 3.5, 1.4, 0.2]]
}
"""


def iris(classes: str, out: int = 3, loss: str = "cross_entropy") -> str:
    text = IRIS.replace("CLASSES", classes).replace("OUT", str(out))
    return text.replace("LOSS", loss)


@pytest.mark.parametrize(
    "classes, at",
    [
        ('classes ["a", "b"]', 'classes ["a", "b"]'),  # three classes, two names
        ('classes ["a", 1, "c"]', "1, "),
        ('classes ["a", "b", "a"]', '"a"]'),
        ('classes ["a", "", "c"]', '""'),
        ('classes "a"', '"a"'),
        ("classes []", "[]"),
    ],
)
def test_class_names_are_distinct_strings_one_per_class(classes, at):
    source = iris(classes)
    assert errors(source) == [("E0421", *place(source, at))]


def test_a_binary_loss_has_two_class_names():
    source = iris('classes ["no", "yes", "maybe"]', out=1, loss="bce_with_logits").replace(
        'table[:, "species"]', 'reshape(float(table[:, "species"] > 1), -1, 1)'
    )
    assert errors(source) == [("E0421", *place(source, "classes"))]


def test_class_names_need_not_match_a_regression():
    source = iris('classes ["a", "b"]', out=1, loss="mse").replace(
        'table[:, "species"]', 'reshape(table[:, "species"], -1, 1)'
    )
    assert check(source).ok


@pytest.mark.parametrize(
    "loss, kind", [("cross_entropy", "softmax"), ("nll", "exp"), ("mse", "values")]
)
def test_how_the_outputs_are_shown_follows_the_loss(loss, kind):
    source = iris('classes ["setosa", "versicolor", "virginica"]', loss=loss)
    if loss == "mse":
        source = source.replace('table[:, "species"]', "table[:, 0:3]")
    p = check(source).program.trains[0].predict
    assert p.kind == kind
    assert p.classes == (() if kind == "values" else ("setosa", "versicolor", "virginica"))


# ---- the generated scripts, run ------------------------------------------------------------------


def load(source: str, folder):
    """Compile ``source`` into ``folder`` (with the data files) and import its script."""
    shutil.copytree(DATA, folder / "data")
    result = check(source)
    assert result.ok, [d.message for d in result.diagnostics]
    (folder / "model.py").write_text(generate(result.program, "p.nn"), encoding="utf-8")
    (folder / "trainkit.py").write_text(generate_kit(), encoding="utf-8")
    t = result.program.trains[0]
    path = folder / f"{t.script}.py"
    path.write_text(generate_train(t, "p.nn", "model"), encoding="utf-8")
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(t.script, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # for its dataclass
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(t.script, None)
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
        sys.modules.pop("trainkit", None)
    return module


def test_predict_input_makes_what_the_loader_makes(tmp_path):
    import torch

    module = load(digits("x = reshape(table[:, 0:64], -1, 1, 8, 8) / 16"), tmp_path)
    cfg = module.Config()
    first = module.load_digits(cfg)["x"][:1]
    assert torch.equal(module.predict_input([ZERO]), first)


def test_class_names_and_probabilities_are_printed(tmp_path, capsys):
    import torch

    module = load(iris('classes ["setosa", "versicolor", "virginica"]'), tmp_path)
    torch.manual_seed(0)
    model = module.Iris()
    probs = module.predict(model, torch.device("cpu"))
    (line,) = capsys.readouterr().out.splitlines()
    best = probs[0].argmax().item()
    name = ["setosa", "versicolor", "virginica"][best]
    assert line == f"predict [5.1, 3.5, 1.4, 0.2] -> {name} (probability {probs[0, best]:.3f})"
    assert torch.allclose(probs.sum(1), torch.ones(1))


@pytest.mark.parametrize("loss", ["bce_with_logits", "bce"])
def test_binary_outputs_print_the_probability_and_class(loss, tmp_path, capsys):
    import torch

    source = iris('classes ["small", "large"]', out=1, loss=loss).replace(
        'table[:, "species"]', 'reshape(float(table[:, "species"] > 1), -1, 1)'
    )
    if loss == "bce":
        source = source.replace("Linear(1)", "Linear(1)\n    Sigmoid()")
    module = load(source, tmp_path)
    torch.manual_seed(0)
    model = module.Iris()
    probs = module.predict(model, torch.device("cpu"))
    (line,) = capsys.readouterr().out.splitlines()
    with torch.no_grad():
        out = model(torch.tensor([[5.1, 3.5, 1.4, 0.2]]))
    p = (out.sigmoid() if loss == "bce_with_logits" else out).item()
    assert probs.shape == (1,) and probs.item() == pytest.approx(p)
    name = "large" if p > 0.5 else "small"
    assert line == f"predict [5.1, 3.5, 1.4, 0.2] -> probability {p:.3f}, {name}"


# ---- `predict other`: the samples of a data section ------------------------------------------

NEW_IRIS = """
data new_iris {
    table = csv("data/iris.csv")
    x = table[:, 0:4][0:N]
}
"""


def iris_section(n: int = 12, classes: str = 'classes ["setosa", "versicolor", "virginica"]'):
    source = iris(classes).replace("predict [[5.1, 3.5, 1.4, 0.2]]", "predict new_iris")
    return source + NEW_IRIS.replace("N", str(n))


def test_a_data_section_is_predicted_by_its_model_input_alone():
    result = check(iris_section())
    assert result.ok, [d.message for d in result.diagnostics]
    t = result.program.trains[0]
    assert t.predict.data.name == "new_iris" and t.predict.kind == "softmax"
    assert t.predict_data.name == "new_iris" and t.predict_data.samples == 12
    assert [name for name, _ in t.predict_data.returns] == ["x"]  # no targets needed
    assert not any(d.code == "W0402" for d in result.diagnostics)  # the section is used


def test_an_unknown_section_or_one_without_the_input_is_located():
    source = iris_section().replace("predict new_iris", "predict new_irs")
    assert errors(source) == [("E0401", *place(source, "new_irs"))]
    source = iris_section().replace("    x = table[:, 0:4][0:12]", "    z = table[:, 0:4]")
    assert [code for code, _, _ in errors(source)] == ["E0404"]
    source = iris_section().replace("[0:12]\n", "\n    stream true\n")
    assert errors(source)[0] == ("E0106", *place(source, "new_iris"))  # the name in `predict`


def test_the_predictions_of_a_section_go_to_predictions_csv(tmp_path, capsys):
    import torch

    module = load(iris_section(n=12), tmp_path)
    module.main(module.Config(epochs=1, out_dir=str(tmp_path / "r"), quiet=True))
    printed = capsys.readouterr().out
    with open(tmp_path / "r" / "predictions.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["sample", "class", "probability"]
    assert [int(r[0]) for r in rows[1:]] == list(range(12))  # every sample, a batch at a time
    assert {r[1] for r in rows[1:]} <= {"setosa", "versicolor", "virginica"}
    assert all(1 / 3 <= float(r[2]) <= 1 for r in rows[1:])
    assert f"predictions of 12 samples: {tmp_path / 'r' / 'predictions.csv'}" in printed
    # a few samples are also printed, each with its class and probability
    module = load(iris_section(n=3), tmp_path / "few")
    torch.manual_seed(0)
    model = module.Iris()
    run = module.kit.Run(module.Config(out_dir=str(tmp_path / "few" / "r")), "iris")
    probs = module.predict(model, run, module.Config())
    lines = capsys.readouterr().out.splitlines()
    assert probs.shape == (3, 3) and len(lines) == 4
    assert lines[0].startswith("predict sample 0, class ") and "probability 0." in lines[0]


def test_eval_without_a_folder_prints_the_predictions_as_csv(tmp_path, capsys):
    module = load(iris_section(n=5, classes=""), tmp_path)
    module.main(module.Config(epochs=1, out_dir=str(tmp_path / "r"), quiet=True))
    capsys.readouterr()
    module.main(module.Config(eval=str(tmp_path / "r" / "model.pt")))
    out = capsys.readouterr().out.splitlines()
    at = out.index("sample,class,probability")
    assert [line.split(",")[0] for line in out[at + 1 :]] == ["0", "1", "2", "3", "4"]
    assert all(line.split(",")[1] in "012" for line in out[at + 1 :])  # class ids, unnamed


def test_the_test_data_predicted_is_loaded_by_its_one_loader():
    source = iris_section().replace(
        '    classes ["setosa"', '    test new_iris\n    classes ["setosa"'
    )
    source = source.replace("[0:12]\n", '[0:12]\n    y = table[:, "species"][0:12]\n')  # tested too
    result = check(source)
    assert result.ok, [d.message for d in result.diagnostics]
    script = generate_train(result.program.trains[0], "p.nn", "model")
    assert script.count("def load_new_iris(") == 1
    assert 'x = load_new_iris(cfg)["x"]' in script and "predict(model, run, cfg)" in script
