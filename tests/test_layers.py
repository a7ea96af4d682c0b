"""The layer registry against real torch.

Every entry has a table of cases (arguments and an input shape, batch ``B``). For each case the
shape and parameter-count rules must agree with the torch module that generated code would build
(the emitted call: leading positional arguments, then keywords that differ from the default or are
forced with ``emit``), run on the meta device with ``B = 3``. Functional forms must compute the
same values as their modules, and bad arguments must raise ShapeError naming the values.
"""

from __future__ import annotations

import doctest
import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import nndsl.ir.shapes
import nndsl.registry.layer_base
import nndsl.registry.layers
import nndsl.registry.layers_act
import nndsl.registry.layers_attn
import nndsl.registry.layers_conv
import nndsl.registry.layers_dense
import nndsl.registry.layers_norm
import nndsl.registry.layers_pool
import nndsl.registry.layers_seq
from nndsl.ir.shapes import Dim, ShapeError
from nndsl.registry.layers import REGISTRY, REQUIRED, Layer, check_rank, complete_args, lookup

B = 3  # the concrete batch size torch runs with
NAMESPACE = {"nn": nn, "F": F, "torch": torch}

# name -> [(given arguments, input shape)]
CASES: dict[str, list[tuple[dict, tuple]]] = {
    # linear
    "Linear": [
        ({"out_features": 8}, ("B", 16)),
        ({"out_features": 4, "bias": False}, ("B", 5, 16)),
        ({"in_features": 16, "out_features": 1}, ("B", 3, 16)),
    ],
    "Bilinear": [
        ({"in2_features": 6, "out_features": 8}, ("B", 5)),
        ({"in2_features": 5, "out_features": 2, "bias": False}, ("B", 4, 5)),
    ],
    # shape
    "Identity": [({}, ("B", 7)), ({}, ("B", 3, 8, 8))],
    "Flatten": [
        ({}, ("B", 32, 7, 7)),
        ({"start_dim": 2}, ("B", 4, 5, 6)),
        ({"end_dim": 2}, ("B", 4, 5, 6)),
        ({"start_dim": -2, "end_dim": -1}, ("B", 4, 5, 6)),
        ({}, ("B", 10)),
    ],
    "Unflatten": [
        ({"dim": 1, "unflattened_size": (32, 7, 7)}, ("B", 1568)),
        ({"dim": -1, "unflattened_size": (2, -1)}, ("B", 5, 8)),
        ({"dim": 2, "unflattened_size": (4,)}, ("B", 3, 4)),
    ],
    # activations
    "ReLU": [({}, ("B", 10)), ({"inplace": True}, ("B", 3, 4, 4))],
    "ReLU6": [({}, ("B", 10)), ({}, ("B", 3, 4, 4))],
    "LeakyReLU": [({}, ("B", 10)), ({"negative_slope": 0.2}, ("B", 3, 4, 4))],
    "ELU": [({}, ("B", 10)), ({"alpha": 0.5}, ("B", 2, 6))],
    "GELU": [({}, ("B", 10)), ({"approximate": "tanh"}, ("B", 2, 6))],
    "SiLU": [({}, ("B", 10)), ({}, ("B", 2, 3, 4))],
    "Hardswish": [({}, ("B", 10)), ({"inplace": True}, ("B", 2, 3, 4))],
    "Hardsigmoid": [({}, ("B", 10)), ({"inplace": True}, ("B", 2, 3, 4))],
    "Mish": [({}, ("B", 10)), ({}, ("B", 2, 3, 4))],
    "SELU": [({}, ("B", 10)), ({"inplace": True}, ("B", 2, 3))],
    "CELU": [({}, ("B", 10)), ({"alpha": 0.5}, ("B", 2, 3))],
    "Hardtanh": [({}, ("B", 10)), ({"min_val": -2.0, "max_val": 3.0}, ("B", 2, 3))],
    "Softsign": [({}, ("B", 10)), ({}, ("B", 2, 3))],
    "LogSigmoid": [({}, ("B", 10)), ({}, ("B", 2, 3))],
    "Tanhshrink": [({}, ("B", 10)), ({}, ("B", 2, 3))],
    "Hardshrink": [({}, ("B", 10)), ({"lambd": 1.0}, ("B", 2, 3))],
    "Softshrink": [({}, ("B", 10)), ({"lambd": 0.2}, ("B", 2, 3))],
    "Threshold": [
        ({"threshold": 0.1, "value": 0.0}, ("B", 10)),
        ({"threshold": 1.0, "value": -1.0}, ("B", 2, 3)),
    ],
    "PReLU": [
        ({}, ("B", 10)),
        ({"num_parameters": 4}, ("B", 4, 5, 5)),
        ({"num_parameters": 3, "init": 0.1}, ("B", 3)),
    ],
    "GLU": [({}, ("B", 10)), ({"dim": 1}, ("B", 4, 5)), ({"dim": -2}, ("B", 2, 6, 3))],
    "Sigmoid": [({}, ("B", 10)), ({}, ("B", 2, 3, 4))],
    "Tanh": [({}, ("B", 10)), ({}, ("B", 2, 3, 4))],
    "Softmax": [({}, ("B", 10)), ({"dim": 1}, ("B", 4, 5)), ({"dim": -2}, ("B", 2, 4, 5))],
    "LogSoftmax": [({}, ("B", 10)), ({"dim": 1}, ("B", 4, 5)), ({"dim": -2}, ("B", 2, 4, 5))],
    "Softplus": [({}, ("B", 10)), ({"beta": 2.0, "threshold": 5.0}, ("B", 4, 5))],
    # dropout
    "Dropout": [({}, ("B", 10)), ({"p": 0.1}, ("B", 4, 5)), ({"p": 0.0}, ("B", 2, 3, 4))],
    "Dropout2d": [({}, ("B", 4, 5, 5)), ({"p": 0.2}, ("B", 4, 5, 5))],
    "Dropout1d": [({}, ("B", 4, 5)), ({"p": 0.2, "inplace": True}, ("B", 4, 5))],
    "AlphaDropout": [({}, ("B", 10)), ({"p": 0.2}, ("B", 4, 5))],
    # normalisation
    "BatchNorm1d": [
        ({}, ("B", 16)),
        ({"affine": False}, ("B", 8, 20)),
        ({"momentum": None, "bias": False}, ("B", 8, 20)),
        ({"track_running_stats": False, "eps": 1e-3}, ("B", 6)),
    ],
    "BatchNorm2d": [
        ({}, ("B", 16, 8, 8)),
        ({"affine": False, "eps": 1e-3}, ("B", 4, 5, 5)),
        ({"bias": False}, ("B", 4, 5, 5)),
    ],
    "LayerNorm": [
        ({}, ("B", 16)),
        ({"elementwise_affine": False}, ("B", 5, 16)),
        ({"bias": False}, ("B", 5, 16)),
        ({"normalized_shape": (5, 6)}, ("B", 4, 5, 6)),
    ],
    "BatchNorm3d": [({}, ("B", 4, 3, 5, 5)), ({"affine": False}, ("B", 2, 2, 3, 3))],
    "InstanceNorm1d": [
        ({}, ("B", 4, 10)),
        ({"affine": True, "track_running_stats": True}, ("B", 3, 8)),
    ],
    "InstanceNorm2d": [({}, ("B", 4, 5, 5)), ({"affine": True}, ("B", 3, 6, 6))],
    "RMSNorm": [
        ({}, ("B", 16)),
        ({"elementwise_affine": False}, ("B", 5, 16)),
        ({"normalized_shape": (5, 6), "eps": 1e-6}, ("B", 4, 5, 6)),
    ],
    "GroupNorm": [
        ({"num_groups": 4}, ("B", 16, 8, 8)),
        ({"num_groups": 1, "affine": False}, ("B", 6, 10)),
        ({"num_groups": 3, "bias": False}, ("B", 6)),
    ],
    # embedding
    "Embedding": [
        ({"num_embeddings": 100, "embedding_dim": 16}, ("B", 12)),
        ({"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 0}, ("B",)),
        (
            {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": -1, "max_norm": 1.0},
            ("B", 2, 5),
        ),
    ],
    # convolution
    "Conv1d": [
        ({"out_channels": 32, "kernel_size": 3, "padding": 1}, ("B", 16, 50)),
        (
            {
                "out_channels": 8,
                "kernel_size": 5,
                "stride": 2,
                "dilation": 2,
                "groups": 4,
                "bias": False,
            },
            ("B", 4, 40),
        ),
        (
            {"out_channels": 4, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"},
            ("B", 2, 10),
        ),
    ],
    "Conv2d": [
        ({"out_channels": 16, "kernel_size": 5, "padding": 2}, ("B", 1, 28, 28)),
        (
            {"out_channels": 8, "kernel_size": (3, 5), "stride": (2, 1), "padding": (1, 0)},
            ("B", 4, 15, 16),
        ),
        (
            {"out_channels": 6, "kernel_size": 3, "dilation": 2, "groups": 3, "bias": False},
            ("B", 6, 12, 12),
        ),
        (
            {"out_channels": 2, "kernel_size": 3, "padding": 4, "padding_mode": "circular"},
            ("B", 3, 4, 4),
        ),
    ],
    "Conv3d": [
        ({"out_channels": 4, "kernel_size": 3}, ("B", 2, 5, 6, 6)),
        (
            {"out_channels": 2, "kernel_size": (1, 3, 3), "padding": (0, 1, 1), "bias": False},
            ("B", 3, 4, 5, 5),
        ),
    ],
    "ConvTranspose1d": [
        ({"out_channels": 4, "kernel_size": 3, "stride": 2}, ("B", 2, 5)),
        (
            {"out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1, "output_padding": 1},
            ("B", 3, 6),
        ),
    ],
    "ConvTranspose3d": [
        ({"out_channels": 2, "kernel_size": 2, "stride": 2}, ("B", 3, 2, 3, 3)),
        ({"out_channels": 4, "kernel_size": 3, "padding": 1, "bias": False}, ("B", 2, 3, 4, 4)),
    ],
    "ConvTranspose2d": [
        ({"out_channels": 8, "kernel_size": 2, "stride": 2}, ("B", 16, 7, 7)),
        (
            {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
            ("B", 8, 5, 6),
        ),
        (
            {"out_channels": 6, "kernel_size": (3, 2), "groups": 2, "dilation": 2, "bias": False},
            ("B", 4, 5, 5),
        ),
    ],
    # pooling
    "MaxPool1d": [
        ({"kernel_size": 2}, ("B", 4, 10)),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, ("B", 4, 10)),
        ({"kernel_size": 2, "dilation": 2}, ("B", 3, 9)),
    ],
    "MaxPool2d": [
        ({"kernel_size": 2}, ("B", 16, 28, 28)),
        ({"kernel_size": 3, "stride": 2, "padding": 1}, ("B", 4, 9, 9)),
        ({"kernel_size": (2, 3), "ceil_mode": True}, ("B", 2, 7, 7)),
        ({"kernel_size": 3, "stride": 1, "dilation": 2}, ("B", 2, 8, 8)),
    ],
    "AvgPool2d": [
        ({"kernel_size": 2}, ("B", 4, 8, 8)),
        ({"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, ("B", 2, 9, 9)),
        ({"kernel_size": 2, "ceil_mode": True, "divisor_override": 3}, ("B", 2, 5, 5)),
    ],
    "AdaptiveAvgPool2d": [
        ({"output_size": 1}, ("B", 16, 7, 7)),
        ({"output_size": (2, 3)}, ("B", 4, 9, 10)),
        ({"output_size": (None, 2)}, ("B", 4, 9, 10)),
    ],
    "AdaptiveAvgPool1d": [({"output_size": 1}, ("B", 4, 10)), ({"output_size": 3}, ("B", 2, 9))],
    "AdaptiveMaxPool1d": [({"output_size": 1}, ("B", 4, 10)), ({"output_size": 4}, ("B", 2, 9))],
    "AdaptiveMaxPool2d": [
        ({"output_size": 1}, ("B", 16, 7, 7)),
        ({"output_size": (2, None)}, ("B", 4, 9, 10)),
    ],
    "MaxPool3d": [
        ({"kernel_size": 2}, ("B", 2, 4, 6, 6)),
        ({"kernel_size": 3, "stride": 2, "padding": 1}, ("B", 1, 5, 5, 5)),
    ],
    "AvgPool1d": [
        ({"kernel_size": 2}, ("B", 3, 10)),
        ({"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False}, ("B", 2, 7)),
    ],
    "AvgPool3d": [
        ({"kernel_size": 2}, ("B", 2, 4, 6, 6)),
        ({"kernel_size": 3, "ceil_mode": True}, ("B", 1, 5, 7, 7)),
    ],
    "ZeroPad1d": [({"padding": 2}, ("B", 3, 5)), ({"padding": (1, 3)}, ("B", 2, 4))],
    "ZeroPad2d": [({"padding": 1}, ("B", 3, 5, 5)), ({"padding": (1, 2, 0, 3)}, ("B", 2, 4, 6))],
    "ConstantPad1d": [
        ({"padding": 2, "value": 0.5}, ("B", 3, 5)),
        ({"padding": (0, 1), "value": -1.0}, ("B", 2, 4)),
    ],
    "ConstantPad2d": [
        ({"padding": 1, "value": 1.0}, ("B", 3, 5, 5)),
        ({"padding": (1, 2, 3, 0), "value": 0.0}, ("B", 2, 4, 6)),
    ],
    "ReflectionPad1d": [({"padding": 2}, ("B", 3, 5)), ({"padding": (1, 3)}, ("B", 2, 4))],
    "ReflectionPad2d": [
        ({"padding": 1}, ("B", 3, 5, 5)),
        ({"padding": (1, 2, 0, 3)}, ("B", 2, 4, 6)),
    ],
    "ReplicationPad1d": [({"padding": 2}, ("B", 3, 5)), ({"padding": (1, 3)}, ("B", 2, 4))],
    "ReplicationPad2d": [
        ({"padding": 1}, ("B", 3, 5, 5)),
        ({"padding": (4, 2, 0, 3)}, ("B", 2, 4, 6)),
    ],
    "Upsample": [
        ({"scale_factor": 2.0}, ("B", 3, 4, 5)),
        ({"size": (7, 9), "mode": "bilinear"}, ("B", 2, 4, 5)),
        ({"scale_factor": 1.5, "mode": "linear", "align_corners": True}, ("B", 2, 5)),
        ({"scale_factor": 0.5, "mode": "trilinear"}, ("B", 1, 4, 6, 7)),
        ({"size": 6}, ("B", 2, 3)),
    ],
    "PixelShuffle": [
        ({"upscale_factor": 2}, ("B", 8, 3, 4)),
        ({"upscale_factor": 3}, ("B", 9, 2, 2)),
    ],
    "PixelUnshuffle": [
        ({"downscale_factor": 2}, ("B", 2, 4, 6)),
        ({"downscale_factor": 3}, ("B", 1, 6, 3)),
    ],
    # recurrent
    "RNN": [
        ({"hidden_size": 8}, ("B", 5, 4)),
        (
            {"hidden_size": 6, "num_layers": 2, "nonlinearity": "relu", "bidirectional": True},
            ("B", 5, 4),
        ),
        ({"hidden_size": 3, "bias": False}, ("B", 2, 7)),
    ],
    "LSTM": [
        ({"hidden_size": 8}, ("B", 5, 4)),
        ({"hidden_size": 6, "num_layers": 3, "dropout": 0.1, "bidirectional": True}, ("B", 5, 4)),
        ({"hidden_size": 3, "num_layers": 2, "bias": False}, ("B", 2, 7)),
    ],
    "GRU": [
        ({"hidden_size": 8}, ("B", 5, 4)),
        ({"hidden_size": 6, "num_layers": 2, "dropout": 0.2, "bidirectional": True}, ("B", 5, 4)),
        ({"input_size": 7, "hidden_size": 3, "bias": False}, ("B", 2, 7)),
    ],
    # attention
    "MultiheadAttention": [
        ({"num_heads": 2}, ("B", 5, 8)),
        ({"num_heads": 4, "bias": False}, ("B", 3, 16)),
        ({"num_heads": 1, "add_bias_kv": True, "add_zero_attn": True, "dropout": 0.1}, ("B", 4, 6)),
    ],
    "TransformerEncoderLayer": [
        ({"nhead": 2, "dim_feedforward": 32}, ("B", 5, 8)),
        (
            {
                "nhead": 4,
                "dim_feedforward": 16,
                "activation": "gelu",
                "norm_first": True,
                "bias": False,
            },
            ("B", 3, 16),
        ),
        ({"nhead": 1}, ("B", 2, 6)),
        ({"nhead": 2, "activation": "gelu", "dropout": 0.0}, ("B", 4, 8)),
    ],
    "TransformerDecoderLayer": [  # the memory: second_shape below
        ({"nhead": 2, "dim_feedforward": 32}, ("B", 5, 8)),
        (
            {
                "nhead": 4,
                "dim_feedforward": 16,
                "activation": "gelu",
                "norm_first": True,
                "bias": False,
                "dropout": 0.0,
            },
            ("B", 3, 16),
        ),
        ({"nhead": 1, "dropout": 0.2}, ("B", 2, 6)),
    ],
}


def second_shape(layer: Layer, a: dict, shape: tuple) -> tuple:
    """The second input of a layer that takes two: Bilinear's (*, in2_features), a decoder's
    memory (B, S, d_model), longer than the target."""
    if layer.name == "Bilinear":
        return (*shape[:-1], a["in2_features"])
    return (shape[0], shape[1] + 2, a["d_model"])


CASE_LIST = [
    pytest.param(name, given, shape, id=f"{name}-{i}")
    for name, cases in CASES.items()
    for i, (given, shape) in enumerate(cases)
]
FUNCTIONAL_CASES = [p for p in CASE_LIST if REGISTRY[p.values[0]].functional]


# --- helpers ---------------------------------------------------------------------------------


def concrete(shape: tuple) -> tuple:
    return tuple(B if d == "B" else int(d) for d in shape)


def apply_rules(layer: Layer, given: dict, shape: tuple) -> tuple[dict, tuple, int]:
    """What the checker does: rank, complete arguments, output shape, parameter count."""
    check_rank(layer, shape)
    a = complete_args(layer, given, shape)
    return a, layer.shape(a, shape), layer.params(a)


def emitted_call(layer: Layer, a: dict) -> tuple[list, dict]:
    """The arguments generated code passes, as (positional, keyword)."""
    shown = [
        arg.name
        for arg in layer.args
        if arg.emit or arg.default is REQUIRED or a[arg.name] != arg.default
    ]
    lead = []
    for arg in layer.args[: layer.positional]:
        if arg.name not in shown:
            break
        lead.append(arg.name)
    return [a[n] for n in lead], {n: a[n] for n in shown if n not in lead}


def make_input(layer: Layer, a: dict, shape: tuple) -> torch.Tensor:
    if layer.in_dtype == "long":
        return torch.randint(0, a["num_embeddings"], shape)
    return torch.randn(shape)


def build_and_run(
    layer: Layer, a: dict, shape: tuple, device: str
) -> tuple[nn.Module, torch.Tensor]:
    """Build the module from the emitted call and run it the way a stack model calls it."""
    pos, kw = emitted_call(layer, a)
    with torch.device(device):
        m = eval(layer.ctor, NAMESPACE)(*pos, **kw)
        x = make_input(layer, a, shape)
        if layer.call == "rnn":
            y = m(x)[0]
        elif layer.call == "attention":
            y = m(x, x, x, need_weights=False)[0]
        elif layer.inputs == 2:
            y = m(x, torch.randn(second_shape(layer, a, shape)))
        else:
            y = m(x)
    return m, y


def assert_module_keeps(m: nn.Module, a: dict) -> None:
    """The built module holds the completed arguments: catches an argument that the DSL
    defaults differently from torch but that the emitted call leaves out (``batch_first``)."""
    for name, value in a.items():
        got = getattr(m, name, None)
        if value is None or name == "padding_idx":  # torch stores padding_idx made non-negative
            continue
        if isinstance(value, list):
            value = tuple(value)
        if isinstance(got, tuple) and not isinstance(value, tuple):
            value = (value,) * len(got)
        if isinstance(got, (bool, int, float, str, tuple)):
            assert got == value, f"module has {name}={got!r}, the rules used {value!r}"


# --- the registry is covered -----------------------------------------------------------------


def test_every_entry_has_cases():
    missing = sorted(set(REGISTRY) - set(CASES))
    assert not missing, f"registry entries without test cases: {missing}"
    assert not sorted(set(CASES) - set(REGISTRY)), "cases for layers that are not in the registry"
    assert all(len(cases) >= 2 for cases in CASES.values())


def test_lookup():
    assert lookup("Conv2d") is REGISTRY["Conv2d"]
    assert lookup("conv2d") is None
    assert list(REGISTRY) == [layer.name for layer in nndsl.registry.layers.ALL]


# --- shape and parameter rules agree with torch ----------------------------------------------


@pytest.mark.parametrize("name, given, shape", CASE_LIST)
def test_rules_match_torch(name, given, shape):
    layer = REGISTRY[name]
    a, out, params = apply_rules(layer, given, shape)
    assert out[0] == "B" and None not in out, out
    try:
        m, y = build_and_run(layer, a, concrete(shape), "meta")
    except (RuntimeError, NotImplementedError) as e:  # a few paths read values (momentum=None)
        assert "meta" in str(e), e
        m, y = build_and_run(layer, a, concrete(shape), "cpu")
    assert tuple(y.shape) == concrete(out)
    assert_module_keeps(m, a)
    assert y.dtype == (getattr(torch, layer.out_dtype) if layer.out_dtype else torch.float32)
    assert params == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("name, given, shape", CASE_LIST)
def test_symbolic_dims_do_not_crash(name, given, shape):
    """With a dim symbolic or unknown, the rule keeps what it can and never raises."""
    layer = REGISTRY[name]
    a, out, _ = apply_rules(layer, given, shape)
    for i in range(1, len(shape)):
        for blank in ("T", None):
            x = (*shape[:i], blank, *shape[i + 1 :])
            got = layer.shape(a, x)
            assert len(got) == len(out)
            assert all(g == o for g, o in zip(got, out) if isinstance(g, int)), (x, got, out)


@pytest.mark.parametrize("name, given, shape", FUNCTIONAL_CASES)
def test_functional_matches_module(name, given, shape):
    layer = REGISTRY[name]
    a, _, params = apply_rules(layer, given, shape)
    assert params == 0
    torch.manual_seed(0)
    m, y = build_and_run(layer, a, concrete(shape), "cpu")
    torch.manual_seed(0)
    x = make_input(layer, a, concrete(shape))
    pos, kw = emitted_call(layer, a)
    fn = eval(layer.functional, NAMESPACE)
    assert torch.equal(fn(x.clone(), *pos, **kw), y)  # a copy: `inplace` overwrites it
    assert torch.equal(fn(x.clone(), **a), y)  # every argument by its constructor name


def test_dims_flow_through():
    width, t = Dim(8, "width"), Dim(5, "T")
    out = REGISTRY["Linear"].shape(
        {"in_features": 16, "out_features": width, "bias": True}, ("B", t, 16)
    )
    assert out == ("B", 5, 8) and out[1] is t and out[2].expr == "width"
    flat = REGISTRY["Flatten"].shape({"start_dim": 1, "end_dim": -1}, ("B", Dim(32), 7, 7))
    assert flat == ("B", 1568) and flat[1].expr == "32 * 7 * 7"
    conv = REGISTRY["Conv2d"]
    a = complete_args(conv, {"out_channels": 16, "kernel_size": 5, "padding": 2}, ("B", 1, "H", 28))
    assert conv.shape(a, ("B", 1, "H", 28)) == ("B", 16, None, 28)


# --- entries follow torch's signatures -------------------------------------------------------


@pytest.mark.parametrize("layer", list(REGISTRY.values()), ids=list(REGISTRY))
def test_entry_matches_torch_signature(layer):
    cls = eval(layer.ctor, NAMESPACE)
    assert layer.doc and "\n" not in layer.doc
    assert layer.example.startswith(f"{layer.name}(") and layer.layout
    assert 0 <= layer.positional <= len(layer.args)
    assert layer.call in ("tensor", "rnn", "attention")
    if layer.functional:
        assert layer.call == "tensor" and callable(eval(layer.functional, NAMESPACE))
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return  # RNN, Identity, ...: no signature to compare with
    names = [p.name for p in params]
    ours = [arg.name for arg in layer.args]
    assert set(ours) <= set(names), set(ours) - set(names)
    assert [n for n in names if n in ours] == ours, "args are not in torch's order"
    leading = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD][: layer.positional]
    assert ours[: layer.positional] == leading


# --- errors ----------------------------------------------------------------------------------

# name, given arguments, input shape, words the message must contain, the arg blamed,
# and whether torch rejects it too (False where torch would read the input as unbatched).
ERRORS = [
    ("Conv2d", {"out_channels": 8, "kernel_size": 3}, ("B", 16), ["Conv2d", "4-D", "2-D"], None, True),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3}, ("B", 16, 8), ["4-D", "3-D"], None, True),
    ("Conv1d", {"out_channels": 8, "kernel_size": 3}, ("B", 3, 8, 8), ["3-D", "4-D"], None, True),
    ("BatchNorm2d", {}, ("B", 3, 8), ["4-D", "3-D"], None, True),
    ("LSTM", {"hidden_size": 4}, ("B", 8), ["3-D", "2-D"], None, False),
    ("MultiheadAttention", {"num_heads": 3}, ("B", 5, 10), ["embed_dim (10)", "num_heads (3)"], "num_heads", True),
    ("TransformerEncoderLayer", {"nhead": 4}, ("B", 5, 10), ["d_model (10)", "nhead (4)"], "nhead", True),
    ("Conv2d", {"out_channels": 4, "kernel_size": 7}, ("B", 1, 5, 5), ["kernel 7", "size 5"], "kernel_size", True),
    ("Conv1d", {"out_channels": 4, "kernel_size": 3, "dilation": 3}, ("B", 1, 6), ["kernel 3", "size 6"], "kernel_size", True),
    ("MaxPool2d", {"kernel_size": 4}, ("B", 1, 3, 3), ["kernel 4", "size 3"], "kernel_size", True),
    ("MaxPool1d", {"kernel_size": 2, "padding": 2}, ("B", 1, 8), ["padding 2", "kernel size 2"], "padding", True),
    ("AvgPool2d", {"kernel_size": 3, "padding": 2}, ("B", 1, 8, 8), ["padding 2", "kernel size 3"], "padding", True),
    ("GroupNorm", {"num_groups": 3}, ("B", 16, 4, 4), ["num_channels (16)", "num_groups (3)"], "num_groups", True),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 3}, ("B", 6, 8, 8), ["out_channels (8)", "groups (3)"], "groups", True),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 9, "padding_mode": "reflect"}, ("B", 4, 9, 9), ["padding 9", "reflect", "size 9"], "padding", True),
    ("Conv2d", {"out_channels": 4, "kernel_size": (3, 3, 3)}, ("B", 1, 8, 8), ["kernel_size", "2", "3"], "kernel_size", True),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "output_padding": 2}, ("B", 2, 5, 5), ["output_padding (2)", "stride (2)"], "output_padding", True),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 1, "padding": 5}, ("B", 2, 5, 5), ["padding 5", "size 5"], "padding", True),
    ("Unflatten", {"dim": 1, "unflattened_size": (3, 3)}, ("B", 8), ["(3, 3)", "9", "size 8"], "unflattened_size", True),
    ("Unflatten", {"dim": 1, "unflattened_size": (3, -1)}, ("B", 8), ["(3, -1)", "size 8", "3"], "unflattened_size", True),
    ("Unflatten", {"dim": 1, "unflattened_size": (-1, -1)}, ("B", 8), ["(-1, -1)"], "unflattened_size", True),
    ("Unflatten", {"dim": 1, "unflattened_size": 8}, ("B", 8), ["8"], "unflattened_size", True),
    ("Softmax", {"dim": 3}, ("B", 4, 5), ["dim 3", "3-D"], "dim", True),
    ("Flatten", {"start_dim": 2, "end_dim": 1}, ("B", 4, 5), ["start_dim (2)", "end_dim (1)"], "start_dim", True),
    ("Flatten", {"end_dim": 5}, ("B", 4, 5), ["end_dim 5", "3-D"], "end_dim", True),
    ("Embedding", {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 10}, ("B", 5), ["padding_idx 10", "num_embeddings 10"], "padding_idx", True),
    ("LayerNorm", {"normalized_shape": (9, 8)}, ("B", 4, 9, 9), ["(9, 8)", "(B, 4, 9, 9)"], "normalized_shape", True),
    ("Linear", {"out_features": 8}, ("B", "F"), ["cannot infer in_features"], "in_features", None),
    ("GLU", {}, ("B", 5), ["halves dim -1", "5 is odd"], "dim", True),
    ("Upsample", {}, ("B", 2, 4, 4), ["either size or scale_factor"], "scale_factor", True),
    ("Upsample", {"scale_factor": 2.0, "mode": "bilinear"}, ("B", 2, 4), ["bilinear", "4-D", "3-D"], "mode", True),
    ("Upsample", {"scale_factor": 2.0, "align_corners": True}, ("B", 2, 4), ["align_corners"], "align_corners", True),
    ("PixelShuffle", {"upscale_factor": 2}, ("B", 6, 3, 3), ["upscale_factor**2 = 4", "6"], "upscale_factor", True),
    ("PixelUnshuffle", {"downscale_factor": 2}, ("B", 2, 5, 4), ["downscale_factor 2", "5"], "downscale_factor", True),
    ("ReflectionPad2d", {"padding": 3}, ("B", 1, 3, 3), ["reflection padding 3", "size 3"], "padding", True),
    ("PReLU", {"num_parameters": 4}, ("B", 3, 8), ["num_parameters (4)", "(B, 3, 8)"], "num_parameters", True),
    ("Hardtanh", {"min_val": 1.0, "max_val": 1.0}, ("B", 3), ["max_val (1.0)", "min_val (1.0)"], "max_val", True),
]  # fmt: skip


