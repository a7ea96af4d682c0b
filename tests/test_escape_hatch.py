"""The escape hatch: torch modules and functions nndsl has no entry for, named in full, and
classes imported from a Python file beside the .nn, each with a declared output shape that the
checker trusts and the generated forward checks when it runs."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import torch

import nndsl
from nndsl.cli import main as nndsl_main
from nndsl.compiler import analyze, generate

LAYERS = """
import torch
from torch import nn


class ScaleShift(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))
        self.shift = nn.Parameter(torch.zeros(channels, 1, 1))

    def forward(self, x):
        return x * self.scale + self.shift
"""

NET = """from "layers.py" import ScaleShift

model Net(x: [3, 8, 8]) {
    Conv2d(4, 3, padding=1)
    ScaleShift(4) -> same
    clip = torch.nn.Hardtanh(-2, max_val=2) -> same
    torch.nn.AdaptiveAvgPool2d(2) -> [4, 2, 2]
    Flatten()
    Linear(2)
}

model Seq(x: [T, 6]) {
    fc = Linear(6)
    soft = torch.nn.Softsign() -> [T, 6]
    forward {
        h = torch.flip(soft(fc(x)), [1]) -> same
        return torch.nn.functional.elu(h, alpha=0.5) -> [T, 6]
    }
}

data images {
    x = randn(16, 3, 8, 8)
    y = randint(0, 2, 16)
    batch 8
}

train Net on images {
    loss cross_entropy
    optimizer sgd(lr=0.1)
    epochs 1
}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "layers.py").write_text(LAYERS, encoding="utf-8")
    (tmp_path / "net.nn").write_text(NET, encoding="utf-8")
    return tmp_path


def _codes(text: str, base: Path) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) for d in analyze(text, base).diagnostics]


def test_check_knows_every_declared_shape(folder):
    result = analyze(NET, folder)
    assert result.ok, [d.message for d in result.diagnostics]
    net, seq = result.program.models
    assert [r.type for r in net.rows][1:4] == [
        "ScaleShift",
        "torch.nn.Hardtanh",
        "torch.nn.AdaptiveAvgPool2d",
    ]
    assert [r.shape for r in net.rows][1:4] == [("B", 4, 8, 8), ("B", 4, 8, 8), ("B", 4, 2, 2)]
    assert seq.output_shape == ("B", "T", 6)


def test_generated_code_imports_the_class_and_writes_torch_names_short(folder):
    code = generate(analyze(NET, folder).program, "net.nn")
    assert "from layers import ScaleShift\n" in code
    assert "nn.Hardtanh(-2, max_val=2)" in code and "F.elu(h, alpha=0.5)" in code
    tree = ast.parse(code)
    assert not [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and n.attr.startswith("__") and n.attr != "__init__"
    ]
    assert max(len(line) for line in code.splitlines()) <= 88


def test_the_models_run_with_the_shapes_the_checker_gave(folder):
    module = nndsl.load(folder / "net.nn")  # imports layers.py from beside the .nn
    assert module.Net()(torch.randn(5, 3, 8, 8)).shape == (5, 2)
    assert module.Seq()(torch.randn(2, 7, 6)).shape == (2, 7, 6)
    assert "layers" not in sys.modules  # read fresh at every load


def test_a_wrong_declared_shape_stops_the_forward_at_its_line(folder):
    wrong = NET.replace("-> [4, 2, 2]", "-> [4, 3, 3]").replace(
        "-> [T, 6]\n    forward", "-> [T, 5]\n    forward"
    )
    (folder / "net.nn").write_text(wrong, encoding="utf-8")
    assert analyze(wrong, folder).ok  # the checker trusts the declaration
    module = nndsl.load(folder / "net.nn")
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "net.nn:7: torch.nn.AdaptiveAvgPool2d returned (5, 4, 2, 2), declared (5, 4, 3, 3)"
        ),
    ):
        module.Net()(torch.randn(5, 3, 8, 8))
    with pytest.raises(
        RuntimeError,
        match=re.escape(
            "net.nn:14: soft (torch.nn.Softsign) returned (2, 7, 6), declared (2, 7, 5)"
        ),
    ):
        module.Seq()(torch.randn(2, 7, 6))


