"""Evaluate DSL expressions to values, and write them as Python text with minimal parentheses.

Every value the checker computes from an expression is a :class:`Value`: the Python value (used
for shape rules) and the code generated source should contain (``width * 2`` inside a block whose
parameter is ``width``, ``8`` for a literal). Strings reach code only through ``repr``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from nndsl.lang import syntax as s
from nndsl.util.naming import suggest

ATOM, POWER, UNARY, TERM, SUM = 5, 4, 3, 2, 1
COMPARE = 0
_PREC = {"+": SUM, "-": SUM, "*": TERM, "/": TERM, "//": TERM, "%": TERM, "**": POWER}
MAX_MAGNITUDE = 10**60  # larger numbers are refused: no real size is this big


@dataclass(frozen=True)
class Value:
    """A computed value and the Python code that stands for it in generated source."""

    py: object
    code: str
    prec: int = ATOM


class EvalError(Exception):
    """An expression cannot be evaluated; ``span`` points at the offending sub-expression."""

    def __init__(self, message: str, span: s.Span, code: str = "E0108", help: str | None = None):
        super().__init__(message)
        self.message, self.span, self.code, self.help = message, span, code, help


def literal(py: object) -> Value:
    """A value written as a Python literal.

    >>> literal(3).code, literal("a'b").code, literal((1, 2)).code, literal(-2).prec
    ('3', '"a\\'b"', '(1, 2)', 3)
    """
    if isinstance(py, tuple):
        inner = ", ".join(literal(x).code for x in py)
        return Value(py, f"({inner},)" if len(py) == 1 else f"({inner})")
    if isinstance(py, list):
        return Value(py, "[" + ", ".join(literal(x).code for x in py) + "]")
    if isinstance(py, float) and not math.isfinite(py):
        return Value(py, f'float("{py}")')
    code = repr(py)
    if isinstance(py, str) and "'" in code and '"' not in py:
        code = '"' + code[1:-1].replace("\\'", "'") + '"'
    return Value(py, code, UNARY if code.startswith("-") else ATOM)


def wrap(v: Value, need: int) -> str:
    """The code of ``v``, parenthesised when its precedence is below ``need``."""
    return f"({v.code})" if v.prec < need else v.code


def evaluate(e: s.Expr, env: dict[str, Value]) -> Value:
    """Evaluate an expression; names are looked up in ``env``."""
    match e:
        case s.Num(value=value, text=text):
            return Value(value, text)
        case s.Str(value=value) | s.Const(value=value):
            return literal(value)
        case s.Name(id=name, span=span):
            if name not in env:
                hint = suggest(name, env) or (f"names in scope: {', '.join(env)}" if env else None)
                raise EvalError(f"`{name}` is not defined", span, help=hint)
            return env[name]
        case s.Unary(op=op, operand=operand):
            v = evaluate(operand, env)
            _need_number(v, operand.span)
            return Value(-v.py if op == "-" else +v.py, op + wrap(v, UNARY), UNARY)
        case s.BinOp():
            return _binop(e, env)
        case s.TupleLit(items=items):
            vals = [evaluate(x, env) for x in items]
            inner = ", ".join(v.code for v in vals)
            return Value(
                tuple(v.py for v in vals), f"({inner},)" if len(vals) == 1 else f"({inner})"
            )
        case s.ListLit(items=items):
            vals = [evaluate(x, env) for x in items]
            return Value([v.py for v in vals], "[" + ", ".join(v.code for v in vals) + "]")
        case s.CallExpr() | s.Index():
            raise EvalError(
                "calls and indexing compute tensors, which only a forward has",
                e.span,
                code="E0106",
                help="write a number, or a formula of numbers and parameters",
            )
    raise TypeError(f"not an expression: {e!r}")


def _need_number(v: Value, span: s.Span) -> None:
    if isinstance(v.py, bool) or not isinstance(v.py, (int, float)):
        raise EvalError(f"expected a number but found {v.code}", span, code="E0106")


def _binop(e: s.BinOp, env: dict[str, Value]) -> Value:
    if e.op not in _PREC:
        raise EvalError(
            f"`{e.op}` works on tensors, which only a forward has", e.span, code="E0106"
        )
    left, right = evaluate(e.left, env), evaluate(e.right, env)
    _need_number(left, e.left.span)
    _need_number(right, e.right.span)
    a, b, op = left.py, right.py, e.op
    if op in ("/", "//", "%") and b == 0:
        raise EvalError("division by zero", e.right.span, code="E0129")
    if op == "**" and (abs(b) > 256 or (abs(a) > 1 and abs(b) * math.log2(abs(a)) > 200)):
        raise EvalError("this power is too large", e.span, code="E0127")
    result = {
        "+": lambda: a + b,
        "-": lambda: a - b,
        "*": lambda: a * b,
        "/": lambda: a / b,
        "//": lambda: a // b,
        "%": lambda: a % b,
        "**": lambda: a**b,
    }[op]()
    if isinstance(result, complex) or (
        isinstance(result, (int, float)) and math.isfinite(result) and abs(result) > MAX_MAGNITUDE
    ):
        raise EvalError("this number is too large", e.span, code="E0127")
    prec = _PREC[op]
    if op == "**":  # right-associative, binds tighter than a unary minus on its left
        code = f"{wrap(left, ATOM)} ** {wrap(right, UNARY)}"
    else:
        code = f"{wrap(left, prec)} {op} {wrap(right, prec + 1)}"
    return Value(result, code, prec)


def call_parts(e) -> tuple[str, s.Span, tuple[s.Arg, ...]]:
    """``adam(lr=1e-3)`` or ``adam``: the name, its span and the arguments."""
    if isinstance(e, s.Name):
        return e.id, e.span, ()
    if isinstance(e, s.CallExpr) and isinstance(e.func, s.Name):
        return e.func.id, e.func.span, e.args
    raise EvalError(
        "expected a name such as `adam` or a call such as `adam(lr=0.001)`", e.span, "E0106"
    )
