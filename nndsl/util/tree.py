"""Walking the frozen dataclass trees of the IR: each class's field names looked up once, and
a node rebuilt only where a child changed.

:func:`dataclasses.fields` and :func:`dataclasses.is_dataclass` look at the class every time
they are called; the walkers that put a block's generated class together call them for every
node of every use, which was a third of what checking a program of many blocks cost.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from functools import cache


@cache
def field_names(kind: type) -> tuple[str, ...] | None:
    """The field names of the dataclass ``kind`` in their order; None for any other class."""
    if not is_dataclass(kind):
        return None
    return tuple(f.name for f in fields(kind))


def children(value) -> tuple:
    """The field values of the dataclass instance ``value``."""
    return tuple(getattr(value, name) for name in field_names(type(value)))


def rebuilt(value, fn):
    """The dataclass instance ``value`` with ``fn`` applied to each field: ``value`` itself when
    ``fn`` returns every field as it is (the nodes are frozen: sharing them is safe)."""
    names = field_names(type(value))
    old = [getattr(value, name) for name in names]
    new = [fn(v) for v in old]
    if all(a is b for a, b in zip(old, new)):
        return value
    return type(value)(**dict(zip(names, new)))


def with_fields(value, **changes):
    """``dataclasses.replace`` without its checks: ``value`` with those fields changed."""
    names = field_names(type(value))
    kw = {name: getattr(value, name) for name in names}
    kw.update(changes)
    return type(value)(**kw)
