"""Editor support: the Pygments lexer (``nndsl.tools.lexer``) and the VS Code extension under
editors/vscode/. Both must know every keyword of the grammar."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from compiled import CASES, EXAMPLES, ROOT

VSCODE = ROOT / "editors" / "vscode"


def grammar_keywords() -> set[str]:
    """The words the grammar spells out (`"model"`, `REPEAT: "repeat"`...) and the keywords the
    parser names in its messages."""
    from nndsl.lang.parser import KEYWORDS

    grammar = (ROOT / "grammar" / "nndsl.lark").read_text(encoding="utf-8")
    code = "\n".join(line.split("//", 1)[0] for line in grammar.splitlines())
    words = set(re.findall(r'"([A-Za-z_]+)"', code))
    assert {"model", "repeat", "as", "true", "keep"} <= words, "the grep is broken"
    return words | set(KEYWORDS)


# ---- the Pygments lexer ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lexer():
    pytest.importorskip("pygments")
    from nndsl.tools.lexer import NndslLexer

    return NndslLexer()


def _tokens(lexer, text: str) -> list[tuple[object, str]]:
    return [(kind, value) for kind, value in lexer.get_tokens(text) if value.strip()]


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_source_lexes_without_an_error_token(lexer, path):
    from pygments.token import Error

    text = path.read_text(encoding="utf-8")
    tokens = list(lexer.get_tokens(text))
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else text + "\n"
    errors = [v for kind, v in tokens if kind in Error]
    assert not errors, errors


SAMPLE = """\
# a comment
block Res(n) { Linear(n) ReLU() }
model Net(x: [4], h: [8] = none) {
    shared tied = Linear(4)
    blocks = repeat 2 as i { Res(4) }
    forward(x, h) { while true { x = relu(x) ** 2 } return x[..., 0:2] }
}
data points {
    x = randn(100, 4)
    y = [1.5e-3, 2, 'a']
    batch 10
}
train Net on points {
    loss mse
    optimizer adam(lr=0.01)
    init { Linear.weight ~ normal(0, 0.1) keep abs(w) >= 0.5 }
}
"""


def test_sample_gets_the_expected_token_types(lexer):
    from pygments.token import Comment, Keyword, Name, Number, Operator, String

    tokens = _tokens(lexer, SAMPLE)
    kinds: dict[str, set] = {}
    for kind, value in tokens:
        kinds.setdefault(value, set()).add(kind)
    expected = {
        "# a comment": Comment.Single,
        "block": Keyword, "model": Keyword, "shared": Keyword, "repeat": Keyword, "as": Keyword,
        "forward": Keyword, "while": Keyword, "return": Keyword, "data": Keyword,
        "train": Keyword, "on": Keyword, "optimizer": Keyword, "init": Keyword, "keep": Keyword,
        "true": Keyword.Constant, "none": Keyword.Constant,
        "Res": Name.Class, "Net": Name.Class, "points": Name.Namespace,
        "Linear": Name.Builtin, "ReLU": Name.Builtin,
        "relu": Name.Function, "randn": Name.Function, "normal": Name.Function,
        "adam": Name.Function, "mse": Name.Function,
        "batch": Keyword.Pseudo, "loss": Keyword.Pseudo,
        "1.5e-3": Number.Float, "0.01": Number.Float, "100": Number.Integer,
        "'a'": String.Single, "**": Operator, "~": Operator, ">=": Operator, "...": Operator,
        "blocks": Name, "tied": Name, "w": Name, "i": Name,
    }  # fmt: skip
    for value, kind in expected.items():
        assert kinds.get(value) == {kind}, (value, kinds.get(value))


def test_section_words_are_names_outside_sections(lexer):
    from pygments.token import Name

    tokens = _tokens(lexer, "model M(x: [2]) { init = Linear(2) data = Linear(2) on = ReLU() }")
    for word in ("init", "data", "on"):
        assert (Name, word) in tokens, word


def test_the_lexer_knows_every_grammar_keyword():
    pytest.importorskip("pygments")
    from nndsl.tools import lexer

    known = set(lexer.KEYWORDS) | set(lexer.SECTION_KEYWORDS) | set(lexer.CONSTANTS)
    assert grammar_keywords() - known == set()


def test_highlighting_places_every_keyword_of_the_table_once():
    from nndsl.lang.lexical import table
    from nndsl.tools import highlight

    groups = [highlight.KEYWORDS, highlight.SECTION_KEYWORDS, highlight.CONSTANTS]
    assert sorted(w for g in groups for w in g) == sorted(table().keywords)
    assert set(highlight.DEFINITIONS) | set(highlight.CONTROL) <= set(highlight.KEYWORDS)


def test_the_lexer_knows_every_layer_and_function():
    pytest.importorskip("pygments")
    from nndsl.check.data import FILE_READERS, GENERATORS
    from nndsl.registry.functions import FUNCTIONS
    from nndsl.registry.layers import REGISTRY
    from nndsl.tools import lexer

    assert set(REGISTRY) <= set(lexer.LAYERS)
    assert set(FUNCTIONS) | set(GENERATORS) | set(FILE_READERS) <= set(lexer.BUILTINS)


def test_pygments_finds_the_lexer_by_name_and_file_name(lexer):
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        found = [
            get_lexer_by_name("nndsl"),
            get_lexer_by_name("nn"),
            get_lexer_for_filename("a.nn"),
        ]
    except ClassNotFound:
        pytest.skip("nndsl is not installed with its entry points (pip install -e .)")
    assert all(type(x).__name__ == "NndslLexer" for x in found)


def test_only_the_lexer_imports_pygments():
    for path in (ROOT / "nndsl").rglob("*.py"):
        if path.name != "lexer.py":
            assert "pygments" not in path.read_text(encoding="utf-8"), path


def test_the_entry_point_is_declared():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["entry-points"]["pygments.lexers"]["nndsl"] == "nndsl.tools.lexer:NndslLexer"
    assert any(d.startswith("pygments") for d in project["optional-dependencies"]["dev"])


# ---- the VS Code extension -----------------------------------------------------------------


def _json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_vscode_manifest_points_at_files_that_exist():
    manifest = _json(VSCODE / "package.json")
    (language,) = manifest["contributes"]["languages"]
    assert language["id"] == "nndsl" and ".nn" in language["extensions"]
    config = _json(VSCODE / language["configuration"])
    assert config["comments"]["lineComment"] == "#"
    assert ["{", "}"] in config["brackets"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert grammar["language"] == "nndsl"
    textmate = _json(VSCODE / grammar["path"])
    assert textmate["scopeName"] == grammar["scopeName"]
    assert "README.md" in {p.name for p in VSCODE.iterdir()}


def test_the_checked_in_textmate_grammar_is_the_generated_one():
    """Regenerate it with `python -m nndsl.tools.highlight > editors/vscode/syntaxes/...`."""
    from nndsl.tools.highlight import textmate

    path = VSCODE / "syntaxes" / "nndsl.tmLanguage.json"
    assert path.read_text(encoding="utf-8") == textmate(), "stale: regenerate it"


def test_the_textmate_grammar_takes_the_grammar_patterns():
    from nndsl.lang.lexical import table

    patterns = set(_textmate_patterns(_json(VSCODE / "syntaxes" / "nndsl.tmLanguage.json")))
    lex = table()
    assert {lex.comment, *lex.strings.values()} <= patterns
    assert any(lex.float in p for p in patterns) and any(lex.int in p for p in patterns)


def _textmate_patterns(node):
    if isinstance(node, dict):
        if "match" in node:
            yield node["match"]
        for value in node.values():
            yield from _textmate_patterns(value)
    elif isinstance(node, list):
        for value in node:
            yield from _textmate_patterns(value)


def test_textmate_grammar_knows_every_keyword_and_builtin_function():
    from nndsl.check.data import FILE_READERS, GENERATORS
    from nndsl.registry.functions import FUNCTIONS

    patterns = list(_textmate_patterns(_json(VSCODE / "syntaxes" / "nndsl.tmLanguage.json")))
    for pattern in patterns:
        re.compile(pattern)  # the grammar keeps to what Python's re and Oniguruma share
    words = {w for p in patterns for w in re.findall(r"(?<![\\\w])[A-Za-z_]\w*", p)}
    assert grammar_keywords() - words == set()
    assert (set(FUNCTIONS) | set(GENERATORS) | set(FILE_READERS)) - words == set()
    repository = _json(VSCODE / "syntaxes" / "nndsl.tmLanguage.json")["repository"]
    included = {
        p["include"][1:] for p in _json(VSCODE / "syntaxes" / "nndsl.tmLanguage.json")["patterns"]
    }
    assert included == set(repository)


def _textmate_scan(grammar: dict, text: str) -> list[str]:
    """The text no rule of the grammar scopes, found the way TextMate scans a line: at each
    position the rule that matches earliest wins, the first listed among equals."""
    rules = []
    for include in grammar["patterns"]:
        for rule in grammar["repository"][include["include"][1:]]["patterns"]:
            rules.append(re.compile(rule["match"]))
    unscoped = []
    for line in text.splitlines():
        pos = 0
        while pos < len(line):
            found = [m for m in (r.search(line, pos) for r in rules) if m and m.end() > m.start()]
            if not found:
                unscoped.append(line[pos:])
                break
            first = min(found, key=lambda m: m.start())  # min keeps the first of equals
            unscoped.append(line[pos : first.start()])
            pos = first.end()
    return [u.strip() for u in unscoped if u.strip()]


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_textmate_grammar_scopes_every_token(path):
    """Only names are left to the editor's default colour: every other character of a source
    is matched by some rule."""
    grammar = _json(VSCODE / "syntaxes" / "nndsl.tmLanguage.json")
    left = _textmate_scan(grammar, path.read_text(encoding="utf-8"))
    assert [u for u in left if not re.fullmatch(r"[A-Za-z_]\w*(\s+[A-Za-z_]\w*)*", u)] == []