@pytest.mark.parametrize(
    "name, given, shape, words, arg, torch_rejects",
    ERRORS,
    ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)],
)
def test_errors(name, given, shape, words, arg, torch_rejects):
    layer = REGISTRY[name]
    with pytest.raises(ShapeError) as info:
        apply_rules(layer, given, shape)
    for word in words:
        assert word in info.value.message, (word, info.value.message)
    assert info.value.arg == arg
    if torch_rejects is not None:
        a = complete_args(layer, given, shape)
        if torch_rejects:
            with pytest.raises((RuntimeError, ValueError, TypeError, AssertionError, IndexError)):
                build_and_run(layer, a, concrete(shape), "cpu")
        else:
            build_and_run(layer, a, concrete(shape), "cpu")


# --- doctests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        nndsl.ir.shapes,
        nndsl.registry.layers,
        nndsl.registry.layer_base,
        nndsl.registry.layers_act,
        nndsl.registry.layers_dense,
        nndsl.registry.layers_norm,
        nndsl.registry.layers_pool,
        nndsl.registry.layers_conv,
        nndsl.registry.layers_seq,
        nndsl.registry.layers_attn,
    ],
    ids=lambda m: m.__name__,
)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if module in (nndsl.ir.shapes, nndsl.registry.layers):
        assert result.attempted > 0


