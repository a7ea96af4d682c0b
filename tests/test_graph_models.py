"""The graph-style examples against the networks the classic tutorials write by hand.

test_seed_models.py covers the models that are one input -> one output. The examples here go
beyond that: several inputs or outputs, layers with their own parameters, a fixed random
buffer, a ``while`` loop, recurrent state carried from one call to the next. Each reference is
written the way d2l.ai ("Builders' guide", chapter 6), the PyTorch tutorials or Morvan Zhou's
tutorials write it. For every model: the generated model, the reference and the tutorial
arithmetic agree on the number of trainable parameters, and, with the reference's parameters
(and its fixed tensors) copied in, every output agrees, nested tuples included, in eval mode.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from compiled import ROOT, compile_file, load_module
from torch import nn

from nndsl.compiler import analyze, generate

# ---- the reference networks, as the tutorials write them -----------------------------------


class FixedHiddenMLP(nn.Module):
    """d2l 6.1.4: a constant random matrix, one layer used twice, and a Python while loop."""

    def __init__(self):
        super().__init__()
        # Random weight parameters that will not compute gradients and
        # therefore keep constant during training
        self.rand_weight = torch.rand((20, 20), requires_grad=False)
        self.linear = nn.LazyLinear(20)

    def forward(self, X):
        X = self.linear(X)
        X = F.relu(X @ self.rand_weight + 1)
        # Reuse the fully connected layer. This is equivalent to sharing
        # parameters with two fully connected layers
        X = self.linear(X)
        # Control flow
        while X.abs().sum() > 1:
            X /= 2
        return X.sum()


class NestMLP(nn.Module):
    """d2l 6.1.4: a custom block around a Sequential."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.LazyLinear(64), nn.ReLU(), nn.LazyLinear(32), nn.ReLU())
        self.linear = nn.LazyLinear(16)

    def forward(self, X):
        return self.linear(self.net(X))


def chimera() -> nn.Module:
    # d2l 6.1.4
    return nn.Sequential(NestMLP(), nn.LazyLinear(20), FixedHiddenMLP())


class CenteredLayer(nn.Module):
    """d2l 6.5.1: a layer without parameters."""

    def __init__(self):
        super().__init__()

    def forward(self, X):
        return X - X.mean()


def centered_net() -> nn.Module:
    # d2l 6.5.1
    return nn.Sequential(nn.LazyLinear(128), CenteredLayer())


class MyLinear(nn.Module):
    """d2l 6.5.2: a layer with its own parameters.

    d2l's forward reads ``self.weight.data`` and ``self.bias.data``; ``.data`` only detaches
    the values from autograd, so the forward pass below computes the same numbers.
    """

    def __init__(self, in_units, units):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(in_units, units))
        self.bias = nn.Parameter(torch.randn(units,))  # fmt: skip

    def forward(self, X):
        linear = torch.matmul(X, self.weight) + self.bias
        return F.relu(linear)


def my_linear_net() -> nn.Module:
    # d2l 6.5.2: net = nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))
    return nn.Sequential(MyLinear(64, 8), MyLinear(8, 1))


class Probe(torch.nn.Module):
    """Morvan 301_regression.py's ``Net(n_feature=2, n_hidden=8, n_output=1)``, which also
    hands back its hidden activation."""

    def __init__(self, n_feature, n_hidden, n_output):
        super().__init__()
        self.hidden = torch.nn.Linear(n_feature, n_hidden)  # hidden layer
        self.predict = torch.nn.Linear(n_hidden, n_output)  # output layer

    def forward(self, x):
        h = F.relu(self.hidden(x))  # activation function for hidden layer
        x = self.predict(h)  # linear output
        return x, h


class TwoHeads(nn.Module):
    """A shared body and two heads, as multi-task tutorials write it: the digit's class and a
    number about the image."""

    def __init__(self):
        super().__init__()
        self.body = nn.Linear(64, 64)
        self.classes = nn.Linear(64, 10)
        self.inked = nn.Linear(64, 1)

    def forward(self, x):
        h = F.relu(self.body(x))
        return self.classes(h), self.inked(h)


