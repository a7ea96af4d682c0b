"""Formatting generated code with black, in one pinned mode so output stays byte-stable."""

from __future__ import annotations


def black_format(code: str) -> str:
    """Format Python source with black's default style for Python 3.10+."""
    import black  # imported here: it takes ~0.2 s and only compile needs it

    mode = black.Mode(target_versions={black.TargetVersion.PY310}, line_length=88)
    return black.format_str(code, mode=mode)
