"""Operators and indexing on tensor types against real torch.

For concrete shapes every rule must agree with torch on the CPU: where torch raises, the rule
raises OpError; where torch gives a result, the rule gives exactly its shape and dtype. The code
each operation writes is run too, with operands written as composite expressions (``a + z``,
``-a``) so that a missing parenthesis changes the value and fails the comparison.
"""

from __future__ import annotations

import ast
import doctest
import re

import pytest
import torch
from exprs import V, code
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nndsl.ir.dtypes
import nndsl.ir.shape_rules
import nndsl.ir.tensors
from nndsl.ir.dtypes import DTYPES, promote_types, result_type
from nndsl.ir.shape_rules import reshape_shape
from nndsl.ir.shapes import Dim
from nndsl.ir.tensors import (
    ELLIPSIS,
    NEWAXIS,
    OpError,
    Slice,
    Tensor,
    broadcast,
)
from nndsl.ir.values import Value, literal
from nndsl.registry.operators import binary, index, unary

OPS = ("+", "-", "*", "/", "//", "%", "**", "@", "<", "<=", ">", ">=", "==", "!=")
SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
MORE = settings(SETTINGS, max_examples=100)


def torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def real(t: Tensor, gen: torch.Generator) -> torch.Tensor:
    """A CPU tensor of type ``t`` holding small positive integers (true for bool), so that
    results are exact and integer division never divides by zero."""
    shape = tuple(int(d) for d in t.shape)
    return torch.randint(1, 4, shape, generator=gen).to(torch_dtype(t.dtype))


def operand(name: str, t: Tensor, form: str, ns: dict, gen: torch.Generator) -> Value:
    """The tensor ``t`` as a Value whose code has the given form, its names bound in ``ns``.

    Each form leaves the value's shape and dtype as ``t`` says: adding a 0-D zero, multiplying
    by a 0-D one, comparing a bool with true.
    """
    ns[name] = real(t, gen)
    one = torch.ones((), dtype=torch_dtype(t.dtype))
    ns[f"{name}_0"], ns[f"{name}_1"] = torch.zeros_like(one), one
    source = {
        "atom": name,
        "sum": f"{name} + {name}_0",
        "term": f"{name} * {name}_1",
        "unary": f"-{name}",
        "power": f"{name} ** {name}_1",
        "compare": f"{name} == {name}_1",
    }[form]
    return V(t, source)


def forms(dtype: str) -> list[str]:
    """The code forms that keep a tensor of ``dtype`` as it is."""
    if dtype == "bool":
        return ["atom", "sum", "term", "compare"]
    return ["atom", "sum", "term", "unary", "power"]


def run(code: str, ns: dict):
    return eval(code, {"torch": torch, "F": torch.nn.functional, **ns})


def outcome(code: str, ns: dict):
    """What torch gives for ``code``: a (shape, dtype) pair, or None when it raises."""
    try:
        r = run(code, ns)
    except (RuntimeError, TypeError, IndexError, ValueError, ZeroDivisionError):
        return None
    return tuple(r.shape), str(r.dtype).removeprefix("torch.")


def assert_same(value: Value, ns: dict, expected: torch.Tensor) -> None:
    """The rule's type is the real result's, and the emitted code computes the same values."""
    got = run(code(value), ns)
    assert (tuple(value.py.shape), value.py.dtype) == (
        tuple(expected.shape),
        str(expected.dtype).removeprefix("torch."),
    ), code(value)
    torch.testing.assert_close(got, expected, rtol=0, atol=0, equal_nan=True)


# ---- shapes and values to try -----------------------------------------------------------------

sizes = st.sampled_from([1, 1, 2, 3, 0])
shapes = st.lists(sizes, max_size=4).map(tuple)
dtypes = st.sampled_from(DTYPES)


@st.composite
def shape_pairs(draw) -> tuple[tuple, tuple]:
    """Two shapes that often broadcast: the second is the first with dims dropped, set to 1 or
    (sometimes) changed."""
    a = draw(shapes)
    b = list(a[draw(st.integers(0, len(a))) :])
    for i in range(len(b)):
        b[i] = draw(st.sampled_from([b[i], b[i], 1, 2]))
    pair = (a, tuple(b))
    return pair if draw(st.booleans()) else pair[::-1]


