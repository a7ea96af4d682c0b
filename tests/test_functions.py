"""The built-in functions of a forward against real torch, and how their calls are written.

For every function, generated arguments go through :func:`nndsl.registry.functions.call` and the code it
writes is run by torch on real tensors: where torch raises, ``call`` must raise OpError; where it
gives a result, ``call`` must give its shape and dtype exactly. The exact code, the binding of
arguments and the messages are checked by tables.
"""

from __future__ import annotations

import ast
import re

import pytest
import torch
from exprs import V, code
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_tensors import SETTINGS, dtypes, forms, operand, outcome, shape_pairs

from nndsl.codegen.expr import write
from nndsl.ir.dtypes import DTYPES
from nndsl.ir.shapes import Dim, Size
from nndsl.ir.tensors import OpError, Tensor
from nndsl.ir.values import Value, literal
from nndsl.registry.calls import Func, bind_call
from nndsl.registry.functions import FUNCTIONS, call, function_rows

FEW = settings(SETTINGS, max_examples=12)  # per function; `test_every_dtype` covers dtypes
SOME = settings(SETTINGS, max_examples=30)

ELEMENTWISE = [n for n, f in FUNCTIONS.items() if f.params == FUNCTIONS["relu"].params]
REDUCTIONS = ["mean", "sum", "prod", "amax", "amin", "max", "min", "argmax"]


def bind_values(args: list, kwargs: dict, data) -> tuple[list[Value], dict[str, Value], dict]:
    """Values for call arguments: each tensor type becomes a real tensor with a name (the first
    written in a drawn code form), lists of tensors a list literal, other values literals."""
    gen = torch.Generator().manual_seed(0)
    ns: dict = {}
    count = iter(range(100))

    def value(x: object) -> Value:
        if isinstance(x, Tensor):
            form = data.draw(st.sampled_from(forms(x.dtype))) if not ns else "atom"
            return operand(f"t{next(count)}", x, form, ns, gen)
        if isinstance(x, list):
            items = [value(t) for t in x]
            return V([v.py for v in items], "[" + ", ".join(code(v) for v in items) + "]")
        return literal(x)

    return [value(a) for a in args], {k: value(v) for k, v in kwargs.items()}, ns


def check(name: str, args: list, kwargs: dict, data) -> None:
    """``call`` agrees with torch running the code it writes."""
    values, keywords, ns = bind_values(args, kwargs, data)
    func = FUNCTIONS[name]
    written = write(func.form.expr(bind_call(func, values, keywords)))
    expected = outcome(written, ns)
    if name == "squeeze" and args[0].shape and expected and expected[0] == args[0].shape:
        with pytest.raises(OpError, match="squeeze would do nothing"):  # torch keeps the dim
            call(name, values, keywords)
        return
    if expected is None:
        with pytest.raises(OpError):
            call(name, values, keywords)
        return
    result = call(name, values, keywords)
    assert code(result) == written
    assert (tuple(result.py.shape), result.py.dtype) == expected, written


# Without empty dims: torch skips its dtype checks on a tensor with no elements.
shapes = st.lists(st.sampled_from([1, 1, 2, 3]), max_size=4).map(tuple)
tensors = st.builds(Tensor, shapes, dtypes)
dims = st.integers(-5, 4)


# ---- against torch ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ELEMENTWISE)
@FEW
@given(x=tensors, data=st.data())
def test_elementwise(name, x, data):
    check(name, [x], {}, data)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@FEW
@given(x=tensors, dim=st.one_of(st.none(), dims), data=st.data())
def test_softmax(name, x, dim, data):
    check(name, [x], {} if dim is None else {"dim": dim}, data)


@FEW
@given(x=tensors, low=st.sampled_from([None, 0, -1, 1.5]), high=st.sampled_from([None, 2, 0.5]))
def test_clamp(x, low, high):
    bounds = {k: v for k, v in (("min", low), ("max", high)) if v is not None}
    check("clamp", [x], bounds, _Atoms())


