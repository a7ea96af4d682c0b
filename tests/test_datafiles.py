"""nndsl.datafiles.inspect: data files inspected at compile time, checked against numpy and torch."""

from __future__ import annotations

import collections
import io
import os
import pickle
import random
import struct
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from compiled import ROOT

from nndsl.datafiles import binary as datafiles_binary
from nndsl.datafiles import csvfile as datafiles_csv
from nndsl.datafiles import inspect as datafiles
from nndsl.datafiles import pt as datafiles_pt
from nndsl.datafiles.inspect import (
    Array,
    DataFileError,
    clear_cache,
    inspect_csv,
    inspect_npy,
    inspect_npz,
    inspect_pt,
)

DATA = ROOT / "examples" / "data"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def error(fn, path, **kw) -> DataFileError:
    """The DataFileError that reading ``path`` raises (any other exception fails the test)."""
    return raised(lambda: fn(path, **kw), path)


def raised(thunk, path=None) -> DataFileError:
    """The DataFileError that ``thunk()`` raises (any other exception fails the test)."""
    with pytest.raises(DataFileError) as info:
        thunk()
    e = info.value
    assert e.message == str(e) and (not e.message[:1].isupper() or e.message.startswith(str(path)))
    return e


def write(tmp_path, name: str, content) -> str:
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return str(path)


# ---- CSV ------------------------------------------------------------------------------------


def test_digits():
    table = inspect_csv(DATA / "digits.csv")  # its speed is measured by hand, not asserted
    assert table.header and table.rows == 1797 and table.shape == (1797, 65)
    assert table.names == tuple(f"p{i}" for i in range(64)) + ("label",)
    label = table.columns("label")[0]
    assert (label.index, label.dtype, label.min, label.max) == (64, "int64", 0, 9)
    assert all(c.dtype == "int64" and 0 <= c.min <= c.max <= 16 for c in table.all_columns)
    assert table.select(slice(0, 64)) == Array((1797, 64), "int64", 0, 16)
    assert table.select("label") == Array((1797,), "int64", 0, 9)
    assert table.select(-1).tensor.shape == (1797,)
    assert inspect_csv(DATA / "digits.csv") is table  # cached


def test_iris():
    table = inspect_csv("iris.csv", base=DATA)
    rows = np.loadtxt(DATA / "iris.csv", delimiter=",", skiprows=1)
    assert table.rows == 150 and table.header
    assert table.names[-1] == "species"
    for col in table.all_columns[:4]:
        assert col.dtype == "float32"
        assert (col.min, col.max) == (rows[:, col.index].min(), rows[:, col.index].max())
    species = table.columns("species")[0]
    assert (species.dtype, species.min, species.max) == ("int64", 0, 2)
    assert [c.name for c in table.columns(slice(0, 4))] == list(table.names[:4])
    assert [c.index for c in table.columns(["species", 0, -2])] == [4, 0, 3]
    assert [c.index for c in table.columns(slice(None, None, -2))] == [4, 2, 0]
    assert table.select(slice(0, 4)) == Array((150, 4), "float32", 0.1, 7.9)
    assert table.select(["petal_width", "species"]).dtype == "float32"
    assert table.select().shape == (150, 5)


def test_csv_formats(tmp_path):
    """A BOM, CRLF, quoted fields, blank lines and a missing trailing newline read alike."""
    plain = inspect_csv(write(tmp_path, "a.csv", "x,y\n1,2.5\n-3,4\n"))
    fancy = write(tmp_path, "b.csv", b'\xef\xbb\xbf"x", "y"\r\n\r\n"1", 2.5\r\n-3,"4"')
    got = inspect_csv(fancy)
    assert got.all_columns == plain.all_columns and got.rows == 2
    assert got.columns("y")[0].dtype == "float32" and got.columns("x")[0].min == -3