numbers = st.sampled_from([2, -1, 0, 3, 2.5, -0.5, True, False])


# ---- dtypes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("module", [nndsl.ir.tensors, nndsl.ir.dtypes, nndsl.ir.shape_rules])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted and not result.failed


@pytest.mark.parametrize("a", DTYPES)
def test_promote_types_matches_torch(a):
    for b in DTYPES:
        expected = torch.promote_types(torch_dtype(a), torch_dtype(b))
        assert torch_dtype(promote_types(a, b)) == expected, (a, b)


@pytest.mark.parametrize("a", DTYPES)
def test_result_type_matches_torch(a):
    """Against tensors with dims, 0-D tensors and Python numbers, on either side."""
    left = torch.ones(2, dtype=torch_dtype(a))
    for b in DTYPES:
        for right in (Tensor((2,), b), Tensor((), b), 2, 2.5, True, -1):
            real_right = (
                torch.ones(right.shape, dtype=torch_dtype(b))
                if isinstance(right, Tensor)
                else right
            )
            expected = torch.result_type(left, real_right)
            assert torch_dtype(result_type(Tensor((2,), a), right)) == expected, (a, right)
            assert torch_dtype(result_type(right, Tensor((2,), a))) == expected, (a, right)


# ---- binary operators -------------------------------------------------------------------------


@MORE
@given(st.sampled_from(OPS), shape_pairs(), dtypes, dtypes, st.data())
def test_tensor_op_tensor_matches_torch(op, pair, da, db, data):
    # torch compares the dtypes of `@` only when there is something to multiply
    assume(not (op == "@" and da != db and 0 in pair[0] + pair[1]))
    gen = torch.Generator().manual_seed(0)
    ns: dict = {}
    a = operand("a", Tensor(pair[0], da), data.draw(st.sampled_from(forms(da))), ns, gen)
    b = operand("b", Tensor(pair[1], db), data.draw(st.sampled_from(forms(db))), ns, gen)
    check_binary(op, a, b, ns)


@SETTINGS
@given(st.sampled_from(OPS), shapes, dtypes, numbers, st.booleans(), st.data())
def test_tensor_op_number_matches_torch(op, shape, dtype, number, number_left, data):
    assume(not (op in ("//", "%") and number == 0 and 0 in shape))  # no element divides by it
    gen = torch.Generator().manual_seed(0)
    ns: dict = {}
    t = operand("a", Tensor(shape, dtype), data.draw(st.sampled_from(forms(dtype))), ns, gen)
    composite = not isinstance(number, bool) and data.draw(st.booleans())
    n = V(number, f"{number!r} * 1") if composite else literal(number)
    if number_left:
        check_binary(op, n, t, ns)
    else:
        check_binary(op, t, n, ns)


def check_binary(op: str, a: Value, b: Value, ns: dict) -> None:
    try:
        expected = run(f"({code(a)}) {op} ({code(b)})", ns)
    except (RuntimeError, TypeError, ZeroDivisionError):
        with pytest.raises(OpError):
            binary(op, a, b)
        return
    assert_same(binary(op, a, b), ns, expected)


@SETTINGS
@given(
    st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=4),
    st.lists(st.sampled_from([1, 2, 3]), min_size=0, max_size=4),
    st.sampled_from(["float32", "float32", "int64", "float64", "bool"]),
    st.sampled_from(["float32", "float32", "int64"]),
    st.data(),
)
def test_matmul_matches_torch(sa, sb, da, db, data):
    if len(sa) >= 1 and len(sb) >= 2 and data.draw(st.booleans()):
        sb[-2] = sa[-1]  # make the inner sizes agree more often than chance would
    if len(sa) >= 1 and len(sb) == 1 and data.draw(st.booleans()):
        sb[0] = sa[-1]
    gen = torch.Generator().manual_seed(0)
    ns: dict = {}
    a = operand("a", Tensor(tuple(sa), da), data.draw(st.sampled_from(forms(da))), ns, gen)
    b = operand("b", Tensor(tuple(sb), db), data.draw(st.sampled_from(forms(db))), ns, gen)
    check_binary("@", a, b, ns)