class _Atoms:
    """Stands in for hypothesis' ``data`` where every tensor is written as a plain name."""

    def draw(self, strategy):
        return "atom"


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@FEW
@given(pair=shape_pairs(), da=dtypes, db=dtypes, data=st.data())
def test_maximum(name, pair, da, db, data):
    check(name, [Tensor(pair[0], da), Tensor(pair[1], db)], {}, data)


@FEW
@given(pair=shape_pairs(), cond=st.sampled_from(["bool", "bool", "float32"]), da=dtypes, db=dtypes)
def test_where(pair, cond, da, db):
    args = [Tensor(pair[0], cond), Tensor(pair[1], da), Tensor(pair[0][1:], db)]
    check("where", args, {}, _Atoms())


@st.composite
def reduction_dims(draw, one: bool) -> object:
    if one or draw(st.booleans()):
        return draw(st.one_of(st.none(), dims))
    return tuple(draw(st.lists(st.integers(-4, 3), min_size=1, max_size=3)))


@pytest.mark.parametrize("name", REDUCTIONS)
@settings(SETTINGS, max_examples=20)
@given(x=tensors, keepdim=st.booleans(), data=st.data())
def test_reductions(name, x, keepdim, data):
    dim = data.draw(reduction_dims(one=name in ("prod", "argmax")))
    kwargs = {k: v for k, v in (("dim", dim), ("keepdim", keepdim)) if v not in (None, False)}
    check(name, [x], kwargs, data)


@SOME
@given(
    shape=st.lists(st.sampled_from([1, 2, 3, 4]), max_size=4).map(tuple),
    sizes=st.lists(st.sampled_from([1, 2, 3, 4, 6, 12, -1]), min_size=1, max_size=4),
    dtype=dtypes,
    data=st.data(),
)
def test_reshape(shape, sizes, dtype, data):
    check("reshape", [Tensor(shape, dtype), *sizes], {}, data)


@SOME
@given(
    x=tensors, start=st.one_of(st.none(), dims), end=st.one_of(st.none(), dims), named=st.booleans()
)
def test_flatten(x, start, end, named):
    given_dims = {k: v for k, v in (("start_dim", start), ("end_dim", end)) if v is not None}
    if named or start is None:
        check("flatten", [x], given_dims, _Atoms())
    else:
        check("flatten", [x, *given_dims.values()], {}, _Atoms())


@SOME
@given(x=tensors, dim0=dims, dim1=dims, data=st.data())
def test_transpose(x, dim0, dim1, data):
    check("transpose", [x, dim0, dim1], {}, data)


@SOME
@given(x=tensors, data=st.data())
def test_permute(x, data):
    rank = len(x.shape)
    order = data.draw(st.permutations(range(rank)))
    order = [d - rank if data.draw(st.booleans()) else d for d in order]
    if data.draw(st.integers(0, 3)) == 0:
        order = data.draw(st.lists(st.integers(-4, 3), max_size=4))
    assume(order)  # `permute(x)` names no dims: binding refuses it, as torch does
    check("permute", [x, *order], {}, data)


@pytest.mark.parametrize("name", ["squeeze", "unsqueeze"])
@SOME
@given(x=tensors, dim=st.integers(-6, 5), data=st.data())
def test_squeeze(name, x, dim, data):
    check(name, [x, dim], {}, data)


@pytest.mark.parametrize("name", ["cat", "stack"])
@SOME
@given(
    base=st.lists(st.sampled_from([1, 2, 3]), max_size=3),
    dim=st.integers(-4, 3),
    count=st.integers(1, 3),
    data=st.data(),
)
def test_cat_stack(name, base, dim, count, data):
    items = []
    for _ in range(count):
        shape = list(base)
        if shape and data.draw(st.booleans()):
            shape[data.draw(st.integers(0, len(shape) - 1))] = data.draw(st.sampled_from([1, 2]))
        if data.draw(st.integers(0, 5)) == 0:
            shape = shape[1:]
        items.append(Tensor(tuple(shape), data.draw(dtypes)))
    check(name, [items], {"dim": dim} if dim else {}, data)


