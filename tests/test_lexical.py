"""The lexical table (``nndsl.lang.lexical``): read from the grammar as lark reads it, and the
one source of the patterns of the formatter, the nesting pre-check and the parser's hints."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from compiled import CASES, EXAMPLES, ROOT

from nndsl.lang import lexical
from nndsl.lang.lexical import GrammarShape, alternatives, char_class, either, read, table


@pytest.fixture(scope="module")
def lark_parser():
    from nndsl.lang.parser import _parser

    return _parser()


def _escaped(pattern: str) -> str:
    """lark's pattern with the control characters it unescaped written as escapes again."""
    for ch, escape in (("\n", r"\n"), ("\r", r"\r"), ("\t", r"\t"), ("\f", r"\f")):
        pattern = pattern.replace(ch, escape)
    return pattern


def test_named_terminals_are_the_ones_lark_reads(lark_parser):
    lex = table()
    for term in lark_parser.terminals:
        if term.name not in lex.terminals:
            continue
        mine = lex.terminals[term.name]
        if term.pattern.type == "str":
            assert mine.literals == (term.pattern.value,), term.name
        elif mine.literals:  # alternatives of strings: lark joins them in a group
            inner = term.pattern.value.removeprefix("(?:").removesuffix(")")
            assert set(mine.literals) == set(inner.split("|")), term.name
        else:
            assert mine.pattern == _escaped(term.pattern.value), term.name
    named = {t.name for t in lark_parser.terminals if not t.name.startswith("__")}
    assert set(lex.terminals) <= named


def test_anonymous_strings_and_ignored_space_are_the_ones_lark_reads(lark_parser):
    lex = table()
    strings = {t.pattern.value for t in lark_parser.terminals if t.pattern.type == "str"}
    alternatives = {
        lit for t in lex.terminals.values() if len(t.literals) > 1 for lit in t.literals
    }
    assert strings == set(lex.literals) - alternatives
    ignored = {t.name: t for t in lark_parser.terminals if t.name in lark_parser.lexer_conf.ignore}
    assert {_escaped(t.pattern.value) for n, t in ignored.items() if n.startswith("__")} == {
        lex.space
    }
    assert "COMMENT" in ignored


def test_keywords_constants_and_symbols():
    lex = table()
    assert {"model", "block", "layer", "shared", "as", "repeat", "forward", "keep"} <= set(
        lex.keywords
    )
    assert lex.constants == ("true", "false", "none")
    assert set(lex.keywords).isdisjoint(lex.symbols)
    assert lex.brackets == {"(": ")", "[": "]", "{": "}"}
    assert lex.separators == (",", ":")
    assert {"**", "//", "...", "==", "~", ".", "@"} <= set(lex.operators)
    ops = lex.operators  # longest first, so that an alternation never stops at `*` of `**`
    assert all(len(a) >= len(b) for a, b in zip(ops, ops[1:]))


def test_the_parser_takes_its_keywords_from_the_table():
    from nndsl.lang import parser

    assert parser.KEYWORDS == table().keywords
    with pytest.raises(AttributeError):
        parser.NO_SUCH_NAME  # noqa: B018


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_tokenizer_splits_sources_as_lark_does(path):
    from lark import Lark

    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    kinds = [(m.lastgroup, m.group()) for m in table().tokenizer.finditer(text)]
    assert "".join(v for _, v in kinds) == text
    assert "error" not in {k for k, _ in kinds}
    basic = _basic_lexer(Lark)
    # a dotted name (`hidden.weight`) is one token where an expression may start, and names
    # and dots elsewhere: the tools read its parts, as lark's contextual lexer does in a selector
    theirs = [
        part
        for t in basic.lex(text)
        for part in (re.split(r"(\.)", t.value) if t.type == "DOTTED" else [t.value])
    ]
    assert [v for k, v in kinds if k not in ("space", "comment")] == theirs


_BASIC = []


def _basic_lexer(lark_class):
    if not _BASIC:
        _BASIC.append(lark_class(lexical.grammar_text(), parser="lalr", lexer="basic"))
    return _BASIC[0]


def test_the_nesting_pattern_skips_brackets_in_strings_and_comments():
    found = [m.group() for m in table().nesting.finditer("f(\"(\", '[', x) # ) ]\n{ }")]
    assert found == ["(", '"("', "'['", ")", "# ) ]", "{", "}"]


def test_regex_helpers():
    assert alternatives(r"a|b(c|d)|[|]|[]|]|\|") == ["a", "b(c|d)", "[|]", "[]|]", r"\|"]
    assert char_class(["]", "-", "a", "^"]) == r"[-\]a\^]"
    assert either(["**", "*", "("]) == r"\*\*|[*(]"
    for pattern in (char_class(["]", "-", "a", "^"]), either(["**", "*", "-"])):
        re.compile(pattern)


def test_a_grammar_the_reader_does_not_understand_is_refused():
    with pytest.raises(GrammarShape):
        read('start: A\nA: B "x"\nB: "b"\n%ignore " "\n')
    with pytest.raises(GrammarShape):
        read('start: A\nA: /a/i\n%ignore " "\n')
    with pytest.raises(GrammarShape):
        read('start: A\nA: "a"\n')  # no white space of its own


def test_a_small_grammar_is_read():
    lex = read(
        '// a comment with "quotes" and /slashes/\n'
        'start: atom ("//" atom)*\n'
        "?atom: NAME | NUM | YES\n"
        'YES: "yes" | "y"\n'
        "NAME: /[a-z]+/  // a word\n"
        "NUM: /[0-9]+/\n"
        "%ignore /[ ]+/\n"
    )
    assert lex.keywords == ("yes", "y")
    assert lex.constants == ("yes", "y")
    assert lex.symbols == ("//",) and lex.space == "[ ]+"
    assert lex.terminals["NAME"].pattern == "[a-z]+"


def test_importing_reads_nothing():
    """The table is read on first use, not when the parser or the table's module is imported."""
    probe = (
        "import nndsl.lang.parser, nndsl.lang.lexical as l; "
        "print(l.table.cache_info().currsize, l.grammar_text.cache_info().currsize)"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert result.stdout.split() == ["0", "0"], result.stderr