def test_numbers_compute_like_python():
    two, three = literal(2), V(3, "width")
    assert binary("*", two, three) == V(6, "2 * width")
    assert binary("/", literal(7), two).py == 3.5
    assert binary("//", literal(7), two).py == 3
    power = binary("**", literal(-2), two)
    assert (power.py, code(power)) == (4, "(-2) ** 2")
    assert binary("<", two, three) == V(True, "2 < width")
    for op, right in (("/", literal(0)), ("**", literal(-1))):
        with pytest.raises(OpError) as err:
            binary(op, literal(0), right)
        assert err.value.arg == "right"
    with pytest.raises(OpError):
        binary("@", two, three)


# ---- symbolic dims ----------------------------------------------------------------------------


def typed(shape: tuple, dtype: str = "float32", code: str = "x") -> Value:
    return V(Tensor(shape, dtype), code)


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (("B", 4), (4,), ("B", 4)),
        (("B", 1), (1, 5), ("B", 5)),
        (("B", "T", 4), ("B", 1, 1), ("B", "T", 4)),
        ((None, 4), (1, 4), (None, 4)),
        ((None, 4), (None, 1), (None, 4)),
    ],
)
def test_broadcast_keeps_symbols(a, b, expected):
    assert broadcast(a, b) == expected
    assert binary("+", typed(a), typed(b, code="y")).py.shape == expected


@pytest.mark.parametrize("a, b", [((None, 4), (3, 1)), (("B", 4), (None, 4))])
def test_a_size_not_known_broadcasts_only_against_1(a, b):
    """`?` may be 1, the other size or neither: the checker cannot promise it fits."""
    with pytest.raises(OpError, match="a size the checker does not know"):
        broadcast(a, b)


@pytest.mark.parametrize(
    "a, b, words",
    [
        (("B", 4), ("B", 5), "dim 1 is 4 and 5"),
        (("B", 4), (5, 4), "B is not known to be 5"),
        (("B", 4), ("T", 4), "B is not known to be T"),
    ],
)
def test_broadcast_errors_name_both_shapes(a, b, words):
    with pytest.raises(OpError) as err:
        binary("+", typed(a), typed(b, code="y"))
    assert words in err.value.message
    assert "(B, 4)" in err.value.message and str(b[-1]) in err.value.message


def test_matmul_on_symbols():
    out = binary("@", typed(("B", "T", 20)), typed((20, Dim(8, "units")), code="w"))
    assert out.py.shape == ("B", "T", 8) and out.py.shape[-1].expr == "units"
    with pytest.raises(OpError) as err:
        binary("@", typed(("B", 20)), typed((8, 20), code="w"))
    assert err.value.message == (
        "`@` needs the inner sizes to match: (B, 20) @ (8, 20) multiplies 20 by 8"
    )
    assert "transpose" in err.value.help
    with pytest.raises(OpError, match="T is not known to be 20"):
        binary("@", typed(("B", "T")), typed((20, 8), code="w"))
    with pytest.raises(OpError) as err:
        binary("@", typed(("B", 4)), literal(2))
    assert err.value.arg == "right"


def test_operand_blame():
    mask = typed(("B", 4), "bool", "m")
    with pytest.raises(OpError) as err:
        binary("-", literal(1), mask)
    assert err.value.arg == "right"
    with pytest.raises(OpError) as err:
        unary("-", mask)
    assert err.value.arg == "operand" and "m == false" in err.value.help
    with pytest.raises(OpError) as err:
        binary("+", V((1, 2), "(1, 2)"), mask)
    assert err.value.arg == "left"


# ---- unary operators and precedence -----------------------------------------------------------


@SETTINGS
@given(st.sampled_from("-+"), shapes, dtypes, st.data())
def test_unary_matches_torch(op, shape, dtype, data):
    gen = torch.Generator().manual_seed(0)
    ns: dict = {}
    a = operand("a", Tensor(shape, dtype), data.draw(st.sampled_from(forms(dtype))), ns, gen)
    try:
        expected = run(f"{op}({code(a)})", ns)
    except RuntimeError:
        with pytest.raises(OpError):
            unary(op, a)
        return
    assert_same(unary(op, a), ns, expected)


