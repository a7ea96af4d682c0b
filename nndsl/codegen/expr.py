"""Expressions and statements (:mod:`nndsl.ir.expr`) written as Python, with no more
parentheses than Python needs, and the shape comments of a forward's lines.

This is where precedence lives: an operand is parenthesised when it binds more loosely than
its place needs (``(a + b) * c``, ``(a ** b) ** c``, ``(-a) ** b``, ``-(a + b)``); a
comparison's operands are parenthesised when they are comparisons (the language nests them,
Python would chain them).
"""

from __future__ import annotations

from nndsl.ir import expr as x
from nndsl.ir.expr import literal_text
from nndsl.ir.shapes import fmt_shape

IFEXP, COMPARE, SUM, TERM, UNARY, POWER, ATOM = -1, 0, 1, 2, 3, 4, 5
OR, AND, NOT = -0.75, -0.5, -0.25  # a condition's words: looser than comparisons, as in Python
_PREC = {"+": SUM, "-": SUM, "*": TERM, "/": TERM, "//": TERM, "%": TERM, "@": TERM, "**": POWER}
_PREC.update({op: COMPARE for op in ("==", "!=", "<", "<=", ">", ">=")})
_PREC.update({"or": OR, "and": AND})


def write(e: x.Expr) -> str:
    """An expression as Python source.

    >>> write(x.Unary("-", x.BinOp("+", x.Name("a"), x.Name("b"))))
    '-(a + b)'
    """
    return _WRITERS[type(e)](e)[0]


def wrap(e: x.Expr, need: int) -> str:
    """An expression, parenthesised when it binds more loosely than ``need``."""
    text, prec = _WRITERS[type(e)](e)
    return f"({text})" if prec < need else text


def precedence(e: x.Expr) -> int:
    return _WRITERS[type(e)](e)[1]


def items(e: x.Index) -> str:
    """What goes between an index's brackets: ``:, -1``; ``()`` for no items."""
    return ", ".join([_item(i) for i in e.items]) or "()"


def arguments(args: tuple, kwargs: tuple = ()) -> str:
    """A call's arguments: ``a, b, dim=1``."""
    parts = [write(a) for a in args]
    parts += [f"{k}={write(v)}" for k, v in kwargs]
    return ", ".join(parts)


def _lit(e: x.Lit) -> tuple[str, int]:
    text = e.text if e.text is not None else literal_text(e.value)
    return text, UNARY if text[:1] == "-" else ATOM


def _name(e: x.Name) -> tuple[str, int]:
    return e.id, ATOM


def _attr(e: x.Attr) -> tuple[str, int]:
    value = wrap(e.value, ATOM)
    if value.replace("_", "").isdigit():  # `2.abs()` would read as the number `2.`
        value = f"({value})"
    return f"{value}.{e.attr}", ATOM


def _call(e: x.Call) -> tuple[str, int]:
    return f"{wrap(e.func, ATOM)}({arguments(e.args, e.kwargs)})", ATOM


def _binop(e: x.BinOp) -> tuple[str, int]:
    op = e.op
    prec = _PREC[op]
    if op == "**":  # right-associative, binds tighter than a unary minus on its left
        return f"{wrap(e.left, ATOM)} ** {wrap(e.right, UNARY)}", prec
    if op in ("and", "or"):  # the next word binds tighter: `a or b and c`, `a and not b`
        return f"{wrap(e.left, prec)} {op} {wrap(e.right, prec + 0.25)}", prec
    if prec == COMPARE:  # Python would chain `a < b < c`; the language nests it
        return f"{wrap(e.left, SUM)} {op} {wrap(e.right, SUM)}", prec
    return f"{wrap(e.left, prec)} {op} {wrap(e.right, prec + 1)}", prec


def _unary(e: x.Unary) -> tuple[str, int]:
    if e.op == "not":
        return "not " + wrap(e.operand, NOT), NOT
    return e.op + wrap(e.operand, UNARY), UNARY


