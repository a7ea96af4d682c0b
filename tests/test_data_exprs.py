"""Data sections are an expression language: `cat`, `stack`, comparisons and the element-wise
functions of a forward over the tensors defined above, checked with the forward's shape and dtype
rules; the loader the training script runs computes the values the expressions say; and a
streamed section takes what one batch of rows can compute, refusing the rest at its place."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze, generate_train


def program(data: list[str], inputs: str = "4", loss: str = "mse") -> str:
    """A model, a data section of the lines ``data`` (from line 5) and a train section."""
    body = "".join(f"    {line}\n" for line in data)
    return (
        f"model M(x: [{inputs}]) {{\n    out = Linear(1)\n}}\n"
        f"data d {{\n{body}}}\n"
        f"train M on d {{\n    loss {loss}\n}}\n"
    )


def errors(tmp_path: Path, data: list[str], **kw) -> list:
    result = analyze(program(data, **kw), tmp_path)
    return [d for d in result.diagnostics if d.severity == "error"]


def loaded(tmp_path: Path, data: list[str], **kw):
    """The data loader of the training script, executed as the script runs it."""
    result = analyze(program(data, **kw), tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]
    text = generate_train(result.program.trains[0], "t.nn", "model")
    tree = ast.parse(text)
    keep = [n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module == "__future__"]
    keep += [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DRows"]
    keep += [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "load_d"]
    scope = {"np": np, "torch": torch, "Path": Path, "__file__": str(tmp_path / "train.py")}
    exec(compile(ast.Module(keep, []), "train.py", "exec"), scope)
    return scope["load_d"](SimpleNamespace(data_dir="."))


def at(d) -> tuple[str, int, int]:
    return d.code, d.span.line, d.span.column


@pytest.fixture
def files(tmp_path: Path) -> dict[str, np.ndarray]:
    arrays = {
        "a": np.linspace(-1, 1, 24, dtype=np.float32).reshape(12, 2),
        "b": np.arange(72, dtype=np.float32).reshape(12, 3, 2) / 10,
        "ids": np.arange(12) % 3,
    }
    for name, a in arrays.items():
        np.save(tmp_path / f"{name}.npy", a)
    return arrays


# ---- the checker's types, as `nndsl check` prints them -----------------------------------------


def test_cat_of_a_tensor_and_a_converted_mask_checks_and_prints_the_types(tmp_path, capsys):
    """The issue's program: `a` inside the list was once "not defined"."""
    path = tmp_path / "d.nn"
    lines = ["a = randn(10, 2)", "even = a > 0", "x = cat([a, float(even)], 1)", "y = randn(10, 1)"]
    path.write_text(program(lines), encoding="utf-8")
    assert nndsl(["check", str(path)]) == 0
    out = capsys.readouterr().out
    table = out.split("Data d: 10 samples\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = [line.split() for line in table[2:]]
    assert rows == [
        ["a", "(10,", "2)", "float32"],
        ["even", "(10,", "2)", "bool"],
        ["x", "(10,", "4)", "float32"],
        ["y", "(10,", "1)", "float32"],
    ]


@pytest.mark.parametrize(
    "line, shape, dtype",
    [
        ("t = stack([a, a, a], 1)", (12, 3, 2), "float32"),
        ("t = stack([a, a], -1)", (12, 2, 2), "float32"),
        ("t = cat([b, b], -2)", (12, 6, 2), "float32"),
        ("t = cat([a, ids[:, none]], 1)", (12, 3), "float32"),  # promoted, as torch does
        ("t = cat([long(a > 0), ids[:, none]], 1)", (12, 3), "int64"),
        ("t = a <= 0.5", (12, 2), "bool"),
        ("t = ids != 2", (12,), "bool"),
        ("t = where(a > 0, a, -a)", (12, 2), "float32"),
        ("t = clamp(exp(a), max=2)", (12, 2), "float32"),
        ("t = sqrt(abs(a)) + sin(a) * tanh(a) - log(sigmoid(a))", (12, 2), "float32"),
        ("t = sum(b, [1, 2])", (12,), "float32"),
        ("t = argmax(b[:, :, 0], -1)", (12,), "int64"),
        ('t = cat([reshape(b, -1, 6), npy("a.npy")], 1)', (12, 8), "float32"),
    ],
)
def test_data_expressions_have_the_forwards_types(tmp_path, files, line, shape, dtype):
    data = ['a = npy("a.npy")', 'b = npy("b.npy")', 'ids = npy("ids.npy")', line]
    result = analyze(program([*data, "x = cat([a, a], 1)", "y = a[:, 0:1]"]), tmp_path)
    assert result.ok, [d.message for d in result.diagnostics]
    (table,) = result.program.datas
    assert dict((n, (s, t)) for n, s, t in table.tensors)["t"] == (shape, dtype)


# ---- what the loader computes ----------------------------------------------------------------


def test_the_loader_computes_what_the_expressions_say(tmp_path, files):
    a, b, ids = (torch.from_numpy(files[n]) for n in ("a", "b", "ids"))
    got = loaded(
        tmp_path,
        [
            'a = npy("a.npy")',
            'b = npy("b.npy")',
            'ids = npy("ids.npy")',
            "even = ids == 0",
            "x = cat([a, float(even)[:, none], where(a > 0, a, 0 * a)[:, 0:1]], -1)",
            "y = stack([sum(b, [1, 2]), amax(abs(a), 1)], 1)[:, 0:1]",
        ],
    )
    even = (ids == 0).float()[:, None]
    assert torch.equal(got["x"], torch.cat([a, even, torch.where(a > 0, a, 0 * a)[:, 0:1]], -1))
    assert got["x"].dtype == torch.float32 and got["x"].shape == (12, 4)
    assert torch.allclose(got["y"], b.sum(dim=(1, 2))[:, None])


def test_randn_like_draws_from_the_sections_seed(tmp_path):
    got = loaded(
        tmp_path,
        ["a = randn(6, 2)", "x = cat([a, randn_like(a)], 1)", "y = rand_like(a)[:, 0:1]", "seed 3"],
    )
    g = torch.Generator().manual_seed(3)
    a, noise = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    u = torch.rand(6, 2, generator=g)
    assert torch.equal(got["x"], torch.cat([a, noise], 1)) and torch.equal(got["y"], u[:, 0:1])


def test_a_streamed_section_joins_and_compares_row_by_row(tmp_path, files):
    lines = [
        'a = npy("a.npy")',
        'ids = npy("ids.npy")',
        "m = a > 0",
        "x = cat([a, float(m)], -1)",
        "y = sum(stack([a, float(ids)[:, none] * a], 2), -1)[:, 0:1]",
        "stream true",
    ]
    rows = loaded(tmp_path, lines)
    a, ids = torch.from_numpy(files["a"]), torch.from_numpy(files["ids"])
    batch = rows[[1, 5, 6]]
    assert torch.equal(batch["x"], torch.cat([a, (a > 0).float()], -1)[[1, 5, 6]])
    want = (a + ids.float()[:, None] * a)[:, 0:1]
    assert torch.allclose(batch["y"], want[[1, 5, 6]])


# ---- errors ----------------------------------------------------------------------------------


def test_a_name_defined_below_says_where(tmp_path):
    (found,) = errors(
        tmp_path, ["a = randn(10, 2)", "x = cat([a, b], 1)", "b = randn(10, 2)", "y = a[:, 0:1]"]
    )
    assert at(found) == ("E0108", 6, 17)
    assert found.message == "`b` is defined on line 7, after this line"
    assert "move it up" in found.help and found.labels[0].span.line == 7


def test_a_name_used_in_its_own_definition(tmp_path):
    (found,) = errors(tmp_path, ["x = x * 2", "y = randn(10, 1)"])
    assert at(found) == ("E0108", 5, 9) and "its own definition" in found.message


def test_a_name_defined_nowhere_is_not_defined(tmp_path):
    (found,) = errors(tmp_path, ["a = randn(10, 4)", "x = cat([a, c], 1)", "y = a[:, 0:1]"])
    assert at(found) == ("E0108", 6, 17) and found.message == "`c` is not defined"


@pytest.mark.parametrize(
    "line, column, message",
    [
        ("x = cat([a, randn(9, 2)], 1)", 17, "item 1 is (9, 2) but item 0 is (10, 2), dim 0"),
        ("x = cat([a, a, randn(10, 2, 1)], 1)", 20, "same number of dims: item 2"),
        ("x = stack([a, randn(10, 3)], -1)", 19, "`stack` needs equal sizes: item 1"),
        ("x = cat([a, 1], 1)", 17, "item 1 is the number 1"),
        ("x = cat([a, a], 2)", 21, "dim 2 is out of range for (10, 2)"),
        ("x = a + randn(10, 3)", 9, "cannot broadcast (10, 2) with (10, 3)"),
    ],
)
def test_a_shape_mistake_points_at_its_item(tmp_path, line, column, message):
    (found,) = errors(tmp_path, ["a = randn(10, 2)", line, "y = a[:, 0:1]"])
    assert at(found) == ("E0303", 6, column) and message in found.message, found.message


def test_a_list_of_tensors_written_inline_suggests_stack_or_cat(tmp_path):
    (found,) = errors(tmp_path, ["a = randn(10, 2)", "x = [a, a]", "y = a[:, 0:1]"])
    assert at(found) == ("E0106", 6, 10) and "holds numbers, not tensors" in found.message
    assert "stack(" in found.help and "cat(" in found.help


def test_a_tensor_where_a_number_is_written_in_place(tmp_path):
    (tmp_path / "t.csv").write_text("p,q\n1,2\n3,4\n", encoding="utf-8")
    lines = ["a = randn(10, 2)", "x = randn(10, a * 2)", 't = csv("t.csv")', "y = t[:, a]"]
    found = errors(tmp_path, lines)
    assert [at(d) for d in found] == [("E0106", 6, 19), ("E0106", 8, 14)]
    assert "`a` is a data tensor" in found[0].message and "column index" in found[1].message


def test_a_table_is_not_a_tensor(tmp_path):
    (tmp_path / "t.csv").write_text("p,q\n1,2\n3,4\n", encoding="utf-8")
    (found,) = errors(tmp_path, ['t = csv("t.csv")', "x = cat([t, t], 1)", "y = t[:, 0:1]"])
    assert at(found) == ("E0106", 6, 14) and "t.csv is a table" in found.message
    assert "`t[:, 0:2]`" in found.help


@pytest.mark.parametrize(
    "line, column, message",
    [
        ("x = cat([a, a], 0)", 9, "`cat` along dim 0 mixes the samples"),
        ("x = stack([a, a], -3)", 9, "`stack` along dim 0"),
        ("x = a * mean(a)", 13, "`mean` over every dim"),
        ("x = reshape(a, -1, 1)", 9, "does not keep one row per sample"),
        ("x = a[0:4]", 9, "keeps the first dim"),
        ("x = a * [1, 2]", 13, "a list written inline"),
        ("x = randn_like(a)", 9, "`randn_like` draws new data"),
        ('x = float(npy("a.npy"))', 15, "a line of its own"),
    ],
)
def test_a_streamed_section_refuses_what_one_batch_cannot_compute(
    tmp_path, files, line, column, message
):
    found = errors(tmp_path, ['a = npy("a.npy")', line, "y = a[:, 0:1]", "stream true"])
    assert ("E0409", 6, column) in [at(d) for d in found], [d.message for d in found]
    assert any(message in d.message for d in found), [d.message for d in found]


def test_the_forward_points_at_the_item_too(tmp_path):
    source = (
        "model M(x: [4]) {\n"
        "    fc = Linear(3)\n"
        "    forward { return cat([x, fc(x), x[:, 0:2, none]], 1) }\n"
        "}\n"
    )
    (found,) = analyze(source, tmp_path).diagnostics
    assert at(found) == ("E0303", 3, source.splitlines()[2].index("x[:, 0:2") + 1)


def test_an_archive_is_not_a_tensor(tmp_path):
    np.savez(tmp_path / "d.npz", images=np.zeros((10, 2), np.float32))
    (found,) = errors(tmp_path, ['z = npz("d.npz")', "x = float(z)", 'y = z["images"][:, 0:1]'])
    assert at(found) == ("E0106", 6, 15) and "holds several arrays" in found.message
    assert found.help == 'pick one by name, e.g. `z["images"]`'


def test_picking_from_an_empty_dim_is_located():
    """Found by one-step fuzzing: `argmax(x[:, 10 ** 9:10], 1)` (an empty slice) checked clean
    and the script died in torch ("Expected reduction dim 1 to have non-zero size")."""
    from nndsl.compiler import analyze

    text = "data d {\n    x = randn(64, 12)\n    y = argmax(x[:, 10 ** 9:10], 1)\n}\n"
    found = [d for d in analyze(text).diagnostics if d.severity == "error"]
    assert [(d.code, d.span.line) for d in found] == [("E0303", 3)]
    assert "`argmax` of no values: dim 1 of (64, 0) has size 0" in found[0].message