def names(*ids: str) -> list[Value]:
    return [typed((2, 2), code=i) for i in ids]


a, b, c = names("a", "b", "c")

# (how the checker would build it, the Python it must mean)
PRECEDENCE = [
    (lambda: unary("-", binary("**", a, literal(2))), "-(a ** 2)"),
    (lambda: binary("**", unary("-", a), literal(2)), "(-a) ** 2"),
    (lambda: binary("**", a, binary("**", b, c)), "a ** (b ** c)"),
    (lambda: binary("**", binary("**", a, b), c), "(a ** b) ** c"),
    (lambda: binary("**", a, unary("-", b)), "a ** (-b)"),
    (lambda: binary("@", binary("+", a, b), c), "(a + b) @ c"),
    (lambda: binary("@", a, binary("@", b, c)), "a @ (b @ c)"),
    (lambda: binary("*", binary("@", a, b), c), "(a @ b) * c"),
    (lambda: binary("-", a, binary("-", b, c)), "a - (b - c)"),
    (lambda: binary("-", binary("-", a, b), c), "(a - b) - c"),
    (lambda: binary("/", a, binary("*", b, c)), "a / (b * c)"),
    (lambda: binary("==", binary("<", a, b), c), "(a < b) == c"),
    (lambda: binary("<", a, binary("==", b, c)), "a < (b == c)"),
    (lambda: binary("<", binary("+", a, b), c), "(a + b) < c"),
    (lambda: binary("*", unary("-", a), b), "(-a) * b"),
    (lambda: unary("-", binary("*", a, b)), "-(a * b)"),
    (lambda: unary("-", unary("-", a)), "-(-a)"),
    (lambda: index(binary("+", a, b), (literal(0),)), "(a + b)[0]"),
    (lambda: index(unary("-", a), (literal(-1),)), "(-a)[-1]"),
    (lambda: binary("**", index(a, (literal(0),)), literal(2)), "(a[0]) ** 2"),
]


@pytest.mark.parametrize("build, meant", PRECEDENCE, ids=[m for _, m in PRECEDENCE])
def test_code_parses_as_meant(build, meant):
    assert ast.dump(ast.parse(code(build()))) == ast.dump(ast.parse(meant))


def test_no_needless_parentheses():
    assert code(binary("+", binary("*", a, b), c)) == "a * b + c"
    assert code(binary("-", a, unary("-", b))) == "a - -b"
    assert code(unary("-", binary("**", a, literal(2)))) == "-a ** 2"
    assert code(binary("**", a, unary("-", b))) == "a ** -b"


# ---- indexing ---------------------------------------------------------------------------------


@st.composite
def index_items(draw, rank: int) -> list:
    """A mix of ints, slices, `...` and none, sometimes more than the rank allows."""
    bound = st.one_of(st.none(), st.integers(-4, 4))
    item = st.one_of(
        st.integers(-4, 3),
        st.builds(slice, bound, bound, st.sampled_from([None, None, 1, 2, 3, 0])),
        st.just(Ellipsis),
        st.none(),
    )
    return draw(st.lists(item, min_size=1, max_size=rank + 2))


def as_item(item: object) -> object:
    if item is Ellipsis:
        return ELLIPSIS
    if item is None:
        return NEWAXIS
    if isinstance(item, slice):
        parts = (item.start, item.stop, item.step)
        return Slice(*(None if p is None else literal(p) for p in parts))
    return literal(item)


@MORE
@given(st.lists(st.sampled_from([1, 2, 3, 0]), max_size=4).map(tuple), dtypes, st.data())
def test_index_matches_torch(shape, dtype, data):
    items = data.draw(index_items(len(shape)))
    gen = torch.Generator().manual_seed(0)
    ns: dict = {}
    x = operand("x", Tensor(shape, dtype), data.draw(st.sampled_from(forms(dtype))), ns, gen)
    try:
        expected = run(f"({code(x)})", ns)[tuple(items)]
        multiple_ellipses = items.count(Ellipsis) > 1
    except (IndexError, ValueError):
        with pytest.raises(OpError):
            index(x, tuple(map(as_item, items)))
        return
    if multiple_ellipses:  # torch takes `x[..., 0, ...]`; the language refuses it, as numpy does
        with pytest.raises(OpError, match="only one `...`"):
            index(x, tuple(map(as_item, items)))
        return
    assert_same(index(x, tuple(map(as_item, items))), ns, expected)