def test_csv_without_header(tmp_path):
    table = inspect_csv(write(tmp_path, "n.csv", "1,2,3\n4,5,6e2\n"))
    assert not table.header and table.names == (None, None, None) and table.rows == 2
    assert table.columns(2)[0].dtype == "float32" and table.columns(2)[0].max == 600.0
    e = error(table.columns, "a")
    assert "no header row" in e.message and "0 to 2" in e.help


def test_csv_values(tmp_path):
    big, huge = str(2**70), "9" * 400
    text = f"a,b,c,d\n1,nan,{big},1\n2,-inf,5,{huge}\n3,0.5,1,2\n"
    a, b, c, d = inspect_csv(write(tmp_path, "v.csv", text)).all_columns
    assert (a.dtype, a.min, a.max) == ("int64", 1, 3)
    assert (b.dtype, b.min, b.max) == ("float32", float("-inf"), 0.5)  # nan is skipped
    assert (c.dtype, c.max) == ("float32", float(2**70))  # does not fit in int64
    assert (d.dtype, d.min, d.max) == ("float32", 1.0, float("inf"))


@pytest.mark.parametrize(
    "text, words",
    [
        ("x,species\n1,setosa\n2,1\n", ["column 'species'", "('setosa' in row 2)", "only numbers"]),
        ("x,y\n1,2\n3,\n", ["row 3, column 'y' is empty"]),
        ("x,y\n1,2\n3\n4,5\n", ["has 4 rows; row 3 has 1 columns, the header has 2"]),
        ("1,2\n1,2,3\n", ["row 2 has 3 columns, the first row has 2"]),
        ("x,y\n1,1_000\n", ["holds text ('1_000' in row 2)"]),
        ("x\n", ["has a header row but no data rows"]),
        ("", ["is empty"]),
        ("  \n\n", ["is empty"]),
        ('""\n\n', ["has a header row but no data rows"]),  # one empty cell, not a blank line
        ('x\n1\n""\n2\n', ["row 3, column 'x' is empty"]),
        ('x,y\n1,"2\n', ["row 2 is not valid csv", "unexpected end of data"]),
    ],
)
def test_csv_refused(tmp_path, text, words):
    e = error(inspect_csv, write(tmp_path, "bad.csv", text))
    for w in words:
        assert w.lower() in e.message.lower()


def test_csv_hints(tmp_path):
    e = error(inspect_csv, write(tmp_path, "semi.csv", "a;b\n1;2\n"))
    assert "semicolon" in e.help or "';'" in e.help
    ragged = write(tmp_path, "r.csv", "a,b\n1\n2\n3,4\n")
    assert "2 rows have a different number of columns" in error(inspect_csv, ragged).help
    assert "not utf-8" in error(inspect_csv, write(tmp_path, "l.csv", b"a\n\xe9\n")).message.lower()
    assert "NUL bytes" in error(inspect_csv, write(tmp_path, "z.csv", b"a\n\0\x01\n")).message


def test_csv_selectors(tmp_path):
    table = inspect_csv(write(tmp_path, "s.csv", "alpha,beta,beta,gamma\n1,2,3,4\n"))
    e = error(table.columns, "gama")
    assert e.message.endswith("has no column 'gama'") and e.help == "did you mean `gamma`?"
    assert "its columns are 'alpha'" in error(table.columns, "zzz").help
    assert "indices 1, 2" in error(table.columns, "beta").message
    assert "out of range" in error(table.columns, 4).message and table.columns(-4)[0].index == 0
    for bad in (True, 1.5, None, slice("alpha", "gamma"), slice(0, 2, 0), [0, [1]]):
        error(table.columns, bad)
    assert table.columns([]) == () and table.select([]) == Array((1, 0), "int64")


def test_missing_and_folder(tmp_path):
    e = error(inspect_csv, "data/nothing.csv", base=tmp_path)
    assert e.message == "data/nothing.csv does not exist"
    assert str(tmp_path / "data" / "nothing.csv") in e.help
    assert "is a folder" in error(inspect_npy, str(tmp_path)).message


