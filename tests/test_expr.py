"""The expression writer (nndsl.codegen.expr): no more parentheses than Python needs, never fewer;
statements with their shape comments; expressions that compare by what they write."""

from __future__ import annotations

import ast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nndsl.codegen.expr import statements, write
from nndsl.ir import expr as x
from nndsl.ir.expr import formula_text

a, b, c = x.Name("a"), x.Name("b"), x.Name("c")


def neg(e):
    return x.Unary("-", e)


def op(o, left, right):
    return x.BinOp(o, left, right)


WRITTEN = [
    (neg(op("+", a, b)), "-(a + b)"),
    (op("**", a, neg(b)), "a ** -b"),
    (op("**", op("**", a, b), c), "(a ** b) ** c"),
    (op("**", a, op("**", b, c)), "a ** b ** c"),
    (op("**", neg(a), b), "(-a) ** b"),
    (neg(op("**", a, b)), "-a ** b"),
    (op("-", a, op("-", b, c)), "a - (b - c)"),
    (op("-", op("-", a, b), c), "a - b - c"),
    (op("*", op("+", a, b), c), "(a + b) * c"),
    (op("+", op("*", a, b), c), "a * b + c"),
    (op("@", a, op("@", b, c)), "a @ (b @ c)"),
    (op("<", op("+", a, b), c), "a + b < c"),
    (op("==", op("<", a, b), c), "(a < b) == c"),
    (op("<", a, op("==", b, c)), "a < (b == c)"),
    (neg(x.Lit(2)), "-2"),
    (neg(x.Lit(-2)), "--2"),
    (op("**", x.Lit(-2), x.Lit(2)), "(-2) ** 2"),
    (op("-", a, x.Lit(-1)), "a - -1"),
    (x.Tuple((a,)), "(a,)"),
    (x.Tuple((a, b)), "(a, b)"),
    (x.Tuple(()), "()"),
    (x.List((a, x.Lit(1.5))), "[a, 1.5]"),
    (x.Index(a, (x.Slice(), x.Lit(-1), x.Slice(x.Lit(1), None, x.Lit(2)))), "a[:, -1, 1::2]"),
    (x.Index(a, (x.Lit(Ellipsis), x.NONE)), "a[..., None]"),
    (x.Index(a, ()), "a[()]"),
    (x.Index(op("+", a, b), (x.Lit(0),)), "(a + b)[0]"),
    (x.method(neg(a), "abs"), "(-a).abs()"),
    (x.method(x.Lit(2), "abs"), "(2).abs()"),
    (x.Attr(x.Lit(2), "real"), "(2).real"),
    (x.call("torch.cat", x.List((a, b)), dim=x.Lit(1)), "torch.cat([a, b], dim=1)"),
    (x.Call(x.self_attr("fc1"), (a,)), "self.fc1(a)"),
    (x.IfExp(op("==", x.Name("i"), x.Lit(0)), x.Lit(4), x.Lit(8)), "4 if i == 0 else 8"),
    (x.Lit("a'b"), '"a\'b"'),
    (x.Lit(float("inf")), 'float("inf")'),
    (x.Lit(1e-3, "1e-3"), "1e-3"),
    (op("*", x.Formula("w + 1"), x.Lit(2)), "(w + 1) * 2"),
]


@pytest.mark.parametrize("e, text", WRITTEN, ids=[t for _, t in WRITTEN])
def test_written(e, text):
    assert write(e) == text


@pytest.mark.parametrize("e, text", WRITTEN, ids=[t for _, t in WRITTEN])
def test_size_formulas_read_as_the_writer_writes(e, text):
    shown = formula_text(e)
    assert shown is None or shown == text


def test_a_literal_compares_by_what_it_writes():
    assert x.Lit(True) != x.Lit(1) and x.Lit(1.0) != x.Lit(1)
    assert x.Lit(8, "8") == x.Lit(8) and hash(x.Lit(8, "8")) == hash(x.Lit(8))
    assert x.Lit(1000, "1_000") != x.Lit(1000)
    assert x.constant((1, [2])) == x.Tuple((x.Lit(1), x.List((x.Lit(2),))))


