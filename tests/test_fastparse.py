"""The fast parsing path (nndsl.lang.fastparse) gives exactly lark's tree, or gives up."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from lark.exceptions import UnexpectedInput

from nndsl.lang.fastparse import GiveUp
from nndsl.lang.parser import _fast_parser, _parser, parse

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
