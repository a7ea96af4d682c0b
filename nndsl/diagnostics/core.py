"""Diagnostics as values, and their three renderings: rustc-style text, one line, JSON.

Every stage reports problems as :class:`Diagnostic` values; only the CLI turns them into text.
Every code is a row of the table in :mod:`nndsl.diagnostics.codes`; a diagnostic with a code
that is not there, or retired, is a bug in nndsl and fails where it is made.
"""

from __future__ import annotations

import json
import sys
from dataclasses import field, replace

from nndsl.diagnostics import codes
from nndsl.diagnostics.span import Span
from nndsl.util.frozen import frozen
from nndsl.util.naming import Suggestion

# The exit codes of every nndsl command.
EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Reported(Exception):
    """A diagnostic for this construct is already recorded: unwind to the statement that owns it
    and skip what depended on the failed value."""


@frozen
class Label:
    """A secondary span with a note, drawn with ``-`` under the source."""

    span: Span
    message: str


@frozen
class Fix:
    """The edit a diagnostic's help describes: the source in ``span`` becomes ``text`` (an
    empty span inserts it, an empty text deletes). The language server offers it as a quick
    fix; ``nndsl check --format json`` shows it. With ``old``, ``span`` is a region that holds
    ``old`` once, and :func:`with_fixes` narrows the fix to it."""

    span: Span
    text: str
    old: str = ""  # where the checker knows only a region: the text in it to replace


@frozen
class Diagnostic:
    code: str
    message: str
    span: Span | None
    severity: str = "error"
    label: str = ""  # text beside the primary caret
    labels: tuple[Label, ...] = ()
    help: str | None = None
    notes: tuple[str, ...] = field(default=())
    fix: Fix | None = None  # set where the checker knows the replacement its help names

    def __post_init__(self) -> None:
        if not codes.known(self.code):
            raise ValueError(f"{self.code} is not a diagnostic code in nndsl.diagnostics.codes")


class CompileError(Exception):
    """Raised by a stage that cannot go on; carries every diagnostic found so far."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


def with_fixes(diagnostics: list[Diagnostic], text: str) -> list[Diagnostic]:
    """The diagnostics with their fixes made exact against the source: one whose help
    suggests a name for a misspelt one gets the fix that writes it, where the source at its
    span starts with the misspelt name (``bais`` of ``bais=true``, ``Relu`` of ``Relu()``) or
    with it in quotes; a fix of a region (``old``) is narrowed to the one ``old`` in it, and
    dropped where there is not exactly one."""
    if not diagnostics:
        return diagnostics
    lines = source_lines(text)
    out = []
    for d in diagnostics:
        if d.fix is not None and d.fix.old:
            d = replace(d, fix=_narrowed(d.fix, lines))
        elif d.fix is None and isinstance(d.help, Suggestion) and d.span is not None:
            d = replace(d, fix=_suggested(d.help, d.span, lines))
        out.append(d)
    return out


def _on_line(span: Span, lines: list[str]) -> str:
    """The source of ``span`` on its first line."""
    line = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
    return line[span.column - 1 : span.end_column - 1 if span.end_line == span.line else None]


def _suggested(hint: Suggestion, span: Span, lines: list[str]) -> Fix | None:
    here = _on_line(span, lines)
    skip = 1 if here[:1] == '"' else 0
    rest = here[skip + len(hint.typo) :]
    if not here[skip:].startswith(hint.typo) or rest[:1].isalnum() or rest[:1] == "_":
        return None
    at = span.column + skip
    return Fix(Span(span.line, at, span.line, at + len(hint.typo)), hint.name)


def _narrowed(fix: Fix, lines: list[str]) -> Fix | None:
    span, here = fix.span, _on_line(fix.span, lines)
    if span.end_line != span.line or here.count(fix.old) != 1:
        return None
    at = span.column + here.index(fix.old)
    return Fix(Span(span.line, at, span.line, at + len(fix.old)), fix.text)


def has_errors(diagnostics: list[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


def _sort_key(d: Diagnostic) -> tuple:
    s = d.span
    return (0, 0) if s is None else (s.line, s.column)


def sort(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics in source order, stable for equal positions, each reported once (a block
    checked for several uses would otherwise report a mistake in its body once per use)."""
    return sorted(dict.fromkeys(diagnostics), key=_sort_key)


# ---- rendering ------------------------------------------------------------------------------


def source_lines(text: str) -> list[str]:
    r"""The lines of a source as the parser numbers them: ``\n``, ``\r\n`` and a lone ``\r``
    end a line (as in Python), where ``str.splitlines`` would also break at a form feed,
    ``\x85``, ``\u2028`` and other separators that may sit in comments and strings.

    >>> source_lines("a\fb\r\nc\u2028d\re\n")
    ['a\x0cb', 'c\u2028d', 'e']
    """
    lines = normalize_newlines(text).split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