class VAE(nn.Module):
    """The VAE of the PyTorch examples (examples/vae/main.py), at the digits' size, returning
    the KL divergence beside the reconstruction."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64, 32)
        self.fc21 = nn.Linear(32, 8)
        self.fc22 = nn.Linear(32, 8)
        self.fc3 = nn.Linear(8, 32)
        self.fc4 = nn.Linear(32, 64)

    def forward(self, x):
        h1 = F.relu(self.fc1(x))
        mu, logvar = self.fc21(h1), self.fc22(h1)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        recon = torch.sigmoid(self.fc4(F.relu(self.fc3(z))))
        kld = -0.5 * torch.mean(torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), 1))
        return recon, kld


INPUT_SIZE = 28  # rnn input size / image width
TIME_STEP = 10  # Morvan 403: rnn time step


class LSTMClassifier(nn.Module):
    """Morvan 402_RNN_classifier.py's ``RNN``: MNIST rows as time steps."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(  # if use nn.RNN(), it hardly learns
            input_size=INPUT_SIZE,
            hidden_size=64,  # rnn hidden unit
            num_layers=1,  # number of rnn layer
            batch_first=True,  # input & output will has batch size as 1s dimension
        )
        self.out = nn.Linear(64, 10)

    def forward(self, x):
        # x shape (batch, time_step, input_size)
        r_out, (h_n, h_c) = self.rnn(x, None)  # None represents zero initial hidden state
        # choose r_out at the last time step
        out = self.out(r_out[:, -1, :])
        return out


class RNNRegressor(nn.Module):
    """Morvan 403_RNN_regressor.py's ``RNN``: sin -> cos, the state carried across calls."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(
            input_size=1,
            hidden_size=32,  # rnn hidden unit
            num_layers=1,  # number of rnn layer
            batch_first=True,  # input & output will has batch size as 1s dimension
        )
        self.out = nn.Linear(32, 1)

    def forward(self, x, h_state):
        # x (batch, time_step, input_size)
        # h_state (n_layers, batch, hidden_size)
        # r_out (batch, time_step, hidden_size)
        r_out, h_state = self.rnn(x, h_state)

        outs = []  # save all predictions
        for time_step in range(r_out.size(1)):  # calculate output for each time step
            outs.append(self.out(r_out[:, time_step, :]))
        return torch.stack(outs, dim=1), h_state


def morvan_sin(step: int) -> torch.Tensor:
    """Morvan 403's input for training step ``step``: sin over [step*pi, (step+1)*pi],
    shape (batch=1, TIME_STEP, input_size=1)."""
    start, end = step * math.pi, (step + 1) * math.pi  # time range
    steps = torch.linspace(start, end, TIME_STEP, dtype=torch.float32)
    return torch.sin(steps)[None, :, None]


class DigitsLSTM(nn.Module):
    """Each 8x8 digit as 8 time steps of 8 pixels; the last step is classified."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(8, 32, batch_first=True)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        r, _ = self.rnn(x)
        return self.head(r[:, -1, :])


class RefAttention(nn.Module):
    """nanoGPT's CausalSelfAttention, with its four projections as four layers."""

    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.query, self.key, self.value, self.proj = (nn.Linear(n_embd, n_embd) for _ in "qkvp")
        self.n_head = n_head

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = (
            f(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
            for f in (self.query, self.key, self.value)
        )
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # nanoGPT's flash path
        return self.proj(y.transpose(1, 2).contiguous().view(B, T, C))


class RefBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(n_embd)
        self.attn = RefAttention(n_embd, n_head)
        self.ln2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Module()
        self.mlp.fc, self.mlp.proj = nn.Linear(n_embd, 4 * n_embd), nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.mlp.proj(F.gelu(self.mlp.fc(self.ln2(x))))


class RefGPT(nn.Module):
    """A character-level nanoGPT (its model.py, without dropout, which eval mode skips)."""

    def __init__(self, vocab=62, block=64, n_embd=64, n_head=4, n_layer=2):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, n_embd), nn.Embedding(block, n_embd)
        self.blocks = nn.Sequential(*(RefBlock(n_embd, n_head) for _ in range(n_layer)))
        self.ln_f = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        self.head.weight = self.wte.weight  # weight tying, as nanoGPT does

    def forward(self, idx):
        pos = torch.arange(idx.size(1))
        return self.head(self.ln_f(self.blocks(self.wte(idx) + self.wpe(pos))))


