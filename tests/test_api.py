"""The Python API (docs/API.md): `nndsl.check`, `compile`, `load`, `loads`, `train` and
`NNDSLError` give what the command line gives, as objects."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import traceback
import types
from pathlib import Path

import pytest

import nndsl
from nndsl.cli import main as cli

ROOT = Path(__file__).resolve().parent.parent
ADD = ROOT / "examples" / "add.nn"
BAD = "model Bad(x: [2]) {\n    Linear(3, 4)\n}\n"
TINY = """model Tiny(x: [3]) {
    Linear(4)
    ReLU()
    Linear(1)
}

data rows {
    x = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 0, 1]]
    y = [[6], [15], [24], [2]]
    batch 2
}

train Tiny on rows {
    loss mse
    optimizer sgd(lr=0.01)
    epochs 5
    save "tiny.pt"
}
"""


def _python(code: str) -> str:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_import_loads_nothing_but_the_package():
    shown = _python(
        "import sys; before = set(sys.modules); import nndsl; dir(nndsl)\n"
        "print(sorted(set(sys.modules) - before))"
    )
    new = eval(shown)
    ours = ["nndsl", "nndsl.check", "nndsl.util", "nndsl.util.version"]
    assert [m for m in new if m.split(".")[0] == "nndsl"] == ours
    assert set(new) <= {*ours, "types"}  # types: where startup has not yet


def test_check_and_compile_never_import_torch():
    shown = _python(
        "import sys, nndsl\n"
        "result = nndsl.check('examples/add.nn')\n"
        "assert result.ok and result.models[0].params == 33\n"
        "assert 'model.py' in nndsl.compile('examples/add.nn')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy')))"
    )
    assert shown.strip() == "[]"


def test_the_public_names():
    assert {"check", "compile", "load", "loads", "train", "NNDSLError"} <= set(dir(nndsl))
    with pytest.raises(AttributeError):
        nndsl.no_such_name  # noqa: B018


def test_check_is_still_the_checker_package():
    import nndsl.check.checker

    assert callable(nndsl.check) and nndsl.check.checker.check
    assert nndsl.check(ADD).ok


def test_check_summarises_models_and_train_sections():
    result = nndsl.check(ADD)
    (model,) = result.models
    assert (model.name, model.input_shape, model.output_shape) == ("AddNet", ("B", 2), ("B", 1))
    assert [(r.path, r.type, r.shape_text, r.params) for r in model.layers] == [
        ("hidden", "Linear", "(B, 8)", 24),
        ("", "ReLU", "(B, 8)", 0),
        ("out", "Linear", "(B, 1)", 9),
    ]
    (train,) = result.trains
    assert (train.model, train.data, train.script) == ("AddNet", "pairs", "train_addnet.py")
    assert train.config["epochs"] == 300 and train.config["batch_size"] == 2
    assert [p.name for p in train.parameters][:2] == ["hidden.weight", "hidden.bias"]


def test_check_flattens_several_outputs():
    (model,) = nndsl.check(ROOT / "examples" / "two_outputs.nn").models
    assert [t.shape for t in model.outputs] == [("B", 1), ("B", 8)]


def test_check_reports_what_the_cli_reports(tmp_path, capsys):
    bad = tmp_path / "bad.nn"
    bad.write_text(BAD, encoding="utf-8")
    result = nndsl.check(str(bad))
    assert not result.ok and result.models == () and result.trains == ()
    assert cli(["check", str(bad), "--format", "json"]) == 1
    assert json.loads(result.render("json")) == json.loads(capsys.readouterr().err)


def test_text_and_paths_are_told_apart(tmp_path):
    with pytest.raises(FileNotFoundError):
        nndsl.check(str(tmp_path / "missing.nn"))
    assert nndsl.check("model A(x: [2]) { Linear(1) }").ok
    assert nndsl.check(Path(ADD)).filename == str(ADD)


def test_a_file_that_is_not_utf8_is_a_diagnostic(tmp_path):
    path = tmp_path / "latin.nn"
    path.write_bytes(b"# caf\xe9\nmodel A(x: [2]) { Linear(1) }\n")
    assert [d.code for d in nndsl.check(path).diagnostics] == ["E0004"]
    with pytest.raises(nndsl.NNDSLError):
        nndsl.compile(path)


def test_compile_returns_what_the_cli_writes(tmp_path):
    source = tmp_path / "add.nn"
    shutil.copy(ADD, source)
    assert cli(["compile", str(source), "-o", str(tmp_path / "model.py")]) == 0
    files = nndsl.compile(source)
    assert sorted(files) == ["model.py", "train_addnet.py", "trainkit.py"]
    for name, text in files.items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text


def test_compile_names_the_model_module():
    files = nndsl.compile(ADD, module="net", data_dir="../data")
    assert "from net import AddNet" in files["train_addnet.py"] and "net.py" in files
    with pytest.raises(ValueError):
        nndsl.compile(ADD, module="not-a-name")


def test_the_error_text_is_what_the_cli_prints(tmp_path, capsys):
    bad = tmp_path / "bad.nn"
    bad.write_text(BAD, encoding="utf-8")
    with pytest.raises(nndsl.NNDSLError) as caught:
        nndsl.compile(bad)
    assert cli(["compile", str(bad)]) == 1
    assert str(caught.value) == capsys.readouterr().err
    assert "bad.nn:2:12" in str(caught.value)
    assert [d.code for d in caught.value.diagnostics] == ["E0301"]
    again = pickle.loads(pickle.dumps(caught.value))
    assert str(again) == str(caught.value) and again.diagnostics == caught.value.diagnostics


def test_every_entry_raises_the_one_error():
    for call in (nndsl.compile, nndsl.loads, nndsl.train):
        with pytest.raises(nndsl.NNDSLError):
            call(BAD)


def test_load_runs_the_generated_text():
    import torch

    net = nndsl.load(ADD)
    model = net.AddNet()
    assert model(torch.zeros(4, 2)).shape == (4, 1)
    assert net.main is net.train_addnet.main and net.Config is net.train_addnet.Config
    # standalone: no module of nndsl among what the generated code holds
    held = [v for m in (net, net.train_addnet) for v in vars(m).values()]
    assert not [
        v for v in held if isinstance(v, types.ModuleType) and v.__name__.split(".")[0] == "nndsl"
    ]
    with pytest.raises(RuntimeError) as caught:
        model(torch.zeros(4, 3))
    mine = [
        f for f in traceback.extract_tb(caught.value.__traceback__) if f.filename == net.__file__
    ]
    assert mine and mine[-1].line == "x = self.hidden(x)  # (B, 8)"
    lines = nndsl.compile(ADD)["model.py"].splitlines()
    assert lines[mine[-1].lineno - 1].strip() == mine[-1].line


def test_loads_keeps_each_training_script():
    text = (
        TINY
        + TINY.split("\n\n", 2)[2].replace("Tiny on", "Tiny2 on").replace("tiny.pt", "tiny2.pt")
        + TINY.split("\n\n", 1)[0].replace("Tiny(", "Tiny2(")
    )
    net = nndsl.loads(text)
    assert net.train_tiny.main is not net.train_tiny2.main
    assert not hasattr(net, "main")
    with pytest.raises(ValueError, match="model="):
        nndsl.train(text)


def test_train_returns_the_model_and_history(tmp_path):
    import torch

    run = nndsl.train(TINY, out=tmp_path / "run", max_steps=3, quiet=True, device="cpu")
    assert [row["epoch"] for row in run.history] == [1, 2]  # 2 steps an epoch
    assert run.metrics == run.history[-1] and run.out_dir == tmp_path / "run"
    saved = torch.load(tmp_path / "run" / "tiny.pt", weights_only=True)
    trained = run.model.state_dict()
    assert all(torch.equal(saved[k], trained[k]) for k in saved)
    assert not run.model.training
    with pytest.raises(TypeError, match="no_such"):
        nndsl.train(TINY, out=tmp_path / "other", no_such=1)
    with pytest.raises(nndsl.NNDSLError, match="positive number"):
        nndsl.train(TINY, out=tmp_path / "other", epochs=0)