def test_cache_sees_changes(tmp_path):
    path = write(tmp_path, "c.csv", "x\n1\n")
    assert inspect_csv(path).rows == 1
    with open(path, "a") as f:
        f.write("2\n3\n")
    assert inspect_csv(path).rows == 3


def table_facts(table) -> tuple:
    """What the checker takes from a table: shape, header, names, each column's dtype and range."""
    ranges = [(c.dtype, *(repr(v) for v in (c.min, c.max))) for c in table.all_columns]
    return table.shape, table.header, table.names, ranges


TRICKY = [
    "x,y\n1,2.5\n-3,4\n",
    "\n \n\t\nx,y\n\n1,2\n  \n3,4\n\n\n",  # blank and whitespace-only lines anywhere
    "x,y\r\n1,2\r\n\r\n3,4\r\n",
    "x,y\r1,2\r3,4\r",
    '\ufeff"x","y"\n"1","2"\n" 3 ",4\n',
    "a,b,c\n1 , +2 ,\t3\t\n007,.5,5.\n-0,1e3,-1E-3\n",
    "a,b,c\nnan,inf,-Infinity\nNaN,-inf,1\n",
    f"a,b\n9223372036854775807,-9223372036854775808\n{2**70},{'9' * 400}\n",
    "\x0b1,\x0c2\n3,4",
    "5\n",
    "x\n0.5\n\x1c\n1.5\n",
]


@pytest.mark.parametrize("text", TRICKY)
def test_csv_blocks_change_nothing(tmp_path, text, monkeypatch):
    """Read in blocks of a few bytes (lines cut anywhere, CRLF split), a file reads the same."""
    path = write(tmp_path, "t.csv", text)
    whole = table_facts(inspect_csv(path))
    for chunk in (1, 3, 7):
        clear_cache()
        monkeypatch.setattr(datafiles_csv, "CHUNK", chunk)
        assert table_facts(inspect_csv(path)) == whole


def test_csv_lines_are_named_across_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(datafiles_csv, "CHUNK", 5)
    text = "x,y\r\n\r\n1,2\r3,4\n\n5,oops\n"
    e = error(inspect_csv, write(tmp_path, "r.csv", text))
    assert "('oops' in row 6)" in e.message


def test_csv_ranges_of_float_columns_are_read_when_asked(tmp_path):
    """A float32 column's range is read when first asked for; an int64 column's comes with the
    pass that typed it (the targets' usual case)."""
    path = tmp_path / "f.csv"
    path.write_text("x,label\n0.5,1\n-2.25,0\nnan,2\n", encoding="utf-8")
    table = inspect_csv(path)
    label, x = table.columns("label")[0], table.columns("x")[0]
    assert (label.dtype, label.min, label.max) == ("int64", 0, 2)
    path.unlink()
    e = raised(lambda: x.min)
    assert "cannot read" in e.message and str(path) in e.message
    path.write_text("x,label\n0.5,1\n-2.25,0\nnan,2\n", encoding="utf-8")
    assert (x.min, x.max) == (-2.25, 0.5)
    assert table.select(["x", "label"]) == Array((3, 2), "float32", -2.25, 2)


@pytest.mark.parametrize(
    "text, words",
    [
        ('x,y\n1, "2"\n', ["row 2, column 'y' holds ' \"2\"'", "space before a quoted number"]),
        ('x,y\n1,"2\n3",4\n', ["row 2 is not valid csv", "end on the line"]),
        ("x,y\n1,2\n#3,4\n", ["('#3' in row 3)"]),
        ("x\n1\n\u0663\n", ["('\u0663' in row 3)"]),
        ("x\n1\n\xa02\n", ["('\\xa02' in row 3)"]),
        ("x\n0x10\n", ["('0x10' in row 2)"]),
        ("x\n1e\n", ["('1e' in row 2)"]),
        ("x\n--1\n", ["('--1' in row 2)"]),
        ("x\n\x1c1\n", ["row 2)"]),
        ("x,y\n1,2,\n", ["row 2 has 3 columns"]),
        ('x,y\n1,"2,3"\n', ["('2,3' in row 2)"]),
    ],
)
def test_csv_what_numpy_would_not_read_is_refused_with_its_row(tmp_path, text, words):
    e = error(inspect_csv, write(tmp_path, "bad.csv", text))
    for w in words:
        assert w.lower() in e.message.lower() + " " + (e.help or "").lower()