# ---- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Graph:
    example: str  # file under examples/
    model: str  # class name in the generated code
    reference: Callable[[], nn.Module]
    make_inputs: Callable[[], tuple]  # the positional arguments of one forward call
    params: int  # trainable parameters, by the tutorial arithmetic
    # generated buffer name -> the reference's tensor holding the same fixed values (a dotted
    # path through submodules; d2l keeps rand_weight as a plain attribute, not a buffer).
    # Every buffer of the generated model must be listed here.
    buffers: dict[str, str] = field(default_factory=dict)


def _rand(*shape):
    return lambda: (torch.rand(*shape),)


LIN = lambda i, o: i * o + o  # noqa: E731  -- weights and biases of nn.Linear(i, o)
# nn.RNN / nn.LSTM with one layer: weight_ih (g*h, i), weight_hh (g*h, h), bias_ih, bias_hh
RNN = lambda i, h: h * i + h * h + 2 * h  # noqa: E731
LSTM = lambda i, h: 4 * RNN(i, h)  # noqa: E731  -- four gates
NEST_MLP = LIN(20, 64) + LIN(64, 32) + LIN(32, 16)
FIXED_HIDDEN_MLP = LIN(20, 20)  # 20 * 20 + 20; rand_weight is not trained

GRAPH_MODELS = [
    Graph(
        "chimera.nn", "FixedHiddenMLP", FixedHiddenMLP, _rand(2, 20), FIXED_HIDDEN_MLP,
        buffers={"rand_weight": "rand_weight"},
    ),  # fmt: skip
    Graph("chimera.nn", "NestMLP", NestMLP, _rand(2, 20), NEST_MLP),
    Graph(
        "chimera.nn", "Chimera", chimera, _rand(2, 20),
        NEST_MLP + LIN(16, 20) + FIXED_HIDDEN_MLP,
        buffers={"fixed_hidden_mlp1.rand_weight": "2.rand_weight"},
    ),  # fmt: skip
    Graph("centered.nn", "CenteredNet", centered_net, _rand(4, 8), LIN(8, 128)),
    Graph(
        # d2l feeds torch.rand(2, 64); with seed 0 the one ReLU unit of MyLinear(8, 1) is then
        # dead (the outputs all 0), and the comparison would prove nothing. With 4 rows it is not.
        "my_linear.nn", "MyLinearNet", my_linear_net, _rand(4, 64),
        (64 * 8 + 8) + (8 * 1 + 1),
    ),  # fmt: skip
    Graph("two_outputs.nn", "Probe", lambda: Probe(2, 8, 1), _rand(4, 2), LIN(2, 8) + LIN(8, 1)),
    Graph(
        "lstm_classifier.nn", "LSTMClassifier", LSTMClassifier, _rand(3, 28, 28),
        LSTM(28, 64) + LIN(64, 10),
    ),  # fmt: skip
    Graph("digits_lstm.nn", "DigitsLSTM", DigitsLSTM, _rand(3, 8, 8), LSTM(8, 32) + LIN(32, 10)),
    Graph(
        "digits_two_heads.nn", "DigitsTwoHeads", TwoHeads, _rand(3, 64),
        LIN(64, 64) + LIN(64, 10) + LIN(64, 1),
    ),  # fmt: skip
    Graph(
        "digits_vae.nn", "DigitsVAE", VAE, _rand(3, 64),
        LIN(64, 32) + 2 * LIN(32, 8) + LIN(8, 32) + LIN(32, 64),
    ),  # fmt: skip
    Graph(
        "rnn_regressor.nn", "RNNRegressor", RNNRegressor, lambda: (morvan_sin(0), None),
        RNN(1, 32) + LIN(32, 1),
    ),  # fmt: skip
    Graph(
        # the output projection is the token embedding: counted once
        "gpt.nn", "GPT", RefGPT, lambda: (torch.randint(0, 62, (2, 16)),),
        62 * 64 + 64 * 64 + 2 * (2 * 128 + 4 * LIN(64, 64) + LIN(64, 256) + LIN(256, 64)) + 128,
    ),  # fmt: skip
]

