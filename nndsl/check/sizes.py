"""The sizes that size formulas give at a use of a block: what lets two uses whose generated code
writes a size differently share one class (:mod:`nndsl.check.unify`), where one formula gives
every use its own size."""

from __future__ import annotations

import ast as pyast

from nndsl.ir.expr import formula_text


def size_of(e, env: dict) -> int | None:
    """The integer a size expression (an :mod:`nndsl.ir.expr` node or a formula's text) has
    for the parameter values ``env``; None when it is not one.

    >>> size_of(ex.BinOp("*", ex.Name("c"), ex.Lit(6)), {"c": 4}), size_of("c // 2", {"c": 4})
    (24, 2)
    """
    text = e if isinstance(e, str) else formula_text(e)
    if isinstance(e, int) and not isinstance(e, bool):
        return int(e)
    if text is None:
        return None
    try:
        tree = pyast.parse(text, mode="eval").body
    except SyntaxError:
        return None
    value = _value(tree, env)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_OPS = {
    pyast.Add: lambda a, b: a + b,
    pyast.Sub: lambda a, b: a - b,
    pyast.Mult: lambda a, b: a * b,
    pyast.FloorDiv: lambda a, b: a // b,
    pyast.Mod: lambda a, b: a % b,
    pyast.Pow: lambda a, b: a**b if 0 <= b <= 64 else None,
}


def _value(node, env: dict):
    if isinstance(node, pyast.Constant):
        return node.value
    if isinstance(node, pyast.Name):
        return env.get(node.id)
    if isinstance(node, pyast.UnaryOp) and isinstance(node.op, pyast.USub):
        v = _value(node.operand, env)
        return -v if isinstance(v, int) else None
    if isinstance(node, (pyast.List, pyast.Tuple)):
        return [_value(i, env) for i in node.elts]
    if isinstance(node, pyast.Subscript):
        table, i = _value(node.value, env), _value(node.slice, env)
        ok = (
            isinstance(table, (list, tuple))
            and isinstance(i, int)
            and -len(table) <= i < len(table)
        )
        return table[i] if ok else None
    if isinstance(node, pyast.BinOp) and type(node.op) in _OPS:
        a, b = _value(node.left, env), _value(node.right, env)
        if not (isinstance(a, int) and isinstance(b, int)) or isinstance(a, bool):
            return None
        if isinstance(node.op, (pyast.FloorDiv, pyast.Mod)) and b == 0:
            return None
        return _OPS[type(node.op)](a, b)
    return None


def formula_for(column: list, envs: dict) -> object:
    """Of the dims a comment shows at each use (``column``: (use, dim) pairs), the first that
    gives every use its own size; None when none does."""
    sizes = {u: size_of(d, envs.get(u, {})) for u, d in column}
    if any(v is None for v in sizes.values()):
        return None
    for _, d in column:
        if all(size_of(d, envs.get(u, {})) == sizes[u] for u, _ in column):
            return d
    return None