def test_csv_digit_separators_get_a_hint(tmp_path):
    e = error(inspect_csv, write(tmp_path, "u.csv", "x\n1_000\n"))
    assert "digit separators" in e.help


# ---- .npy -----------------------------------------------------------------------------------

DTYPES = {
    "float64": "f8", "float32": "f4", "float16": "f2", "int64": "i8", "int32": "i4",
    "int16": "i2", "int8": "i1", "uint8": "u1", "bool": "b1",
}  # fmt: skip


def sample(dtype: str, shape: tuple, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "bool":
        return rng.integers(0, 2, shape).astype(bool)
    if dtype.startswith(("int", "uint")):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)
    return rng.standard_normal(shape).astype(dtype)


def expected(a: np.ndarray, dtype: str) -> Array:
    if dtype.startswith("float") or a.size == 0:
        return Array(a.shape, dtype)
    return Array(a.shape, dtype, a.min().item(), a.max().item())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (7,), (2, 3, 4), (0, 3)])
@pytest.mark.parametrize("order", ["<", ">"])
def test_npy(tmp_path, dtype, shape, order):
    a = sample(dtype, shape).astype(order + DTYPES[dtype])
    np.save(tmp_path / "a.npy", a)
    got = inspect_npy(tmp_path / "a.npy")
    assert got == expected(a, dtype)
    assert isinstance(got.shape, tuple) and type(got.min) is type(expected(a, dtype).min)


@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_npy_versions_and_fortran(tmp_path, version):
    a = np.asfortranarray(sample("int32", (3, 5, 2), seed=1))
    with open(tmp_path / "f.npy", "wb") as f:
        np.lib.format.write_array(f, a, version=version)
    assert inspect_npy(tmp_path / "f.npy") == Array((3, 5, 2), "int32", a.min(), a.max())


def test_npy_large_int(tmp_path):
    a = np.arange(3_000_000, dtype=np.int64) - 7  # several chunks
    np.save(tmp_path / "big.npy", a)
    assert inspect_npy(tmp_path / "big.npy") == Array((3_000_000,), "int64", -7, 2_999_992)


def test_npy_values_are_read_only_when_asked(tmp_path, monkeypatch):
    """Inspection reads the header; the range is read, in chunks, when first asked for."""
    a = sample("int16", (1000, 3), seed=4).astype(">i2")
    np.save(tmp_path / "a.npy", a)
    got = inspect_npy(tmp_path / "a.npy")
    assert got.shape == (1000, 3) and got.big_endian and got.ranged
    monkeypatch.setattr(datafiles_binary, "CHUNK", 64)  # many chunks
    assert (got.min, got.max) == (a.min(), a.max())
    assert not inspect_npy(write(tmp_path, "f.npy", npy_bytes(np.ones(3, "<f4")))).ranged
    assert not inspect_npy(write(tmp_path, "u.npy", npy_bytes(np.ones(3, ">u1")))).big_endian


def test_npy_that_shrinks_before_its_values_are_read(tmp_path):
    path = write(tmp_path, "s.npy", npy_bytes(np.arange(100, dtype=np.int64)))
    got = inspect_npy(path)
    with open(path, "r+b") as f:
        f.truncate(200)
    assert "changed while it was being read" in raised(lambda: got.max).message


@pytest.mark.parametrize(
    "a, words",
    [
        (np.array([1, "x", None], dtype=object), "python objects"),
        (np.zeros(2, dtype=[("a", "i4"), ("b", "f4")]), "structured array"),
        (np.array(["a", "bc"]), "text"),
        (np.zeros(3, dtype=np.uint16), "unsigned integers wider than 8 bits"),
        (np.zeros(3, dtype=np.complex64), "complex"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "dates"),
    ],
)
def test_npy_refused_dtypes(tmp_path, a, words):
    np.save(tmp_path / "d.npy", a, allow_pickle=True)
    assert words in error(inspect_npy, tmp_path / "d.npy").message.lower()