IDS = [f"{g.example.removesuffix('.nn')}-{g.model}" for g in GRAPH_MODELS]

_GENERATED: dict[str, dict] = {}


def generated(example: str) -> dict:
    """The namespace of the example's generated module (compiled once per example)."""
    if example not in _GENERATED:
        code, _ = compile_file(ROOT / "examples" / example)
        _GENERATED[example] = load_module(code, example.removesuffix(".nn"))
    return _GENERATED[example]


def find(graph: str) -> Graph:
    return next(g for g in GRAPH_MODELS if g.model == graph)


def build(graph: Graph) -> tuple[nn.Module, nn.Module, tuple]:
    """(generated model, materialised reference, inputs), both in eval mode."""
    torch.manual_seed(0)
    inputs = graph.make_inputs()
    ours = generated(graph.example)[graph.model]().eval()
    ref = graph.reference().eval()
    with torch.no_grad():
        ref(*inputs)  # materialise Lazy modules, as d2l does with net(X)
    return ours, ref, inputs


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def count(model: nn.Module) -> int:
    return sum(p.numel() for _, p in trainable(model))


def attribute(model: nn.Module, path: str) -> torch.Tensor:
    """``model.a.b.c`` for ``"a.b.c"``, through submodules (``"2.x"`` is ``model[2].x``)."""
    owner, _, name = path.rpartition(".")
    value = getattr(model.get_submodule(owner), name)
    assert isinstance(value, torch.Tensor), f"{path} is not a tensor"
    return value


def copy_reference(graph: Graph, ours: nn.Module, ref: nn.Module) -> None:
    """Copy the reference's parameters, in registration order, and its fixed tensors into the
    generated model. Anything that does not line up fails the test."""
    mine, theirs = trainable(ours), trainable(ref)
    layout = [(n, tuple(p.shape)) for n, p in mine], [(n, tuple(p.shape)) for n, p in theirs]
    assert [s for _, s in layout[0]] == [s for _, s in layout[1]], (
        "the parameters do not line up one-to-one",
        *layout,
    )
    buffers = dict(ours.named_buffers())
    assert set(buffers) == set(graph.buffers), ("buffers to copy", sorted(buffers))
    with torch.no_grad():
        for (_, a), (_, b) in zip(mine, theirs):
            a.copy_(b)
        for name, path in graph.buffers.items():
            source = attribute(ref, path)
            assert buffers[name].shape == source.shape, (name, buffers[name].shape, source.shape)
            buffers[name].copy_(source)


