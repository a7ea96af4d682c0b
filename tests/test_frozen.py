"""``@frozen`` behaves as ``@dataclass(frozen=True)``: the same fields, constructor, equality,
hash, repr and immutability, for each form the package uses."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pytest

from nndsl.util.frozen import frozen


def _pair(**options):
    """The same class body under ``@dataclass(frozen=True, ...)`` and under ``@frozen(...)``."""

    def body():
        class Point:
            x: object
            y: object = 0
            note: str = field(default="", compare=False, repr=False)
            weight: float = field(default=1.0, hash=False)

        return Point

    return dataclass(frozen=True, **options)(body()), frozen(**options)(body())


@pytest.mark.parametrize("options", [{}, {"slots": True}])
def test_equality_hash_and_repr_are_the_dataclasss(options):
    reference, ours = _pair(**options)
    nan = float("nan")
    cases = [((1, 2), (1, 2)), ((1, 2), (1, 3)), ((nan,), (nan,)), (("a", (1,)), ("a", (1,)))]
    cases.append(((1, 2, "one note"), (1, 2, "another")))  # a field that is not compared
    cases.append(((1, 2, "", 1.0), (1, 2, "", 2.0)))  # compared, but not hashed
    for left, right in cases:
        a, b = reference(*left), reference(*right)
        c, d = ours(*left), ours(*right)
        assert (c == d, c != d) == (a == b, a != b)
        assert hash(c) == hash(a) and repr(c) == repr(a)
    assert ours(1) != reference(1) and ours(1).__eq__(1) is NotImplemented
    assert ours.__eq__.__qualname__.endswith("Point.__eq__")
    shown = [(f.name, f.default, f.compare, f.hash, f.repr) for f in dataclasses.fields(ours)]
    assert shown == [
        (f.name, f.default, f.compare, f.hash, f.repr) for f in dataclasses.fields(reference)
    ]
    assert ours.__doc__ == reference.__doc__
    assert hasattr(ours, "__slots__") == hasattr(reference, "__slots__")


def test_it_stays_frozen_and_replace_works():
    _, Point = _pair()
    p = Point(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.y
    assert dataclasses.replace(p, x=5) == Point(5, 2)
    assert dataclasses.is_dataclass(p) and dataclasses.astuple(p) == (1, 2, "", 1.0)


def test_a_value_that_contains_itself_is_shown_as_dots():
    shown = []
    for Point in _pair():
        items: list = []
        p = Point(items)
        items.append(p)
        shown.append(repr(p))
    assert shown[0] == shown[1] and shown[1].endswith(".Point(x=[...], y=0, weight=1.0)")


def test_what_the_class_defines_itself_is_kept():
    @frozen
    class Loose:
        value: float

        def __eq__(self, other):
            return isinstance(other, Loose) and abs(self.value - other.value) < 0.5

        def __hash__(self):
            return 0

        def __repr__(self):
            return "loose"

    assert Loose(1.0) == Loose(1.2) and hash(Loose(3.0)) == 0 and repr(Loose(1.0)) == "loose"

    @frozen
    class OwnEq:  # an __eq__ without a __hash__: the fields' hash, as dataclass gives
        value: int

        def __eq__(self, other):
            return True

    assert OwnEq(1) == OwnEq(2) and hash(OwnEq(1)) == hash((1,))


def test_eq_false_compares_by_identity():
    @frozen(eq=False, slots=True)
    class Token:
        text: str

    a = Token("x")
    assert a == a and a != Token("x") and hash(a) == object.__hash__(a)


def test_a_class_without_fields():
    reference = dataclass(frozen=True)(type("Empty", (), {}))
    ours = frozen(type("Empty", (), {}))
    assert ours() == ours() and hash(ours()) == hash(reference()) == hash(())
    assert repr(ours()) == repr(reference()) == "Empty()"
