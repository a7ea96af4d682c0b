"""The memo of built registry layers (nndsl.check.layer_memo): a layer taken from it is the
layer worked out afresh, and only what cannot differ shares a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.check import modules
from nndsl.check.checker import Checker
from nndsl.check.layer_memo import memo_key
from nndsl.compiler import analyze, generate
from nndsl.ir.shapes import Dim
from nndsl.lang.parser import parse

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [*ROOT.glob("examples/*.nn"), *ROOT.glob("tests/cases/*.nn"), *ROOT.glob("tests/errors/*.nn")]
)

REPEATED = """
model M(x: [3, 32, 32]) {
    Conv2d(16, 3, padding=1)
    ReLU()
    Conv2d(16, 3, padding=1)
    ReLU()
    MaxPool2d(2)
    Flatten()
    Linear(64)
    Dropout(0.5)
    Linear(64)
    Linear(10, bias=false)
    Linear(10, bias=false)
    Linear(16)
    Linear(1_6)
    Linear(16)
    LeakyReLU(-0.1)
    LeakyReLU(-1e-1)
    LeakyReLU(-1e-1)
}
block B(w=8) {
    Linear(w)
    ReLU()
    Linear(8)
    ReLU()
}
model N(x: [8]) {
    Linear(8)
    Linear(8)  # on (B, 8) here, on (B, w) in the block: a key apart
    B()
    B(8)
    B(w=8)
    repeat 3 { Linear(8) ReLU() }
    Unflatten(1, (1, 8))
    LSTM(8, 8, num_layers=2)
    LSTM(8, 8, num_layers=2)
}
"""

REFUSED = """
model R(x: [8]) {
    Linear(8)
    Linear(16.0)
}
model S(x: [8]) {
    Linear(8)
    Linear(16.0)
}
model T(x: [8]) {
    Linear(8)
    Conv2d(4, 3)
}
"""


def _call(text: str):
    return parse(f"model M(x: [4]) {{\n    {text}\n}}\n").items[0].body[0].call


def _everything(text: str, base: Path) -> list[str]:
    """What a check and a compile give: diagnostics, generated code, rows and graphs."""
    result = analyze(text, base)
    out = [repr(d) for d in result.diagnostics]
    if result.ok:
        program = result.program
        out += [generate(program, "x.nn", format=False), repr(program.models)]
        out += [repr(program.graphs[name]) for name in program.graphs]
    return out


@pytest.mark.parametrize(
    "source",
    [*SOURCES, REPEATED, REFUSED],
    ids=lambda p: p.name if isinstance(p, Path) else "ok" if "N(" in p else "refused",
)
def test_a_layer_from_the_memo_is_the_layer_worked_out(source, monkeypatch):
    text = source.read_text(encoding="utf-8") if isinstance(source, Path) else source
    base = source.parent if isinstance(source, Path) else ROOT
    remembered = _everything(text, base)
    monkeypatch.setattr(modules, "memo_key", lambda *args: None)
    assert remembered == _everything(text, base)


def test_the_programs_here_compile_or_fail_as_meant():
    assert analyze(REPEATED).ok
    assert [d.code for d in analyze(REFUSED).diagnostics] == ["E0106", "E0106", "E0302"]


def test_identical_layers_are_worked_out_once():
    body = "".join("    Linear(16)\n    ReLU()\n" for _ in range(200))
    text = "model Flat(x: [16]) {\n" + body + "}\n"
    checker = Checker(parse(text), text)
    checker.run()
    # Linear and ReLU on the input, then each on the output of the other
    assert len(checker.layer_memo) <= 4


def test_the_key_keeps_what_the_generated_code_or_the_result_depends_on():
    shape = ("B", 16)
    assert memo_key(_call("Linear(16)"), shape, "float") == memo_key(
        _call("Linear(16)"), shape, "float"
    )
    keys = [
        memo_key(_call(text), shape, "float")
        for text in ("Linear(16)", "Linear(1_6)", "Linear(16.0)", "Linear(out_features=16)")
    ]
    assert len(set(keys)) == len(keys)
    assert memo_key(_call("Dropout(1)"), shape, "float") != memo_key(
        _call("Dropout(true)"), shape, "float"
    )
    linear = _call("Linear(16)")
    assert memo_key(linear, shape, "float") != memo_key(linear, shape, "float16")
    assert memo_key(linear, ("B", Dim(16, "width")), "float") != memo_key(
        linear, ("B", Dim(16)), "float"
    )
    assert memo_key(linear, ("B", Dim(16)), "float") != memo_key(linear, ("B", 16), "float")


def test_arguments_that_read_a_name_have_no_key():
    assert memo_key(_call("Linear(width)"), ("B", 16), "float") is None
    assert memo_key(_call("Linear(2 * width)"), ("B", 16), "float") is None
    assert memo_key(_call("Unflatten(1, (1, width))"), ("B", 16), "float") is None
    assert memo_key(_call("Unflatten(1, (1, -8))"), ("B", 16), "float") is not None
