"""Each seed example against the network the classic tutorials write by hand.

For every model in examples/*.nn there is a reference module written the way d2l.ai, the
PyTorch tutorials or Morvan Zhou's tutorials write it (``nn.Sequential`` of ``nn.Linear`` /
``nn.LazyLinear`` ..., Lazy modules materialised by one forward pass, as d2l does with
``net(X)``). The generated model must have the same number of trainable parameters (also
checked against the tutorial arithmetic), give the same output shape on the same input and,
with the reference's weights copied in, the same output in eval mode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch
from compiled import BUILT, ROOT, compile_file, load_module
from test_graph_models import GRAPH_MODELS  # the graph-style examples
from test_layouts import MODELS as TORCHVISION  # the examples whose reference is torchvision's
from torch import nn

# ---- the reference networks, as the tutorials write them -----------------------------------


def add_net() -> nn.Module:
    # 2 -> 8 -> ReLU -> 1
    return nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))


def linear_regression() -> nn.Module:
    # d2l 3.5 (concise linear regression), with one feature
    return nn.Sequential(nn.LazyLinear(1))


def mlp() -> nn.Module:
    # d2l 6.1: net = nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))
    return nn.Sequential(nn.LazyLinear(256), nn.ReLU(), nn.LazyLinear(10))


def rgnet() -> nn.Module:
    # d2l 6.2 (parameter management), nested blocks
    def block1():
        return nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.LazyLinear(4), nn.ReLU())

    def block2():
        net = nn.Sequential()
        for i in range(4):
            net.add_module(f"block {i}", block1())
        return net

    return nn.Sequential(block2(), nn.LazyLinear(1))


def tied() -> nn.Module:
    # d2l 6.2.3 (tied parameters)
    shared = nn.Linear(8, 8)
    return nn.Sequential(
        nn.LazyLinear(8), nn.ReLU(),
        shared, nn.ReLU(),
        shared, nn.ReLU(),
        nn.LazyLinear(1),
    )  # fmt: skip


def cnn() -> nn.Module:
    # the MNIST CNN of the PyTorch / Morvan tutorials (401_CNN), as one Sequential
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


N_H = 100  # Morvan's 503_dropout.py uses N_HIDDEN = 300; the example (and this test) use 100


def net_overfitting() -> nn.Module:
    # Morvan 503_dropout.py
    return torch.nn.Sequential(
        torch.nn.Linear(1, N_H),
        torch.nn.ReLU(),
        torch.nn.Linear(N_H, N_H),
        torch.nn.ReLU(),
        torch.nn.Linear(N_H, 1),
    )


def net_dropped() -> nn.Module:
    # Morvan 503_dropout.py
    return torch.nn.Sequential(
        torch.nn.Linear(1, N_H),
        torch.nn.Dropout(0.5),  # drop 50% of the neuron
        torch.nn.ReLU(),
        torch.nn.Linear(N_H, N_H),
        torch.nn.Dropout(0.5),
        torch.nn.ReLU(),
        torch.nn.Linear(N_H, 1),
    )


N_HIDDEN = 8
ACTIVATION = torch.tanh


class MorvanBNNet(nn.Module):
    """Morvan 504_batch_normalization.py's ``Net``, minus its custom init and plotting lists,
    and minus the hidden layers' biases when batch norm follows them."""

    def __init__(self, batch_normalization=False):
        super().__init__()
        self.do_bn = batch_normalization
        self.fcs = []
        self.bns = []
        # created even without batch normalisation, and then never used: see UNUSED below
        self.bn_input = nn.BatchNorm1d(1, momentum=0.5)  # for input data

        for i in range(N_HIDDEN):  # build hidden layers and BN layers
            input_size = 1 if i == 0 else 10
            # without the bias that the batch norm after it cancels (W0105), as the example has it
            fc = nn.Linear(input_size, 10, bias=not self.do_bn)
            setattr(self, f"fc{i}", fc)  # IMPORTANT set layer to the Module
            self.fcs.append(fc)
            if self.do_bn:
                bn = nn.BatchNorm1d(10, momentum=0.5)
                setattr(self, f"bn{i}", bn)  # IMPORTANT set layer to the Module
                self.bns.append(bn)

        self.predict = nn.Linear(10, 1)  # output layer

    def forward(self, x):
        if self.do_bn:
            x = self.bn_input(x)  # input batch normalization
        for i in range(N_HIDDEN):
            x = self.fcs[i](x)
            if self.do_bn:
                x = self.bns[i](x)  # batch normalization
            x = ACTIVATION(x)
        return self.predict(x)  # the tutorial also returns the activations, for plotting