def test_index_code_and_symbols():
    r = typed(("B", "T", Dim(8, "units")), code="r")
    last = index(r, (Slice(), literal(-1), Slice()))
    assert code(last) == "r[:, -1, :]" and last.py.shape == ("B", 8)
    assert last.py.shape[1].expr == "units"
    assert code(index(r, (ELLIPSIS, NEWAXIS))) == "r[..., None]"
    assert index(r, (ELLIPSIS, NEWAXIS)).py.shape == ("B", "T", 8, 1)
    assert code(index(r, (Slice(literal(1), literal(3)),))) == "r[1:3]"
    assert index(r, (Slice(literal(1), literal(3)),)).py.shape == (None, "T", 8)
    assert code(index(r, (Slice(None, None, literal(2)),))) == "r[::2]"
    assert index(r, (Slice(literal(0)), literal(-1), Slice(None, literal(4)))).py.shape == (
        "B",
        4,
    )
    # T is known only when the model runs: 0 and -1 fit any T, 1 only a T of 2 or more
    with pytest.raises(OpError, match="fits only when T is more than 1") as err:
        index(r, (Slice(), literal(1)))
    assert err.value.arg == 1


def test_index_errors_point_at_the_item():
    x = typed(("B", 4))
    cases = [
        ((Slice(), literal(4)), 1, "size 4"),
        ((V(Tensor((3,), "int64"), "i"), V(Tensor((3,), "int64"), "j")), 1, "one tensor"),
        ((literal(0), V(Tensor((3,), "int64"), "i")), 0, "not ints"),
        ((Slice(), V(Tensor(("B", 4), "bool"), "m")), 1, "bool mask"),
        ((Slice(), V(Tensor((2,), "float32"), "f")), 1, "int64 or int32"),
        ((Slice(None, None, literal(-1)),), 0, "greater than zero"),
        ((literal(0), literal(0), literal(0)), None, "too many indices"),
        ((literal(1.5),), 0, "an index is an int"),
    ]
    for items, arg, words in cases:
        with pytest.raises(OpError, match=words) as err:
            index(x, items)
        assert err.value.arg == arg


def test_index_tuple_picks_an_item():
    h, y = Tensor(("B", 8), "float32"), Tensor(("B", 10, 8), "float32")
    out = V((y, h), "out")
    assert index(out, (literal(0),)) == V(y, "out[0]")
    assert index(out, (literal(-1),)).py == h
    with pytest.raises(OpError, match="out of range"):
        index(out, (literal(2),))
    with pytest.raises(OpError) as err:
        index(literal(3), (literal(0),))
    assert err.value.arg == "operand"


# ---- reshape ----------------------------------------------------------------------------------


@SETTINGS
@given(
    st.lists(st.sampled_from([1, 2, 3, 4, 6]), min_size=0, max_size=4).map(tuple),
    st.lists(st.sampled_from([1, 2, 3, 4, 6, 12, -1]), min_size=1, max_size=4).map(tuple),
)
def test_reshape_matches_torch(shape, sizes):
    try:
        expected = tuple(torch.empty(shape, device="meta").reshape(sizes).shape)
    except RuntimeError:
        with pytest.raises(OpError):
            reshape_shape(shape, sizes)
        return
    assert reshape_shape(shape, sizes) == expected


@pytest.mark.parametrize(
    "shape, sizes, expected",
    [
        (("B", 784), (-1, 28, 28), ("B", 28, 28)),
        (("B", 28, 28), (-1, 784), ("B", 784)),
        (("B", 784), (-1, 28), ("B * 28", 28)),
        (("B", "T", 4), (-1, 4), ("B * T", 4)),
        ((6, 4, "B"), (-1, 6, 2), ("B * 2", 6, 2)),  # the batch need not come first
    ],
)
def test_reshape_symbolic(shape, sizes, expected):
    assert reshape_shape(shape, sizes) == expected


