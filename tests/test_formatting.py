"""Formatting generated code: long inline data tables are packed into rows and kept out of
black's way, and the result is exactly what black alone would leave."""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.codegen import blackstable, formatting
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


# ---- code black would leave as it is, told without black ----------------------------------------

# Each of these black rewrites (the test checks it does), so none may be taken as it is.
REWRITTEN = [
    "x = (1)\n",
    "return_ = f( x)\n",
    "y = f (x)\n",
    "y = f(x , z)\n",
    "y = f(a = 1)\n",
    "def f(x: int=0):\n    return x\n",
    "y = x ** 2\n",
    "y = -x ** 2\n",
    "y = 'a'\n",
    "y = 1E5\n",
    "y = 1e+5\n",
    "y = .5\n",
    "y = 0XFF\n",
    "y = x[a+1 :]\n",
    "y = x[a + 1:]\n",
    "y = f(x,)\n",
    "y = [1, 2,]\n",
    "y = x  #comment\n",
    "y = x # comment\n",
    "y = 1; z = 2\n",
    "if x: y = 1\n",
    "class A():\n    pass\n",
    "def f():\n    ...\n",
    "for (a, b) in c:\n    pass\n",
    "def f():\n    return (x)\n",
    "while (x):\n    pass\n",
    "import x\ny = 1\n",
    "import x\n\n\n\ny = 1\n",
    "class A:\n    pass\nclass B:\n    pass\n",
    "class A:\n    pass\n\n\n\nclass B:\n    pass\n",
    "class A:\n    def f(self):\n        pass\n    def g(self):\n        pass\n",
    'class A:\n    """Doc."""\n    x = 1\n',
    'class A:\n    """ Doc."""\n',
    "def f():\n    pass\ny = 1\n",
    "def f():\n    if x:\n        pass\n\n\n\n    return 1\n",
    "y = x  \n",
    "y = x\n\n",
    "\ny = x\n",
    "y = f(a,\n      b)\n",
    "y = x if(a) else b\n",
    "y = x[1 :2]\n",
    "def f() -> (int):\n    pass\n",
    "y = " + " + ".join(["x"] * 30) + "\n",
]

# ...and black keeps each of these as it is; they are in the subset vouched for.
KEPT = [
    "import torch\nimport torch.nn as nn\n\n\nclass A(nn.Module):\n"
    '    """model A: (B, 2) -> (B, 1)."""\n\n    def __init__(self):\n'
    "        super().__init__()\n        self.fc = nn.Linear(2, 1, bias=False)\n\n"
    "    def forward(self, x: torch.Tensor) -> torch.Tensor:\n"
    "        return self.fc(-x) * 2  # (B, 1)\n",
    "def f(x: int = 0, *args, y=-1) -> int:\n    return x if not y else -y\n",
    "y = [f(i) for i in range(3) if i != 1]\n",
    'y = {"a": 1, "b": [2, 3]}\nz = x[0][-1] @ w.t()\n',
    "def f():\n    x = 1\n\n    return x\n\n\ny = f()\n",
    "import x\n\ny = 1\n",
    "@dec(1)\ndef f():\n    pass\n",
    "y = (a + b) * c\n",
    "x = (1, 2)\n",
]


@pytest.mark.parametrize("code", REWRITTEN)
def test_code_black_rewrites_is_never_taken_as_it_is(code):
    assert formatting.black_format(code, cache=False) != code  # a true rewrite, so:
    assert not blackstable.is_stable(code)


@pytest.mark.parametrize("code", KEPT)
def test_plain_code_black_keeps_is_recognised(code):
    assert formatting.black_format(code, cache=False) == code
    assert blackstable.is_stable(code)


@pytest.mark.parametrize("body", list(bodies()))
def test_code_taken_as_it_is_is_what_black_writes(body):
    if blackstable.is_stable(body):
        assert formatting.black_format(body, cache=False) == body


def test_a_plain_model_is_compiled_without_black(tmp_path):
    from compiled import EXAMPLES

    cnn = next(p for p in EXAMPLES if p.name == "cnn.nn")
    result = analyze(cnn.read_text(encoding="utf-8"), cnn.parent)
    assert blackstable.is_stable(codegen.render(result.program))
    env = dict(os.environ, NNDSL_CACHE_DIR=str(tmp_path / "cache"))
    probe = (
        "import sys; from nndsl.cli import main; "
        f"code = main(['compile', {str(cnn)!r}, '-o', {str(tmp_path / 'a.py')!r}]); "
        "print(code, 'black' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["0", "False"], out.stderr
    golden = Path(__file__).parent / "golden" / "cnn.py"
    assert (tmp_path / "a.py").read_text() == golden.read_text()
