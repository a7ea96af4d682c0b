"""Every parameter and buffer, known without torch (nndsl.check.parameters), against torch itself.

Each layer's ``tensors`` rule must list what the real module's ``named_parameters()`` and
``named_buffers()`` list; each model's ``model_tensors`` must list what the generated model's do,
names, shapes and order, shared modules once. Then selectors, and why a selector matches nothing.
"""

from __future__ import annotations

import contextlib
import doctest

import pytest
import torch
from compiled import CASES, EXAMPLES, compile_file, load_module, shapes_only
from test_layers import CASE_LIST, NAMESPACE, apply_rules, emitted_call

import nndsl.check.parameters
from nndsl.check.parameters import ParamTensor, explain, model_tensors, select
from nndsl.compiler import analyze, generate
from nndsl.registry.layers import REGISTRY

# Sharing, repeats and declarations the examples do not combine: a shared layer used only
# inside a repeat (torch names it where it is declared), a shared block holding such a repeat,
# repeats in repeats, a model used inside a repeat, a custom layer whose `param`s are declared
# between its layers, and a forward calling layers out of their declaration order.
TRICKY = {
    "nested_sharing": """
block Inner {
    shared step = Linear(6)
    loop = repeat 2 { step ReLU() }
}
model Nested(x: [6]) {
    shared enc = Inner()
    shared head = Linear(6)
    repeat 2 { repeat 2 { head } enc }
    enc
    LayerNorm()
    out = Linear(2)
}
model UsesModel(x: [6]) {
    pre = BatchNorm1d(track_running_stats=false)
    repeat 2 { Nested() Linear(6) }
    Sigmoid()
}
""",
    "declaration_order": """
block Stats(width=4) {
    shared step = Linear(width)
    body = repeat 2 { step BatchNorm1d(affine=false) }
    norm = LayerNorm()
}
layer Mixed(units) {
    fc = Linear(units)
    scale = param([units])
    inner = Linear(units)
    offset = const([units], init=zeros)
    forward(x) {
        return fc(inner(x)) * scale + offset
    }
}
model Tricky(x: [4]) {
    first = Linear(4)
    shared tied = Stats()
    tied
    Mixed(6)
    last = Linear(3)
    GELU()
}
model OutOfOrder(x: [4]) {
    a = Linear(8)
    c = Linear(4)
    b = Linear(4)
    w = param([4, 4])
    forward {
        h = a(b(x) @ w)
        return c(h) + b(relu(a(x @ w))[:, :4])
    }
}
""",
    "attention_in_blocks": """
block Enc(heads=2) {
    attn = MultiheadAttention(heads)
    TransformerEncoderLayer(heads, dim_feedforward=16, bias=false)
    rnn = GRU(4, num_layers=2, bidirectional=true)
}
model Seq(x: [5, 8]) {
    body = repeat 2 { Enc() }
    shared norm = BatchNorm1d()
    Flatten()
    Linear(8)
    norm
}
""",
}


def _compiled(source: str, name: str):
    result = analyze(source)
    assert result.ok, [d.message for d in result.diagnostics]
    return generate(result.program, f"{name}.nn"), result.program


def _torch_tensors(module: torch.nn.Module) -> list[tuple[str, tuple, bool]]:
    params = [(n, tuple(p.shape), True) for n, p in module.named_parameters()]
    return params + [(n, tuple(b.shape), False) for n, b in module.named_buffers()]


def _check_models(code: str, program, stem: str, folder=None, building=None) -> None:
    namespace = load_module(code, stem, folder)
    for info in program.models:
        with building or contextlib.nullcontext():
            model = namespace[info.name]()
        tensors = model_tensors(info)
        unknown = tuple(f"{r.path}." for r in info.rows if not r.counted and r.path)
        torch_tensors = [t for t in _torch_tensors(model) if not t[0].startswith(unknown)]
        assert [(t.name, t.shape, t.trainable) for t in tensors] == torch_tensors
        assert sum(torch.Size(t.shape).numel() for t in tensors if t.trainable) == info.total_params
        tops = sum(r.depth == 0 for r in info.rows)
        for t in tensors:
            assert t.name == (f"{t.module}.{t.kind}" if t.module else t.kind)
            assert len(t.types) == (t.module.count(".") + 1 if t.module else 0)
            assert 0 <= t.top < tops and t.line > 0 and t.model is info