def digits_cnn() -> nn.Module:
    # the 8x8 digits CNN, written as a hand-written Sequential
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip


def digits_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def gan_maker() -> nn.Module:
    # the DCGAN tutorial's generator, fully connected for 8x8 images
    return nn.Sequential(nn.Linear(16, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.Sigmoid())


def gan_critic() -> nn.Module:
    return nn.Sequential(nn.Linear(64, 128), nn.LeakyReLU(0.2), nn.Linear(128, 1))


def iris_mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))


def tiny_encoder() -> nn.Module:
    # PyTorch tutorial style: an encoder stack of two layers, a final norm and a head
    layer = nn.TransformerEncoderLayer(64, 4, dim_feedforward=128, dropout=0.1, batch_first=True)
    return nn.Sequential(
        nn.Embedding(1000, 64),
        nn.TransformerEncoder(layer, num_layers=2),
        nn.LayerNorm(64),
        nn.Linear(64, 1000),
    )


class DenseLayer(nn.Module):
    # torchvision's _DenseLayer (models/densenet.py), without its dropout and checkpointing
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv1(torch.relu(self.norm1(x)))
        y = self.conv2(torch.relu(self.norm2(y)))
        return torch.cat([x, y], 1)


def densenet_bc() -> nn.Module:
    # DenseNet-BC for CIFAR: three dense blocks, growth 12, transitions halving the channels
    layers: list[nn.Module] = [nn.Conv2d(3, 24, 3, padding=1, bias=False)]
    features = 24
    for i, num_layers in enumerate((6, 6, 6)):
        for k in range(num_layers):
            layers.append(DenseLayer(features + k * 12, 12, 4))
        features += num_layers * 12
        if i < 2:
            layers += [nn.BatchNorm2d(features), nn.ReLU()]
            layers += [nn.Conv2d(features, features // 2, 1, bias=False), nn.AvgPool2d(2, 2)]
            features //= 2
    layers += [nn.BatchNorm2d(features), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers, nn.Linear(features, 10))


# examples/custom_layers.py's class, from its file
ScaleShift = load_module(
    (ROOT / "examples" / "custom_layers.py").read_text(encoding="utf-8"), "custom_layers"
)["ScaleShift"]


def digits_custom() -> nn.Module:
    # the digits CNN with a class of one's own and torch modules nndsl has no entry for
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), ScaleShift(16), nn.Hardtanh(-2, 2), nn.Mish(),
        nn.AdaptiveMaxPool2d(2), nn.Flatten(), nn.Linear(16 * 2 * 2, 10),
    )  # fmt: skip


# ---- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seed:
    example: str  # file under examples/
    model: str  # class name in the generated code
    reference: Callable[[], nn.Module]
    make_input: Callable[[], torch.Tensor]
    params: int  # trainable parameters, by the tutorial arithmetic
    # generated module prefix -> reference module prefix, when the two register their
    # parameters in different orders; empty: copy in ``parameters()`` order
    rename: dict[str, str] = field(default_factory=dict)
    # reference parameters the tutorial creates but its forward never uses
    unused: tuple[str, ...] = ()


def _rand(*shape):
    return lambda: torch.rand(*shape)


LIN = lambda i, o: i * o + o  # noqa: E731  -- weights and biases of nn.Linear(i, o)
NORM = lambda n: 2 * n  # noqa: E731  -- weight and bias of nn.BatchNorm1d(n), nn.LayerNorm(n)
MORVAN_DROPOUT = LIN(1, N_H) + LIN(N_H, N_H) + LIN(N_H, 1)  # Dropout has no parameters
# a dense layer of c input channels: two batch norms, a 1x1 and a 3x3 convolution, no biases
DENSE = lambda c, g=12: NORM(c) + c * 4 * g + NORM(4 * g) + 4 * g * g * 9  # noqa: E731
DENSENET_BC = (
    3 * 24 * 9
    + sum(DENSE(24 + k * 12) for k in range(6)) + NORM(96) + 96 * 48
    + sum(DENSE(48 + k * 12) for k in range(6)) + NORM(120) + 120 * 60
    + sum(DENSE(60 + k * 12) for k in range(6)) + NORM(132) + LIN(132, 10)
)  # fmt: skip
# in_proj (q, k, v), out_proj, linear1, linear2, norm1, norm2
ENCODER_LAYER = (3 * 64 * 64 + 3 * 64) + LIN(64, 64) + LIN(64, 128) + LIN(128, 64) + 2 * NORM(64)

