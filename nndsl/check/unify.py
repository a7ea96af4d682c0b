"""One generated class for the uses of a block that read alike: the class put together from
what each use builds.

A block is checked once per use, so a use builds only the branch of an ``if`` its condition
chooses, and no copy of a ``repeat`` 0 times: those parts are :data:`ir.UNSEEN` in its class
body. Two uses share a class when their bodies agree wherever both built something; the class
then holds what either built (what no use builds is left out when the class is written). Uses
may also differ in the spatial sizes of their tensors (the dims after the channels of an
image) or in any size only a shape comment shows: a comment never keeps two uses apart, it
is written once for all of them (:mod:`nndsl.check.comments`).
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl.check.comments import Resolver, ShownUses, symbols
from nndsl.check.sizes import size_of
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.util.tree import children, field_names, rebuilt, with_fields


class Clash(Exception):
    """Two class bodies that no one class can serve."""


def per_use(body, use: int):
    """``body`` with each shape comment marked as use ``use``'s."""
    if type(body) is ex.Shown:
        return ShownUses(((use, body.dims),))
    if type(body) is tuple:
        return tuple(per_use(b, use) for b in body)
    if _walked(body):
        return rebuilt(body, lambda v: per_use(v, use))
    return body


def unify(a, b, old: list | None = None, new: dict | None = None):
    """What serves both ``a`` and ``b``; raises :class:`Clash` when nothing does. ``old``: the
    parameter values of the uses ``a`` serves, ``new`` those of the use ``b`` is.

    >>> c = ex.Name("c")
    >>> unify(ir.CondItems(c, ir.UNSEEN, ()), ir.CondItems(c, (1,), ir.UNSEEN))
    CondItems(cond=Name(id='c'), then=(1,), orelse=())
    """
    return _Unifier(old or [], new or {})(a, b)


class _Unifier:
    """Unification against the uses' parameter values: two size formulas that differ fit
    where one of them gives each use its own size (``in_channels * expand`` is
    ``in_channels`` at a use with ``expand`` 1)."""

    def __init__(self, old: list, new: dict):
        self.old, self.new = old, new

    def __call__(self, a, b):
        if a is b:
            return a
        if a is ir.UNSEEN:
            return b
        if b is ir.UNSEEN:
            return a
        kind = type(a)
        if kind in _SIZES and type(b) in _SIZES and a != b:
            return self._sizes(a, b)
        if kind is not type(b):
            raise Clash
        if kind is ShownUses:
            return self._shown(a, b)
        if kind is ir.RepeatNew and ir.UNSEEN in (a.items, b.items):  # a repeat 0 times
            seen = b if a.items is ir.UNSEEN else a
            return _with(seen, count=self(a.count, b.count))
        if kind is tuple:
            return self._items(a, b)
        if kind is ir.ClassDef:
            return self._class(a, b)
        if kind is ir.Step:
            merged = self._fields(a, _with(b, changed=a.changed))
            return merged if a.changed == b.changed else _with(merged, changed=True)
        if field_names(kind) is not None and kind is not ex.Lit and a != b:
            return self._fields(a, b)
        if a != b:
            raise Clash
        return a

    def _class(self, a: ir.ClassDef, b: ir.ClassDef) -> ir.ClassDef:
        """Two classes: the parameters each use's forward reads are kept, those of either."""
        mine, theirs = _split(a.members), _split(b.members)
        stored = tuple(sorted(set(mine[1]) | set(theirs[1]), key=lambda m: m.attr))
        merged = self._fields(_with(a, members=mine[0]), _with(b, members=theirs[0]))
        return _with(merged, members=merged.members + stored)

    def _fields(self, a, b):
        names = field_names(type(a))
        return type(a)(**{n: self(getattr(a, n), getattr(b, n)) for n in names})

    def _items(self, a: tuple, b: tuple) -> tuple:
        """Two lists of statements or items; a list ending in UNSEEN (what follows a branch
        that returned) fits any that goes on from where it stops."""
        if a and a[-1] is ir.UNSEEN and len(b) >= len(a) - 1:
            n = len(a) - 1
            return tuple(map(self, a[:n], b[:n])) + b[n:]
        if b and b[-1] is ir.UNSEEN and len(a) >= len(b) - 1:
            n = len(b) - 1
            return tuple(map(self, a[:n], b[:n])) + a[n:]
        if len(a) != len(b):
            raise Clash
        return tuple(map(self, a, b))

    def _sizes(self, a, b):
        """``a`` where it gives the new use its size, else ``b`` where it gives every old use
        theirs."""
        here = size_of(b, self.new)
        if here is None:  # not a size (a string, a flag): only equal values fit
            raise Clash
        if size_of(a, self.new) == here:
            return a
        sizes = [(size_of(a, env), size_of(b, env)) for env in self.old]
        if all(old is not None and old == new for old, new in sizes):
            return b
        raise Clash

    def _shown(self, a: ShownUses, b: ShownUses) -> ShownUses:
        rank = len(a.uses[0][1])
        if any(len(d) != rank for _, d in a.uses + b.uses):
            raise Clash
        return ShownUses(a.uses + b.uses)  # dims that differ: a formula, or `?` (comments)


