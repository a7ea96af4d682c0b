"""``nndsl export``: every model of examples/ as a torch.export program and as ONNX, checked
against the PyTorch model; the models that cannot be exported, refused in one line; the
request's mistakes, refused before anything is written."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import torch
from compiled import ROOT, UNBUILT
from test_cli import nndsl_cli

import nndsl
from nndsl.cli import main
from nndsl.compiler import analyze

EXAMPLES = ROOT / "examples"

# Models that legitimately do not export, with the reason the command gives.
REFUSED = {
    "FixedHiddenMLP": "its control flow depends on the values of a tensor",  # while sum(abs(h)) > 1
    "Chimera": "its control flow depends on the values of a tensor",  # holds FixedHiddenMLP
    "DigitsVAE": "its forward is random",  # randn_like: nothing to check an export against
}
# nn.RNN's export unrolls its steps, so the sequence length must be fixed.
FIXED_SIZES = {"RNNRegressor": {"T": 16}}


def _example_models() -> list[tuple[str, str]]:
    found = []
    for path in sorted(EXAMPLES.glob("*.nn")):
        if path.name in UNBUILT:  # billions of parameters
            continue
        program = analyze(path.read_text(encoding="utf-8"), path.parent).program
        found += [(path.name, m.name) for m in program.models]
    return found


MODELS = _example_models()
EXPORTED = [pytest.param(f, m, id=m) for f, m in MODELS if m not in REFUSED]


@pytest.fixture(scope="module")
def out(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("export")


def _cli(capfd, monkeypatch, cwd: Path, *args: str) -> tuple[int, str, str]:
    """``nndsl export ARGS`` in this process, in ``cwd``: the exit code, stdout and stderr
    (written by Python or not); never a traceback."""
    monkeypatch.chdir(cwd)
    code = main(["export", *args])
    out, err = capfd.readouterr()
    assert "Traceback" not in err, err
    return code, out, err


def _export(file: str, model: str, path: Path):
    return nndsl.export(EXAMPLES / file, path, model=model, sizes=FIXED_SIZES.get(model))


def _assert_checked(done, path: Path) -> None:
    assert done.path == path and path.is_file()
    assert done.skipped == ""
    assert len(done.differences) == 2
    assert all(gap < 1e-4 for _, gap in done.differences), done.differences
    assert [sizes.get("B") for sizes, _ in done.differences] == [1, 7]
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize("file, model", EXPORTED)
def test_every_example_exports_to_pt2(file, model, out):
    path = out / f"{model}.pt2"
    done = _export(file, model, path)
    _assert_checked(done, path)
    assert done.format == "torch.export" and done.fresh
    info = nndsl.check(EXAMPLES / file).model(model)
    names = {d for t in info.inputs for d in t.shape if isinstance(d, str)}
    assert set(done.dynamic) == names - set(FIXED_SIZES.get(model, {}))


@pytest.mark.parametrize("file, model", EXPORTED)
def test_every_example_exports_to_onnx(file, model, out):
    for package in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(package)
    import onnx

    path = out / f"{model}.onnx"
    done = _export(file, model, path)
    _assert_checked(done, path)
    graph = onnx.load(path).graph
    info = nndsl.check(EXAMPLES / file).model(model)
    assert [i.name for i in graph.input] == [t.name for t in info.inputs]
    fixed = FIXED_SIZES.get(model, {})
    for declared, onnx_input in zip(info.inputs, graph.input):
        dims = [d.dim_param or d.dim_value for d in onnx_input.type.tensor_type.shape.dim]
        assert dims == [fixed.get(d, d) for d in declared.shape]  # named axes: "B"


@pytest.mark.parametrize("model", sorted(REFUSED))
def test_what_cannot_export_is_refused_in_one_line(model, capfd, monkeypatch, tmp_path):
    file = str(EXAMPLES / next(f for f, m in MODELS if m == model))
    code, stdout, err = _cli(capfd, monkeypatch, tmp_path, file, "--model", model, "-o", "x.pt2")
    assert code == 1
    assert stdout == ""
    assert err.count("\n") == 1, err  # nor the graph torch prints when it fails
    assert err.startswith(f"nndsl: error: cannot export {model}: {REFUSED[model]}")
    assert list(tmp_path.iterdir()) == []


def test_the_data_dependent_loop_is_named(tmp_path):
    with pytest.raises(nndsl.NNDSLError) as err:
        nndsl.export(EXAMPLES / "chimera.nn", tmp_path / "x.pt2", model="FixedHiddenMLP")
    assert "chimera.nn:model.py, line" in str(err.value)
    assert "while h.abs().sum() > 1" in str(err.value)


def test_a_size_the_code_fixes_asks_for_size(tmp_path):
    with pytest.raises(nndsl.NNDSLError) as err:
        nndsl.export(EXAMPLES / "rnn_regressor.nn", tmp_path / "r.pt2")
    assert "cannot keep the size T dynamic" in str(err.value)
    assert "--size T=N" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_prints_the_differences(tmp_path):
    proc = nndsl_cli("export", str(EXAMPLES / "add.nn"), "-o", "sub/add.pt2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("exported AddNet to sub/add.pt2 (torch.export, ")
    assert "dynamic sizes: B" in proc.stdout
    assert "largest absolute difference 0 (B=1) and 0 (B=7); tolerance 0.0001" in proc.stdout
    assert "fresh initialisation (seed 0)" in proc.stderr
    assert os.listdir(tmp_path / "sub") == ["add.pt2"]
    loaded = torch.export.load(tmp_path / "sub" / "add.pt2").module()
    reference = nndsl.load(EXAMPLES / "add.nn")
    torch.manual_seed(0)  # the seeded fresh initialisation
    model = reference.AddNet().eval()
    x = torch.randn(5, 2)
    torch.testing.assert_close(loaded(x), model(x))


PAIR = """
model Pair(ids: [T] long, q: [S, 16]) {
    embed = Embedding(50, 16)
    attn = MultiheadAttention(4)
    forward {
        k = embed(ids)
        a, w = attn(q, k, k)
        return a, w
    }
}
"""


@pytest.mark.parametrize("suffix", [".pt2", ".onnx"])
def test_several_inputs_sizes_and_outputs(suffix, tmp_path):
    if suffix == ".onnx":
        for package in ("onnx", "onnxscript", "onnxruntime"):
            pytest.importorskip(package)
    done = nndsl.export(PAIR, tmp_path / f"pair{suffix}")
    _assert_checked(done, tmp_path / f"pair{suffix}")
    assert done.dynamic == ("B", "T", "S")
    assert [sorted(sizes.items()) for sizes, _ in done.differences] == [
        [("B", 1), ("S", 24), ("T", 16)],
        [("B", 7), ("S", 40), ("T", 24)],
    ]
    if suffix == ".onnx":
        import onnx

        graph = onnx.load(tmp_path / "pair.onnx").graph
        shapes = {
            v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*graph.input, *graph.output]
        }
        assert shapes == {
            "ids": ["B", "T"], "q": ["B", "S", 16], "output0": ["B", "S", 16],
            "output1": ["B", "S", "T"],
        }  # fmt: skip


@pytest.mark.parametrize("dtype, tolerance", [("double", 1e-4), ("half", 1e-2)])
def test_weights_take_the_inputs_dtype(dtype, tolerance, tmp_path):
    source = f"model D(x: [4] {dtype}) {{\n    Linear(8)\n    ReLU()\n    Linear(2)\n}}\n"
    done = nndsl.export(source, tmp_path / "d.pt2")
    _assert_checked(done, tmp_path / "d.pt2")
    assert done.tolerance == tolerance
    loaded = torch.export.load(tmp_path / "d.pt2").module()
    x = torch.randn(3, 4, dtype=torch.float64 if dtype == "double" else torch.float16)
    assert loaded(x).dtype == x.dtype


# ---- weights ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, torch.nn.Module]:
    """Weights unlike the fresh initialisation, as a state_dict, a checkpoint and safetensors."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(123)
    model = nndsl.load(EXAMPLES / "tied.nn").Tied().eval()
    torch.save(model.state_dict(), folder / "w.pt")
    torch.save({"model": model.state_dict(), "step": 5}, folder / "checkpoint.pt")
    from safetensors.torch import save_model

    save_model(model, str(folder / "w.safetensors"))  # the tied weight once
    wrong = {**model.state_dict(), "extra.weight": torch.zeros(2)}
    del wrong["fc1.bias"]
    torch.save(wrong, folder / "wrong.pt")
    (folder / "junk.pt").write_bytes(b"not a checkpoint")
    return folder, model


