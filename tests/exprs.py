"""Values written as Python source in tests: ``code(v)`` writes a Value's expression as the code
generator does, ``V(py, "a + b")`` makes a Value whose expression is that source, parsed."""

from __future__ import annotations

import ast

from nndsl.codegen.expr import write
from nndsl.ir import expr as x
from nndsl.ir.values import Value

_OPS = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.MatMult: "@",
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.USub: "-",
    ast.UAdd: "+",
}


def code(v: Value) -> str:
    return write(v.expr)


def V(py: object, source: str) -> Value:
    return Value(py, parsed(source))


def parsed(source: str) -> x.Expr:
    """Python source as an :mod:`nndsl.ir.expr` expression."""
    return _node(ast.parse(source, mode="eval").body)


def _node(n: ast.expr):
    match n:
        case ast.Name(id=name):
            return x.Name(name)
        case ast.Constant(value=value):
            return x.Lit(value)
        case ast.BinOp(left=left, op=op, right=right):
            return x.BinOp(_OPS[type(op)], _node(left), _node(right))
        case ast.Compare(left=left, ops=[op], comparators=[right]):
            return x.BinOp(_OPS[type(op)], _node(left), _node(right))
        case ast.UnaryOp(op=op, operand=operand):
            return x.Unary(_OPS[type(op)], _node(operand))
        case ast.Attribute(value=value, attr=attr):
            return x.Attr(_node(value), attr)
        case ast.Call(func=func, args=args, keywords=keywords):
            kwargs = tuple((k.arg, _node(k.value)) for k in keywords)
            return x.Call(_node(func), tuple(_node(a) for a in args), kwargs)
        case ast.Subscript(value=value, slice=ast.Tuple(elts=items)):
            return x.Index(_node(value), tuple(_node(i) for i in items))
        case ast.Subscript(value=value, slice=item):
            return x.Index(_node(value), (_node(item),))
        case ast.Slice(lower=a, upper=b, step=c):
            return x.Slice(*(None if p is None else _node(p) for p in (a, b, c)))
        case ast.List(elts=items):
            return x.List(tuple(_node(i) for i in items))
        case ast.Tuple(elts=items):
            return x.Tuple(tuple(_node(i) for i in items))
        case ast.IfExp(test=cond, body=then, orelse=orelse):
            return x.IfExp(_node(cond), _node(then), _node(orelse))
    raise ValueError(f"not an nndsl expression: {ast.dump(n)}")
