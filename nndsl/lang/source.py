"""Reading a source file: its text, or a located diagnostic when it is not UTF-8."""

from __future__ import annotations

import sys
from pathlib import Path

from nndsl.diagnostics.core import Diagnostic
from nndsl.diagnostics.span import Span


def read_source(path: str) -> str | tuple[Diagnostic, str] | None:
    """The file's text; for a file that is not UTF-8, a diagnostic and the text with the bad
    bytes replaced (to show the line); None, after a message, when the file cannot be read."""
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        print(f"nndsl: error: cannot read {path}: {err.strerror or err}", file=sys.stderr)
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line_start = data.rfind(b"\n", 0, err.start) + 1
        before = data[line_start : err.start].decode("utf-8", errors="replace")
        line = data.count(b"\n", 0, err.start) + 1
        col = len(before) + 1
        diagnostic = Diagnostic(
            "E0004",
            f"the file is not valid UTF-8 (byte 0x{data[err.start]:02x})",
            Span(line, col, line, col + 1),
            help="save the file as UTF-8",
        )
        return diagnostic, data.decode("utf-8", errors="replace")
