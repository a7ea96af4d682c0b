"""The edits (:class:`nndsl.diagnostics.core.Fix`) that need more of the source than a span:
the parentheses after a ``forward``, an argument added to a call."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass

from nndsl.diagnostics.core import Fix
from nndsl.lang import syntax as s


def drop_forward_params(lines: list[str], forward: s.Forward) -> Fix | None:
    """``forward(x) {`` as ``forward {``: the parameter list after the keyword removed; None
    when it runs over several lines."""
    start = forward.span
    text = lines[start.line - 1] if start.line <= len(lines) else ""
    params = forward.params or ()
    if any(p.span.line != start.line for p in params):
        return None
    after = params[-1].span.end_column - 1 if params else start.end_column - 1
    found = re.match(r"[\s,]*\)" if params else r"\s*\(\s*\)", text[after:])
    if found is None:
        return None
    end = after + found.end() + 1
    return Fix(s.Span(start.line, start.end_column, start.line, end), "")


def name_forward_input(forward: s.Forward, name: str = "x") -> Fix:
    """``forward {`` as ``forward(x) {``."""
    at = forward.span
    return Fix(s.Span(at.end_line, at.end_column, at.end_line, at.end_column), f"({name})")


def set_argument(call: s.Call, name: str, value: str) -> Fix | None:
    """``name=value`` in ``call``: the argument written replaced, or one added before the
    closing parenthesis; None for a call over several lines."""
    for a in call.args:
        if a.name == name:
            return Fix(a.span, f"{name}={value}")
    at = call.span
    if at.end_line != at.line:
        return None
    close = s.Span(at.line, at.end_column - 1, at.line, at.end_column - 1)
    return Fix(close, f"{', ' if call.args else ''}{name}={value}")


def call_at(program: s.Program, span: s.Span) -> s.Call | None:
    """The layer call of the syntax tree written at ``span``, if any."""
    stack: list = [program]
    while stack:
        node = stack.pop()
        if isinstance(node, s.Call) and node.span == span:
            return node
        if isinstance(node, (tuple, list)):
            stack.extend(node)
        elif is_dataclass(node) and not isinstance(node, s.Span):
            stack.extend(getattr(node, f.name) for f in fields(node))
    return None


def floor_division(e: s.Expr) -> Fix | None:
    """``a / b`` as ``a // b``: the ``/`` between the operands (a parenthesis may sit there
    too, which the spans of the operands leave out)."""
    if not isinstance(e, s.BinOp) or e.op != "/":
        return None
    left, right = e.left.span, e.right.span
    return Fix(s.Span(left.end_line, left.end_column, right.line, right.column), "//", old="/")