def test_same_is_checked_against_the_input(folder):
    (folder / "layers.py").write_text(LAYERS.replace("x * self.scale", "x[..., 1:] * self.scale"))
    module = nndsl.load(folder / "net.nn")
    with pytest.raises(RuntimeError, match=r"net\.nn:5: ScaleShift returned \(1, 4, 8, 7\)"):
        module.Net()(torch.randn(1, 3, 8, 8))


def test_run_copies_the_file_into_the_run_folder_and_trains(folder, tmp_path_factory, monkeypatch):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))  # not the folder of the .nn
    out = folder / "run"
    code = nndsl_main(
        ["run", str(folder / "net.nn"), "--out", str(out), "--max-steps", "1", "--quiet"]
    )
    assert code == 0
    assert (out / "layers.py").read_text(encoding="utf-8") == LAYERS
    assert "from layers import ScaleShift" in (out / "model.py").read_text(encoding="utf-8")


def test_compile_elsewhere_notes_the_file_to_copy(folder, capsys):
    out = folder / "elsewhere" / "model.py"
    assert nndsl_main(["compile", str(folder / "net.nn"), "-o", str(out), "--no-train"]) == 0
    assert "model.py imports layers.py, which is not beside it" in capsys.readouterr().err
    assert nndsl_main(["compile", str(folder / "net.nn"), "-o", str(folder / "m.py")]) == 0
    assert "layers.py" not in capsys.readouterr().err  # beside the .nn, it is beside the model


def test_the_checker_reads_the_file_but_never_runs_it(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "layers.py").write_text(
        f"open({str(marker)!r}, 'w').close()\nclass Norm:\n    pass\n", encoding="utf-8"
    )
    source = 'from "layers.py" import Norm\nmodel M(x: [4]) { Norm() -> same }\n'
    assert analyze(source, tmp_path).ok
    assert not marker.exists()


# ---- diagnostics ------------------------------------------------------------------------------

STACK_ERRORS = [  # a statement, its code, and the text the caret starts at
    ("numpy.clip(1) -> same", "E0131", "numpy"),
    ("torch.nn.functional.elu() -> same", "E0131", "torch"),
    ("torch.nn._Private() -> same", "E0131", "torch"),
    ("torch.nn.Hardtanh()", "E0132", "torch"),
    ("torch.nn.Hardtanh() -> other", "E0133", "other"),
    ("torch.nn.Hardtanh() -> [0]", "E0133", "0"),
    ("torch.nn.Hardtanh() -> [B, B]", "E0133", "B]"),
    ("torch.nn.Hardtanh() -> [width]", "E0108", "width"),
    ("Linear(4) -> [4]", "E0133", "[4]"),
]


@pytest.mark.parametrize("stmt,code,at", STACK_ERRORS, ids=[s for s, _, _ in STACK_ERRORS])
def test_a_stack_statement_is_refused_with_a_located_diagnostic(stmt, code, at, tmp_path):
    head = "model M(x: [4]) { "
    found = _codes(head + stmt + " }\n", tmp_path)
    assert (code, 1, len(head) + 1 + stmt.index(at)) in found, found


def test_a_missing_shape_says_how_to_declare_it(tmp_path):
    [d] = analyze("model M(x: [4]) {\n    torch.nn.Hardtanh(-1, 1)\n}\n", tmp_path).diagnostics
    assert d.code == "E0132" and (d.span.line, d.span.column) == (2, 5)
    assert "`torch.nn.Hardtanh(-1, 1) -> same`" in d.help and "-> [sizes]" in d.help


FORWARD_ERRORS = [
    ("torch.flip(x, [0])", "E0132", "torch"),
    ("torch.nn.Hardtanh(x) -> same", "E0131", "torch"),
    ("scipy.special(x) -> same", "E0131", "scipy"),
    ("relu(x) -> same", "E0133", "same"),
    ("torch.zeros(4) -> [4]", "E0133", "torch"),
]


@pytest.mark.parametrize("expr,code,at", FORWARD_ERRORS, ids=[e for e, _, _ in FORWARD_ERRORS])
def test_a_forward_call_is_refused_with_a_located_diagnostic(expr, code, at, tmp_path):
    head = "    forward { return "
    found = _codes(f"model M(x: [4]) {{\n{head}{expr} }}\n}}\n", tmp_path)
    assert (code, 2, len(head) + 1 + expr.index(at)) in found, found


