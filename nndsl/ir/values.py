"""Values the checker computes from expressions, and the constant evaluation of expressions.

Every value the checker computes from an expression is a :class:`Value`: the Python value (used
for shape rules) and the expression generated source should contain (``width * 2`` inside a
block whose parameter is ``width``, ``8`` for a literal), as :mod:`nndsl.ir.expr` nodes.
"""

from __future__ import annotations

import math

from nndsl.ir import expr as x
from nndsl.ir.expr import formula_text
from nndsl.lang import syntax as s
from nndsl.lang.syntax import MAX_MAGNITUDE
from nndsl.util.frozen import frozen
from nndsl.util.naming import suggest

_OPS = ("+", "-", "*", "/", "//", "%", "**")


@frozen(slots=True)
class Value:
    """A computed value and the expression that stands for it in generated source."""

    py: object
    expr: x.Expr

    @property
    def text(self) -> str:
        """The value as messages quote it: its formula, or its Python value."""
        text = formula_text(self.expr)
        return text if text is not None else repr(self.py)


class EvalError(Exception):
    """An expression cannot be evaluated; ``span`` points at the offending sub-expression."""

    def __init__(self, message: str, span: s.Span, code: str = "E0108", help: str | None = None):
        super().__init__(message)
        self.message, self.span, self.code, self.help = message, span, code, help


def literal(py: object) -> Value:
    """A value written as a Python literal.

    >>> literal((1, 2)).expr
    Tuple(items=(Lit(value=1, text=None), Lit(value=2, text=None)))
    """
    return Value(py, x.constant(py))


def evaluate(e: s.Expr, env: dict[str, Value]) -> Value:
    """Evaluate an expression; names are looked up in ``env``."""
    match e:
        case s.Num(value=value, text=text):
            return Value(value, x.Lit(value, text))
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
            return Value(-v.py if op == "-" else +v.py, x.Unary(op, v.expr))
        case s.BinOp():
            return _binop(e, env)
        case s.TupleLit(items=items):
            vals = [evaluate(i, env) for i in items]
            return Value(tuple(v.py for v in vals), x.Tuple(tuple(v.expr for v in vals)))
        case s.ListLit(items=items):
            vals = [evaluate(i, env) for i in items]
            return Value([v.py for v in vals], x.List(tuple(v.expr for v in vals)))
        case s.Index(value=base, items=(item,)) if not isinstance(
            item, (s.SliceExpr, s.EllipsisLit)
        ):
            return _item(e, evaluate(base, env), evaluate(item, env))
        case s.CallExpr() | s.Index():
            raise EvalError(
                "calls and indexing compute tensors, which only a forward has",
                e.span,
                code="E0106",
                help="write a number, or a formula of numbers and parameters",
            )
    raise TypeError(f"not an expression: {e!r}")


def _item(e: s.Index, table: Value, index: Value) -> Value:
    """``[8, 16, 32][i]``: one value of a list or tuple; an index written as a number picks the
    value's own expression (``widths[0]`` of a literal table is the literal).

    >>> from nndsl.lang.parser import parse
    >>> call = parse("model M(x: [4]) { Linear([8, 16, 32][i]) }").items[0].body[0].call
    >>> v = evaluate(call.args[0].value, {"i": Value(2, x.Name("i"))})
    >>> v.py, formula_text(v.expr)
    (32, '[8, 16, 32][i]')
    """
    if not isinstance(table.py, (list, tuple)):
        raise EvalError(
            f"only a list or tuple of values can be indexed here, not {table.text}",
            e.value.span,
            code="E0106",
            help="indexing that computes tensors belongs in a forward",
        )
    i = index.py
    if isinstance(i, bool) or not isinstance(i, int):
        raise EvalError(f"an index is an integer, not {index.text}", e.items[0].span, "E0106")
    if not -len(table.py) <= i < len(table.py):
        raise EvalError(
            f"index {i} is out of range: the table has {len(table.py)} values",
            e.items[0].span,
            code="E0125",
        )
    if isinstance(index.expr, x.Lit) and isinstance(table.expr, (x.List, x.Tuple)):
        return Value(table.py[i], table.expr.items[i])
    return Value(table.py[i], x.Index(table.expr, (index.expr,)))


def _need_number(v: Value, span: s.Span) -> None:
    if isinstance(v.py, bool) or not isinstance(v.py, (int, float)):
        raise EvalError(f"expected a number but found {v.text}", span, code="E0106")


def _binop(e: s.BinOp, env: dict[str, Value]) -> Value:
    if e.op not in _OPS:
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
    return Value(result, x.BinOp(op, left.expr, right.expr))


def call_parts(e) -> tuple[str, s.Span, tuple[s.Arg, ...]]:
    """``adam(lr=1e-3)`` or ``adam``: the name, its span and the arguments."""
    if isinstance(e, s.Name):
        return e.id, e.span, ()
    if isinstance(e, s.CallExpr) and isinstance(e.func, s.Name):
        return e.func.id, e.func.span, e.args
    raise EvalError(
        "expected a name such as `adam` or a call such as `adam(lr=0.001)`", e.span, "E0106"
    )