def npy_bytes(a: np.ndarray, version=(1, 0)) -> bytes:
    f = io.BytesIO()
    np.lib.format.write_array(f, a, version=version)
    return f.getvalue()


def test_npy_damaged(tmp_path):
    good = npy_bytes(np.arange(10, dtype=np.int16))
    assert "is empty" in error(inspect_npy, write(tmp_path, "e.npy", b"")).message
    e = error(inspect_npy, write(tmp_path, "t.npy", good[:-3]))
    assert "truncated: its header promises 20 bytes" in e.message and "holds 17" in e.message
    assert "magic" in error(inspect_npy, write(tmp_path, "m.npy", b"PK\3\4" + good)).message
    wrong = good[:6] + b"\x04\x00" + good[8:]
    assert "version 4.0" in error(inspect_npy, write(tmp_path, "v.npy", wrong)).message
    huge = good[:6] + b"\x02\x00" + struct.pack("<I", 0xFFFFFFF0) + b"{"
    assert "header of" in error(inspect_npy, write(tmp_path, "h.npy", huge)).message
    evil = "{'descr': __import__('os').system('x'), 'fortran_order': False, 'shape': ()}"
    bad_header = good[:8] + struct.pack("<H", len(evil)) + evil.encode()
    assert "malformed" in error(inspect_npy, write(tmp_path, "x.npy", bad_header)).message
    extra = "{'descr': '<i2', 'fortran_order': False, 'shape': (-1,)}"
    negative = good[:8] + struct.pack("<H", len(extra)) + extra.encode()
    assert "shape" in error(inspect_npy, write(tmp_path, "n.npy", negative)).message


def test_npy_every_truncation(tmp_path):
    good = npy_bytes(np.arange(6, dtype=">i4").reshape(2, 3))
    for n in range(len(good)):
        error(inspect_npy, write(tmp_path, f"p{n}.npy", good[:n]))
    assert inspect_npy(write(tmp_path, "ok.npy", good)) == Array((2, 3), "int32", 0, 5)


def test_garbage(tmp_path):
    rng = random.Random(7)
    for i in range(40):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        path = write(tmp_path, f"g{i}", blob)
        for fn in (inspect_npy, inspect_npz, inspect_pt):
            error(fn, path)
        try:  # random bytes may happen to be a CSV of numbers
            inspect_csv(path)
        except DataFileError:
            pass


# ---- .npz -----------------------------------------------------------------------------------


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_npz(tmp_path, save):
    arrays = {
        "images": sample("uint8", (4, 8, 8)),
        "labels": sample("int64", (4,)),
        "weights": sample("float32", (3, 2)),
        "scalar": np.array(-5, dtype=">i2"),
        "mask": sample("bool", (5,)),
    }
    save(tmp_path / "a.npz", **arrays)
    got = inspect_npz(tmp_path / "a.npz")
    assert list(got) == list(arrays)
    for key, a in arrays.items():
        assert got[key] == expected(a, a.dtype.name)


def test_npz_reads_only_the_arrays_asked_for(tmp_path):
    """A damaged member goes unnoticed until its values are asked for, then is named."""
    x = (np.arange(300_000) % 251).astype(np.uint8)
    np.savez(tmp_path / "a.npz", x=x, y=np.arange(7) % 3)
    raw = bytearray((tmp_path / "a.npz").read_bytes())
    at = raw.index(bytes(range(251)), 200_000)  # deep inside x's values
    raw[at : at + 4] = b"\xff\xff\xff\xff"
    got = inspect_npz(write(tmp_path, "b.npz", bytes(raw)))
    assert (got["y"].min, got["y"].max) == (0, 2)
    e = raised(lambda: got["x"].max)
    assert "b.npz['x']" in e.message and "crc" in e.message.lower()


