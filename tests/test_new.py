"""``nndsl new NAME``: the starter file compiles, trains with a falling loss, and is written
only where nothing is."""

from __future__ import annotations

import csv

import pytest

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze
from nndsl.tools.new import starter


def test_the_starter_compiles_without_a_warning():
    result = analyze(starter("Starter"))
    assert result.ok and not result.diagnostics, [d.message for d in result.diagnostics]
    assert {"model", "data", "train"} <= {
        line.split(" ", 1)[0] for line in starter("S").splitlines()
    }


def test_new_writes_a_file_that_trains(tmp_path, capsys):
    assert nndsl(["new", "Hello", "--dir", str(tmp_path / "project")]) == 0
    path = tmp_path / "project" / "Hello.nn"
    assert path.read_text(encoding="utf-8") == starter("Hello")
    assert str(path) in capsys.readouterr().out
    assert [p.name for p in path.parent.iterdir()] == ["Hello.nn"]  # no temporary left
    out = tmp_path / "run"
    argv = ["run", str(path), "--out", str(out), "--quiet", "--epochs", "3", "--device", "cpu"]
    assert nndsl(argv) == 0, capsys.readouterr().err
    with open(out / "metrics.csv", newline="") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 3
    assert losses[-1] < 0.8 * losses[0], losses


def test_new_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "Mine.nn"
    path.write_text("# my own work\n", encoding="utf-8")
    assert nndsl(["new", "Mine", "--dir", str(tmp_path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_text(encoding="utf-8") == "# my own work\n"


@pytest.mark.parametrize("name", ["9lives", "my-net", "Linear", "model", "class", "sum", "", "Né"])
def test_new_refuses_a_name_that_cannot_name_a_model(name, tmp_path, capsys):
    assert nndsl(["new", name, "--dir", str(tmp_path)]) == 2
    assert "not a valid model name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
