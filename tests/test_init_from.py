"""`init from` in a train section: saved weights checked against the model before torch runs,
loaded by the script, and fine-tuning with the loaded body frozen."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import nndsl
from nndsl.datafiles.common import DataFileError
from nndsl.datafiles.safetensors import read_safetensors

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
WEIGHTS = EXAMPLES / "weights" / "digits_mlp.safetensors"

PROGRAM = """
model Pairs(x: [64]) {
    hidden = Linear(128)
    ReLU()
    out = Linear(OUT)
}

data d {
    x = rand(64, 64)
    y = long(x[:, 0] * 4.99)
    batch 16
}

train Pairs on d {
    loss cross_entropy
    INIT
    epochs 2
}
"""


def program(init: str, out: int = 5) -> str:
    return PROGRAM.replace("INIT", init).replace("OUT", str(out))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A folder with the bundled weights, as a .safetensors file and a .pt state_dict."""
    here = tmp_path_factory.mktemp("weights")
    shutil.copy(WEIGHTS, here / "base.safetensors")
    state = load_file(WEIGHTS)
    torch.save(state, here / "base.pt")
    return here


def diagnostics(source: str, folder: Path) -> list[tuple[str, str]]:
    path = folder / "net.nn"
    path.write_text(source, encoding="utf-8")
    return [(d.code, d.message) for d in nndsl.check(path).diagnostics]


def test_the_fine_tuning_example_keeps_the_loaded_body_and_trains_the_head(tmp_path):
    base = load_file(WEIGHTS)
    run = nndsl.train(EXAMPLES / "digit_pairs.nn", out=tmp_path / "run", quiet=True, device="cpu")
    end = run.model.state_dict()
    for name in ("hidden.weight", "hidden.bias"):  # loaded, then frozen: bitwise the file's
        assert torch.equal(end[name], base[name]), name
    assert end["out.weight"].shape == (5, 128)
    assert run.history[-1]["val_accuracy"] > 0.9  # pairs of digits, told apart by the body


@pytest.mark.parametrize("name", ["base.safetensors", "base.pt"])
def test_a_partial_load_from_each_kind_of_file(name, folder, tmp_path):
    source = program(f'init from "{name}" partial {{ "out.*" -> none }}')
    assert diagnostics(source, folder) == []
    path = folder / "net.nn"
    run = nndsl.train(path, out=tmp_path / "run", quiet=True, device="cpu", epochs=1, lr=0.0)
    base = load_file(WEIGHTS)
    assert torch.equal(run.model.state_dict()["hidden.weight"], base["hidden.weight"])


def test_renaming_rules_move_keys(folder):
    renamed = {k.replace("hidden.", "body.0."): v for k, v in load_file(WEIGHTS).items()}
    save_file(renamed, str(folder / "renamed.safetensors"))
    source = program('init from "renamed.safetensors" { "body.0.*" -> "hidden.*" }', out=10)
    assert diagnostics(source, folder) == []


@pytest.mark.parametrize(
    "init, out, found",
    [
        ('init from "base.safetensors"', 5, "holds `out.weight` as (10, 128), but `Pairs` has it as (5, 128)"),
        ('init from "base.safetensors" { "out.*" -> none }', 5, "has no weights for `out.weight`, `out.bias`"),
        ('init from "base.safetensors" partial { "head.*" -> none }', 5, "no key of base.safetensors matches 'head.*'"),
        ('init from "base.safetensors" { "hidden.*" -> "body.*" }', 10, "`body.weight`, which `Pairs` does not"),
        ('init from "base.safetensors" { "hidden.*" -> "body" }', 10, "one `*` on each side"),
        ('init from "missing.safetensors" partial', 5, "missing.safetensors does not exist"),
        ('init from "base.npz"', 5, "reads a .safetensors file or a .pt state_dict"),
    ],
)  # fmt: skip
def test_weights_that_do_not_fit_are_located_errors(init, out, found, folder):
    messages = diagnostics(program(init, out), folder)
    assert [c for c, _ in messages] == ["E0424"], messages
    assert found in messages[0][1]


def test_the_script_refuses_another_file_that_does_not_fit(folder, tmp_path):
    """--init-from picks another file at run time, held to the same rules: one line."""
    save_file({"hidden.weight": torch.zeros(3, 3)}, str(folder / "other.safetensors"))
    source = program('init from "base.safetensors" partial { "out.*" -> none }')
    (folder / "net.nn").write_text(source, encoding="utf-8")
    with pytest.raises(nndsl.NNDSLError, match="other.safetensors does not fit the model"):
        nndsl.train(
            folder / "net.nn", out=tmp_path / "run", quiet=True, init_from="other.safetensors"
        )


def _header(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text + b"\0" * 8


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "too short"),
        (struct.pack("<Q", 10**9) + b"{}", "header would be"),
        (struct.pack("<Q", 2) + b"[]", "not a JSON object"),
        (struct.pack("<Q", 4) + b"{x}!", "not JSON"),
        (_header(b'{"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 9]}}'), "damaged"),
        (_header(b'{"w": {"dtype": "C64", "shape": [2], "data_offsets": [0, 8]}}'), "C64"),
    ],
)
def test_damaged_safetensors_headers_are_data_file_errors(data, message, tmp_path):
    path = tmp_path / "w.safetensors"
    path.write_bytes(data)
    with pytest.raises(DataFileError, match=message):
        read_safetensors(path, "w.safetensors")


def test_the_header_reader_agrees_with_safetensors(tmp_path):
    tensors = {"a": torch.zeros(2, 3), "b": torch.ones(4, dtype=torch.int64)}
    save_file(tensors, str(tmp_path / "t.safetensors"))
    found = read_safetensors(tmp_path / "t.safetensors", "t.safetensors")
    assert {k: (a.shape, a.dtype) for k, a in found.items()} == {
        "a": ((2, 3), "float32"),
        "b": ((4,), "int64"),
    }
