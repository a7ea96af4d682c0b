"""The conditions of ``if``: true or false at each use of a block, from its parameters, the
input size ``in`` and the indices of repeats, with the expression generated code tests.

A condition is a comparison (``stride != 1``), a true/false value (a parameter given
``true``), or ``and``, ``or`` and ``not`` of those. Comparisons follow Python's rules: ``==``
and ``!=`` take any two values, the orderings numbers.
"""

from __future__ import annotations

from nndsl.ir import expr as x
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s

_ORDERS = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def condition(e: s.Cond, env: dict[str, Value]) -> Value:
    """The value of a condition (a ``bool``) and its expression; raises :class:`EvalError`.

    >>> from nndsl.lang.parser import parse
    >>> block = parse("block B(n) { if n > 1 and not n == 3 { ReLU() } }").items[0]
    >>> v = condition(block.body[0].cond, {"n": Value(2, x.Name("n"))})
    >>> v.py, v.expr.op
    (True, 'and')
    """
    match e:
        case s.BoolOp(op=op, left=left, right=right):
            a, b = condition(left, env), condition(right, env)
            py = (a.py and b.py) if op == "and" else (a.py or b.py)
            return Value(py, x.BinOp(op, a.expr, b.expr))
        case s.Not(operand=operand):
            a = condition(operand, env)
            return Value(not a.py, x.Unary("not", a.expr))
        case s.BinOp(op=op, left=left, right=right) if op in ("==", "!=", *_ORDERS):
            a, b = evaluate(left, env), evaluate(right, env)
            if op in _ORDERS:
                for v, node in ((a, left), (b, right)):
                    if isinstance(v.py, bool) or not isinstance(v.py, (int, float)):
                        raise EvalError(
                            f"`{op}` compares numbers, and this is {v.text}", node.span, "E0106"
                        )
                py = _ORDERS[op](a.py, b.py)
            else:
                py = (a.py == b.py) == (op == "==")
            return Value(py, x.BinOp(op, a.expr, b.expr))
    v = evaluate(e, env)
    if not isinstance(v.py, bool):
        raise EvalError(
            f"a condition is true or false, and this is {v.text}",
            e.span,
            "E0106",
            help="compare it: `n > 1`, `stride != 1`",
        )
    return v


def names(e: x.Expr) -> set[str]:
    """The names an expression reads.

    >>> sorted(names(x.BinOp("and", x.Name("a"), x.Unary("not", x.Name("b")))))
    ['a', 'b']
    """
    if isinstance(e, x.Name):
        return {e.id}
    if isinstance(e, x.BinOp):
        return names(e.left) | names(e.right)
    if isinstance(e, x.Unary):
        return names(e.operand)
    if isinstance(e, (x.Tuple, x.List)):
        return set().union(*map(names, e.items))
    if isinstance(e, x.Index):
        return names(e.value).union(*(names(i) for i in e.items if not isinstance(i, x.Slice)))
    return set()


def on_self(e: x.Expr, stored: set[str]) -> x.Expr:
    """The expression with each name in ``stored`` read from ``self`` (a forward's test of
    constructor parameters kept as attributes)."""
    if isinstance(e, x.Name):
        return x.self_attr(e.id) if e.id in stored else e
    if isinstance(e, x.BinOp):
        return x.BinOp(e.op, on_self(e.left, stored), on_self(e.right, stored))
    if isinstance(e, x.Unary):
        return x.Unary(e.op, on_self(e.operand, stored))
    if isinstance(e, x.Tuple):
        return x.Tuple(tuple(on_self(i, stored) for i in e.items))
    if isinstance(e, x.List):
        return x.List(tuple(on_self(i, stored) for i in e.items))
    if isinstance(e, x.Index):
        items = tuple(i if isinstance(i, x.Slice) else on_self(i, stored) for i in e.items)
        return x.Index(on_self(e.value, stored), items)
    return e


_COMPARE = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    **_ORDERS,
}
_ARITH = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "//": lambda a, b: a // b if b else None,
    "%": lambda a, b: a % b if b else None,
}


def constant(e: x.Expr) -> object:
    """The value of an expression of constants (a condition once a loop's index is a number),
    or None.

    >>> constant(x.BinOp("and", x.BinOp("<", x.Lit(0), x.Lit(2)), x.Unary("not", x.Lit(False))))
    True
    """
    if isinstance(e, x.Lit):
        return e.value
    if isinstance(e, x.Unary):
        v = constant(e.operand)
        if e.op == "not":
            return None if v is None else not v
        return -v if isinstance(v, (int, float)) and e.op == "-" else v
    if isinstance(e, (x.List, x.Tuple)):
        items = [constant(i) for i in e.items]
        return None if None in items else items
    if isinstance(e, x.BinOp):
        a, b = constant(e.left), constant(e.right)
        if a is None or b is None:
            return None
        if e.op in ("and", "or"):
            return (a and b) if e.op == "and" else (a or b)
        if e.op in _COMPARE:
            try:
                return _COMPARE[e.op](a, b)
            except TypeError:
                return None
        if e.op in _ARITH and all(isinstance(v, int) for v in (a, b)):
            return _ARITH[e.op](a, b)
    return None