@pytest.mark.parametrize("name", ["tril", "triu"])
@FEW
@given(x=tensors, diagonal=st.integers(-2, 2), data=st.data())
def test_triangles(name, x, diagonal, data):
    check(name, [x], {"diagonal": diagonal} if diagonal else {}, data)


@FEW
@given(
    pair=shape_pairs(),
    mask=st.sampled_from(["bool", "bool", "int64"]),
    value=st.sampled_from([0, -1.5]),
)
def test_masked_fill(pair, mask, value):
    check("masked_fill", [Tensor(pair[0], "float32"), Tensor(pair[1], mask), value], {}, _Atoms())


@pytest.mark.parametrize("name", ["ones", "zeros"])
@FEW
@given(sizes=st.lists(st.sampled_from([0, 1, 3, -1]), min_size=1, max_size=3))
def test_filled(name, sizes):
    check(name, sizes, {}, _Atoms())


@FEW
@given(n=st.sampled_from([0, 1, 5, -2]))
def test_arange(n):
    check("arange", [n], {}, _Atoms())


@SOME
@given(
    batch=st.lists(st.sampled_from([1, 2]), max_size=2),
    sizes=st.tuples(*[st.sampled_from([1, 3, 4])] * 4),  # L, S, E, Ev
    wrong=st.sampled_from([None, "k", "v", "batch"]),
    mask=st.sampled_from([None, "bool", "float32", "int64", "wide"]),
    causal=st.booleans(),
)
def test_attention(batch, sizes, wrong, mask, causal):
    L, S, E, Ev = sizes
    b = tuple(batch)
    q, k, v = b + (L, E), b + (S, E), b + (S, Ev)
    if wrong == "k":
        k = b + (S, E + 1)
    elif wrong == "v":  # refused as torch documents it, which its CPU kernels do not check
        v = b + (S + 1, Ev)
        values, _, _ = bind_values([Tensor(x, "float32") for x in (q, k, v)], {}, _Atoms())
        with pytest.raises(OpError, match="the key and value lengths"):
            call("scaled_dot_product_attention", values, {})
        return
    elif wrong == "batch" and b:
        v = (3,) + v[1:]
    kwargs: dict = {"is_causal": True} if causal else {}
    if mask is not None and not causal:  # both: torch's documentation says an error, which
        # its CPU kernels do not always raise; `call` refuses it (tests/test_gpt_features.py)
        shape = (L, S + 1) if mask == "wide" else (L, S)
        kwargs["attn_mask"] = Tensor(shape, "float32" if mask == "wide" else mask)
    args = [Tensor(q, "float32"), Tensor(k, "float32"), Tensor(v, "float32")]
    check("scaled_dot_product_attention", args, kwargs, _Atoms())


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_dtype(name):
    """Each function on each dtype of its first argument, with the arguments of its example."""
    for dtype in DTYPES:
        args, kwargs = example_args(FUNCTIONS[name], dtype)
        check(name, args, kwargs, _Atoms())


def example_args(func: Func, dtype: str) -> tuple[list, dict]:
    """The example's arguments, its names standing for (2, 1, 3) tensors; `where`'s condition is
    bool and `reshape` gets sizes that fit."""
    text = re.sub(r"\b(none|true|false)\b", lambda m: m[1].capitalize(), func.example)
    node = ast.parse(text, mode="eval").body

    def arg(n: ast.expr) -> object:
        if isinstance(n, ast.Name) and len(n.id) == 1 and n.id.isupper():
            return 3  # a size such as `T`
        if isinstance(n, ast.Name):
            return Tensor((2, 1, 3), "bool" if n.id == "mask" else dtype)
        if isinstance(n, ast.List):
            return [arg(e) for e in n.elts]
        return ast.literal_eval(n)

    args = [arg(n) for n in node.args]
    if func.name == "reshape":
        args = [args[0], -1, 3]
    return args, {k.arg: arg(k.value) for k in node.keywords}


# ---- code --------------------------------------------------------------------------------------