_SIZES = (ex.Lit, ex.Name, ex.BinOp, ex.Unary, ex.Formula, ex.Index)


def _split(members: tuple) -> tuple[tuple, tuple]:
    """The members, and the constructor parameters kept as attributes (always last)."""
    n = len(members)
    while n and isinstance(members[n - 1].module, ir.Stored):
        n -= 1
    return members[:n], members[n:]


_with = with_fields


def _walked(value) -> bool:
    """Whether the walkers go into ``value``: a node of the IR, not a literal or UNSEEN."""
    kind = type(value)
    return field_names(kind) is not None and kind is not ex.Lit and kind is not ex.Unseen


# ---- the classes of a program --------------------------------------------------------------


@dataclass
class _Record:
    body: object  # the ClassDef, its comments ShownUses
    uses: list  # each use's parameter values, by the class's parameter names


class ClassBook:
    """The generated classes of blocks, each put together from its uses."""

    def __init__(self):
        self.records: dict[str, _Record] = {}
        self.by_block: dict[str, list[str]] = {}

    def add(
        self, block: str, body: ir.ClassDef, values: dict, taken: set, create: bool = True
    ) -> tuple[str | None, bool]:
        """The class that serves this use (``values``: its parameters' values), and whether it
        is new: one made before whose body this one fits, or one named after ``block`` and not
        ``taken`` (None where ``create`` is false)."""
        for name in self.by_block.get(block, ()):
            record = self.records[name]
            try:
                merged = unify(record.body, per_use(body, len(record.uses)), record.uses, values)
            except Clash:
                continue
            record.body = merged
            record.uses.append(values)
            return name, False
        if not create:
            return None, False
        name, n = block, 1
        while name in self.records or (name != block and name in taken):
            n += 1
            name = f"{block}_{n}"
        self.records[name] = _Record(per_use(body, 0), [values])
        self.by_block.setdefault(block, []).append(name)
        return name, True

    def final(self, name: str) -> ir.ClassDef:
        """The class as it is written: its comments resolved for all its uses."""
        record = self.records[name]
        found = symbols(record.body.in_shape[0] if record.body.in_shape else None)
        resolve = Resolver(found, record.uses)
        body = resolve(record.body)
        return _with(specialised(body, _decided(body)), name=name)


_CHOICES = (ir.CondNew, ir.CondItems, ex.If)


def _decided(body) -> dict:
    """The conditions whose one branch no use built somewhere in the class: every use
    decides them alike (their value, by condition)."""
    found: dict = {}
    stack = [body]
    while stack:
        value = stack.pop()
        if type(value) is tuple:
            stack.extend(value)
        elif isinstance(value, _CHOICES):
            then, orelse = (
                (value.then, value.orelse)
                if type(value) is not ex.If
                else (
                    value.body,
                    value.orelse,
                )
            )
            if ir.UNSEEN in (then, orelse):
                found.setdefault(value.cond, set()).add(then is not ir.UNSEEN)
            stack += [then, orelse]
        elif _walked(value):
            stack.extend(children(value))
    return {cond: values.pop() for cond, values in found.items() if len(values) == 1}


def specialised(value, decided: dict):
    """``value`` with each choice on a decided condition replaced by the branch it takes: the
    class then reads as what its uses build."""
    if not decided:
        return value
    if type(value) is tuple:
        out: list = []
        for v in value:
            if isinstance(v, (ir.CondItems, ex.If)) and v.cond in decided:
                branch = (
                    (v.then if type(v) is ir.CondItems else v.body) if decided[v.cond] else v.orelse
                )
                out += specialised(branch, decided)
            else:
                out.append(specialised(v, decided))
        return tuple(out)
    if type(value) is ir.CondNew and value.cond in decided:
        return specialised(value.then if decided[value.cond] else value.orelse, decided)
    if _walked(value):
        return rebuilt(value, lambda v: specialised(v, decided))
    return value


def ordered(classes: list[ir.ClassDef]) -> list[ir.ClassDef]:
    """The classes, each after the classes it builds (a class made from a later use may be
    needed by one made before it); otherwise in the order given."""
    names = {c.name for c in classes}
    needs = {c.name: _built(c) & names - {c.name} for c in classes}
    done: set[str] = set()
    out: list[ir.ClassDef] = []
    waiting = list(classes)
    while waiting:
        ready = next((i for i, c in enumerate(waiting) if needs[c.name] <= done), 0)
        c = waiting.pop(ready)  # (0 when none is: not reached, a block cannot contain itself)
        out.append(c)
        done.add(c.name)
    return out


def _built(value) -> set[str]:
    """The class names a class body constructs."""
    if type(value) is ir.BlockNew:
        return {value.class_name}.union(*(_built(a) for a in value.args))
    if type(value) is tuple:
        return set().union(*(_built(v) for v in value)) if value else set()
    if field_names(type(value)) is not None and type(value) is not ex.Lit and not _leaf(value):
        return set().union(*(_built(v) for v in children(value)))
    return set()


def _leaf(value) -> bool:
    return isinstance(value, (ex.Shown, ir.Step, ir.ParamDecl, ir.InputDecl))
