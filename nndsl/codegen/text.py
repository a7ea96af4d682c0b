"""Text made safe for generated code: comments, strings, and long statements packed into rows."""

from __future__ import annotations


def comment_safe(text: str) -> str:
    """Text that cannot end a comment line: line breaks and other controls escaped.

    >>> comment_safe("a\\nb\\u2028c")
    'a\\\\nb\\\\u2028c'
    """
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


PACK_OVER = 300  # statements longer than this (inline data tables) are packed, not exploded
WIDTH = 88  # black's line length for generated code


def packed(line: str, indent: int, over: int = PACK_OVER) -> str:
    """A long statement (an inline data table) as rows packed to the line width between
    ``# fmt: off`` and ``# fmt: on``: black would put every number on a line of its own, and
    takes seconds to do it. Lines break after commas inside brackets, at the shallowest
    bracket depth whose pieces fit; a trailing comment stays on the last line. ``over``: the
    length beyond which a line is packed."""
    if len(line) <= over:
        return line
    code, comment = line, ""
    commas: list[tuple[int, int]] = []  # (position, depth)
    depth, quote, i = 0, "", 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth > 0:
            commas.append((i, depth))
        elif ch == "#":
            code, comment = line[:i].rstrip(), "  " + line[i:]
            break
        i += 1
    room = WIDTH - indent - 4
    for level in sorted({d for _, d in commas}):
        cuts = [pos + 1 for pos, d in commas if d <= level]
        pieces = [code[a:b].strip() for a, b in zip([0, *cuts], [*cuts, len(code)])]
        pieces[-1] += comment
        if all(len(piece) <= room for piece in pieces[1:]):
            break
    else:
        return line  # nothing to break at: leave it to black
    rows, row = [], pieces[0]
    for piece in pieces[1:]:
        if len(row) + 1 + len(piece) > room:
            rows.append(row)
            row = piece
        else:
            row += " " + piece
    rows.append(row)
    pad = " " * indent
    return f"# fmt: off\n{pad}" + f"\n{pad}    ".join(rows) + f"\n{pad}# fmt: on"


def string_safe(text: str) -> str:
    """Text that can sit in a comment and between double quotes, in a string or a docstring:
    as :func:`comment_safe`, with backslashes and double quotes escaped too (a file name may
    hold them).

    >>> print(string_safe('a"; b\\\\c'))
    a\\"; b\\\\c
    """
    return comment_safe(text).replace("\\", "\\\\").replace('"', '\\"')
