"""The bundled datasets are what examples/data/README.md says they are, and a data file that
passes the checker is read by the training script to the tensors the checker described: the
script's readers follow the checker's rules, so what would fail there is refused at check time
with its place."""

from __future__ import annotations

import ast
import csv
import math
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from compiled import ROOT

from nndsl.compiler import analyze, generate_train
from nndsl.datafiles.inspect import DataFileError, clear_cache, inspect_csv

DATA = ROOT / "examples" / "data"


def _rows(name: str) -> tuple[list[str], list[list[str]]]:
    with open(DATA / name, newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def test_digits():
    header, rows = _rows("digits.csv")
    assert header == [f"p{i}" for i in range(64)] + ["label"]
    assert len(rows) == 1797
    pixels = {int(v) for row in rows for v in row[:64]}
    assert pixels <= set(range(17)) and {0, 16} <= pixels
    labels = Counter(int(row[64]) for row in rows)
    assert sorted(labels) == list(range(10)) and min(labels.values()) >= 170


def test_iris():
    header, rows = _rows("iris.csv")
    assert header[-1] == "species" and len(header) == 5
    assert len(rows) == 150
    assert Counter(int(row[4]) for row in rows) == {0: 50, 1: 50, 2: 50}
    assert all(0 < float(v) < 10 for row in rows for v in row[:4])


# ---- the checker and the script agree ---------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def script(tmp_path: Path, data: str, inputs: int, loss: str = "mse", outputs: int = 1) -> dict:
    """Check a program reading ``data`` (a data section's body) and return the data loader of
    its training script, run as the script runs it: {name: tensor}."""
    source = f"""
model M(x: [{inputs}]) {{ out = Linear({outputs}) }}
data d {{ {data} }}
train M on d {{ loss {loss} epochs 1 }}
"""
    result = analyze(source, tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]
    text = generate_train(result.program.trains[0], "t.nn", "model")
    tree = ast.parse(text)
    keep = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    keep += [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in READERS]
    scope = {"np": np, "torch": torch, "Path": Path, "__file__": str(tmp_path / "train.py")}
    exec(compile(ast.Module(keep, []), "train.py", "exec"), scope)
    return scope["load_d"](SimpleNamespace(data_dir="."))


READERS = ("read_csv", "load_d")


def diagnostics(tmp_path: Path, data: str, loss: str = "mse") -> list:
    source = f"model M(x: [2]) {{ out = Linear(1) }}\ndata d {{ {data} }}\n"
    source += f"train M on d {{ loss {loss} }}\n"
    return analyze(source, tmp_path).diagnostics


AGREED = [
    "x,y\n1,2.5\n-3,4\n",
    "\n \n\t\nx,y\n\n1,2\n  \n3,4\n\n\n",  # blank and whitespace-only lines anywhere
    "x,y\r\n1,2\r\n\r\n3,4\r\n",
    "x,y\r1,2\r3,4\r",
    '\ufeff"x", "y"\n"1","2"\n" 3 ",4\n',  # a BOM; quoted names and numbers
    "a,b\n1 , +2 \n\t007\t,.5\n-0,1e3\n5.,-1E-3",  # no newline at the end
    "a,b\nnan,inf\n-Infinity,NaN\n",
    f"a,b\n9223372036854775807,{2**70}\n-9223372036854775808,{'9' * 400}\n",
    "\x0b1,\x0c2\n3,4\n",
    "1,2\n3,4\n",  # no header
    "1,2\n",
    "naïve,b\n1,2\n",
    "x\n0.5\n\x1c\n1.5\n",  # a line of a space Python knows, but bytes.strip does not
]


def same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


@pytest.mark.parametrize("text", AGREED)
def test_the_script_reads_what_the_checker_described(tmp_path, text):
    (tmp_path / "t.csv").write_text(text, encoding="utf-8", newline="")
    table = inspect_csv(tmp_path / "t.csv")
    rows, width = table.shape
    got = script(tmp_path, f'table = csv("t.csv") x = table[:, 0:{width}] y = table[:, 0:1]', width)
    x = got["x"]
    assert x.dtype == torch.float32 and tuple(x.shape) == (rows, width)
    for column in table.all_columns:
        values = x[:, column.index].double()
        real = values[~values.isnan()]
        lo, hi = (real.min().item(), real.max().item()) if len(real) else (math.nan, math.nan)
        assert same(np.float32(column.min), lo) and same(np.float32(column.max), hi), column


def test_a_whole_number_column_is_int64_in_both(tmp_path):
    (tmp_path / "t.csv").write_text("a,label\n0.5,2\n\n1.5, 0\n", encoding="utf-8")
    data = 'table = csv("t.csv") x = table[:, 0:1] y = table[:, "label"]'
    got = script(tmp_path, data, 1, "cross_entropy", 3)
    assert got["y"].dtype == torch.int64 and got["y"].tolist() == [2, 0]
    assert inspect_csv(tmp_path / "t.csv").columns("label")[0].dtype == "int64"


@pytest.mark.parametrize(
    "cell",
    ["1", " 2 ", "+3", "-4", "007", ".5", "5.", "1e3", "1E-3", "-1.5e+2", "nan", "NaN", "-nan",
     "inf", "-Inf", "INFINITY", "infinity", "1_000", "0x10", "1e", "e1", "--1", "+-1", ".", "-",
     "1.2.3", "1 2", "\x1c1", "1\x1f", "\x0b1", "1\x0c", "\xa01", "\u0663", "١", "nan1",
     "infinit", "#1", "'1'", "1;2", "1\t", "\t1", "\"1\"", '" 1 "', '"1" ', ' "1"', '""'],
)  # fmt: skip
def test_a_cell_is_accepted_only_if_numpy_reads_it_as_python_does(tmp_path, cell):
    path = tmp_path / "c.csv"
    path.write_text(f"x,y\n0,{cell}\n", encoding="utf-8")
    try:
        column = inspect_csv(path).columns("y")[0]
    except DataFileError as e:
        assert "row 2" in e.message  # refused, and the checker says where
        return
    got = script(tmp_path, 'table = csv("c.csv") x = table[:, 0:2] y = table[:, 0:1]', 2)
    assert same(got["x"][0, 1].item(), np.float32(column.max).item())


def test_a_refused_file_is_an_error_at_its_place_in_the_source(tmp_path):
    (tmp_path / "t.csv").write_text('x,y\n1,2\n3, "4"\n', encoding="utf-8")
    data = 'table = csv("t.csv") x = table[:, 0:2] y = table[:, 0:1]'
    (found,) = diagnostics(tmp_path, data)
    assert found.code == "E0402" and "row 3, column 'y'" in found.message
    assert (found.span.line, found.span.column) == (2, len("data d { table = csv(") + 1)


def test_a_big_endian_npy_is_converted_in_memory_and_refused_streamed(tmp_path):
    x = np.arange(12, dtype=">f4").reshape(6, 2)
    y = (np.arange(6) % 3).astype(">i8")
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    got = script(tmp_path, 'x = npy("x.npy") y = npy("y.npy")', 2, "cross_entropy", 3)
    assert torch.equal(got["x"], torch.tensor(x.astype("<f4")))
    assert got["y"].tolist() == [0, 1, 2, 0, 1, 2]
    got = script(tmp_path, 'z = npz("d.npz") x = z["x"] y = z["y"]', 2, "cross_entropy", 3)
    assert got["y"].dtype == torch.int64 and got["y"].tolist() == [0, 1, 2, 0, 1, 2]
    found = diagnostics(tmp_path, 'x = npy("x.npy") y = npy("y.npy") stream true')
    assert [d.code for d in found] == ["E0409", "E0409"]
    assert "x.npy is stored big-endian" in found[0].message and "astype" in found[0].help
    assert (found[1].span.line, found[1].span.column) == (
        2,
        len('data d { x = npy("x.npy") y = npy(') + 1,
    )


def test_the_targets_range_is_read_when_checked(tmp_path):
    """Labels beyond the model's classes are found in a file, at the place that reads it; a
    file damaged where its labels are is reported there too."""
    np.save(tmp_path / "x.npy", np.zeros((20, 2), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(20) % 4)
    (found,) = diagnostics(tmp_path, 'x = npy("x.npy") y = npy("y.npy")', "cross_entropy")
    assert found.code == "E0406" and "class ids 0 .. 3" in found.message
    labels = torch.arange(20) % 2
    torch.save({"y": labels}, tmp_path / "y.pt")
    raw = bytearray((tmp_path / "y.pt").read_bytes())
    raw[raw.index(labels.numpy().tobytes()) + 8] ^= 0xFF  # found only when the labels are read
    (tmp_path / "bad.pt").write_bytes(bytes(raw))
    found = diagnostics(tmp_path, 'x = npy("x.npy") y = pt("bad.pt")["y"]', "cross_entropy")
    assert [d.code for d in found] == ["E0402"] and "bad.pt['y']" in found[0].message


def test_a_targets_range_follows_it_through_the_names_it_is_built_from(tmp_path):
    """A target defined as another data tensor (or a part of one) keeps that tensor's range,
    so labels out of the model's classes are found however the section names them."""
    np.save(tmp_path / "x.npy", np.zeros((20, 2), dtype=np.float32))
    np.save(tmp_path / "y.npy", np.arange(20) % 4)
    for data in (
        'x = npy("x.npy") labels = npy("y.npy") y = labels',
        'x = npy("x.npy") labels = npy("y.npy") y = labels[0:20]',
        "x = [[1.0, 2.0], [3.0, 4.0]] raw = [0, 3] y = raw",
    ):
        (found,) = diagnostics(tmp_path, data, "cross_entropy")
        assert found.code == "E0406" and "class ids 0 .. 3" in found.message, data
    # and through the arithmetic that makes labels (classes of pairs: 0 .. 3 // 2 is 0 .. 1)
    data = 'x = npy("x.npy") labels = npy("y.npy") y = labels // 2'
    (found,) = diagnostics(tmp_path, data, "cross_entropy")
    assert found.code == "E0406" and "class ids 0 .. 1" in found.message
    data = 'x = npy("x.npy") labels = npy("y.npy") y = labels // 4'
    assert diagnostics(tmp_path, data, "cross_entropy") == []
    # rand is below 1, so long(rand * 1) is 0 (and * 2 is 0 .. 1)
    assert diagnostics(tmp_path, "x = rand(20, 2) y = long(x[:, 0] * 1)", "cross_entropy") == []
    (found,) = diagnostics(tmp_path, "x = rand(20, 2) y = long(x[:, 0] * 2)", "cross_entropy")
    assert found.code == "E0406" and "class ids 0 .. 1" in found.message
    # and the positions argmax gives: 0 .. 1 of two features, 0 .. 0 of one
    (found,) = diagnostics(tmp_path, 'x = npy("x.npy") y = argmax(x, 1)', "cross_entropy")
    assert found.code == "E0406" and "class ids 0 .. 1" in found.message
    assert (
        diagnostics(tmp_path, 'x = npy("x.npy") y = argmax(x[:, 0:1], dim=1)', "cross_entropy")
        == []
    )


def test_a_float_columns_range_is_read_for_binary_targets(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,target\n0.5,1,0.0\n1.5,2,2.5\n", encoding="utf-8")
    data = 'table = csv("t.csv") x = table[:, 0:2] y = table[:, 2:3]'
    (found,) = diagnostics(tmp_path, data, "bce")
    assert found.code == "E0406" and "holds 0.0 .. 2.5" in found.message


@pytest.mark.parametrize("reader", ["pt", "npy"])
def test_a_streamed_section_of_one_reader_compiles_and_imports_what_it_reads_with(tmp_path, reader):
    """A streamed .pt section alone crashed the compiler: deciding whether the script needs
    numpy looked for "np.load" in the section's statements as if they were text."""
    if reader == "pt":
        torch.save({"x": torch.zeros(4, 2), "y": torch.zeros(4, 1)}, tmp_path / "d.pt")
        data = 't = pt("d.pt") x = t["x"] y = t["y"] stream true'
    else:
        np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
        np.save(tmp_path / "y.npy", np.zeros((4, 1), np.float32))
        data = 'x = npy("x.npy") y = npy("y.npy") stream true'
    source = f"model M(x: [2]) {{ out = Linear(1) }}\ndata d {{ {data} }}\n"
    result = analyze(source + "train M on d { loss mse }\n", tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]
    text = generate_train(result.program.trains[0], "t.nn", "model")
    assert ("import numpy as np" in text) == (reader == "npy")
