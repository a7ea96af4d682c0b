"""Formatting generated code: long inline data tables are packed into rows and kept out of
black's way, and the result is exactly what black alone would leave."""

from __future__ import annotations

import ast
import random

import pytest

from nndsl.codegen import formatting
from nndsl.codegen import render as codegen
from nndsl.compiler import analyze


def script_body(rows: int) -> str:
    rng = random.Random(rows)
    x = ", ".join(f"[{rng.uniform(-9, 9):.3f}, {rng.randint(-99, 99)}]" for _ in range(rows))
    text = (
        f"model T(x: [2]) {{ Linear(1) }}\ndata d {{\n    x = [{x}]\n    y = zeros({rows}, 1)\n}}\n"
        "train T on d { loss mse optimizer sgd(lr=0.1) epochs 1 }\n"
    )
    result = analyze(text)
    assert result.ok, result.diagnostics
    return codegen.render_train(result.program.trains[0], "t.nn", "model")


@pytest.mark.parametrize("rows", [3, 40, 400])
def test_cutting_regions_out_changes_nothing_black_would_write(rows):
    body = script_body(rows)
    assert ("# fmt: off" in body) == (rows > 3)
    whole = formatting._format(body, cache=False)  # black over every token
    assert formatting.black_format(body, cache=False) == whole
    assert formatting.black_format(whole, cache=False) == whole  # stable


LINES = [
    "x = torch.tensor([" + ", ".join(f"[{i}, {i * 0.5}]" for i in range(200)) + "])  # (200, 2)",
    "x = torch.tensor([" + ", ".join(str(i) for i in range(300)) + "]) * 2 + 1",
    'y = read_csv(data_dir / "a, b # c.csv", skip=1) + torch.tensor(['
    + ", ".join(["[1, 2, 3]"] * 100)
    + "])  # a comment, with commas",
    "z = torch.tensor([[[" + "], [".join(", ".join(["7"] * 30) for _ in range(8)) + "]]])",
]


@pytest.mark.parametrize("line", LINES, ids=["rows", "flat", "string", "deep"])
def test_a_packed_statement_means_the_same_and_fits_the_width(line):
    out = codegen.packed(line, 4)
    lines = out.splitlines()
    assert lines[0] == "# fmt: off" and lines[-1] == "    # fmt: on"
    body = "\n".join(lines[1:-1])
    assert max(len(x) for x in lines[1:-1]) <= codegen.WIDTH
    assert ast.dump(ast.parse(body.strip())) == ast.dump(ast.parse(line))
    if "#" in line.split('"')[-1]:
        assert lines[-2].endswith(line[line.rindex("  #") :])  # the comment stays at the end


def test_short_statements_are_left_to_black():
    line = "x = torch.tensor([[1, 2], [3, 4]])  # (2, 2)"
    assert codegen.packed(line, 4) == line


def bodies():
    """The rendered model module and training scripts of every example, before formatting."""
    from compiled import EXAMPLES

    for path in EXAMPLES:
        result = analyze(path.read_text(encoding="utf-8"), path.parent)
        yield pytest.param(codegen.render(result.program), id=f"{path.stem}.model")
        for t in result.program.trains:
            yield pytest.param(
                codegen.render_train(t, path.name, "model"), id=f"{path.stem}.{t.script}"
            )


@pytest.mark.parametrize("body", list(bodies()))
def test_formatting_piece_by_piece_gives_what_black_gives_the_whole(body, tmp_path, monkeypatch):
    monkeypatch.setenv("NNDSL_CACHE_DIR", str(tmp_path))
    whole = formatting.black_format(body, cache=False)
    assert formatting.black_format(body) == whole  # formatted piece by piece, stored
    assert formatting.black_format(body) == whole  # read back
    assert len(formatting.pieces(body)) > 1


def test_pieces_start_at_definitions_with_their_decorators_and_comments():
    code = 'import x\n\nA = 1\n# about f\n@dec\ndef f():\n    """d\ndef g(): not a def\n"""\n\n\nclass C: pass\n'
    assert formatting.pieces(code) == [
        "import x\n\nA = 1\n",
        '# about f\n@dec\ndef f():\n    """d\ndef g(): not a def\n"""\n\n\n',
        "class C: pass\n",
    ]
