"""What building a registry layer depends on, as a key: the memo of built layers.

Checking a registry layer (binding its arguments, inferring and checking the rest, its output
shape, parameters and constructor) is a pure function of its name, its arguments as written and
the shape and dtype of its input, when the arguments are literals: they read nothing from the
scope. Networks repeat such layers (``ReLU()`` after every block, the body of a ``repeat``), so
the checker keeps each one it builds without a diagnostic under this key, and a later layer with
the same key takes the result instead of working it out again. A call whose arguments name
anything, or a layer with a second input, has no key and is always worked out.
"""

from __future__ import annotations

from nndsl.ir.shapes import Dim
from nndsl.lang import syntax as s


def memo_key(call: s.Call, shape: tuple, dtype: str) -> tuple | None:
    """The key of ``call`` on an input of ``shape`` and ``dtype``, or None when it has none."""
    args = []
    for a in call.args:
        value = _literal(a.value)
        if value is None:
            return None
        args.append((a.name, value))
    dims = tuple(
        (d.__class__, d, d.expr) if d.__class__ is Dim else (d.__class__, d) for d in shape
    )
    return call.name, tuple(args), dims, dtype


def _literal(e) -> tuple | None:
    """A literal argument as a key, with the text it was written in (``1e-3``, ``0x10``: the
    generated code keeps it), and the class of its value (``1`` and ``1.0`` are equal keys
    otherwise); None for anything that reads a name."""
    cls = e.__class__
    if cls is s.Num:
        return "num", e.value.__class__, e.value, e.text
    if cls is s.Str:
        return "str", e.value
    if cls is s.Const:
        return "const", e.value.__class__, e.value
    if cls is s.Unary:
        operand = _literal(e.operand)
        return None if operand is None else ("unary", e.op, operand)
    if cls is s.BinOp:
        left, right = _literal(e.left), _literal(e.right)
        return None if left is None or right is None else ("binop", e.op, left, right)
    if cls is s.TupleLit or cls is s.ListLit:
        items = tuple(_literal(item) for item in e.items)
        return None if None in items else (cls.__name__, items)
    return None