def normalize_newlines(text: str) -> str:
    r"""``\r\n`` and a lone ``\r`` (old Mac files) as ``\n``, the only line end the parser knows."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


LONG_LINE = 200  # longer source lines are shown in part, around the place of the diagnostic
LONG_LINE_CONTEXT = 60


def _display_line(text: str) -> str:
    """A source line made safe to print: tabs expanded, control characters shown as escapes."""
    out = []
    for ch in text.expandtabs(4):
        out.append(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1])
    return "".join(out)


def _width(line: str, start: int, end: int) -> tuple[int, int]:
    """Column offset and width of [start, end) (1-based columns) after tab expansion."""
    prefix = _display_line(line[: start - 1])
    body = _display_line(line[start - 1 : end - 1])
    return len(prefix), max(1, len(body))


def render_text(diagnostics: list[Diagnostic], source: str, filename: str) -> str:
    """rustc-style rendering with the source line, a caret and labels."""
    lines = source_lines(source)
    return "\n".join(_render_one(d, lines, filename) for d in diagnostics)


def _render_one(d: Diagnostic, lines: list[str], filename: str) -> str:
    head = f"{d.severity}[{d.code}]: {d.message}"
    if d.span is None:
        out = [head, f"  --> {filename}"]
        out += [f"  = note: {n}" for n in d.notes]
        if d.help:
            out.append(f"  = help: {d.help}")
        return "\n".join(out) + "\n"
    marks = [(d.span, "^", d.label)] + [(lab.span, "-", lab.message) for lab in d.labels]
    marks.sort(key=lambda m: (m[0].line, m[0].column))
    gutter = len(str(max(m[0].line for m in marks)))
    pad = " " * gutter
    out = [head, f"{pad}--> {filename}:{d.span.line}:{d.span.column}", f"{pad} |"]
    cuts: dict[int, int] = {}  # line -> characters left out before the part shown
    for span, char, text in marks:
        full = lines[span.line - 1] if 0 < span.line <= len(lines) else ""
        end = span.end_column if span.end_line == span.line else len(full) + 1
        if span.line not in cuts:  # a long line is shown around its first mark
            cut = max(0, span.column - 1 - LONG_LINE_CONTEXT) if len(full) > LONG_LINE else 0
            cuts[span.line] = cut
            shown = ("..." if cut else "") + _display_line(full[cut : cut + LONG_LINE])
            shown += "..." if len(full) > cut + LONG_LINE else ""
            out.append(f"{span.line:>{gutter}} | {shown}".rstrip())
        cut = cuts[span.line]
        line, column = full[cut : cut + LONG_LINE], max(1, span.column - cut)
        offset, width = _width(line, column, max(min(end - cut, len(line) + 1), column + 1))
        offset += 3 if cut else 0
        out.append(f"{pad} | {' ' * offset}{char * width} {text}".rstrip())
    if d.notes or d.help:
        out.append(f"{pad} |")
    out += [f"{pad} = note: {n}" for n in d.notes]
    if d.help:
        out.append(f"{pad} = help: {d.help}")
    return "\n".join(out) + "\n"


def render_short(diagnostics: list[Diagnostic], filename: str) -> str:
    """One line per diagnostic: ``file:line:col: error[E0301]: message``."""
    rows = []
    for d in diagnostics:
        where = filename if d.span is None else f"{filename}:{d.span.line}:{d.span.column}"
        rows.append(f"{where}: {d.severity}[{d.code}]: {d.message}")
    return "\n".join(rows) + ("\n" if rows else "")


def to_dict(d: Diagnostic, filename: str) -> dict:
    s = d.span
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "file": filename,
        "line": s.line if s else None,
        "column": s.column if s else None,
        "end": {"line": s.end_line, "column": s.end_column} if s else None,
        "label": d.label or None,
        "labels": [
            {"line": lab.span.line, "column": lab.span.column, "message": lab.message}
            for lab in d.labels
        ],
        "help": d.help,
        "notes": list(d.notes),
        "fix": _fix_dict(d.fix),
    }


def _fix_dict(fix: Fix | None) -> dict | None:
    if fix is None:
        return None
    s = fix.span
    return {
        "line": s.line,
        "column": s.column,
        "end": {"line": s.end_line, "column": s.end_column},
        "text": fix.text,
    }


def render_json(diagnostics: list[Diagnostic], filename: str) -> str:
    """A JSON array with one object per diagnostic."""
    return json.dumps([to_dict(d, filename) for d in diagnostics], indent=2) + "\n"


def report(diagnostics: list[Diagnostic], text: str, filename: str, format: str = "text") -> None:
    """Write the diagnostics to stderr in the chosen format: ``text``, ``short`` or ``json``."""
    if not diagnostics:
        return
    if format == "json":
        sys.stderr.write(render_json(diagnostics, filename))
    elif format == "short":
        sys.stderr.write(render_short(diagnostics, filename))
    else:
        sys.stderr.write(render_text(diagnostics, text, filename))