def test_npz_refused(tmp_path):
    torch.save(torch.ones(2), tmp_path / "t.pt")
    e = error(inspect_npz, tmp_path / "t.pt")
    assert "holds no .npy arrays" in e.message and "pt(" in e.help
    np.save(tmp_path / "one.npy", np.ones(2))
    assert "npy(" in error(inspect_npz, tmp_path / "one.npy").help
    np.savez(tmp_path / "o.npz", a=np.ones(2), b=np.array([{}], dtype=object))
    assert "o.npz['b'] holds Python objects" in error(inspect_npz, tmp_path / "o.npz").message
    good = (tmp_path / "o.npz").read_bytes()
    for n in range(0, len(good), 7):
        error(inspect_npz, write(tmp_path, f"cut{n}.npz", good[:n]))


# ---- .pt ------------------------------------------------------------------------------------

TORCH_DTYPES = {
    "float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}  # fmt: skip


def tensor_sample(dtype: str, shape: tuple, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = TORCH_DTYPES[dtype]
    if t == torch.bool:
        return torch.randint(0, 2, shape, generator=g).bool()
    if t.is_floating_point:
        return torch.randn(shape, generator=g).to(t)
    info = torch.iinfo(t)
    return torch.randint(info.min, info.max, shape, generator=g, dtype=t)


def torch_expected(t: torch.Tensor, dtype: str) -> Array:
    if t.is_floating_point() or t.numel() == 0:
        return Array(tuple(t.shape), dtype)
    return Array(tuple(t.shape), dtype, t.min().item(), t.max().item())


@pytest.mark.parametrize("dtype", TORCH_DTYPES)
@pytest.mark.parametrize("shape", [(), (9,), (2, 3, 4), (3, 0)])
def test_pt_tensor(tmp_path, dtype, shape):
    t = tensor_sample(dtype, shape)
    torch.save(t, tmp_path / "t.pt")
    assert inspect_pt(tmp_path / "t.pt") == torch_expected(t, dtype)


def test_pt_dicts(tmp_path):
    tensors = {"x": tensor_sample("float32", (5, 2)), "y": tensor_sample("int64", (5,))}
    torch.save(tensors, tmp_path / "d.pt")
    got = inspect_pt(tmp_path / "d.pt")
    assert got == {k: torch_expected(t, str(t.dtype)[6:]) for k, t in tensors.items()}
    torch.save(collections.OrderedDict(a=torch.arange(3)), tmp_path / "o.pt")
    assert inspect_pt(tmp_path / "o.pt") == {"a": Array((3,), "int64", 0, 2)}
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    torch.save(model.state_dict(), tmp_path / "s.pt")
    got = inspect_pt(tmp_path / "s.pt")
    assert got["0.weight"] == Array((4, 3), "float32")
    assert got["1.num_batches_tracked"] == Array((), "int64", 0, 0)
    torch.save({"w": torch.nn.Parameter(torch.ones(2, 2))}, tmp_path / "p.pt")
    assert inspect_pt(tmp_path / "p.pt") == {"w": Array((2, 2), "float32")}


def views():
    base = torch.arange(60, dtype=torch.int32).reshape(3, 4, 5) * 7 % 61 - 30
    yield "step", base.flatten()[::2]
    yield "offset", base.flatten()[5:17]
    yield "transposed", base.transpose(0, 2)
    yield "sliced", base[1:, ::2, 1:4]
    yield "column", base[:, 2, 3]
    yield "expanded", torch.tensor([[3], [-4]], dtype=torch.int16).expand(2, 6)
    yield "one element", base[2, 3, 4]
    shared = torch.arange(100, dtype=torch.uint8)
    yield "shared storage", {"a": shared[10:20], "b": shared[::9], "c": shared}


@pytest.mark.parametrize("name, value", list(views()), ids=[n for n, _ in views()])
def test_pt_views(tmp_path, name, value):
    """A view saves its whole storage; only the elements it sees count."""
    torch.save(value, tmp_path / "v.pt")
    got = inspect_pt(tmp_path / "v.pt")
    if isinstance(value, dict):
        assert got == {k: torch_expected(t, str(t.dtype)[6:]) for k, t in value.items()}
    else:
        assert got == torch_expected(value, str(value.dtype)[6:])
        assert value.storage_offset() or not value.is_contiguous() or name == "one element"


def rewrite(src, dst, change):
    """Copy a zip archive, passing each member's (name, bytes) through ``change``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info))
            if data is not None:
                zout.writestr(info.filename, data)


@pytest.mark.parametrize("chunk", [8, 24, 1 << 22])
def test_pt_views_read_in_chunks(tmp_path, monkeypatch, chunk):
    """The range of a strided view is the same whatever the chunk its storage is read in."""
    base = torch.arange(-40, 80, dtype=torch.int32).reshape(8, 15)
    views = {"t": base.t(), "cols": base[:, 2:9:3], "step": base[1::3, ::4], "whole": base}
    torch.save(views, tmp_path / "v.pt")
    monkeypatch.setattr(datafiles_pt, "CHUNK", chunk)
    got = inspect_pt(tmp_path / "v.pt")
    for key, view in views.items():
        assert (got[key].min, got[key].max) == (view.min().item(), view.max().item()), key


def test_pt_big_endian(tmp_path):
    value = {
        "a": torch.tensor([[-300, 2], [70000, 5]], dtype=torch.int32)[:, 0],
        "b": torch.ones(2),
    }
    torch.save(value, tmp_path / "le.pt")

    def swap(name, data):
        if name.endswith("/byteorder"):
            return b"big"
        if "/data/" in name and "/." not in name:
            return np.frombuffer(data, dtype="<i4").astype(">i4").tobytes()
        return data

    rewrite(tmp_path / "le.pt", tmp_path / "be.pt", swap)
    back = torch.load(tmp_path / "be.pt")  # torch reads the rewritten file as the same values
    assert back["a"].tolist() == [-300, 70000]
    assert inspect_pt(tmp_path / "be.pt") == {
        "a": Array((2,), "int32", -300, 70000),
        "b": Array((2,), "float32"),
    }


class Payload:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def with_pickle(tmp_path, name: str, obj, protocol: int = 2) -> str:
    """A copy of a real torch file whose data.pkl is replaced by a pickle of ``obj``."""
    torch.save(torch.arange(4), tmp_path / "real.pt")
    payload = pickle.dumps(obj, protocol=protocol)
    rewrite(
        tmp_path / "real.pt", tmp_path / name, lambda n, d: payload if n.endswith("data.pkl") else d
    )
    return str(tmp_path / name)


@pytest.mark.parametrize("protocol", [2, 4])
def test_pt_malicious(tmp_path, protocol):
    marker = tmp_path / "pwned"
    command = f"\"{sys.executable}\" -c \"open(r'{marker}', 'w').close()\""
    pickle.loads(pickle.dumps(Payload(os.system, command)))  # the payload does work...
    assert marker.exists()
    marker.unlink()
    path = with_pickle(tmp_path, "evil.pt", Payload(os.system, command), protocol)
    e = error(inspect_pt, path)  # ...but inspecting the file does not run it
    assert "holds more than tensors: its pickle calls posix.system" in e.message
    assert "nothing from this file was run" in e.help
    nested = {"x": torch.ones(1), "y": Payload(exec, f"open(r'{marker}', 'w').close()")}
    torch.save(torch.ones(1), tmp_path / "t.pt")
    buf = io.BytesIO()
    torch.save(nested, buf)  # torch pickles the payload itself
    (tmp_path / "nested.pt").write_bytes(buf.getvalue())
    assert "exec" in error(inspect_pt, tmp_path / "nested.pt").message
    assert not marker.exists()


def test_pt_memo_bomb(tmp_path):
    bomb = b"\x80\x02N" + b"r" + struct.pack("<I", 0xFFFFFFF0) + b"."  # LONG_BINPUT 4 billion
    torch.save(torch.arange(4), tmp_path / "real.pt")
    rewrite(
        tmp_path / "real.pt",
        tmp_path / "bomb.pt",
        lambda n, d: bomb if n.endswith("data.pkl") else d,
    )
    assert "memo index" in error(inspect_pt, tmp_path / "bomb.pt").message


def test_pt_refused(tmp_path):
    cases = {
        "list.pt": ([torch.ones(1)], "holds a list"),
        "int.pt": (
            {"x": torch.ones(1), "epoch": 3},
            "entry 'epoch' is not a tensor (its type is int)",
        ),
        "key.pt": ({1: torch.ones(1)}, "with the key 1; its keys must be strings"),
        "nested.pt": ({"m": {"w": torch.ones(1)}}, "entry 'm' is not a tensor (its type is dict)"),
        "complex.pt": (torch.ones(2, dtype=torch.complex64), "torch.ComplexFloatStorage"),
    }
    for name, (value, words) in cases.items():
        torch.save(value, tmp_path / name)
        assert words in error(inspect_pt, tmp_path / name).message
    torch.save(torch.ones(2), tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    assert "legacy format" in error(inspect_pt, tmp_path / "legacy.pt").message
    np.savez(tmp_path / "a.npz", x=np.ones(2))
    e = error(inspect_pt, tmp_path / "a.npz")
    assert "not a torch file" in e.message and "npz(" in e.help
    assert "is empty" in error(inspect_pt, write(tmp_path, "e.pt", b"")).message
    path = with_pickle(tmp_path, "s.pt", "just a string")
    assert "holds a str, not a tensor" in error(inspect_pt, path).message


def test_pt_damaged(tmp_path):
    torch.save({"a": torch.arange(10), "b": torch.ones(3)}, tmp_path / "ok.pt")
    good = (tmp_path / "ok.pt").read_bytes()
    for n in range(0, len(good), 11):
        error(inspect_pt, write(tmp_path, f"cut{n}.pt", good[:n]))
    rng = random.Random(3)
    for i in range(60):  # flipped bytes: a result or a DataFileError, never a crash
        data = bytearray(good)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            inspect_pt(write(tmp_path, f"flip{i}.pt", bytes(data)))
        except DataFileError:
            pass
    rewrite(
        tmp_path / "ok.pt",
        tmp_path / "nostore.pt",
        lambda n, d: None if n.endswith("data/0") else d,
    )
    assert "has no storage" in error(inspect_pt, tmp_path / "nostore.pt").message
    short = tmp_path / "short.pt"
    rewrite(tmp_path / "ok.pt", short, lambda n, d: d[:40] if n.endswith("data/0") else d)
    assert "reaches element 9 of a storage of 5" in error(inspect_pt, short).message


# ---- the compiler's own rules -----------------------------------------------------------------


def test_no_torch_or_numpy(tmp_path):
    """Reading every format loads neither torch nor numpy."""
    np.save(tmp_path / "a.npy", np.arange(3))
    np.savez(tmp_path / "b.npz", a=np.arange(3))
    torch.save({"a": torch.arange(3)}, tmp_path / "c.pt")
    code = (
        "import sys\n"
        "from nndsl.datafiles.inspect import inspect_csv, inspect_npy, inspect_npz, inspect_pt\n"
        f"[c.min for c in inspect_csv({str(DATA / 'iris.csv')!r}).all_columns]\n"
        f"inspect_npy({str(tmp_path / 'a.npy')!r}).min\n"
        f"inspect_npz({str(tmp_path / 'b.npz')!r})['a'].min\n"
        f"inspect_pt({str(tmp_path / 'c.pt')!r})['a'].min\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, 'loaded'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_docstrings():
    for module in (datafiles, datafiles_binary, datafiles_csv, datafiles_pt):
        assert module.__doc__
        for name in dir(module):
            obj = getattr(module, name)
            if callable(obj) and not name.startswith("_") and obj.__module__ == module.__name__:
                assert obj.__doc__, name
