"""Registry entries: recurrent and attention layers, all batch first: (B, T, features)."""

from __future__ import annotations

from typing import Callable

from .layers_base import Arg, Layer, _check, _last
from .shapes import Shape

# --- recurrent -------------------------------------------------------------------------------


def _rnn_shape(a: dict, x: Shape) -> Shape:
    directions = 2 if a["bidirectional"] else 1
    return (*x[:-1], a["hidden_size"] * directions)


def _rnn_params(gates: int) -> Callable[[dict], int]:
    def count(a: dict) -> int:
        h, directions = a["hidden_size"], 2 if a["bidirectional"] else 1
        total = 0
        for layer in range(a["num_layers"]):
            inp = a["input_size"] if layer == 0 else h * directions
            per = gates * h * (inp + h) + (2 * gates * h if a["bias"] else 0)
            total += per * directions
        return total

    return count


def _rnn_args(*extra: Arg) -> tuple[Arg, ...]:
    return (
        Arg("input_size", "int", infer=_last, min=1),
        Arg("hidden_size", "int", min=1),
        Arg("num_layers", "int", 1, min=1),
        *extra,
        Arg("bias", "bool", True),
        Arg("batch_first", "bool", True, emit=True),
        Arg("dropout", "float", 0.0, min=0.0, max=1.0),
        Arg("bidirectional", "bool", False),
    )


def _rnn(name: str, gates: int, doc: str, example: str, *extra: Arg) -> Layer:
    return Layer(
        name=name,
        args=_rnn_args(*extra),
        positional=2,
        ranks=(3,),
        layout="(B, T, input_size)",
        shape=_rnn_shape,
        params=_rnn_params(gates),
        call="rnn",
        doc=doc,
        example=example,
    )


RNN = _rnn(
    "RNN",
    1,
    "Elman recurrent network over (B, T, F), batch first; the stack passes on the outputs.",
    'RNN(64, nonlinearity="relu")',
    Arg("nonlinearity", "str", "tanh", choices=("tanh", "relu")),
)
# proj_size is left out: it changes the output width and the hidden state shapes.
LSTM = _rnn(
    "LSTM",
    4,
    "Long short-term memory over (B, T, F), batch first; the stack passes on the outputs.",
    "LSTM(64, num_layers=2)",
)
GRU = _rnn(
    "GRU",
    3,
    "Gated recurrent unit over (B, T, F), batch first; the stack passes on the outputs.",
    "GRU(64, bidirectional=true)",
)

# --- attention -------------------------------------------------------------------------------


def _heads_ok(a: dict, dim: str, heads: str) -> None:
    _check(
        a[dim] % a[heads] == 0,
        f"{dim} ({a[dim]}) is not divisible by {heads} ({a[heads]})",
        arg=heads,
        help=f"each head gets {dim} / {heads} features; pick a {heads} that divides {a[dim]}",
    )


def _attention_params(e: int, bias: bool) -> int:
    """in_proj (3 e x e) and out_proj (e x e), with their biases."""
    return 4 * e * e + (4 * e if bias else 0)


# kdim / vdim are left out: the stack calls it as self-attention, m(x, x, x).
MULTIHEAD_ATTENTION = Layer(
    name="MultiheadAttention",
    args=(
        Arg("embed_dim", "int", infer=_last, min=1),
        Arg("num_heads", "int", min=1),
        Arg("dropout", "float", 0.0, min=0.0, max=1.0),
        Arg("bias", "bool", True),
        Arg("add_bias_kv", "bool", False),
        Arg("add_zero_attn", "bool", False),
        Arg("batch_first", "bool", True, emit=True),
    ),
    positional=2,
    ranks=(3,),
    layout="(B, T, embed_dim)",
    shape=lambda a, x: (_heads_ok(a, "embed_dim", "num_heads"), x)[1],
    params=lambda a: _attention_params(a["embed_dim"], a["bias"])
    + (2 * a["embed_dim"] if a["add_bias_kv"] else 0),
    call="attention",
    doc="Multi-head self-attention over (B, T, E), batch first; embed_dim is inferred.",
    example="MultiheadAttention(8)",
)


def _encoder_params(a: dict) -> int:
    e, ff, bias = a["d_model"], a["dim_feedforward"], a["bias"]
    linears = 2 * e * ff + (ff + e if bias else 0)
    norms = 2 * e * (2 if bias else 1)
    return _attention_params(e, bias) + linears + norms


TRANSFORMER_ENCODER_LAYER = Layer(
    name="TransformerEncoderLayer",
    args=(
        Arg("d_model", "int", infer=_last, min=1),
        Arg("nhead", "int", min=1),
        Arg("dim_feedforward", "int", 2048, min=1),
        Arg("dropout", "float", 0.1, min=0.0, max=1.0),
        Arg("activation", "str", "relu", choices=("relu", "gelu")),
        Arg("layer_norm_eps", "float", 1e-5, min=0.0),
        Arg("batch_first", "bool", True, emit=True),
        Arg("norm_first", "bool", False),
        Arg("bias", "bool", True),
    ),
    positional=2,
    ranks=(3,),
    layout="(B, T, d_model)",
    shape=lambda a, x: (_heads_ok(a, "d_model", "nhead"), x)[1],
    params=_encoder_params,
    doc="Transformer encoder block (self-attention + feed-forward), batch first; d_model is inferred.",
    example="TransformerEncoderLayer(8, dim_feedforward=512)",
)

RECURRENT_ENTRIES = (RNN, LSTM, GRU)
ATTENTION_ENTRIES = (MULTIHEAD_ATTENTION, TRANSFORMER_ENCODER_LAYER)
