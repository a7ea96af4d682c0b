"""Syntax highlighting of ``.nn`` files with Pygments: ``pygmentize -l nndsl model.nn``.

Pygments is optional (the ``dev`` extra installs it); nothing else in nndsl imports this module.
The lexer is registered under the ``pygments.lexers`` entry point, so Pygments, Sphinx and
MkDocs find it once nndsl is installed.

Token types: keywords are ``Keyword`` (``true``, ``false``, ``none``: ``Keyword.Constant``);
the names a definition introduces ``Name.Class`` (models, blocks, layers; also a capitalised
name called as a layer) or ``Name.Namespace`` (data sections); built-in layers
``Name.Builtin``; built-in functions, generators, file readers, losses, optimizers, schedulers
and init rules ``Name.Function`` (called, or named after ``loss``, ``optimizer`` or
``scheduler``); the settings of data and train sections ``Keyword.Pseudo``. The words and the
token patterns come from :mod:`nndsl.tools.highlight`, as the VS Code grammar's do.
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

from nndsl.tools.highlight import (
    BUILTINS,
    CONSTANTS,
    DEFINITIONS,
    KEYWORDS,
    LAYERS,
    LEXICAL,
    NAME,
    OPERATORS,
    PUNCTUATION,
    SECTION_KEYWORDS,
    SETTING_FOLLOWS,
    SETTINGS,
)

__all__ = ["NndslLexer", "KEYWORDS", "SECTION_KEYWORDS", "CONSTANTS"]


class NndslLexer(RegexLexer):
    """Lexer for nndsl, the language of ``.nn`` neural-network descriptions."""

    name = "nndsl"
    aliases = ["nndsl", "nn"]
    filenames = ["*.nn"]
    mimetypes = ["text/x-nndsl"]

    tokens = {
        "root": [
            (LEXICAL.space, Whitespace),
            (LEXICAL.comment, Comment.Single),
            (LEXICAL.strings['"'], String.Double),
            (LEXICAL.strings["'"], String.Single),
            (LEXICAL.float, Number.Float),
            (LEXICAL.int, Number.Integer),
            # definitions: the keyword and the name it defines
            (
                rf"\b({'|'.join(DEFINITIONS)})(\s+)({NAME})",
                bygroups(Keyword, Whitespace, Name.Class),
            ),
            (rf"\b(data)(\s+)({NAME})(?=\s*\{{)", bygroups(Keyword, Whitespace, Name.Namespace)),
            (
                rf"\b(train)(\s+)({NAME})(\s+)(on)(\s+)({NAME})",
                bygroups(
                    Keyword, Whitespace, Name.Class, Whitespace, Keyword, Whitespace, Name.Namespace
                ),
            ),
            # the keywords of train sections, where they begin a setting or a rule
            (
                rf"\b(optimizer)([ \t]+)({NAME})",
                bygroups(Keyword, Whitespace, Name.Function),
            ),
            # a loss or a scheduler, named without arguments
            (
                rf"\b(loss|scheduler)([ \t]+)({NAME})",
                bygroups(Keyword.Pseudo, Whitespace, Name.Function),
            ),
            (r"\b(init)(?=\s*\{)", Keyword),
            (r"\b(keep)(?=[ \t]+[A-Za-z0-9_(\[])", Keyword),
            (r"\b(freeze)(?=[ \t]+[A-Za-z_.])", Keyword),
            (words(KEYWORDS, prefix=r"\b", suffix=r"\b"), Keyword),
            (words(CONSTANTS, prefix=r"\b", suffix=r"\b"), Keyword.Constant),
            # a setting: its name, then its value on the same line
            (words(SETTINGS, prefix=r"\b", suffix=SETTING_FOLLOWS), Keyword.Pseudo),
            (words(LAYERS, prefix=r"\b", suffix=r"\b"), Name.Builtin),
            (words(BUILTINS, prefix=r"\b", suffix=r"(?=\s*\()"), Name.Function),
            (r"[A-Z][A-Za-z0-9_]*(?=\s*\()", Name.Class),  # a model or block used as a layer
            (NAME, Name),
            (OPERATORS, Operator),
            (PUNCTUATION, Punctuation),
        ]
    }

    def analyse_text(text: str) -> float:  # made a static method by Pygments' metaclass
        """A guess for ``pygmentize -g``: a model header with a bracketed input shape."""
        import re

        return 0.3 if re.search(rf"^model\s+{NAME}\s*\(\s*{NAME}\s*:\s*\[", text, re.M) else 0.0