@pytest.mark.parametrize("path", EXAMPLES + CASES, ids=lambda p: p.stem)
def test_model_tensors_match_torch(path):
    code, program = compile_file(path)
    _check_models(code, program, path.stem, path.parent, shapes_only(path))


@pytest.mark.parametrize("name", TRICKY)
def test_model_tensors_match_torch_when_shared_and_nested(name):
    code, program = _compiled(TRICKY[name], name)
    _check_models(code, program, name)


# --- every registry layer --------------------------------------------------------------------


@pytest.mark.parametrize("name, given, shape", CASE_LIST)
def test_layer_tensors_match_torch(name, given, shape):
    layer = REGISTRY[name]
    a, _, params = apply_rules(layer, given, shape)
    pos, kw = emitted_call(layer, a)
    with torch.device("meta"):
        module = eval(layer.ctor, NAMESPACE)(*pos, **kw)
    assert list(layer.tensors(a)) == _torch_tensors(module)
    assert all(type(d) is int for _, shape, _ in layer.tensors(a) for d in shape)
    assert params == sum(p.numel() for p in module.parameters())


def test_rows_carry_tensors_and_lines():
    _, program = _compiled(TRICKY["declaration_order"], "declaration_order")
    rows = {r.path: r for r in program.models[0].rows}
    assert rows["first"].tensors == (("weight", (4, 4), True), ("bias", (4,), True))
    assert rows["first"].line == 17 and rows["tied"].line == 18 and rows["tied"].tensors == ()
    assert rows["mixed1.offset"].tensors == (("offset", (6,), False),)
    assert rows["tied.body.0.0"].alias == "step" and rows["tied.body.0.0"].line == 3


# --- selectors -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tricky() -> tuple[ParamTensor, ...]:
    _, program = _compiled(TRICKY["declaration_order"], "declaration_order")
    return model_tensors(program.models[0])


def _names(tensors, parts) -> list[str]:
    return [t.name for t in select(tensors, parts)]


SELECTIONS = [
    (("Linear", "bias"), ["first.bias", "tied.step.bias", "mixed1.fc.bias", "mixed1.inner.bias", "last.bias"]),
    (("Stats",), ["tied.step.weight", "tied.step.bias", "tied.norm.weight", "tied.norm.bias"]
     + [f"tied.body.{i}.1.{k}" for i in (0, 1) for k in ("running_mean", "running_var", "num_batches_tracked")]),
    (("Stats", "norm", "weight"), ["tied.norm.weight"]),
    (("Mixed", "scale"), ["mixed1.scale"]),
    (("BatchNorm1d", "running_var"), ["tied.body.0.1.running_var", "tied.body.1.1.running_var"]),
    (("", "bias"), ["first.bias", "tied.step.bias", "tied.norm.bias", "mixed1.fc.bias", "mixed1.inner.bias", "last.bias"]),
    (("", "offset"), ["mixed1.offset"]),
    (("first",), ["first.weight", "first.bias"]),
    (("tied", "step", "weight"), ["tied.step.weight"]),
    (("tied", "body", "1"), ["tied.body.1.1.running_mean", "tied.body.1.1.running_var", "tied.body.1.1.num_batches_tracked"]),
    (("tied", "body", -2, 1, "running_mean"), ["tied.body.0.1.running_mean"]),
    (("layers", 0, "weight"), ["first.weight"]),
    (("layers", "-2"), ["last.weight", "last.bias"]),
    (("layers", 2, "inner"), ["mixed1.inner.weight", "mixed1.inner.bias"]),
]  # fmt: skip


@pytest.mark.parametrize(
    "parts, names", SELECTIONS, ids=[".".join(map(str, p)) for p, _ in SELECTIONS]
)
def test_select(tricky, parts, names):
    assert _names(tricky, parts) == names
    assert explain(tricky, parts) == ""


