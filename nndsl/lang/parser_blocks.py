"""The transformer methods of sequences and conditions (mixed into the parser's
``_ToSyntax``, :mod:`nndsl.lang.parser`), with the span helpers of :mod:`nndsl.lang.parse_sections`.
"""

from __future__ import annotations

from nndsl.lang import syntax as s
from nndsl.lang.parse_sections import _cover as cover
from nndsl.lang.parse_sections import _span as span


class BlockSyntax:
    """Builds the nodes of :mod:`nndsl.lang.syntax_blocks` and blocks that are a sequence."""

    def seq_stmt(self, c):
        name, kind, body = c
        return s.SeqStmt(
            name.value if name else None,
            span(name) if name else None,
            kind.value,
            span(kind),
            body,
            cover(name or kind, kind),
        )

    def if_stmt(self, c):
        keyword, cond, body, _else, orelse = c
        return s.IfStmt(cond, body, orelse, cover(keyword, cond))

    fif_stmt = if_stmt

    def any_of(self, c):
        return s.BoolOp("or", c[0], c[2], cover(c[0], c[2]))

    def all_of(self, c):
        return s.BoolOp("and", c[0], c[2], cover(c[0], c[2]))

    def negated(self, c):
        return s.Not(c[1], cover(c[0], c[1]))

    def seq_block(self, c):
        keyword, name, params, kind, stmts = c
        return s.Block(
            name.value,
            span(name),
            params or (),
            stmts,
            span(name),
            None,
            keyword.value,
            kind.value,
            span(kind),
        )
