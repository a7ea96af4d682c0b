"""The range of a data tensor built with arithmetic (nndsl.check.value_ranges) holds every value
torch computes from operands within the operands' ranges."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.check.value_ranges import binary_range, of_number, unary_range

OPS = {
    "+": torch.add,
    "-": torch.sub,
    "*": torch.mul,
    "/": torch.true_divide,
    "//": torch.floor_divide,
    "%": torch.remainder,
    "<": torch.lt,
    "==": torch.eq,
}

ints = st.integers(-50, 50)


@st.composite
def interval_and_values(draw):
    lo, hi = sorted((draw(ints), draw(ints)))
    values = draw(st.lists(st.integers(lo, hi), min_size=1, max_size=8)) + [lo, hi]
    return (lo, hi), torch.tensor(values)


@settings(max_examples=150, deadline=None)
@given(interval_and_values(), interval_and_values(), st.sampled_from(sorted(OPS)))
def test_the_range_of_an_operation_holds_what_torch_computes(a, b, op):
    (ra, xa), (rb, xb) = a, b
    found = binary_range(op, ra, rb)
    if found is None:
        return  # not claimed: nothing to hold
    # in float64, where the quotients are exact enough to compare; rounding to float32 keeps
    # a bound that float32 holds (0, 1, an integer), which are the bounds the checks read
    got = OPS[op](xa[:, None].double(), xb[None, :].double()).double()
    assert found[0] <= got.min().item() and got.max().item() <= found[1], (ra, op, rb)


def test_a_divisor_that_may_be_zero_gives_no_range():
    assert binary_range("//", (0, 9), (-1, 1)) is None
    assert binary_range("/", (0, 9), (0, 0)) is None
    assert binary_range("%", (0, 9), (0, 3)) is None


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        ("//", (0, 9), (2, 2), (0, 4)),
        ("%", (0, 9), (3, 3), (0, 2)),
        ("%", (1, 2), (3, 3), (1, 2)),
        ("-", (0, 9), (1, 1), (-1, 8)),
        ("*", (-2, 3), (-4, 5), (-12, 15)),
        ("==", (0, 9), (3, 3), (0, 1)),
        ("**", (0, 9), (2, 2), None),  # no rule: not known
    ],
)
def test_ranges_of_the_arithmetic_labels_are_made_with(op, a, b, expected):
    assert binary_range(op, a, b) == expected


def test_numbers_and_unknowns():
    assert of_number(3) == (3, 3) and of_number(True) is None and of_number(float("nan")) is None
    assert binary_range("+", None, (1, 1)) is None
    assert binary_range("*", (0, 1e308), (10, 10)) is None  # beyond a float: not claimed
    assert unary_range("-", (1, 4)) == (-4, -1) and unary_range("-", None) is None


def test_function_ranges():
    from nndsl.check.value_ranges import call_range

    assert call_range("argmax", (100, 19), 1, None) == (0, 18)
    assert call_range("argmax", (100, 19), -1, None) == (0, 18)
    assert call_range("argmax", (4, 5), None, None) == (0, 19)
    assert call_range("argmax", ("B", 5), None, None) is None  # a size known at run time
    assert call_range("long", (4,), None, (-1.5, 2.7)) == (-1, 2)
    assert call_range("float", (4,), None, (0, 3)) == (0, 3)
    assert call_range("exp", (4,), None, (0, 3)) is None
