"""The training scripts: golden files, invariants, and runs of every example's train section.

Runs happen in this process through the CLI (``nndsl run``), which imports the very script
``nndsl compile`` writes; each smoke run stops after a few optimizer steps.
"""

from __future__ import annotations

import ast
import csv
import difflib
import sys

import pytest

from compiled import EXAMPLES, GOLDEN, train_scripts
from nndsl.cli import main as nndsl
from nndsl.formatting import black_format

TRAINED = [p for p in EXAMPLES if train_scripts(p)]
SCRIPTS = [(p, name) for p in TRAINED for name, _ in train_scripts(p)]
STDLIB = set(sys.stdlib_module_names)


def test_most_examples_train():
    assert len(TRAINED) >= 10, [p.name for p in TRAINED]


@pytest.mark.parametrize("path,name", SCRIPTS, ids=[f"{p.stem}-{n}" for p, n in SCRIPTS])
def test_golden_training_script(path, name, update_golden):
    code = dict(train_scripts(path))[name]
    golden = GOLDEN / "train" / f"{path.stem}.{name}"
    if update_golden:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(code, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden.name}; run pytest --update-golden and read it"
    expected = golden.read_text(encoding="utf-8")
    if code != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), code.splitlines(True)))
        pytest.fail(f"{path.name} no longer compiles to {golden.name}:\n{diff}")


@pytest.mark.parametrize("path,name", SCRIPTS, ids=[f"{p.stem}-{n}" for p, n in SCRIPTS])
def test_training_script_invariants(path, name):
    code = dict(train_scripts(path))[name]
    body = code.split("\n", 3)[3]
    assert black_format(body) == body
    assert dict(train_scripts(path))[name] == code, "compiling twice must give the same bytes"
    tree = ast.parse(code)
    for node in tree.body:  # module level: torch, numpy, the standard library and the model
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            for n in names:
                assert n.split(".")[0] in STDLIB | {"torch", "numpy", "model"}, n
    optional = [
        n.names[0].name if isinstance(n, ast.Import) else n.module
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom)) and n not in tree.body
    ]
    assert set(optional) <= {"tqdm", "matplotlib", "matplotlib.pyplot"}, optional
    assert "nndsl" not in code.split("\n", 3)[3]


def last_metrics(folder) -> dict[str, str]:
    with open(folder / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))[-1]


def _run(path, out, *flags) -> dict[str, str]:
    assert nndsl(["run", str(path), "--out", str(out), "--quiet", *flags]) == 0
    return last_metrics(out)


@pytest.mark.parametrize("path", TRAINED, ids=lambda p: p.stem)
def test_every_example_trains_a_few_steps(path, tmp_path, capsys):
    out = tmp_path / "run"
    assert nndsl(["run", str(path), "--out", str(out), "--quiet", "--max-steps", "3"]) == 0
    scripts = train_scripts(path)
    folders = [out] if len(scripts) == 1 else [out / n[6:-3] for n, _ in scripts]
    for folder in folders:
        last = last_metrics(folder)
        assert 1 <= int(last["epoch"]) <= 3  # three steps: at most three epochs
        assert float(last["loss"]) == float(last["loss"])  # not NaN
        names = {p.name for p in folder.iterdir()}
        assert {"model.py", "metrics.csv", "config.json", "best.pt", path.name} <= names
        assert any(n.startswith("train_") and n.endswith(".py") for n in names)


# ---- the tutorial tasks, trained to the end with their fixed seeds -------------------------


def test_add_predicts_the_sum(tmp_path, capsys):
    _run(EXAMPLES[0].parent / "add.nn", tmp_path)
    predicted = float(capsys.readouterr().out.split("predict [10.0, 11.0] -> [")[1].split("]")[0])
    assert abs(predicted - 21) < 0.5


def test_linear_regression_learns_2x_plus_1(tmp_path):
    import torch

    _run(EXAMPLES[0].parent / "linear_regression.nn", tmp_path)
    weights = torch.load(tmp_path / "model.pt", weights_only=True)
    assert abs(weights["linear.weight"].item() - 2) < 0.05
    assert abs(weights["linear.bias"].item() - 1) < 0.05


@pytest.mark.parametrize(
    "example,accuracy", [("digits_cnn.nn", 0.95), ("digits_lstm.nn", 0.9), ("iris.nn", 0.9)]
)
def test_real_data_accuracy(example, accuracy, tmp_path):
    """The bundled datasets: validation accuracy far above chance (0.1 for digits, 0.33 iris)."""
    last = _run(EXAMPLES[0].parent / example, tmp_path)
    assert float(last["val_accuracy"]) >= accuracy


def test_dropout_comparison(tmp_path):
    """Morvan's point: on 20 noisy points the free network overfits, dropout generalises."""
    assert nndsl(["run", str(EXAMPLES[0].parent / "dropout.nn"), "--out", str(tmp_path), "--quiet"]) == 0
    over, dropped = last_metrics(tmp_path / "overfitting"), last_metrics(tmp_path / "dropped")
    assert float(over["loss"]) < float(dropped["loss"])
    assert float(over["val_loss"]) > float(dropped["val_loss"])


def test_eval_reloads_saved_weights(tmp_path, capsys):
    path = EXAMPLES[0].parent / "iris.nn"
    trained = _run(path, tmp_path / "a")
    capsys.readouterr()
    weights = tmp_path / "a" / "model.pt"
    assert nndsl(["run", str(path), "--out", str(tmp_path / "b"), "--eval", str(weights)]) == 0
    printed = capsys.readouterr().out.split()
    assert float(printed[printed.index("accuracy") + 1]) == pytest.approx(float(trained["val_accuracy"]), abs=1e-4)
