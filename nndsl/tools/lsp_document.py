"""An open document of ``nndsl lsp`` (:mod:`nndsl.tools.lsp_features`): its text, the
analysis and syntax tree computed once per version, and the positions the features share.

Positions here are 0-based lines and 0-based characters (code points); spans are 1-based.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path

from nndsl.compiler import Analysis, analyze
from nndsl.diagnostics.core import CompileError
from nndsl.diagnostics.span import Span
from nndsl.lang import syntax as s

Range = tuple[int, int, int, int]  # start line, start character, end line, end character


class Document:
    """One version of an open document; what is computed from it is computed once."""

    def __init__(self, text: str, folder: Path | None = None):
        self.text = text
        self.folder = folder
        self.memo: dict = {}  # what a feature computes from the analysis, by its own key

    @cached_property
    def analysis(self) -> Analysis:
        return analyze(self.text, self.folder)

    @cached_property
    def tree(self) -> s.Program | None:
        """The syntax tree, or None when the text does not parse."""
        from nndsl.lang.parser import parse

        try:
            return parse(self.text)
        except (CompileError, RecursionError):
            return None

    @cached_property
    def lines(self) -> list[str]:
        return self.text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def span_range(span: Span | None) -> Range:
    if span is None:
        return (0, 0, 0, 0)
    return (span.line - 1, span.column - 1, span.end_line - 1, span.end_column - 1)


def inside(span: Span | None, line: int, column: int) -> bool:
    """Whether the 1-based ``line``/``column`` is in ``span`` (its end included, as a cursor
    right after a name is still on it)."""
    if span is None:
        return False
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def word_at(doc: Document, line: int, character: int) -> str:
    """The name the cursor is on (or right after); "" elsewhere."""
    text = doc.lines[line] if line < len(doc.lines) else ""
    left = re.search(r"\w*$", text[:character])[0]
    right = re.match(r"\w*", text[character:])[0]
    return left + right


def enclosing(tree: s.Program, line: int) -> tuple[object, int]:
    """The top-level item the 1-based ``line`` is in (its span is its name's; it runs to the
    next item), and the line the next item starts on."""
    starts = sorted((item.span.line, i) for i, item in enumerate(tree.items))
    found, end = None, 1 << 30
    for k, (start, i) in enumerate(starts):
        if start <= line:
            found = tree.items[i]
            end = starts[k + 1][0] if k + 1 < len(starts) else 1 << 30
    return found, end
