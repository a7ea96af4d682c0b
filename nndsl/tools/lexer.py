"""Syntax highlighting of ``.nn`` files with Pygments: ``pygmentize -l nndsl model.nn``.

Pygments is optional (the ``dev`` extra installs it); nothing else in nndsl imports this module.
The lexer is registered under the ``pygments.lexers`` entry point, so Pygments, Sphinx and
MkDocs find it once nndsl is installed.

Token types: keywords are ``Keyword`` (``true``, ``false``, ``none``: ``Keyword.Constant``);
the names a definition introduces ``Name.Class`` (models, blocks, layers; also a capitalised
name called as a layer) or ``Name.Namespace`` (data sections); built-in layers
``Name.Builtin``; built-in functions, generators, file readers, losses, optimizers, schedulers
and init rules ``Name.Function`` (called, or named after ``loss``, ``optimizer`` or
``scheduler``); the settings of data and train sections ``Keyword.Pseudo``.
"""

from __future__ import annotations

try:
    from pygments.lexer import RegexLexer, bygroups, words
    from pygments.token import (
        Comment,
        Keyword,
        Name,
        Number,
        Operator,
        Punctuation,
        String,
        Whitespace,
    )
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "nndsl.tools.lexer needs Pygments, which nndsl does not require: "
        "pip install pygments (or pip install 'nndsl[dev]')"
    ) from err

from nndsl.check.data import DATA_SETTINGS, FILE_READERS, GENERATORS
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import REGISTRY
from nndsl.registry.training import INITS, LOSSES, OPTIMIZERS, SCHEDULERS, TRAIN_SETTINGS

__all__ = ["NndslLexer", "KEYWORDS", "SECTION_KEYWORDS", "CONSTANTS"]

# Keywords everywhere; `block`, `layer` and `model` also begin a definition.
KEYWORDS = ("model", "block", "layer", "shared", "repeat", "as", "forward", "return", "while")
# Keywords only where data and train sections use them; elsewhere ordinary names.
SECTION_KEYWORDS = ("data", "train", "on", "optimizer", "init", "keep")
CONSTANTS = ("true", "false", "none")

LAYERS = tuple(sorted(REGISTRY))
BUILTINS = tuple(
    sorted(
        set(FUNCTIONS)
        | set(GENERATORS)
        | set(FILE_READERS)
        | set(LOSSES)
        | set(OPTIMIZERS)
        | set(SCHEDULERS)
        | set(INITS)
    )
)
SETTINGS = tuple(sorted((set(DATA_SETTINGS) | set(TRAIN_SETTINGS)) - set(SECTION_KEYWORDS)))

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_INT = r"[0-9]+(?:_[0-9]+)*"
_FLOAT = (
    rf"(?:{_INT})?\.[0-9]+(?:[eE][+-]?[0-9]+)?"
    rf"|{_INT}\.(?:[eE][+-]?[0-9]+)?(?![A-Za-z_])"
    rf"|{_INT}[eE][+-]?[0-9]+"
)


class NndslLexer(RegexLexer):
    """Lexer for nndsl, the language of ``.nn`` neural-network descriptions."""

    name = "nndsl"
    aliases = ["nndsl", "nn"]
    filenames = ["*.nn"]
    mimetypes = ["text/x-nndsl"]

    tokens = {
        "root": [
            (r"[ \t\f\r\n]+", Whitespace),
            (r"#[^\r\n]*", Comment.Single),
            (r'"(?:[^"\\\n\r]|\\[^\n\r])*"', String.Double),
            (r"'(?:[^'\\\n\r]|\\[^\n\r])*'", String.Single),
            (_FLOAT, Number.Float),
            (_INT, Number.Integer),
            # definitions: the keyword and the name it defines
            (
                rf"\b(model|block|layer)(\s+)({_NAME})",
                bygroups(Keyword, Whitespace, Name.Class),
            ),
            (rf"\b(data)(\s+)({_NAME})(?=\s*\{{)", bygroups(Keyword, Whitespace, Name.Namespace)),
            (
                rf"\b(train)(\s+)({_NAME})(\s+)(on)(\s+)({_NAME})",
                bygroups(
                    Keyword, Whitespace, Name.Class, Whitespace, Keyword, Whitespace, Name.Namespace
                ),
            ),
            # the keywords of train sections, where they begin a setting or a rule
            (
                rf"\b(optimizer)([ \t]+)({_NAME})",
                bygroups(Keyword, Whitespace, Name.Function),
            ),
            # a loss or a scheduler, named without arguments
            (
                rf"\b(loss|scheduler)([ \t]+)({_NAME})",
                bygroups(Keyword.Pseudo, Whitespace, Name.Function),
            ),
            (r"\b(init)(?=\s*\{)", Keyword),
            (r"\b(keep)(?=[ \t]+[A-Za-z0-9_(\[])", Keyword),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(CONSTANTS, prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            # a setting: its name, then its value on the same line
            (words(SETTINGS, prefix=r"\b", suffix=r"(?=[ \t]+[A-Za-z0-9_\[\"'.])"), Keyword.Pseudo),
            (words(LAYERS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (words(BUILTINS, prefix=r"\b", suffix=r"(?=\s*\()"), Name.Function),
            (r"[A-Z][A-Za-z0-9_]*(?=\s*\()", Name.Class),  # a model or block used as a layer
            (_NAME, Name),
            (r"\.\.\.|\*\*|//|==|!=|<=|>=|[-+*/%@<>=~.]", Operator),
            (r"[()\[\]{},:]", Punctuation),
        ]
    }

    def analyse_text(text: str) -> float:  # made a static method by Pygments' metaclass
        """A guess for ``pygmentize -g``: a model header with a bracketed input shape."""
        import re

        return 0.3 if re.search(rf"^model\s+{_NAME}\s*\(\s*{_NAME}\s*:\s*\[", text, re.M) else 0.0