def test_reshape_errors_name_both_shapes():
    with pytest.raises(OpError) as err:
        reshape_shape((4, 5), (3, 7))
    assert err.value.message == "cannot reshape (4, 5) (20 elements) to (3, 7) (21 elements)"
    with pytest.raises(OpError, match="fits only when B is 1"):
        reshape_shape(("B", 784), (28, 28))
    with pytest.raises(OpError) as err:
        reshape_shape((4, 5), (-1, -1))
    assert err.value.arg == ("sizes", 1)


@pytest.mark.parametrize(
    "shape, sizes, message",
    [
        # torch: shape '[-1, 6, 4, 33]' is invalid for input of size 1536 (a batch of 2)
        (("B", 6, 128), (-1, 6, 4, 33), "the -1 would be B x 768 / 792"),
        (("B", 4), (-1, 8), "the -1 would be B x 4 / 8"),
        (("B", 6, 128), (0, -1), "with a size of 0 the -1 could be anything"),
        (("B", "T", 4), (2, 8), "fits only when B x T is 4"),
    ],
)
def test_reshape_that_fits_only_some_batches_is_refused(shape, sizes, message):
    """A reshape must fit every size the batch (or another run-time size) can take."""
    with pytest.raises(OpError, match=re.escape(message)):
        reshape_shape(shape, sizes)
    for batch in (2, 3, 5):  # and torch refuses it for some batch too
        concrete = tuple(batch if isinstance(d, str) else d for d in shape)
        try:
            torch.empty(concrete, device="meta").reshape(sizes)
        except RuntimeError:
            break
    else:
        raise AssertionError("torch takes this reshape at every batch tried")


def test_slices_of_sizes_known_at_run_time():
    """All but the first or the last of a run-time size is one less, at every size; other
    slices of it have a size the checker does not know."""
    r = typed(("B", "T", 8), code="r")
    assert index(r, (Slice(), Slice(literal(1)))).py.shape == ("B", "T - 1", 8)
    assert index(r, (Slice(), Slice(None, literal(-1)))).py.shape == ("B", "T - 1", 8)
    assert index(r, (Slice(), Slice(literal(2)))).py.shape == ("B", None, 8)
    assert index(r, (Slice(), Slice(None, literal(1)))).py.shape == ("B", 1, 8)
    assert index(r, (Slice(), Slice(literal(-1)))).py.shape == ("B", 1, 8)
    both = typed(("B * 2", 8), code="both")
    assert index(both, (Slice(literal(1)),)).py.shape == ("(B * 2) - 1", 8)


@pytest.mark.parametrize(
    "shape, sizes, expected",
    [
        (("B * 2", "T"), (-1, 2), ("B * T", 2)),  # the 2 of B * 2 is a known factor
        (("B * 2", "T"), (-1, 5), None),  # 2 B T / 5: not for every B and T
        (("T + 4", 6), (-1, 3), ("(T + 4) * 2", 3)),  # a sum is a size of its own
        (("T + 4", 6), (-1, 4), None),
    ],
)
def test_reshape_of_formula_sizes(shape, sizes, expected):
    """A formula's known factors count toward what the other sizes must divide."""
    if expected is None:
        with pytest.raises(OpError, match="a whole number only for some sizes"):
            reshape_shape(shape, sizes)
    else:
        assert reshape_shape(shape, sizes) == expected


def test_a_reshape_of_a_size_not_known_is_refused():
    """Whether (?, 28) fits (-1, 784) depends on the ?: the checker cannot promise it."""
    with pytest.raises(OpError, match="does not know"):
        reshape_shape((None, 28), (-1, 784))
    with pytest.raises(OpError, match="does not know"):
        reshape_shape(("B", None), ("B", -1))
    # an input of no values: the -1 is 0, unless the other sizes hold none either
    assert reshape_shape(("B", 0), (-1, 4)) == (0, 4)
    with pytest.raises(OpError, match="could be anything"):
        reshape_shape(("B", 0), (-1, 0))