# --- what the rest of the compiler reads from an entry ---------------------------------------


@pytest.mark.parametrize("layer", list(REGISTRY.values()), ids=list(REGISTRY))
def test_entry_facts_fit_the_layer(layer):
    assert layer.attr_prefix.isidentifier() and layer.attr_prefix.islower()
    assert "biased" not in layer.traits or layer.arg("bias").default is True
    assert (layer.state is not None) == (layer.call == "rnn")
    assert (layer.weights is not None) == (layer.call == "attention")
    assert layer.stack_inputs >= 1 and all(isinstance(k, str) for k, _ in layer.stack_kwargs)
    assert not layer.in_loss or layer.clips is not None  # a loss applies only an activation


@pytest.mark.parametrize("name, given, shape", [p for p in CASE_LIST if REGISTRY[p.values[0]].macs])
def test_macs_rules_count_something(name, given, shape):
    layer = REGISTRY[name]
    a, out, _ = apply_rules(layer, given, concrete(shape))
    t = {kind: dims for kind, dims, _ in layer.tensors(a)}
    assert layer.macs(t, [concrete(out)], [concrete(shape)]) > 0


def _bounds(text: str) -> tuple[float, float, bool, bool]:
    """``[0, inf)`` as (low, high, low included, high included)."""
    low, high = (float(part) for part in text[1:-1].split(", "))
    return low, high, text[0] == "[", text[-1] == "]"


@pytest.mark.parametrize("layer", [v for v in REGISTRY.values() if v.clips], ids=lambda v: v.name)
def test_clipped_ranges_hold_in_torch(layer):
    low, high, low_in, high_in = _bounds(layer.clips)
    x = torch.linspace(-15, 15, 60001, dtype=torch.float64)[:-1].reshape(3, -1)
    a = complete_args(layer, {}, ("B", x.shape[1]))
    y = eval(layer.ctor, NAMESPACE)(**{k: v for k, v in a.items()})(x)
    assert (y >= low if low_in else y > low).all() and (y <= high if high_in else y < high).all()
    assert y.min() - low < 0.01 or low == float("-inf")  # the low bound is tight