def x_(shape=("B", 4, 5), dtype="float32", source="x") -> Value:
    return V(Tensor(shape, dtype), source)


CODE = [
    ("relu", [x_()], {}, "F.relu(x)"),
    ("softmax", [x_()], {}, "F.softmax(x, dim=-1)"),
    ("softmax", [x_()], {"dim": V(1, "axis")}, "F.softmax(x, dim=1)"),  # dims as ints
    ("log_softmax", [x_(), literal(1)], {}, "F.log_softmax(x, dim=1)"),
    ("sigmoid", [x_(source="a + b")], {}, "torch.sigmoid(a + b)"),
    ("abs", [x_(source="a - b")], {}, "(a - b).abs()"),
    ("abs", [x_(source="-x")], {}, "(-x).abs()"),
    ("sum", [x_(source="x + y")], {}, "(x + y).sum()"),
    ("clamp", [x_()], {"min": literal(0)}, "x.clamp(min=0)"),
    ("clamp", [x_()], {"max": literal(1.5), "min": literal(-1)}, "x.clamp(min=-1, max=1.5)"),
    ("maximum", [x_(source="a"), x_(source="b")], {}, "torch.maximum(a, b)"),
    ("float", [x_(dtype="int64")], {}, "x.float()"),
    ("mean", [x_()], {}, "x.mean()"),
    ("sum", [x_(), literal(1)], {}, "x.sum(dim=1)"),
    ("mean", [x_()], {"dim": literal((1, 2)), "keepdim": literal(True)},
     "x.mean(dim=(1, 2), keepdim=True)"),
    ("mean", [x_()], {"keepdim": literal(True)}, "x.mean(dim=None, keepdim=True)"),
    ("mean", [x_()], {"keepdim": literal(False)}, "x.mean()"),
    ("max", [x_()], {}, "x.max()"),
    ("max", [x_()], {"dim": literal(-1)}, "x.amax(dim=-1)"),
    ("argmax", [x_()], {"dim": literal(1)}, "x.argmax(dim=1)"),
    ("reshape", [x_(("B", 784)), literal(-1), literal(28), literal(28)], {},
     "x.reshape(-1, 28, 28)"),
    ("flatten", [x_()], {}, "x.flatten()"),
    ("flatten", [x_(), literal(1)], {}, "x.flatten(1)"),
    ("flatten", [x_()], {"start_dim": literal(1)}, "x.flatten(1)"),
    ("flatten", [x_()], {"end_dim": literal(1)}, "x.flatten(0, 1)"),
    ("flatten", [x_(), literal(0), literal(-1)], {}, "x.flatten()"),
    ("transpose", [x_(), literal(1), literal(2)], {}, "x.transpose(1, 2)"),
    ("permute", [x_(), literal(0), literal(2), literal(1)], {}, "x.permute(0, 2, 1)"),
    ("squeeze", [x_(("B", 1, 4)), literal(1)], {}, "x.squeeze(1)"),
    ("unsqueeze", [x_()], {"dim": literal(1)}, "x.unsqueeze(1)"),
    ("cat", [V([Tensor(("B", 4), "float32")] * 2, "[a, b]")], {"dim": literal(1)},
     "torch.cat([a, b], dim=1)"),
    ("stack", [V([Tensor(("B", 4), "float32")] * 2, "[a, b]")], {}, "torch.stack([a, b])"),
    ("zeros_like", [x_()], {}, "torch.zeros_like(x)"),
    ("where", [x_(dtype="bool", source="m"), x_(source="a"), x_(source="b")], {},
     "torch.where(m, a, b)"),
    ("tril", [x_()], {}, "torch.tril(x)"),
    ("triu", [x_()], {"diagonal": literal(1)}, "torch.triu(x, diagonal=1)"),
    ("masked_fill", [x_(), x_(dtype="bool", source="m"), literal(0.0)], {},
     "x.masked_fill(m, 0.0)"),
    ("scaled_dot_product_attention", [x_(source="q"), x_(source="k"), x_(source="v")],
     {"is_causal": literal(True)}, "F.scaled_dot_product_attention(q, k, v, is_causal=True)"),
    ("arange", [literal(8)], {}, "torch.arange(8)"),
]  # fmt: skip