def test_statements_and_their_shape_comments():
    h, cell = x.Name("h"), x.Name("c")
    body = (
        x.Assign(a, op("+", a, b), x.Shown(("B", "width * 2"))),
        x.Assign(
            x.Tuple((x.Name("_"), x.Tuple((h, cell)))),
            x.Call(x.self_attr("lstm"), (a,)),
            (x.Shown(("B", 8)), (x.Shown((1, "B", 8)), x.Shown((1, "B", 8)))),
        ),
        x.Assign(x.Name("n"), x.Lit(3)),
        x.While(op(">", x.method(a, "sum"), x.Lit(1)), (x.Assign(a, op("/", a, x.Lit(2))),)),
        x.While(x.Lit(False), ()),
        x.Return((a, h), (x.Shown(("B", 8)), x.Shown((1, "B", 8)))),
    )
    assert statements(body) == [
        "a = a + b  # (B, width * 2)",
        "_, (h, c) = self.lstm(a)  # h: (1, B, 8), c: (1, B, 8)",
        "n = 3",
        "while a.sum() > 1:",
        "    a = a / 2",
        "while False:",
        "    pass",
        "return a, h  # (B, 8), (1, B, 8)",
    ]


# ---- random trees: the writer's parentheses are exactly the ones Python needs ---------------

NAMES = st.sampled_from([a, b, c])
LITERALS = st.sampled_from([x.Lit(2), x.Lit(-3), x.Lit(0.5), x.Lit(True)])
OPS = ["+", "-", "*", "/", "//", "%", "**", "@", "<", "==", ">="]


def _trees():
    leaves = st.one_of(NAMES, LITERALS)

    def grow(inner):
        return st.one_of(
            st.builds(x.BinOp, st.sampled_from(OPS), inner, inner),
            st.builds(x.Unary, st.sampled_from("-+"), inner),
            st.builds(lambda e: x.Index(e, (x.Lit(0),)), inner),
            st.builds(lambda e: x.method(e, "abs"), inner),
        )

    return st.recursive(leaves, grow, max_leaves=8)


def _full(e) -> str:
    """The expression with every operation parenthesised: what it must mean."""
    if isinstance(e, x.BinOp):
        return f"({_full(e.left)} {e.op} {_full(e.right)})"
    if isinstance(e, x.Unary):
        return f"({e.op}{_full(e.operand)})"
    if isinstance(e, x.Index):
        return f"({_full(e.value)})[0]"
    if isinstance(e, x.Call):
        return f"({_full(e.func.value)}).abs()"
    return f"({write(e)})"


def _minimal(text: str) -> bool:
    """No pair of parentheses in ``text`` can go without changing what it parses to."""
    tree = ast.dump(ast.parse(text, mode="eval"))
    for i, ch in enumerate(text):
        if ch != "(" or (i and (text[i - 1].isalnum() or text[i - 1] in "_.")):
            continue  # a call's parentheses
        depth = 0
        for j in range(i, len(text)):
            depth += {"(": 1, ")": -1}.get(text[j], 0)
            if depth == 0:
                break
        inner = text[i + 1 : j]
        if "," in inner and inner.count("(") == 0:
            continue  # a tuple
        try:
            same = ast.dump(ast.parse(text[:i] + inner + text[j + 1 :], mode="eval")) == tree
        except SyntaxError:
            continue
        if same:
            return False
    return True


@settings(max_examples=300, deadline=None, database=None)
@given(_trees())
def test_random_trees_mean_what_they_say_with_no_needless_parentheses(e):
    text = write(e)
    assert ast.dump(ast.parse(text, mode="eval")) == ast.dump(ast.parse(_full(e), mode="eval"))
    assert _minimal(text), text