@pytest.mark.parametrize("name", ["w.pt", "checkpoint.pt", "w.safetensors"])
def test_weights_are_exported(name, trained, tmp_path):
    folder, model = trained
    done = nndsl.export(EXAMPLES / "tied.nn", tmp_path / "t.pt2", weights=folder / name)
    assert not done.fresh
    loaded = torch.export.load(tmp_path / "t.pt2").module()
    x = torch.randn(4, 20)
    torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.parametrize(
    "name, message",
    [
        ("wrong.pt", "the weights in {} do not fit Tied: missing fc1.bias; unexpected extra.weight"),
        ("junk.pt", "cannot load the weights in {}: "),
        ("absent.pt", "--weights {}: no such file"),
        ("w.txt", "--weights {}: expected a .pt, .pth or .safetensors file"),
    ],
)  # fmt: skip
def test_bad_weights_are_one_line_errors(name, message, trained, capfd, monkeypatch, tmp_path):
    weights = str(trained[0] / name)
    source = str(EXAMPLES / "tied.nn")
    code, _, err = _cli(capfd, monkeypatch, tmp_path, source, "-o", "t.pt2", "--weights", weights)
    assert code == 2
    assert err.startswith("nndsl: error: " + message.format(weights)), err
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# ---- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["-o", "m.txt"], "-o m.txt: the suffix picks the format: .onnx (ONNX) or .pt2 (torch.export)"),
        (["-o", "m.pt2", "--size", "T=4"], "AddNet has no size T (its sizes: B)"),
        (["-o", "m.pt2", "--size", "B"], "--size B: expected NAME=N, such as T=16"),
        (["-o", "m.pt2", "--tolerance", "-1"], "--tolerance -1: expected a difference of 0 or more"),
        (["-o", "m.pt2", "--model", "Nope"], "{} has no model Nope (models: AddNet)"),
    ],
)  # fmt: skip
def test_a_bad_request_is_refused(args, message, capfd, monkeypatch, tmp_path):
    source = str(EXAMPLES / "add.nn")
    code, _, err = _cli(capfd, monkeypatch, tmp_path, source, *args)
    assert code == 2
    assert err == f"nndsl: error: {message.format(source)}\n"
    assert list(tmp_path.iterdir()) == []