@pytest.mark.parametrize("name, args, kwargs, written", CODE, ids=[c[3] for c in CODE])
def test_code(name, args, kwargs, written):
    assert code(call(name, args, kwargs)) == written


def test_made_tensors_go_on_the_input_device():
    device = V(None, "x.device").expr
    assert code(call("arange", [V(Size("T"), "T")], {}, device)) == (
        "torch.arange(T, device=x.device)"
    )
    out = call("ones", [V(Size("T"), "T"), literal(4)], {}, device)
    assert code(out) == "torch.ones(T, 4, device=x.device)"
    assert (out.py.shape, out.py.dtype) == (("T", 4), "float32")


def test_dims_keep_their_code():
    x = x_(("B", Dim(8, "units")))
    assert call("relu", [x], {}).py.shape[1].expr == "units"
    assert call("unsqueeze", [x, literal(1)], {}).py.shape[2].expr == "units"
    assert call("sum", [x], {"dim": literal(0)}).py.shape[0].expr == "units"
    # a forward reads a block's parameter as `self.units`; a size formula names it as the
    # constructor does, and a size computed into a local of the forward is its number
    out = call("reshape", [x_(("B", 32)), literal(-1), V(8, "self.units")], {})
    assert code(out) == "x.reshape(-1, self.units)"
    assert out.py.shape == ("B * 4", 8) and out.py.shape[1].expr == "units"
    out = call("reshape", [x_(("B", 32)), literal(-1), V(8, "k * 2")], {})
    assert getattr(out.py.shape[1], "expr", None) is None
    flat = call("flatten", [x_(("B", 32, Dim(7, "k"))), literal(1)], {}).py.shape
    assert flat == ("B", 224) and flat[1].expr == "32 * k"


def test_symbolic_shapes():
    x = x_(("B", "T", 4))
    assert call("mean", [x], {"dim": literal(1)}).py.shape == ("B", 4)
    assert call("transpose", [x, literal(0), literal(1)], {}).py.shape == ("T", "B", 4)
    assert call("cat", [V([x.py, x.py], "[x, x]")], {"dim": literal(-1)}).py.shape == (
        "B",
        "T",
        8,
    )
    assert call("cat", [V([x.py, x.py], "[x, x]")], {"dim": literal(1)}).py.shape[1] == "T * 2"
    with pytest.raises(OpError, match="B is not known to be 1"):
        call("squeeze", [x, literal(0)], {})
    with pytest.raises(OpError, match="T is not known to be 5"):
        call("cat", [V([x.py, Tensor(("B", 5, 4), "float32")], "[x, y]")], {})


def test_cat_of_a_size_known_only_at_run_time_against_another_is_refused():
    """`t1[..., :3]` of (2, B) is (2, ?), which may not be B: the checker took the cat of
    (2, ?) and (2, B) along dim 0 for (4, B) (found by the forward fuzzer)."""
    with pytest.raises(OpError, match="may not be the other") as err:
        call("cat", [V([x_((2, None)).py, x_((2, "B")).py], "[t2, t0]")], {"dim": literal(0)})
    assert "make that size known first" in err.value.help
    same = call("cat", [V([x_((2, None)).py, x_((3, None)).py], "[a, b]")], {"dim": literal(0)})
    assert same.py.shape == (5, None)


def test_squeeze_of_a_size_known_only_at_run_time_is_refused():
    """`x[..., :3]` of (B, T) is (B, ?): torch's squeeze removes that dim only where T < 2, so
    neither shape can be promised (found by the forward fuzzer: the checker took it as 1)."""
    with pytest.raises(OpError, match="known only when the model runs") as err:
        call("squeeze", [x_(("B", None)), literal(1)], {})
    assert "x[:, 0]" in err.value.help
    assert call("squeeze", [x_(("B", 1, "T")), literal(1)], {}).py.shape == ("B", "T")


# ---- binding and messages ---------------------------------------------------------------------