SEEDS = [
    Seed("add.nn", "AddNet", add_net, _rand(2, 2), LIN(2, 8) + LIN(8, 1)),
    Seed("linear_regression.nn", "LinearRegression", linear_regression, _rand(2, 1), LIN(1, 1)),
    Seed("mlp.nn", "MLP", mlp, _rand(2, 20), LIN(20, 256) + LIN(256, 10)),
    Seed("nested_blocks.nn", "RGNet", rgnet, _rand(2, 4), 4 * (LIN(4, 8) + LIN(8, 4)) + LIN(4, 1)),
    Seed(
        "tied.nn", "Tied", tied, _rand(2, 20), LIN(20, 8) + LIN(8, 8) + LIN(8, 1),
        # nndsl registers the shared layer first; d2l's Sequential has it at index 2 (and 4)
        rename={"fc1": "0", "tied": "2", "fc2": "6"},
    ),  # fmt: skip
    Seed(
        "cnn.nn", "CNN", cnn, _rand(2, 1, 28, 28),
        (1 * 16 * 5 * 5 + 16) + (16 * 32 * 5 * 5 + 32) + LIN(32 * 7 * 7, 10),
    ),  # fmt: skip
    Seed(
        "digits_cnn.nn", "DigitsCNN", digits_cnn, _rand(2, 1, 8, 8),
        (1 * 16 * 9 + 16) + (16 * 32 * 9 + 32) + LIN(32 * 4 * 4, 64) + LIN(64, 10),
    ),  # fmt: skip
    Seed("iris.nn", "IrisMLP", iris_mlp, _rand(2, 4), LIN(4, 16) + LIN(16, 3)),
    Seed(
        "custom_layer.nn", "DigitsCustom", digits_custom, _rand(2, 1, 8, 8),
        (1 * 16 * 9 + 16) + 2 * 16 + LIN(16 * 2 * 2, 10),
    ),  # fmt: skip
    Seed("digits_mlp.nn", "DigitsMLP", digits_mlp, _rand(2, 64), LIN(64, 128) + LIN(128, 10)),
    Seed("digit_pairs.nn", "DigitPairs", lambda: nn.Sequential(nn.Linear(64, 128), nn.ReLU(),
         nn.Linear(128, 5)), _rand(2, 64), LIN(64, 128) + LIN(128, 5)),
    Seed("digits_gan.nn", "Maker", gan_maker, _rand(2, 16), LIN(16, 128) + LIN(128, 64)),
    Seed("digits_gan.nn", "Critic", gan_critic, _rand(2, 64), LIN(64, 128) + LIN(128, 1)),
    Seed("dropout.nn", "Overfitting", net_overfitting, _rand(2, 1), MORVAN_DROPOUT),
    Seed("dropout.nn", "Dropped", net_dropped, _rand(2, 1), MORVAN_DROPOUT),
    Seed(
        "batchnorm.nn", "WithBatchNorm", lambda: MorvanBNNet(batch_normalization=True),
        _rand(4, 1), NORM(1) + 1 * 10 + 7 * 10 * 10 + N_HIDDEN * NORM(10) + LIN(10, 1),
    ),  # fmt: skip
    Seed(
        "batchnorm.nn", "WithoutBatchNorm", lambda: MorvanBNNet(batch_normalization=False),
        _rand(4, 1), LIN(1, 10) + 7 * LIN(10, 10) + LIN(10, 1),
        unused=("bn_input.",),  # Morvan builds bn_input unconditionally; do_bn=False skips it
    ),  # fmt: skip
    Seed("densenet.nn", "DenseNetBC", densenet_bc, _rand(2, 3, 32, 32), DENSENET_BC),
    Seed(
        "transformer.nn", "TinyEncoder", tiny_encoder,
        lambda: torch.randint(0, 1000, (2, 32)),
        1000 * 64 + 2 * ENCODER_LAYER + NORM(64) + LIN(64, 1000),
    ),  # fmt: skip
]

_GENERATED: dict[str, dict] = {}


def generated(example: str) -> dict:
    """The namespace of the example's generated module (compiled once per example)."""
    if example not in _GENERATED:
        code, _ = compile_file(ROOT / "examples" / example)
        folder = ROOT / "examples"  # where custom_layer.nn's classes are
        _GENERATED[example] = load_module(code, example.removesuffix(".nn"), folder)
    return _GENERATED[example]


def build(seed: Seed) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """(generated model, materialised reference, input), both in eval mode."""
    torch.manual_seed(0)
    x = seed.make_input()
    ours = generated(seed.example)[seed.model]().eval()
    ref = seed.reference().eval()
    with torch.no_grad():
        ref(x)  # materialise Lazy modules, as d2l does with net(X)
    return ours, ref, x


def trainable(model: nn.Module, skip: tuple[str, ...] = ()) -> list[tuple[str, nn.Parameter]]:
    return [
        (name, p)
        for name, p in model.named_parameters()
        if p.requires_grad and not name.startswith(skip)
    ]


