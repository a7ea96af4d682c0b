"""Where in the source a diagnostic, a syntax node or an IR node comes from."""

from __future__ import annotations

from nndsl.util.frozen import frozen


@frozen
class Span:
    """A region of the source: 1-based line and column, end column exclusive."""

    line: int
    column: int
    end_line: int
    end_column: int

    def to(self, other: Span) -> Span:
        """The span from the start of this one to the end of ``other``."""
        return Span(self.line, self.column, other.end_line, other.end_column)