def error(name: str, args: list, kwargs: dict) -> OpError:
    with pytest.raises(OpError) as err:
        call(name, args, kwargs)
    return err.value


def test_binding_errors():
    x = x_()
    e = error("softmax", [x], {"dimm": literal(1)})
    assert (e.arg, e.help) == ("dimm", "did you mean `dim`?")
    e = error("softmax", [x, literal(1)], {"dim": literal(1)})
    assert e.arg == "dim" and "two values" in e.message
    e = error("transpose", [x, literal(1)], {})
    assert e.arg is None and "`dim1`" in e.message
    e = error("relu", [x, x], {})
    assert e.arg == 1 and e.message == "`relu` takes 1 argument, but 2 were given"
    e = error("reshape", [x], {})
    assert "at least one of `sizes`" in e.message
    e = error("relu", [literal(2)], {})
    assert (e.message, e.arg) == ("`relu` needs a tensor, got the number 2", 0)
    e = error("mean", [x], {"keepdim": literal(1)})
    assert e.arg == "keepdim" and "`true` or `false`" in e.message
    e = error("reshape", [x, literal(-1), literal(2.5)], {})
    assert e.arg == 2
    e = error("relu", [], {"x": literal(2)})
    assert e.arg == "x"
    e = error("rleu", [x], {})
    assert e.help == "did you mean `relu`?"


def test_rule_errors_point_at_the_argument():
    x = x_()
    assert error("softmax", [x, literal(5)], {}).arg == 1
    assert error("softmax", [x], {"dim": literal(5)}).arg == "dim"
    assert error("permute", [x, literal(0), literal(1), literal(1)], {}).arg == 3
    assert error("reshape", [x, literal(-1), literal(-1)], {}).arg == 2
    e = error("mean", [x_(dtype="int64", source="tokens")], {})
    assert e.help == "convert first: `mean(float(tokens))`" and e.arg == 0
    e = error("where", [x, x, x], {})
    assert e.arg == 0 and "bool condition" in e.message
    e = error("squeeze", [x, literal(1)], {})
    assert e.message == "dim 1 of (B, 4, 5) has size 4, squeeze would do nothing"


def test_list_items_are_named():
    a, b = Tensor(("B", 4), "float32"), Tensor(("B", 5), "float32")
    e = error("cat", [V([a, a, b], "[a, a, b]")], {})
    assert e.arg == 0 and "item 2" in e.message and "(B, 5)" in e.message
    e = error("stack", [], {"tensors": V([a, 2], "[a, 2]")})
    assert e.arg == "tensors" and "item 1 is the number 2" in e.message
    e = error("cat", [V([a, Tensor(("B", 4, 1), "float32")], "[a, c]")], {"dim": literal(1)})
    assert "item 1" in e.message


def test_function_rows():
    rows = function_rows()
    assert [r[0].split("(")[0] for r in rows] == list(FUNCTIONS)
    table = {r[0]: write(r[2]) for r in rows}
    assert table["mean(x, dim=none, keepdim=false)"] == "x.mean(dim=1)"
    assert table["reshape(x, *sizes)"] == "x.reshape(-1, 28, 28)"
    assert table["cat(tensors, dim=0)"] == "torch.cat([a, b], dim=1)"
    for _, doc, example in rows:
        ast.parse(write(example))
        assert doc and "\n" not in doc


@pytest.mark.parametrize("fn", ["min", "max", "amax", "amin", "argmax"])
def test_picking_reductions_need_a_size_that_cannot_be_0(fn):
    """min, max and argmax of no values raise in torch: over a dim whose size the checker does
    not know (`?`, e.g. `h[:, 2:]` of T), it cannot promise there are any."""
    with pytest.raises(OpError, match="may have no values"):
        call(fn, [x_(("B", None))], {})
    with pytest.raises(OpError, match="may have no values"):
        call(fn, [x_(("B", None, 4))], {"dim": literal(1)})
    assert call(fn, [x_(("B", None, 4))], {"dim": literal(2)}).py.shape == ("B", None)