def _item(i) -> str:
    if type(i) is not x.Slice:
        return write(i)
    start, stop, step = ("" if p is None else write(p) for p in (i.start, i.stop, i.step))
    return f"{start}:{stop}:{step}" if step else f"{start}:{stop}"


def _index(e: x.Index) -> tuple[str, int]:
    return f"{wrap(e.value, ATOM)}[{items(e)}]", ATOM


def _tuple(e: x.Tuple) -> tuple[str, int]:
    inner = ", ".join([write(i) for i in e.items])
    return (f"({inner},)" if len(e.items) == 1 else f"({inner})"), ATOM


def _list(e: x.List) -> tuple[str, int]:
    return "[" + ", ".join([write(i) for i in e.items]) + "]", ATOM


def _ifexp(e: x.IfExp) -> tuple[str, int]:
    return f"{wrap(e.then, COMPARE)} if {wrap(e.cond, COMPARE)} else {write(e.orelse)}", IFEXP


def _formula(e: x.Formula) -> tuple[str, int]:
    return e.text, COMPARE  # as an operand, parenthesised: its text may be a sum


_WRITERS = {
    x.Lit: _lit,
    x.Name: _name,
    x.Attr: _attr,
    x.Call: _call,
    x.BinOp: _binop,
    x.Unary: _unary,
    x.Index: _index,
    x.Tuple: _tuple,
    x.List: _list,
    x.IfExp: _ifexp,
    x.Formula: _formula,
}


# ---- statements ---------------------------------------------------------------------------------


def statements(body: tuple, indent: str = "") -> list[str]:
    """A forward's statements as lines, nested ones indented four spaces a level."""
    lines: list[str] = []
    for st in body:
        if type(st) is x.Assign:
            comment = _assign_comment(st.target, st.type)
            line = f"{indent}{_target(st.target, False)} = {write(st.value)}"
            lines.append(f"{line}  # {comment}" if comment else line)
        elif type(st) is x.Return:
            shapes = ", ".join([shown_text(t) for t in st.types])
            lines.append(f"{indent}return {', '.join(write(v) for v in st.values)}  # {shapes}")
        elif type(st) is x.While:
            lines.append(f"{indent}while {write(st.cond)}:")
            lines += statements(st.body, indent + "    ") or [indent + "    pass"]
        elif st is x.UNSEEN:  # what follows a branch that returns, at every use
            continue
        elif type(st) is x.If and x.UNSEEN in (st.body, st.orelse):  # one branch at every use
            lines += statements(st.orelse if st.body is x.UNSEEN else st.body, indent)
        elif type(st) is x.If:
            lines.append(f"{indent}if {write(st.cond)}:")
            lines += statements(st.body, indent + "    ") or [indent + "    pass"]
            if st.orelse:
                lines.append(f"{indent}else:")
                lines += statements(st.orelse, indent + "    ")
        else:
            raise TypeError(st)
    return lines


def _target(t: x.Expr, nested: bool = True) -> str:
    if type(t) is x.Tuple:
        inner = ", ".join(_target(i) for i in t.items)
        return f"({inner})" if nested else inner
    return write(t)


def shown_text(t: x.ShownType) -> str:
    """A shape comment's text for a type: ``(B, 8)``, ``((B, 8), (1, B, 8))``, or nothing for
    a value that is not a tensor."""
    if type(t) is x.Shown:
        return fmt_shape(t.dims)
    if isinstance(t, tuple):
        return "(" + ", ".join([shown_text(i) for i in t]) + ")"
    return ""


def _assign_comment(target: x.Expr, t: x.ShownType) -> str:
    """The value's shape, or each unpacked name's: ``h: (B, 8), c: (B, 8)``."""
    if type(target) is not x.Tuple:
        return shown_text(t)
    parts: list[str] = []

    def walk(node, typ) -> None:
        if type(node) is x.Tuple:
            for i, y in zip(node.items, typ):
                walk(i, y)
        elif node.id != "_" and shown_text(typ):
            parts.append(f"{node.id}: {shown_text(typ)}")

    walk(target, t)
    return ", ".join(parts)
