"""`nndsl explain` and the table of codes: every code the compiler reports is in the table, every
code in the table has an explanation whose title is its meaning, and each explanation's wrong
example really reports its code while the fixed one compiles cleanly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze
from nndsl.diagnostics.codes import CODES as TABLE
from nndsl.diagnostics.codes import STAGES, live
from nndsl.diagnostics.core import Diagnostic
from nndsl.tools import explain

ROOT = Path(__file__).resolve().parent.parent
DATA_FOLDER = ROOT / "examples"  # the examples read data/iris.csv from here, as a .nn file would
WRONG = re.compile(r"^Wrong:\n\n```(\S+)\n(.*?)^```", re.M | re.S)
FIXED = re.compile(r"^Fixed:\n\n```nn\n(.*?)^```", re.M | re.S)
# Codes whose wrong example cannot be a source text; each is tested another way below.
NOT_FROM_TEXT = {
    "E0004": "a str is always valid text: the code comes from reading the file's bytes",
}


def _doc_meanings() -> dict[str, str]:
    text = (ROOT / "docs" / "LANGUAGE.md").read_text(encoding="utf-8")
    section = text.split("\n## Diagnostics\n", 1)[1].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| ([EW]\d{4}) \| (.*) \|$", section, re.M))


def _reported() -> set[str]:
    """Every code literal in nndsl/ outside the table itself, as tests/test_docs.py finds them."""
    table = ROOT / "nndsl" / "diagnostics" / "codes.py"
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (ROOT / "nndsl").rglob("*.py") if p != table
    )
    return set(re.findall(r"""["']([EW]\d{4})["']""", source))


CODES = sorted(live())  # the codes a program can be reported with: each has examples
RETIRED = sorted(set(TABLE) - set(CODES))


def test_every_reported_code_is_in_the_table():
    reported = _reported()
    assert len(reported) > 40, "the grep is broken"
    assert reported - set(TABLE) == set(), "codes missing from nndsl/diagnostics/codes.py"
    assert reported & set(RETIRED) == set(), "retired codes must not be reported"
    assert set(CODES) - reported == set(), "codes in the table that nothing reports"


def test_every_code_in_the_table_has_an_explanation_titled_by_it():
    files = {f.name[:-3] for f in explain.resources.files(explain.__name__).iterdir()}
    files = {name for name in files if re.match(r"^[EW]\d{4}$", name)}
    assert files == set(TABLE), "explain files and the table disagree"
    for code, entry in TABLE.items():
        first = explain.text(code).split("\n", 1)[0]
        assert first == f"# {code}: {entry.title}", f"{code}.md's title is not the table's"


def test_table_entries_are_well_formed():
    for code, entry in TABLE.items():
        assert entry.code == code and re.match(r"^[EW]\d{4}$", code)
        assert entry.stage in STAGES, code
        assert entry.title and "\n" not in entry.title and "|" not in entry.title
        for successor in entry.replaced_by:
            assert successor in CODES, f"{code} is replaced by {successor}, not a live code"


@pytest.mark.parametrize("code", RETIRED)
def test_retired_code_is_explained_and_names_its_successors(code, capsys):
    assert nndsl(["explain", code]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# {code}: retired")
    for successor in TABLE[code].replaced_by:
        assert successor in out, successor
        assert successor in TABLE[code].title or f"- {successor}:" in out


def test_e0107_is_retired():
    assert "E0107" in RETIRED and len(TABLE["E0107"].replaced_by) > 3


def test_a_diagnostic_with_a_code_outside_the_table_is_refused():
    with pytest.raises(ValueError, match="E0999"):
        Diagnostic("E0999", "no such code", None)
    with pytest.raises(ValueError, match="E0107"):
        Diagnostic("E0107", "a retired code", None)


def test_titles_are_the_meanings_in_the_docs_table():
    assert explain.codes() == _doc_meanings()
    assert list(explain.codes()) == sorted(TABLE)


@pytest.mark.parametrize("code", CODES)
def test_explanation_has_a_wrong_and_a_fixed_example(code):
    text = explain.text(code)
    assert text.startswith(f"# {code}: "), "the first line is `# CODE: meaning`"
    body = text.split("\nWrong:\n", 1)[0]
    assert len(body.split("\n\n")) >= 2, "a few paragraphs explain it"
    assert WRONG.search(text) and FIXED.search(text)


@pytest.mark.parametrize("code", CODES)
def test_wrong_example_reports_its_code(code):
    lang, source = WRONG.search(explain.text(code)).groups()
    if code in NOT_FROM_TEXT:
        assert lang != "nn", NOT_FROM_TEXT[code]
        pytest.skip(NOT_FROM_TEXT[code])
    assert lang == "nn"
    result = analyze(source, DATA_FOLDER)
    codes = [d.code for d in result.diagnostics]
    assert code in codes, [f"{d.code} {d.message}" for d in result.diagnostics]


@pytest.mark.parametrize("code", CODES)
def test_fixed_example_compiles_cleanly(code):
    source = FIXED.search(explain.text(code)).group(1)
    result = analyze(source, DATA_FOLDER)
    messages = [f"{d.code} {d.message}" for d in result.diagnostics]
    assert result.ok and not messages, messages


def test_not_utf8_example_through_the_file(tmp_path, capsys):
    """E0004's example, saved as Latin-1, as its text says."""
    source = FIXED.search(explain.text("E0004")).group(1)
    path = tmp_path / "latin1.nn"
    path.write_bytes(source.encode("latin-1"))
    assert nndsl(["check", str(path), "--format", "short"]) == 1
    assert "error[E0004]" in capsys.readouterr().err


# ---- the command ------------------------------------------------------------------------------


def test_explain_prints_the_file(capsys):
    assert nndsl(["explain", "E0301"]) == 0
    out = capsys.readouterr().out
    assert out == explain.text("E0301")
    assert out.startswith("# E0301: an explicit size that disagrees with the input\n")


def test_explain_takes_lower_case(capsys):
    assert nndsl(["explain", "w0101"]) == 0
    assert capsys.readouterr().out.startswith("# W0101: ")


@pytest.mark.parametrize("argv", [["explain"], ["explain", "--list"]])
def test_explain_lists_every_code(argv, capsys):
    assert nndsl(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == sorted(TABLE)
    assert "E0301  an explicit size that disagrees with the input" in lines


def test_unknown_code_is_a_usage_error_with_a_suggestion(capsys):
    assert nndsl(["explain", "E0302x"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.splitlines()) == 1
    assert "did you mean `E0302`?" in captured.err


def test_unknown_code_without_a_close_one(capsys):
    assert nndsl(["explain", "nothing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nndsl: error: ") and "did you mean" not in err


def test_explain_does_not_import_torch():
    code = (
        "import sys; from nndsl.cli import main; "
        "assert main(['explain', 'E0301']) == 0; assert main(['explain']) == 0; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