def assert_same(got: Any, expected: Any, where: str = "output") -> None:
    """Equal structure (tuples, lists, None) and close tensors, all the way down."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(got, (tuple, list)), f"{where}: {type(got).__name__}, not a tuple"
        assert len(got) == len(expected), f"{where}: {len(got)} items, expected {len(expected)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
        return
    if expected is None:
        assert got is None, f"{where}: expected None"
        return
    assert isinstance(got, torch.Tensor), f"{where}: {type(got).__name__}, not a tensor"
    assert got.shape == expected.shape, f"{where}: shape {got.shape}, expected {expected.shape}"
    assert torch.allclose(
        got, expected, rtol=1e-5, atol=1e-6
    ), f"{where}: max difference {(got - expected).abs().max().item()}"


def tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors(v)]
    return [] if value is None else [value]


# ---- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("graph", GRAPH_MODELS, ids=IDS)
def test_parameter_count(graph):
    ours, ref, _ = build(graph)
    assert count(ours) == count(ref) == graph.params


@pytest.mark.parametrize("graph", GRAPH_MODELS, ids=IDS)
def test_same_weights_same_outputs(graph):
    ours, ref, inputs = build(graph)
    copy_reference(graph, ours, ref)
    with torch.no_grad():  # the same random draws for both (a VAE samples its code)
        torch.manual_seed(1)
        expected = ref(*inputs)
        torch.manual_seed(1)
        got = ours(*inputs)
    assert_same(got, expected)
    # the comparison is not vacuous: no output is all zeros (a dead ReLU would hide a mix-up)
    assert all(t.abs().sum() > 0 for t in tensors(expected))


def test_fixed_random_matrix_is_a_buffer_not_a_parameter():
    ours, ref, _ = build(find("FixedHiddenMLP"))
    assert "rand_weight" in dict(ours.named_buffers())
    assert "rand_weight" in ours.state_dict()  # saved with the model
    assert not any(name.endswith("rand_weight") for name, _ in ours.named_parameters())
    assert not ref.rand_weight.requires_grad and not ours.rand_weight.requires_grad


def test_fixed_hidden_mlp_loop_runs():
    """The while loop halves the output a few times before it stops, in both models alike."""
    graph = find("FixedHiddenMLP")
    ours, ref, (x,) = build(graph)
    copy_reference(graph, ours, ref)
    with torch.no_grad():
        before_loop = ref.linear(F.relu(ref.linear(x) @ ref.rand_weight + 1))
        result = ours(x)
    assert before_loop.abs().sum() > 1  # so the loop body runs at least once
    assert torch.allclose(result, ref(x), rtol=1e-5, atol=1e-6)
    halvings = math.log2(before_loop.sum().item() / result.item())
    assert halvings >= 1 and abs(halvings - round(halvings)) < 1e-4


def test_centered_output_has_mean_zero():
    ours, _, _ = build(find("CenteredNet"))
    torch.manual_seed(1)
    with torch.no_grad():
        y = ours(torch.rand(4, 8))  # d2l: Y = net(torch.rand(4, 8)); Y.mean()
    assert y.shape == (4, 128)
    assert abs(y.mean().item()) < 1e-5


def test_rnn_regressor_carries_the_state():
    """Morvan 403's training loop: h_state = None, then each call gets the state the previous
    one returned (``h_state = h_state.data``). Three consecutive calls agree at every step."""
    graph = find("RNNRegressor")
    ours, ref, _ = build(graph)
    copy_reference(graph, ours, ref)
    h_ours = h_ref = None  # for initial hidden state
    with torch.no_grad():
        x = morvan_sin(0)
        assert_same(ours(x), ref(x, None), "default state")  # h may be left out
        for step in range(3):
            x = morvan_sin(step)
            if step:  # a carried state is used: it changes the prediction
                assert not torch.allclose(ours(x, h_ours)[0], ours(x, None)[0])
            prediction, h_ref = ref(x, h_ref)
            got, h_ours = ours(x, h_ours)
            assert_same((got, h_ours), (prediction, h_ref), f"step {step}")
            assert h_ours.shape == (1, 1, 32)
            h_ref, h_ours = h_ref.data, h_ours.data  # repack the hidden state


@pytest.mark.parametrize("init", ["randn", "rand", "zeros", "ones"])
def test_a_scalar_parameter_is_made_with_an_empty_shape(init):
    """`param([])` is one learnable number (a temperature, a scale); torch's factories need
    the empty shape spelled `()`."""
    source = (
        f"layer Scaled() {{\n    scale = param([], init={init})\n    forward(x) = x * scale\n}}\n"
        "model M(x: [4]) {\n    Scaled()\n}\n"
    )
    result = analyze(source)
    assert result.ok, result.diagnostics
    namespace: dict = {}
    exec(compile(generate(result.program, "s.nn"), "s.nn", "exec"), namespace)
    model = namespace["M"]()
    [(name, p)] = list(model.named_parameters())
    assert p.shape == () and name.endswith("scale")
    x = torch.randn(3, 4)
    assert torch.equal(model(x), x * p)
