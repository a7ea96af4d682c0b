"""The (min, max) of a data tensor's values through the arithmetic that builds it: interval
arithmetic over the operands' ranges, so that labels made with ``table[:, "label"] // 2`` are
checked against the model's classes as labels read as they are.

A range is a ``(lo, hi)`` pair of numbers; ``None`` where it is not known. Each rule gives a
range that holds every value the operation can produce from operands within theirs (it may be
wider than the values are, never narrower), or ``None`` where no finite one is sure.
"""

from __future__ import annotations

import math
import operator

Range = tuple  # (lo, hi)


def of_number(py: object) -> Range | None:
    """The range of a number written in place; None for anything else."""
    if isinstance(py, (int, float)) and not isinstance(py, bool) and not math.isnan(py):
        return (py, py)
    return None


def unary_range(op: str, a: Range | None) -> Range | None:
    if a is None:
        return None
    if op == "-":
        return (-a[1], -a[0])
    if op == "+":
        return a
    return None


def binary_range(op: str, a: Range | None, b: Range | None) -> Range | None:
    """The range of ``a op b``; None where either is unknown, where a divisor's range holds
    zero, or where the bounds are not finite numbers."""
    if a is None or b is None:
        return None
    try:
        found = _RULES[op](a, b) if op in _RULES else None
    except (ArithmeticError, TypeError, ValueError):
        return None
    if found is None or not all(_finite(v) for v in found):
        return None
    return found


def _finite(v) -> bool:
    return isinstance(v, int) or (isinstance(v, float) and math.isfinite(v))


def _corners(fn, a: Range, b: Range) -> Range:
    values = [fn(x, y) for x in a for y in b]
    return (min(values), max(values))


def _divide(fn):
    """Floor or true division: monotonic in each operand when the divisor keeps one sign."""

    def rule(a: Range, b: Range) -> Range | None:
        if b[0] <= 0 <= b[1]:
            return None
        return _corners(fn, a, b)

    return rule


def _modulo(a: Range, b: Range) -> Range | None:
    """``a % b`` for a positive divisor: within [0, b) (Python's and torch's sign rule); the
    dividend's own range where it is already inside."""
    if b[0] <= 0:
        return None
    if 0 <= a[0] and a[1] < b[0]:
        return a
    top = b[1] - 1 if all(isinstance(v, int) for v in (*a, *b)) else b[1]
    return (0, top)


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

_RULES = {
    **{op: lambda a, b: (0, 1) for op in _COMPARISONS},  # true or false: 1 or 0
    "+": lambda a, b: (a[0] + b[0], a[1] + b[1]),
    "-": lambda a, b: (a[0] - b[1], a[1] - b[0]),
    "*": lambda a, b: _corners(operator.mul, a, b),
    "/": _divide(operator.truediv),
    "//": _divide(operator.floordiv),
    "%": _modulo,
}


def call_range(name: str, shape: tuple, dim, first: Range | None) -> Range | None:
    """The range of a function's values where it is known: ``argmax`` gives positions along
    ``dim`` (in the whole tensor without one), ``float`` and ``long`` keep their operand's
    range ``first`` (``long`` truncates toward zero, as torch does)."""
    if name == "argmax":
        if dim is None:
            count = math.prod(shape) if all(isinstance(n, int) for n in shape) else 0
        elif isinstance(dim, int) and -len(shape) <= dim < len(shape):
            count = shape[dim] if isinstance(shape[dim], int) else 0
        else:
            count = 0
        return (0, count - 1) if count > 0 else None
    if name in ("float", "long") and first is not None:
        return (math.trunc(first[0]), math.trunc(first[1])) if name == "long" else first
    return None