def test_several_models_need_model(capfd, monkeypatch, tmp_path):
    source = str(EXAMPLES / "batchnorm.nn")
    code, _, err = _cli(capfd, monkeypatch, tmp_path, source, "-o", "m.pt2")
    assert code == 2
    assert err == (
        f"nndsl: error: {source} has several models (WithBatchNorm, WithoutBatchNorm): "
        "choose one with --model\n"
    )


def test_a_program_with_errors_prints_its_diagnostics(capfd, monkeypatch, tmp_path):
    (tmp_path / "bad.nn").write_text("model M(x: [2]) { Linear(3, 4) }\n", encoding="utf-8")
    code, _, err = _cli(capfd, monkeypatch, tmp_path, "bad.nn", "-o", "m.pt2", "--format", "short")
    assert code == 1
    assert err.startswith("bad.nn:1:26: error[E0301]")
    assert not (tmp_path / "m.pt2").exists()


def _hide(monkeypatch, *packages: str) -> None:
    """Imports of ``packages`` fail, as when they are not installed."""
    for package in packages:
        monkeypatch.setitem(sys.modules, package, None)


def test_onnx_without_its_packages_names_the_extra(capfd, monkeypatch, tmp_path):
    _hide(monkeypatch, "onnxscript")
    code, _, err = _cli(capfd, monkeypatch, tmp_path, str(EXAMPLES / "add.nn"), "-o", "m.onnx")
    assert code == 2
    assert err == (
        'nndsl: error: exporting to ONNX needs onnx and onnxscript: pip install "nndsl[export]"\n'
    )
    assert list(tmp_path.iterdir()) == []


def test_onnx_without_onnxruntime_is_written_unchecked(capfd, monkeypatch, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    _hide(monkeypatch, "onnxruntime")
    code, out, err = _cli(capfd, monkeypatch, tmp_path, str(EXAMPLES / "add.nn"), "-o", "m.onnx")
    assert code == 0, err
    assert "note: parity not checked: running an ONNX file needs onnxruntime: " in err
    assert "checked against" not in out
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_a_file_that_does_not_match_is_not_written(capfd, monkeypatch, tmp_path):
    from nndsl.run.export import parity

    real = parity._runner

    def off_by_one(fmt, path, plan):
        run = real(fmt, path, plan)
        return lambda inputs: run(inputs) + 1

    monkeypatch.setattr(parity, "_runner", off_by_one)
    code, _, err = _cli(capfd, monkeypatch, tmp_path, str(EXAMPLES / "add.nn"), "-o", "m.pt2")
    assert code == 1
    assert err.startswith("nndsl: error: the exported AddNet does not match the PyTorch model: ")
    assert "the largest absolute difference at B=1 is 1, over the tolerance 0.0001" in err
    assert list(tmp_path.iterdir()) == []  # nor the folder it was written in first