def count(params) -> int:
    return sum(p.numel() for _, p in params)


def pairs(seed: Seed, ours: nn.Module, ref: nn.Module) -> list[tuple[nn.Parameter, nn.Parameter]]:
    """(generated, reference) parameters that play the same role, lined up one-to-one."""
    mine, theirs = trainable(ours), trainable(ref, seed.unused)
    if seed.rename:
        by_name = dict(theirs)
        out = []
        for name, p in mine:
            prefix, _, rest = name.partition(".")
            out.append((p, by_name[f"{seed.rename[prefix]}.{rest}"]))
        assert len(out) == len(theirs)
        return out
    shapes = [p.shape for _, p in mine], [p.shape for _, p in theirs]
    assert shapes[0] == shapes[1], "the parameters do not line up one-to-one"
    return [(a, b) for (_, a), (_, b) in zip(mine, theirs)]


IDS = [f"{s.example.removesuffix('.nn')}-{s.model}" for s in SEEDS]


def test_every_example_model_has_a_reference():
    table = {(s.example, s.model) for s in SEEDS}
    from nndsl.compiler import analyze

    found = set()
    for path in BUILT:  # the unbuilt: too large for a reference at their size
        result = analyze(path.read_text(encoding="utf-8"), path.parent)
        assert result.ok, path.name
        found |= {(path.name, m.name) for m in result.program.models}
    references = {(g.example, g.model) for g in GRAPH_MODELS}
    references |= {(f"{name}.nn", model) for name, (model, *_) in TORCHVISION.items()}
    assert found == table | references


@pytest.mark.parametrize("seed", SEEDS, ids=IDS)
def test_parameter_count(seed):
    ours, ref, _ = build(seed)
    assert count(trainable(ours)) == seed.params
    assert count(trainable(ref, seed.unused)) == seed.params


@pytest.mark.parametrize("seed", SEEDS, ids=IDS)
def test_output_shape(seed):
    ours, ref, x = build(seed)
    with torch.no_grad():
        assert ours(x).shape == ref(x).shape


@pytest.mark.parametrize("seed", SEEDS, ids=IDS)
def test_same_weights_same_output(seed):
    ours, ref, x = build(seed)
    with torch.no_grad():
        for mine, theirs in pairs(seed, ours, ref):
            mine.copy_(theirs)
        expected, got = ref(x), ours(x)
    assert torch.allclose(got, expected, rtol=1e-5, atol=1e-6), (got - expected).abs().max()


@pytest.mark.parametrize("seed", [s for s in SEEDS if s.unused], ids=lambda s: s.model)
def test_unused_reference_parameters_are_really_unused(seed):
    """The parameters left out of the comparison get no gradient from the tutorial's forward."""
    _, ref, x = build(seed)
    ref(x).sum().backward()
    for name, p in ref.named_parameters():
        assert (p.grad is None) == name.startswith(seed.unused), name


def _linear_calls(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, float]]:
    """(module, its weight[0, 0] at the call) for each nn.Linear call of a forward pass."""
    calls: list[tuple[nn.Module, float]] = []
    handles = [
        m.register_forward_pre_hook(lambda m, args: calls.append((m, m.weight[0, 0].item())))
        for m in model.modules()
        if isinstance(m, nn.Linear)
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return calls


def test_tied_weights_are_one_parameter():
    seed = next(s for s in SEEDS if s.model == "Tied")
    ours, ref, x = build(seed)

    # d2l's check on its own net: the two uses are one module
    ref_calls = [m for m, _ in _linear_calls(ref, x)]
    assert ref_calls[1] is ref_calls[2] is ref[2] is ref[4]

    calls = [m for m, _ in _linear_calls(ours, x)]
    assert len(calls) == 4
    first, second = calls[1], calls[2]  # the two uses of `tied`
    assert first.weight is second.weight and first.bias is second.bias
    assert first.weight is ours.tied.weight
    assert sum(p is ours.tied.weight for p in ours.parameters()) == 1  # counted once

    with torch.no_grad():
        for mine, theirs in pairs(seed, ours, ref):
            mine.copy_(theirs)
        ours.tied.weight[0, 0] = 100.0
        ref[2].weight[0, 0] = 100.0  # d2l: net[2].weight.data[0, 0] = 100
    seen = [w for _, w in _linear_calls(ours, x)]
    assert seen[1] == seen[2] == 100.0  # both uses see the change
    assert seen[0] != 100.0 and seen[3] != 100.0
    with torch.no_grad():
        assert torch.allclose(ours(x), ref(x), rtol=1e-5, atol=1e-6)
