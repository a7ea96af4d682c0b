"""The fast parsing path (nndsl.lang.fastparse) gives exactly lark's tree, or gives up."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from lark.exceptions import UnexpectedInput

from nndsl.lang import tables
from nndsl.lang.fastparse import GiveUp
from nndsl.lang.parser import _fast_parser, _parser, parse
from nndsl.lang.tables import FAST_TABLES, write_fast_tables
from nndsl.util.resources import resource_dir

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "examples").glob("*.nn"), *(ROOT / "tests").glob("**/*.nn")])
FENCE = re.compile(r"^```(?:nn|nn-error)\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOC_SNIPPETS = [
    snippet
    for md in sorted((ROOT / "docs").glob("*.md"))
    for snippet in FENCE.findall(md.read_text(encoding="utf-8"))
]

# Texts lark reads in a context-dependent way, numbers and strings in every spelling, and
# layouts that move lines and columns about.
TRICKY = [
    "model model(x: [1]) { Linear(3) }",  # a keyword where only a name fits
    "model M(x: [1]) { shared shared = Linear(2)  shared }",
    "block as(repeat = 2) { Linear(repeat) }\nmodel M(x: [4]) { as() }",
    "model M(x: [n] long) { a = repeat 2 as i { Linear(i + 1) } }",
    "model M(x: [1]) { Linear(1_000, bias=false) Dropout(p=.5) Foo(1e-3, 2.5E+2, 3., 'a\\'b', \"c\") }",
    "model M(x: [1]) { Foo(2 ** -3 // 4 % 5 - +6 * (7,) / [8, 9,], true, none, ()) }",
    "model M(\r\n  x: [1, 2,],\r\n) {\r\n\tLinear(4)  # tab, CRLF\r\n}\r\n",
    "# only a comment\n",
    "",
    "block B { ReLU() }",
]


def both(text: str):
    """Lark's own outcome and the fast path's, each ("ok", tree), ("error", type) or "give up"."""
    try:
        lark = ("ok", _parser().parse(text))
    except UnexpectedInput as err:
        lark = ("error", type(err).__name__)
    try:
        fast = ("ok", _fast_parser().parse(text))
    except GiveUp:
        fast = "give up"
    return lark, fast


def test_fast_path_is_available():
    assert _fast_parser() is not None, "the installed lark no longer fits nndsl.lang.fastparse"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_tree_or_gives_up_on_errors(path):
    lark, fast = both(path.read_text(encoding="utf-8"))
    if fast == "give up":
        assert lark[0] == "error", "the fast path gave up on a text lark parses"
    else:
        assert fast == lark


@pytest.mark.parametrize("text", DOC_SNIPPETS + TRICKY)
def test_same_tree_for_snippets(text):
    lark, fast = both(text)
    if lark[0] == "ok":
        assert fast == lark
    else:
        assert fast == "give up"


def test_gives_up_where_lark_reads_by_context():
    # lark's contextual lexer reads `model` then `Foo` here; one master regex reads `modelFoo`
    text = "modelFoo(x: [1]) { Linear(2) }"
    lark, fast = both(text)
    assert fast == "give up" and lark[0] == "ok"
    assert parse(text) == lark[1]


@pytest.mark.parametrize(
    "text",
    [
        "model M(x: [1]) { Linear(3) é }",  # a character no terminal matches
        "model M(x: [1]) { Linear(3) ",  # end of file
        "model M(x: [1]) { Linear(3)) }",  # a token the state does not accept
        "model M(x: [1]) { Linear(3) } @",
    ],
)
def test_gives_up_on_syntax_errors(text):
    lark, fast = both(text)
    assert fast == "give up" and lark[0] == "error"


def test_spans_follow_lines_and_columns():
    program = parse("model M(x: [1]) {\n\tLinear(16)  # c\r\n  out = ReLU()\n}")
    first, second = program.items[0].body
    assert (first.span.line, first.span.column, first.span.end_column) == (2, 2, 12)
    assert first.call.args[0].value.span.column == 9
    assert (second.name_span.line, second.name_span.column) == (3, 3)
    assert (second.span.end_line, second.span.end_column) == (3, 15)


def test_tables_beside_the_grammar_are_current(tmp_path):
    """grammar/nndsl.tables.json is what the grammar gives today (after a change to the
    grammar: `python -c "from nndsl.lang.tables import write_fast_tables; write_fast_tables()"`)."""
    fresh = json.loads(write_fast_tables(tmp_path / FAST_TABLES).read_text())
    shipped = json.loads((resource_dir("grammar") / FAST_TABLES).read_text())
    # lark numbers its LALR states in an order that varies with the hash seed, so the two are
    # compared as the same grammar's tables, not byte for byte
    assert shipped["grammar"] == fresh["grammar"] == tables.grammar_digest(tables.grammar_text())
    assert len(shipped["states"]) == len(fresh["states"])
    assert set(shipped) == set(fresh)


def test_tables_of_another_grammar_are_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("NNDSL_CACHE_DIR", str(tmp_path))
    changed = tables.grammar_text() + "\n// a comment makes it another grammar\n"
    monkeypatch.setattr(tables, "grammar_text", lambda: changed)
    data = tables.fast_tables()
    assert data["grammar"] == tables.grammar_digest(changed)
    assert (tmp_path / f"fast-{data['grammar']}.json").is_file()  # kept for the next process
    assert tables.fast_tables() == data


def test_a_correct_program_is_compiled_without_lark():
    code = (
        "import sys; from nndsl.compiler import analyze; "
        f"r = analyze(open({str(ROOT / 'examples' / 'cnn.nn')!r}).read()); "
        "assert r.ok; print(sorted(m for m in sys.modules if m.split('.')[0] == 'lark'))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
