"""Syntax errors as diagnostics: what lark reports when it cannot parse a text, in the words of
the language (only imported, with lark, once a text does not parse)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from nndsl.diagnostics.core import Diagnostic, source_lines
from nndsl.lang import syntax as s
from nndsl.lang.lexical import table

if TYPE_CHECKING:
    from lark import Lark
    from lark.exceptions import UnexpectedInput

_TOKEN_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "DOTTED": "a name",  # torch.nn.Hardtanh, wte.weight: a name, as far as a reader can tell
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LBRACE": "`{`",
    "RBRACE": "`}`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "COLON": "`:`",
    "EQUAL": "`=`",
    "$END": "end of file",
}


def _describe(names: set[str], parser: Lark) -> str:
    words = []
    for n in sorted(names):
        if n in _TOKEN_WORDS:
            words.append(_TOKEN_WORDS[n])
        elif n.startswith("__ANON") or n.isupper():
            pattern = parser.get_terminal(n).pattern
            words.append(f"`{pattern.value}`" if pattern.type == "str" else n.lower())
    operators = {"`%`", "`*`", "`**`", "`+`", "`-`", "`/`", "`//`"}
    if len(operators & set(words)) > 2:
        words = [w for w in words if w not in operators] + ["an operator"]
    closers = ["`)`", "`]`", "`}`", "`,`"]
    ordered = [w for w in closers if w in words] + sorted(set(words) - set(closers))
    if len(ordered) > 6 and "`->`" in ordered:  # a declared shape, which may follow any call
        ordered.remove("`->`")
    return ", ".join(ordered[:6] + (["..."] if len(ordered) > 6 else []))


def _keyword_hint(text: str, pos: int | None) -> str | None:
    """A hint when the token before the error is a keyword the user meant as a name."""
    if pos is None:
        return None
    words = re.findall(table().name, text[max(0, pos - 40) : pos])
    before = text[:pos].rstrip()
    if words and before.endswith(words[-1]) and words[-1] in table().keywords:
        return f"`{words[-1]}` is a keyword of the language; choose another name"
    return None


def syntax_error(err: UnexpectedInput, text: str, parser: Lark) -> Diagnostic:
    """The diagnostic for lark's error ``err`` while ``parser`` read ``text``."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    line, col = max(err.line, 1), max(err.column, 1)
    if isinstance(err, UnexpectedCharacters):
        ch = text[err.pos_in_stream] if err.pos_in_stream < len(text) else ""
        span = s.Span(line, col, line, col + 1)
        shown = repr(ch)
        hint = None
        if ch and not ch.isascii():
            hint = "names and keywords are ASCII letters, digits and `_`"
        return Diagnostic("E0002", f"unexpected character {shown}", span, help=hint)
    if isinstance(err, UnexpectedToken) and err.token.type != "$END":
        tok = err.token
        span = s.Span(
            tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1
        )
        expected = _describe(set(err.accepts or err.expected), parser)
        return Diagnostic(
            "E0001",
            f"unexpected `{tok}`",
            span,
            label=f"expected {expected}" if expected else "",
            help=_keyword_hint(text, tok.start_pos) if tok.type == "EQUAL" else None,
        )
    expected = _describe(set(getattr(err, "expected", ()) or ()), parser)
    lines = source_lines(text) or [""]
    last = len(lines)
    end_col = len(lines[-1]) + 1
    return Diagnostic(
        "E0003",
        "unexpected end of file",
        s.Span(last, end_col, last, end_col + 1),
        label=f"expected {expected}" if expected else "",
        help="check that every `{`, `(` and `[` is closed",
    )
