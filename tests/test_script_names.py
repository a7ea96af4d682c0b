"""The names a training script binds where they would hide its model (E0110) come from a list
in nndsl/check/script_names.py, not from rendering the template during `nndsl check`. These
tests render training scripts of every example and of programs built to take every branch of
the template that binds names, and check that each name bound at module level, or in a function
that calls the model, is in that list; and that checking imports no code generation."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nndsl.check.script_names import FIXED, reserved, row_class
from nndsl.codegen import render as codegen
from nndsl.codegen.formatting import without_regions
from nndsl.compiler import analyze

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))

MODEL = "model Net(x: [4]) {\n    Linear(8) ReLU() Linear(3)\n}\n"
CNN = "model Conv(x: [1, 4, 4]) {\n    Conv2d(4, 3, padding=1) ReLU() Flatten() Linear(3)\n}\n"
PROGRAMS = {
    "validation_and_settings": MODEL
    + "data my_pairs { x = randn(32, 4)  y = randint(0, 3, 32)  validation held_out }\n"
    + "data held_out { x = randn(8, 4)  y = randint(0, 3, 8) }\n"
    + "train Net on my_pairs {\n    loss cross_entropy\n"
    + "    optimizer sgd(lr=0.1, momentum=0.9) { Linear.bias: weight_decay=0 }\n"
    + "    init { Linear.weight ~ kaiming_normal }\n    scheduler cosine(t_max=3)\n"
    + "    metrics accuracy\n    early_stop val_loss, patience=2\n    precision fp16\n"
    + "    accumulate 2\n    clip 1.0\n    predict [[1, 2, 3, 4]]\n}\n",
    "distributed_csv": MODEL
    + 'data Iris_Data { t = csv("data/iris.csv")  x = t[:, 0:4]  y = t[:, "species"] }\n'
    + "train Net on Iris_Data {\n    loss cross_entropy\n    distributed ddp\n"
    + "    scheduler onecycle(max_lr=0.1)\n}\n",
    "streamed_npy": CNN
    + 'data stream_Rows { x = npy("x.npy")  y = npy("y.npy")  stream true }\n'
    + "train Conv on stream_Rows { loss cross_entropy }\n",
    "channels_last": CNN
    + 'data images { x = npy("x.npy")  y = npy("y.npy") }\n'
    + "train Conv on images { loss cross_entropy  compile true }\n",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Data files the programs read: the examples' CSV tables and two .npy arrays."""
    path = tmp_path_factory.mktemp("names")
    (path / "data").mkdir()
    for csv in (ROOT / "examples" / "data").glob("*.csv"):
        (path / "data" / csv.name).write_bytes(csv.read_bytes())
    np.save(path / "x.npy", np.zeros((12, 1, 4, 4), dtype=np.float32))
    np.save(path / "y.npy", np.arange(12) % 3)
    return path


def _bound(nodes: list) -> set[str]:
    """Names the statements bind (the import of the model module aside)."""
    names = set()
    for top in nodes:
        if isinstance(top, (ast.FunctionDef, ast.ClassDef)):
            names.add(top.name)
            continue
        for node in ast.walk(top):
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                if getattr(node, "module", None) != "model":
                    names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _script_binds(t) -> set[str]:
    """What the rendered script of ``t`` binds at module level and in each function that calls
    the model."""
    tree = ast.parse(without_regions(codegen.render_train(t, "model.nn", "model")))
    names = _bound(tree.body)
    for f in ast.walk(tree):
        if isinstance(f, ast.FunctionDef) and any(
            isinstance(c, ast.Call) and getattr(c.func, "id", None) == t.model for c in ast.walk(f)
        ):
            names |= _bound([f.args, *f.body])
    return names


def _trains(source: str, base: Path):
    result = analyze(source, base)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    return result.program.trains


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_name_an_example_script_binds_is_reserved(path):
    for t in _trains(path.read_text(encoding="utf-8"), path.parent):
        assert _script_binds(t) - reserved(t) == set(), t.model


@pytest.mark.parametrize("name", PROGRAMS)
def test_every_name_a_generated_script_binds_is_reserved(name, folder):
    [t] = _trains(PROGRAMS[name], folder)
    missing = _script_binds(t) - reserved(t)
    assert missing == set(), "add these to nndsl/check/script_names.py"


def test_the_programs_take_the_branches_that_bind_names(folder):
    """The programs above really reach the optional parts of the template."""
    trains = {name: _trains(source, folder)[0] for name, source in PROGRAMS.items()}
    assert trains["distributed_csv"].distributed and "csv" in trains["distributed_csv"].readers
    assert trains["streamed_npy"].data.stream and trains["channels_last"].channels_last
    assert trains["validation_and_settings"].validation is not None
    streamed = _script_binds(trains["streamed_npy"])
    assert {row_class("stream_Rows"), "np", "load_stream_Rows"} <= streamed
    assert {"np", "read_csv"} <= _script_binds(trains["distributed_csv"])
    assert "load_held_out" in _script_binds(trains["validation_and_settings"])


def test_names_the_script_binds_elsewhere_stay_free(folder):
    """Names bound only inside functions that never build the model are not reserved."""
    [t] = _trains(PROGRAMS["validation_and_settings"], folder)
    assert {"x", "y", "g", "np", "batch"} & reserved(t) == set()
    assert not {"x", "y", "g", "batch"} & FIXED


def test_a_trained_model_named_like_a_derived_name_is_refused(folder):
    name = row_class("stream_Rows")
    source = PROGRAMS["streamed_npy"].replace("Conv(", f"{name}(").replace(" Conv ", f" {name} ")
    result = analyze(source, folder)
    assert [d.code for d in result.diagnostics] == ["E0110"]
    assert result.diagnostics[0].span.line == source[: source.index("train ")].count("\n") + 1


def test_checking_imports_no_code_generation():
    code = (
        "import sys; from nndsl.compiler import analyze; "
        "analyze(open('examples/mlp.nn').read()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('jinja2', 'black', 'torch', 'nndsl') and ('codegen' in m or m.split('.')[0] != 'nndsl')))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