def test_select_keeps_the_order_given_and_works_on_a_subset(tricky):
    trainable = tuple(t for t in tricky if t.trainable)
    assert _names(trainable, ("BatchNorm1d",)) == []
    assert explain(trainable, ("tied", "body")) == "`tied.body` (repeat 2) has no parameters"
    assert _names(trainable, ("layers", -2, "bias")) == ["last.bias"]  # layers counts all rows
    assert _names(tuple(reversed(tricky)), ("first",)) == ["first.bias", "first.weight"]


def test_select_inside_attention_and_recurrent_layers():
    _, program = _compiled(TRICKY["attention_in_blocks"], "attention")
    tensors = model_tensors(program.models[0])
    assert _names(tensors, ("MultiheadAttention", "out_proj")) == [
        f"body.{i}.attn.out_proj.{k}" for i in (0, 1) for k in ("weight", "bias")
    ]
    assert _names(tensors, ("body", -1, "encoder1", "linear1")) == [
        "body.1.encoder1.linear1.weight"
    ]
    weights = _names(tensors, ("", "weight"))
    assert "body.0.encoder1.self_attn.out_proj.weight" in weights
    assert "body.0.attn.in_proj_weight" not in weights
    assert _names(tensors, ("GRU", "bias_hh_l1_reverse")) == [
        f"body.{i}.rnn.bias_hh_l1_reverse" for i in (0, 1)
    ]
    assert _names(tensors, ("norm",)) == ["norm.weight", "norm.bias", "norm.running_mean",
                                          "norm.running_var", "norm.num_batches_tracked"]  # fmt: skip


FAILURES = [
    (("firts",), "no layer named `firts`; did you mean `first`?"),
    (("first", "gamma"), "`first` (Linear) has no tensor `gamma`; it has weight, bias"),
    (("", "gamma"), "no tensor is called `gamma`; the model has weight, bias, scale, running_mean"),
    (("", "bais"), "no tensor is called `bais`; did you mean `bias`?"),
    (("Linear", "gamma"), "`Linear` has no tensor `gamma`; it has weight, bias"),
    (("Conv2d",), "the model has no `Conv2d`"),
    (("Conv2D",), "the model has no `Conv2D`; did you mean `Conv2d`?"),
    (("GELU",), "`GELU` has no parameters or buffers"),
    (("layers", 6), "layers[6] is out of range: the model has 5 top-level layers"),
    (("layers", -6), "layers[-6] is out of range: the model has 5 top-level layers"),
    (("layers", 4), "layers[4] (`-`, GELU) has no parameters or buffers"),
    (("layers", 0, "gamma"), "`layers[0]` has no tensor `gamma`; it has weight, bias"),
    (("tied", "body", 2), "`tied.body` is indexed 0 to 1; 2 is out of range"),
    (("tied", "stpe"), "`tied` (Stats) has no layer or tensor `stpe`; did you mean `step`?"),
    ((), "the selector is empty"),
]


@pytest.mark.parametrize("parts, why", FAILURES, ids=[".".join(map(str, p)) for p, _ in FAILURES])
def test_selectors_that_match_nothing(tricky, parts, why):
    assert select(tricky, parts) == ()
    assert explain(tricky, parts).startswith(why)


def test_explain_a_later_use_of_a_shared_layer():
    _, program = compile_file(next(p for p in EXAMPLES if p.stem == "tied"))
    tensors = tuple(t for t in model_tensors(program.models[0]) if t.trainable)
    assert _names(tensors, ("layers", 4)) == []
    assert explain(tensors, ("layers", 4)) == (
        "layers[4] uses shared `tied` again; its tensors are layers[2]"
    )
    assert explain(tensors, ("layers", 1)) == "layers[1] (`-`, ReLU) has no parameters"


def test_a_model_without_tensors():
    _, program = _compiled("model Id(x: [3]) { ReLU() }", "id")
    assert model_tensors(program.models[0]) == ()
    assert explain((), ("Linear",)) == "the model has no parameters or buffers"


def test_doctests():
    result = doctest.testmod(nndsl.check.parameters, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
