"""``@frozen``: ``@dataclass(frozen=True)`` with the same behaviour, for less start-up.

The syntax tree and the IR are a hundred-odd frozen dataclasses, and making them was most of
what ``import nndsl.compiler`` cost: :func:`dataclasses.dataclass` compiles each method it
adds from source, six per frozen class. Here ``__eq__``, ``__hash__`` and ``__repr__`` are
made without compiling anything, from the class's fields, and do what the dataclass ones do:
equal when of the same class with equal compared fields (as tuples), the hash of those fields'
tuple, ``Name(field=value, ...)`` with ``...`` for a value that contains itself. The
``__init__``, the refusal to assign or delete a field, ``fields()``, ``replace()`` and the
rest are the dataclass's own. A method the class body defines itself is kept, as dataclass
keeps it.

The dataclass's parameters (``__dataclass_params__``) say ``eq=False, repr=False``, since
these methods are not the ones it generates; nothing in nndsl reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from operator import attrgetter
from reprlib import recursive_repr

try:
    from typing import dataclass_transform
except ImportError:  # Python 3.10; it only tells type checkers what the decorator makes

    def dataclass_transform(**_):
        return lambda decorator: decorator


@dataclass_transform(frozen_default=True)
def frozen(cls=None, /, *, eq: bool = True, slots: bool = False):
    """``@frozen`` or ``@frozen(eq=False, slots=True)``: a frozen dataclass; ``eq=False``
    compares and hashes by identity, unless the class defines its own."""

    def wrap(cls):
        own = dict(cls.__dict__)  # before dataclass: with slots it makes a new class
        cls = dataclass(frozen=True, eq=False, repr=False, slots=slots)(cls)
        if "__repr__" not in own:
            _add(cls, "__repr__", _repr([f.name for f in fields(cls) if f.repr]))
        if eq:
            compared = [f.name for f in fields(cls) if f.compare]
            if "__eq__" not in own:
                _add(cls, "__eq__", _eq(_key(compared)))
            explicit_hash = own.get("__hash__") is not None or (
                "__hash__" in own and "__eq__" not in own
            )
            if not explicit_hash:
                hashed = [f.name for f in fields(cls) if (f.compare if f.hash is None else f.hash)]
                _add(cls, "__hash__", _hash(_key(hashed)))
        return cls

    return wrap if cls is None else wrap(cls)


def _add(cls, name: str, fn) -> None:
    fn.__name__ = name
    fn.__qualname__ = f"{cls.__qualname__}.{name}"
    setattr(cls, name, fn)


def _key(names: list[str]):
    """The tuple of the named fields of an instance."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        get = attrgetter(names[0])
        return lambda self: (get(self),)
    return lambda self: ()


def _eq(key):
    def __eq__(self, other):
        if other.__class__ is self.__class__:
            return key(self) == key(other)
        return NotImplemented

    return __eq__


def _hash(key):
    def __hash__(self):
        return hash(key(self))

    return __hash__


def _repr(names: list[str]):
    get = [(f"{name}=", attrgetter(name)) for name in names]

    @recursive_repr()
    def __repr__(self):
        inner = ", ".join(label + repr(value(self)) for label, value in get)
        return f"{self.__class__.__qualname__}({inner})"

    return __repr__
