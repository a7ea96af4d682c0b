"""Matching a call's arguments to a built-in's: the one binder layers, forward functions and the
train section's tables share, and the same mistake reading the same in each of them."""

from __future__ import annotations

import pytest
from exprs import V

from nndsl.compiler import analyze
from nndsl.ir.tensors import OpError, Tensor
from nndsl.ir.values import literal
from nndsl.registry.args import REQUIRED, ArgSpec, bind
from nndsl.registry.functions import call

XY = (ArgSpec("x", "int"), ArgSpec("y", "int", 1), ArgSpec("z", "int", 2))


def test_positional_then_keyword_arguments_fill_slots():
    b = bind(XY, [None, "z"], "f")
    assert b.ok and b.slots == {"x": 0, "z": 1}


def test_one_problem_per_mistake_in_the_order_written():
    b = bind(XY, [None, "w", "x", "q"], "f")
    assert [(p.code, p.at, p.name) for p in b.problems] == [
        ("E0102", 1, "w"),
        ("E0105", 2, "x"),
        ("E0102", 3, "q"),
    ]
    assert b.problems[0].message == "`f` has no argument `w`"
    assert b.problems[1].message == "`f` got two values for `x`" and b.problems[1].first == 0
    assert b.problems[2].help == "it takes x, y, z"


def test_unknown_keyword_suggests_a_near_name():
    (p,) = bind(XY, ["yy"], "f").problems
    assert p.help == "did you mean `y`?"


def test_too_many_positional_arguments_blame_the_extra_ones():
    (p,) = bind(XY, [None] * 5, "f").problems
    assert (p.code, p.at, p.to) == ("E0104", 3, 4)
    assert p.message == "`f` takes at most 3 arguments, but 5 were given"
    (p,) = bind(XY[:1], [None, None], "f").problems
    assert p.message == "`f` takes 1 argument, but 2 were given"


def test_skipped_parameters_are_keyword_only_unless_all_are_given():
    inferred = ArgSpec("n", "int", infer=lambda shape: shape[-1])
    params = (inferred, ArgSpec("m", "int"))
    assert bind(params, [None], "L", skip={"n"}).slots == {"m": 0}
    assert bind(params, [None, None], "L", skip={"n"}, lead=2).slots == {"n": 0, "m": 1}
    (p,) = bind(params, [None, None], "L", skip={"n"}).problems
    assert p.message == "`L` takes 1 positional argument, but 2 were given"


def test_a_positional_argument_after_a_keyword_one():
    (p,) = bind(XY, ["y", None], "f").problems
    assert (p.code, p.at) == ("E0104", 1)


def test_missing_required_arguments_only_when_asked():
    (p,) = bind(XY, ["y"], "f").problems
    assert (p.code, p.at, p.message, p.help) == ("E0103", None, "`f` needs `x`", "write `f(x=...)`")
    assert bind(XY, ["y"], "f", complete=False).ok


def test_a_variadic_parameter_takes_the_rest():
    params = (ArgSpec("x", "tensor"), ArgSpec("sizes", "*size"))
    assert bind(params, [None, None, None], "reshape").slots == {"x": 0, "sizes": (1, 2)}
    (p,) = bind(params, [None], "reshape").problems
    assert p.message == "`reshape` needs at least one of `sizes`"
    assert bind(params, [None, None, "sizes"], "reshape").problems[0].code == "E0102"


def test_one_sentinel_and_one_spec_for_every_built_in():
    from nndsl.registry import layers, training
    from nndsl.registry.functions import FUNCTIONS

    specs = [a for layer in layers.ALL for a in layer.args]
    specs += [p for f in FUNCTIONS.values() for p in f.params]
    for table in (training.LOSSES, training.OPTIMIZERS, training.SCHEDULERS, training.INITS):
        specs += [a for spec in table.values() for a in spec.args]
    assert all(type(a) is ArgSpec for a in specs)
    assert layers.REQUIRED is REQUIRED
    assert any(a.default is REQUIRED for a in specs if a.kind == "int")


def _model_error(line: str) -> tuple[str, str]:
    result = analyze(f"model Net(x: [4]) {{\n    {line}\n}}\n")
    (d,) = [d for d in result.diagnostics if d.severity == "error"]
    return d.code, d.message


def _train_error(line: str) -> tuple[str, str]:
    source = (
        "model Net(x: [4]) {\n    Linear(3)\n}\n"
        "data d {\n    x = randn(40, 4)\n    y = randn(40, 3)\n}\n"
        f"train Net on d {{\n    loss mse\n    {line}\n}}\n"
    )
    (d,) = [d for d in analyze(source).diagnostics if d.severity == "error"]
    return d.code, d.message


def _function_error(name: str, args: list, kwargs: dict) -> str:
    with pytest.raises(OpError) as err:
        call(name, args, kwargs)
    return err.value.message


X = V(Tensor(("B", 4), "float32"), "x")


@pytest.mark.parametrize(
    "layer, train, function",
    [
        (
            ("Linear(8, bias=true, bias=false)", "Linear got two values for `bias`"),
            ("optimizer sgd(lr=0.1, lr=0.2)", "`sgd` got two values for `lr`"),
            (("softmax", [X, literal(1)], {"dim": literal(1)}), "`softmax` got two values for `dim`"),
        ),
        (
            ("Linear(8, lrr=1)", "Linear has no argument `lrr`"),
            ("optimizer sgd(lrr=0.1)", "`sgd` has no argument `lrr`"),
            (("softmax", [X], {"lrr": literal(1)}), "`softmax` has no argument `lrr`"),
        ),
        (
            ("Linear(1, 2, 3, 4)", "Linear takes at most 3 arguments, but 4 were given"),
            ("scheduler step(2, 0.5, 3)", "`step` takes at most 2 arguments, but 3 were given"),
            (("softmax", [X, literal(1), X], {}), "`softmax` takes at most 2 arguments, but 3 were given"),
        ),
    ],
)  # fmt: skip
def test_the_same_mistake_reads_the_same_for_every_kind_of_built_in(layer, train, function):
    code = _model_error(layer[0])[0]
    assert _model_error(layer[0]) == (code, layer[1])
    assert _train_error(train[0]) == (code, train[1])
    assert _function_error(*function[0]) == function[1]
