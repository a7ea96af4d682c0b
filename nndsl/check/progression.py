"""Sizes that grow by one formula at each copy of a ``repeat``: a dense block's width, which
is ``in_channels`` at the first copy, ``in_channels + growth`` at the second and
``in_channels + 2 * growth`` at the third.

The checker follows each such size through the copies (:class:`Growth`), keeping its formula
short (``in_channels + 2 * growth``, not ``(in_channels + growth) + growth``); the loop then
reads it as ``in_channels + i * growth`` and what leaves the repeat as ``in_channels + n *
growth``, which hold for any count: the generated class serves every use of its block, not
only one count.
"""

from __future__ import annotations

import ast
import re

from nndsl.ir import expr as x
from nndsl.ir.shapes import Dim, expr_of, known


def _tree(text: str | None) -> str | None:
    """The formula's syntax, parentheses aside (for comparing two texts); None if none."""
    if text is None:
        return None
    try:
        return ast.dump(ast.parse(text, mode="eval").body)
    except SyntaxError:
        return None


def _atom(text: str) -> str:
    return text if text.isidentifier() or text.isdigit() else f"({text})"


def nth(start: str, k: int | str, step: str) -> str:
    """The size after ``k`` copies of a repeat that each add ``step`` to ``start``.

    >>> nth("c", 0, "g"), nth("c", 1, "g"), nth("c", 3, "g"), nth("c", "n - 1", "a * g")
    ('c', 'c + g', 'c + 3 * g', 'c + (n - 1) * (a * g)')
    """
    if k == 0:
        return start
    if k == 1:
        return f"{start} + {step}"
    return f"{start} + {_atom(str(k))} * {_atom(step)}"


def _step(before: str, after: str, var: str) -> str | None:
    """What ``after`` adds to ``before`` (``after`` is ``before + step`` or ``step + before``),
    where that does not read the loop variable; None otherwise."""
    try:
        tree = ast.parse(after, mode="eval").body
    except SyntaxError:
        return None
    if not (isinstance(tree, ast.BinOp) and isinstance(tree.op, ast.Add)):
        return None
    was = _tree(before)
    for mine, other in ((tree.left, tree.right), (tree.right, tree.left)):
        if ast.dump(mine) == was:
            step = ast.unparse(other)
            if not re.search(rf"\b{re.escape(var)}\b", step):
                return step
    return None


class Growth:
    """The sizes of a repeat's flowing tensor that grow by one step at every copy so far: by
    dim, its size at the first copy and its step."""

    def __init__(self, first: tuple, var: str, count: x.Expr):
        self.first = first
        self.var = var
        # sizes of constants that grow by a constant: a formula only where the count is a
        # parameter (a model's list of sizes serves its one count)
        self.numeric = free(count)
        self.steps: dict[int, str] = {}
        self.copies = 0

    def after(self, before: tuple, out: tuple) -> tuple:
        """``out``, what copy number :attr:`copies` made of ``before``, with each size that
        kept growing by its step written from the first copy's (``in_channels + 2 *
        growth``)."""
        k = self.copies
        self.copies += 1
        if len(out) != len(self.first) or len(before) != len(self.first):
            self.steps = {}
            return out
        dims = list(out)
        for p, d in enumerate(out):
            if not known(d, self.first[p], before[p]):
                self.steps.pop(p, None)
                continue
            start = expr_of(self.first[p])
            step = self._step(start, before[p], d)
            same = k == 0 or (p in self.steps and step == self.steps[p])
            if step is None or not same or (k and not self._at(p, k, before[p])):
                self.steps.pop(p, None)
                continue
            self.steps[p] = step
            dims[p] = Dim(int(d), nth(start, k + 1, step))
        return tuple(dims)

    def _step(self, start: str, before, d) -> str | None:
        if getattr(d, "expr", None):
            return _step(expr_of(before), d.expr, self.var)
        if self.numeric and start.isdigit() and int(d) > int(before):
            return str(int(d) - int(before))
        return None

    def _at(self, p: int, k: int, d) -> bool:
        return _tree(expr_of(d)) == _tree(nth(expr_of(self.first[p]), k, self.steps[p]))

    def last(self, out: tuple, count: x.Expr) -> tuple:
        """What leaves the repeat: each size that grew at every copy written for any count
        (``in_channels + n * growth``)."""
        text = x.formula_text(count)
        if text is None or not self.copies or len(out) != len(self.first):
            return out
        dims = list(out)
        for p, step in self.steps.items():
            if self._at(p, self.copies, out[p]):
                dims[p] = Dim(int(out[p]), nth(expr_of(self.first[p]), text, step))
        return tuple(dims)

    def loop_sizes(self) -> list[tuple[str, str]]:
        """(size at the first copy, step) of each size that grew at every copy."""
        return [(expr_of(self.first[p]), step) for p, step in sorted(self.steps.items())]


def free(count: x.Expr) -> bool:
    """Whether a repeat's count is a formula of parameters (``n``, ``blocks - 1``), which
    another use may give another value, not a number.

    >>> free(x.Name("n")), free(x.Lit(3)), free(x.BinOp("*", x.Lit(2), x.Lit(3)))
    (True, False, False)
    """
    text = x.formula_text(count)
    return text is not None and re.search(r"[A-Za-z_]", text) is not None


def carried(shape: tuple, var: str, count: x.Expr) -> tuple:
    """The sizes one copy of a repeat made, as the next copy reads them: one that names the
    loop variable written of the copy before (``16 * 2 ** (i - 1)``), so that the loop holds
    for any count; where the count is a number, its value (a list of sizes serves it)."""
    return _renamed(shape, var, f"({var} - 1)" if free(count) else None)


def leaving(shape: tuple, var: str, count: x.Expr) -> tuple:
    """What leaves a repeat: a size that names the loop variable written of the last copy
    (``16 * 2 ** (n - 1)``) where the count is a parameter, else its value."""
    text = x.formula_text(count) if free(count) else None
    return _renamed(shape, var, text and f"({_atom(text)} - 1)")


def first_only(first: tuple, then: tuple, count: x.Expr) -> list[tuple[x.Expr, x.Expr]]:
    """Of a repeat that made one copy, whose count is a parameter: (size at that copy, size
    the next copy would read) of each size that differs between them, so that the loop reads
    as it does at the uses that make more copies, and holds for any count."""
    if not free(count):
        return []
    return [
        (x.of_dim(a), x.of_dim(b))
        for a, b in zip(first, then)
        if known(a, b) and x.of_dim(a) != x.of_dim(b)
    ]


def _renamed(shape: tuple, var: str, new: str | None) -> tuple:
    pattern = re.compile(rf"\b{re.escape(var)}\b")
    out = []
    for d in shape:
        if isinstance(d, Dim) and d.expr and pattern.search(d.expr):
            d = Dim(int(d), pattern.sub(new, d.expr)) if new else Dim(int(d))
        out.append(d)
    return tuple(out)


def in_loop(value: x.Expr, k: int, sizes: list, index: str) -> x.Expr | None:
    """A constructor argument of copy ``k`` that is one of the growing ``sizes`` there, written
    for every copy (``in_channels + i * growth``); None when it is none of them."""
    here = _tree(x.formula_text(value))
    if here is None:
        return None
    for start, step in sizes:
        if here == _tree(nth(start, k, step)):
            return x.BinOp("+", _expr(start), x.BinOp("*", x.Name(index), _expr(step)))
    return None


def _expr(text: str) -> x.Expr:
    if text.isidentifier():
        return x.Name(text)
    return x.Lit(int(text)) if text.isdigit() else x.Formula(text)
