"""The shape comments of a class that serves several uses of a block: each comment holds
each use's dims while the uses are merged (:class:`ShownUses`), then is written once for all
(:class:`Resolver`): the dims the uses agree on as they are, the others as a formula of the
class's parameters that holds at every use (``in_channels + growth``, ``H // stride``), or
``?``. A comment never keeps two uses apart: only the code does.
"""

from __future__ import annotations

from nndsl.check.sizes import formula_for, size_of
from nndsl.ir import expr as ex
from nndsl.util.frozen import frozen
from nndsl.util.tree import field_names, rebuilt

SPATIAL = {4: ("H", "W"), 5: ("D", "H", "W")}  # the names of an image's sizes, by rank


@frozen
class ShownUses:
    """A shape comment while uses are merged: each use's dims, by its number."""

    uses: tuple[tuple[int, tuple], ...]


def symbols(first) -> list[tuple[str, int, dict]]:
    """(text, position, value at each use) of the input's spatial sizes: a name where the uses
    differ, the number where they agree."""
    if type(first) is not ShownUses:
        return []
    rank = len(first.uses[0][1])
    out = []
    for i, name in enumerate(SPATIAL.get(rank, ())):
        values = {u: d[i + 2] for u, d in first.uses}
        if not all(isinstance(v, int) for v in values.values()):
            continue
        text = name if len(set(values.values())) > 1 else str(next(iter(values.values())))
        out.append((text, i + 2, values))
    return out


class Resolver:
    """Each ShownUses made a Shown: dims the uses agree on as they are, the others a formula
    that holds at every use."""

    def __init__(self, symbols: list, uses: list):
        self.symbols = symbols
        self.uses = uses

    def __call__(self, body):
        if type(body) is ShownUses:
            return self._shown(body)
        if type(body) is tuple:
            return tuple(self(b) for b in body)
        kind = type(body)
        if field_names(kind) is not None and kind is not ex.Lit and kind is not ex.Unseen:
            return rebuilt(body, self)
        return body

    def _shown(self, su: ShownUses) -> ex.Shown:
        first = su.uses[0][1]
        dims = []
        envs = dict(enumerate(self.uses))
        for p, d in enumerate(first):
            column = [(u, ds[p]) for u, ds in su.uses]
            if all(c == d for _, c in column):
                dims.append(d)
                continue
            fit = formula_for(column, envs)
            if fit is None and len(first) in SPATIAL and p >= 2:
                fit = self._formula(dict(column), p)
            dims.append(fit if fit is not None else self._by_params(column))
        return ex.Shown(tuple(dims))

    def _by_params(self, column: list) -> str:
        """A size the uses differ in, outside the spatial ones: a parameter, or a sum or
        product of two, or of one and a number, that gives every use its size; else ``?``."""
        sizes = {u: size_of(d, self.uses[u] if u < len(self.uses) else {}) for u, d in column}
        if any(v is None for v in sizes.values()):
            return "?"
        names = [
            n
            for n in (self.uses[0] if self.uses else {})
            if all(_positive(self.uses[u].get(n)) for u in sizes)
        ]
        u0 = next(iter(sizes))
        for text in _candidates(names, self.uses[u0], sizes[u0]):
            if all(size_of(text, self.uses[u]) == v for u, v in sizes.items()):
                return text
        return "?"

    def _formula(self, values: dict, p: int) -> str:
        order = sorted(self.symbols, key=lambda s: s[1] != p)
        for text, _, sv in order:
            if all(values[u] == sv[u] for u in values):
                return text
        params = [
            (name, {u: self.uses[u].get(name) for u in values})
            for name in (self.uses[0] if self.uses else {})
            if name not in ("in_features", "in_channels")  # sizes, not what strides by
        ]
        params = [(n, q) for n, q in params if all(_positive(v) for v in q.values())]
        for text, _, sv in order:
            for name, q in params:
                if all(sv[u] // q[u] == values[u] for u in values):
                    return f"{text} // {name}"
                if all(sv[u] * q[u] == values[u] for u in values):
                    return f"{text} * {name}"
            u0 = next(iter(values))
            a, b = sv[u0], values[u0]
            if b and a % b == 0 and all(sv[u] // (a // b) == values[u] for u in values):
                return f"{text} // {a // b}"
            if a and b % a == 0 and all(sv[u] * (b // a) == values[u] for u in values):
                return f"{text} * {b // a}"
        return "?"


def _candidates(names: list, env: dict, size: int):
    """Formulas of the parameters ``names`` to try for a size (``size`` at the use ``env``)."""
    yield from names
    for i, a in enumerate(names):
        for b in names[i:]:
            yield f"{a} + {b}"
            yield f"{a} * {b}"
    for a in names:
        v = env[a]
        if size > v:
            yield f"{a} + {size - v}"
        if size % v == 0 and size > v:
            yield f"{a} * {size // v}"
        if v % size == 0 and v > size:
            yield f"{a} // {v // size}"


def _positive(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0