def test_a_declared_shape_in_a_data_section_is_refused(tmp_path):
    source = "data d {\n    x = relu(randn(4, 2)) -> same\n    y = randn(4, 1)\n}\n"
    assert ("E0133", 2, 30) in _codes(source, tmp_path)


IMPORT_ERRORS = [
    ('"../layers.py"', "ScaleShift", "E0134"),
    ('"sub/layers.py"', "ScaleShift", "E0134"),
    ('"layers.txt"', "ScaleShift", "E0134"),
    ('"missing.py"', "ScaleShift", "E0134"),
    ('"torch.py"', "ScaleShift", "E0134"),
    ('"math.py"', "ScaleShift", "E0134"),
    ('"__init__.py"', "ScaleShift", "E0134"),
    ('"class.py"', "ScaleShift", "E0134"),
    ('"train_m.py"', "ScaleShift", "E0134"),
    ('"lay\\x00ers.py"', "ScaleShift", "E0134"),
    ('"broken.py"', "ScaleShift", "E0134"),
    ('"layers.py"', "ScaleShif", "E0135"),
    ('"layers.py"', "Linear", "E0135"),
]


@pytest.mark.parametrize(
    "path,name,code", IMPORT_ERRORS, ids=[f"{p}-{n}" for p, n, _ in IMPORT_ERRORS]
)
def test_an_import_is_refused_with_a_located_diagnostic(path, name, code, folder):
    (folder / "broken.py").write_text("class ScaleShift(:\n", encoding="utf-8")
    (folder / "torch.py").write_text("class ScaleShift: pass\n", encoding="utf-8")
    source = f"from {path} import {name}\nmodel M(x: [4, 2, 2]) {{ {name}(4) -> same }}\n"
    column = 6 if code == "E0134" else 14 + len(path)
    assert (code, 1, column) in _codes(source, folder)


def test_a_block_named_as_an_imported_class_is_defined_twice(folder):
    source = 'from "layers.py" import ScaleShift\nblock ScaleShift { ReLU() }\nmodel M(x: [4]) { ScaleShift() }\n'
    assert ("E0113", 2, 7) in _codes(source, folder)


def test_an_unused_import_writes_no_import(folder):
    source = 'from "layers.py" import ScaleShift\nmodel M(x: [4]) { Linear(2) }\n'
    assert "layers" not in generate(analyze(source, folder).program, "m.nn")


def test_the_messages_name_a_hostile_source_file_safely(folder):
    program = analyze(NET, folder).program
    code = generate(program, 'we"ird\\{x}.nn')
    ast.parse(code)
    [line] = [line for line in code.splitlines() if "where = " in line]
    assert ast.literal_eval(line.split(" = ", 1)[1]) == 'we"ird\\{x}.nn'  # a plain string


SHARED_CLASS = """
block Unit(planes) {
    conv = Conv2d(planes, 3, padding=1)
    clip = torch.nn.Hardtanh() -> [planes, 4, 4]
    forward(x) { return torch.nn.functional.relu6(clip(conv(x))) -> [planes, 4, 4] }
}
block Flat(planes) { Conv2d(planes, 3, padding=1)  torch.nn.Hardtanh() -> [planes, 4, 4] }
model M(x: [3, 4, 4]) { a = Unit(4)  b = Unit(8)  c = Flat(4)  d = Flat(8) }
"""


def test_a_size_of_the_blocks_parameters_is_read_from_self_so_one_class_serves(tmp_path):
    code = generate(analyze(SHARED_CLASS, tmp_path).program, "m.nn")
    assert re.findall(r"^class (\w+)", code, re.M) == ["Unit", "Flat", "M"]
    assert code.count("self.planes = planes") == 2 and "(B, self.planes, 4, 4)" in code
    assert "# (B, planes, 4, 4)" in code and "# (B, self." not in code
    namespace: dict = {}
    exec(compile(code, "m.py", "exec"), namespace)
    assert namespace["M"]()(torch.randn(2, 3, 4, 4)).shape == (2, 8, 4, 4)


def test_a_torch_call_keeps_its_keywords_last(tmp_path):
    source = "model M(x: [4]) {\n    forward { return torch.roll(x, shifts=1, 1) -> same }\n}\n"
    assert ("E0104", 2, 22) in _codes(source, tmp_path)
