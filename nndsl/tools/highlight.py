"""What editors highlight in ``.nn`` files, and the VS Code grammar made from it.

The words and patterns come from the lexical table (:mod:`nndsl.lang.lexical`, read from the
grammar) and the built-in names from the registries; the Pygments lexer
(:mod:`nndsl.tools.lexer`) and the TextMate grammar under editors/vscode/ both use them.
Regenerate the TextMate grammar after a change to the grammar or the registries::

    python -m nndsl.tools.highlight > editors/vscode/syntaxes/nndsl.tmLanguage.json

tests/test_lexer.py fails while the checked-in file differs from what this prints.
"""

from __future__ import annotations

import json

from nndsl.check.data import DATA_SETTINGS, FILE_READERS, GENERATORS, SEQUENCE_FUNCTIONS
from nndsl.lang.lexical import char_class, either, table
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import REGISTRY
from nndsl.registry.training import INITS, LOSSES, OPTIMIZERS, SCHEDULERS, TRAIN_SETTINGS

LEXICAL = table()
NAME = LEXICAL.name

# Keywords only where data and train sections use them; elsewhere ordinary names.
SECTION_KEYWORDS = tuple(
    k
    for k in ("data", "train", "on", "optimizer", "init", "keep", "freeze")
    if k in LEXICAL.keywords
)
CONSTANTS = LEXICAL.constants  # true, false, none
# Keywords everywhere; `block`, `layer` and `model` also begin a definition.
KEYWORDS = tuple(
    sorted(k for k in LEXICAL.keywords if k not in SECTION_KEYWORDS and k not in CONSTANTS)
)
DEFINITIONS = ("model", "block", "layer")
CONTROL = tuple(k for k in KEYWORDS if k in ("repeat", "while", "return", "forward"))

LAYERS = tuple(sorted(REGISTRY))
BUILTINS = tuple(
    sorted(
        set(FUNCTIONS)
        | set(GENERATORS)
        | set(FILE_READERS)
        | set(SEQUENCE_FUNCTIONS)
        | set(LOSSES)
        | set(OPTIMIZERS)
        | set(SCHEDULERS)
        | set(INITS)
    )
)
SETTINGS = tuple(sorted((set(DATA_SETTINGS) | set(TRAIN_SETTINGS)) - set(SECTION_KEYWORDS)))
# A setting's name is one when a value follows it on the same line.
SETTING_FOLLOWS = r"(?=[ \t]+[A-Za-z0-9_\[\"'.])"

OPERATORS = either(LEXICAL.operators)
BRACKETS = char_class([*LEXICAL.brackets, *LEXICAL.brackets.values()])
PUNCTUATION = char_class([*LEXICAL.separators, *LEXICAL.brackets, *LEXICAL.brackets.values()])

_SCOPE = "nndsl"  # the last part of every TextMate scope name


def _words(words) -> str:
    return rf"\b({'|'.join(words)})\b"


def _captures(*names: str) -> dict:
    return {str(i): {"name": f"{n}.{_SCOPE}"} for i, n in enumerate(names, 1)}


def textmate_rules() -> dict[str, list[dict]]:
    """The TextMate rules by repository entry, in the order an editor tries them."""
    lex = LEXICAL
    section, builtin, setting = (
        "keyword.other.section",
        "support.function.builtin",
        "variable.other.property.setting",
    )
    operators = either(o for o in lex.operators if o != ".")
    return {
        "comments": [_rule("comment.line.number-sign", lex.comment)],
        "strings": [
            _rule("string.quoted.double", lex.strings['"']),
            _rule("string.quoted.single", lex.strings["'"]),
        ],
        "numbers": [
            _rule("constant.numeric.float", rf"(?<![A-Za-z0-9_])(?:{lex.float})"),
            _rule("constant.numeric.integer", rf"\b(?:{lex.int})\b"),
        ],
        "definitions": [
            _match(
                rf"\b({'|'.join(DEFINITIONS)})\s+({NAME})",
                "keyword.other.definition",
                "entity.name.type",
            )
        ],
        "sections": [
            _match(rf"\b(data)\s+({NAME})(?=\s*\{{)", section, "entity.name.section"),
            _match(
                rf"\b(train)\s+({NAME})\s+(on)\s+({NAME})",
                section,
                "entity.name.type",
                section,
                "entity.name.section",
            ),
            _match(rf"\b(optimizer)[ \t]+({NAME})", section, builtin),
            _match(rf"\b(loss|scheduler)[ \t]+({NAME})", setting, builtin),
            _rule(section, r"\b(init)(?=\s*\{)"),
            _rule(section, r"\b(keep)(?=[ \t]+[A-Za-z0-9_(\[])"),
            _rule(section, r"\b(freeze)(?=[ \t]+[A-Za-z_.])"),
        ],
        "keywords": [
            _rule("keyword.control", _words(CONTROL)),
            _rule("keyword.other", _words(k for k in KEYWORDS if k not in CONTROL)),
        ],
        "constants": [_rule("constant.language", _words(CONSTANTS))],
        "settings": [_rule(setting, rf"\b({'|'.join(SETTINGS)}){SETTING_FOLLOWS}")],
        "layers": [_rule("support.class.layer", r"\b[A-Z][A-Za-z0-9_]*(?=\s*\()")],
        "builtins": [_rule(builtin, rf"{_words(BUILTINS)}(?=\s*\()")],
        "operators": [
            _rule("keyword.operator", operators),
            _rule("punctuation.accessor", r"\."),
        ],
        "punctuation": [
            _rule("punctuation.separator", char_class(lex.separators)),
            _rule("punctuation.bracket", BRACKETS),
        ],
    }


def _rule(scope: str, match: str) -> dict:
    return {"name": f"{scope}.{_SCOPE}", "match": match}


def _match(match: str, *scopes: str) -> dict:
    return {"match": match, "captures": _captures(*scopes)}


def textmate() -> str:
    """The VS Code (TextMate) grammar, as the text of editors/vscode/syntaxes/."""
    rules = textmate_rules()
    grammar = {
        "$schema": "https://raw.githubusercontent.com/martinring/tmlanguage/master/tmlanguage.json",
        "name": "nndsl",
        "scopeName": "source.nndsl",
        "fileTypes": ["nn"],
        "patterns": [{"include": f"#{key}"} for key in rules],
        "repository": {key: {"patterns": patterns} for key, patterns in rules.items()},
    }
    return json.dumps(grammar, indent=2) + "\n"


if __name__ == "__main__":
    print(textmate(), end="")
