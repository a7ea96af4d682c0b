"""Registry entries: recurrent layers, batch first: (B, T, features); the attention layers are
in :mod:`nndsl.registry.layers_attn`."""

from __future__ import annotations

from collections.abc import Callable

from nndsl.ir.shapes import Dim, Shape
from nndsl.registry.layer_base import Arg, Layer, TensorSpec, _last, size
from nndsl.registry.saves import Saved

# --- recurrent -------------------------------------------------------------------------------


def _rnn_shape(a: dict, x: Shape) -> Shape:
    directions = 2 if a["bidirectional"] else 1
    return (*x[:-1], a["hidden_size"] * directions)


def _rnn_tensors(gates: int) -> Callable[[dict], tuple[TensorSpec, ...]]:
    """Per layer k and direction: weight_ih_lk, weight_hh_lk, bias_ih_lk, bias_hh_lk, the
    reverse direction's with the suffix ``_reverse``."""

    def tensors(a: dict) -> tuple[TensorSpec, ...]:
        h, directions = int(a["hidden_size"]), 2 if a["bidirectional"] else 1
        out: list[TensorSpec] = []
        for layer in range(a["num_layers"]):
            inp = int(a["input_size"]) if layer == 0 else h * directions
            for suffix in ("", "_reverse")[:directions]:
                out += [
                    (f"weight_ih_l{layer}{suffix}", (gates * h, inp), True),
                    (f"weight_hh_l{layer}{suffix}", (gates * h, h), True),
                ]
                if a["bias"]:
                    out += [
                        (f"bias_{w}_l{layer}{suffix}", (gates * h,), True) for w in ("ih", "hh")
                    ]
        return tuple(out)

    return tensors


def _rnn_macs(t: dict, out: list, ins: list) -> int:
    """B * T * sum over layers and directions of G * H * (in + H): every weight once a step."""
    b, steps = out[0][0], out[0][1]
    return b * steps * sum(size(s) for k, s in t.items() if k.startswith("weight_"))


def _rnn_state(pair: bool) -> Callable[[dict, Shape], tuple[Shape, ...]]:
    """h (num_layers * directions, B, hidden_size), and c of that shape when ``pair``."""

    def state(a: dict, x: Shape) -> tuple[Shape, ...]:
        directions = 2 if a["bidirectional"] else 1
        h = (Dim(a["num_layers"] * directions), x[0], a["hidden_size"])
        return (h, h) if pair else (h,)

    return state


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


# What the CPU's kernels keep: RNN and GRU run a step at a time, keeping each layer's input
# (once a direction) and a few (B, H) tensors a step; LSTM runs in oneDNN, which keeps the
# input, every layer's outputs and states, and a workspace of about 5 * steps + 3 * states +
# 7 * wide values (fitted: within 6% at a batch of 16 or more; oneDNN rounds its parts up to
# 4 KiB pages, which at small sizes is most of it). Dropout between layers keeps a mask.
_BETWEEN = Saved("new", "layer outputs", dtype="mask", when="dropping")  # dropout between layers
_RNN_SAVES = {
    "RNN": (Saved("new", "layer inputs"), Saved("new", "states"), _BETWEEN),
    "GRU": (Saved("new", "layer inputs"), Saved("new", "steps", 7), _BETWEEN),
    "LSTM": (
        _BETWEEN,
        Saved("new", "input"),
        Saved("output"),
        Saved("new", "layer outputs"),
        Saved("new", "steps", 5),
        Saved("new", "states", 3),
        Saved("new", "wide", 7),
        Saved("new", "hidden", 2),
    ),
}


def _rnn(name: str, gates: int, doc: str, example: str, *extra: Arg, pair=False) -> Layer:
    return Layer(
        name=name,
        args=_rnn_args(*extra),
        positional=2,
        ranks=(3,),
        layout="(B, T, input_size)",
        shape=_rnn_shape,
        tensors=_rnn_tensors(gates),
        call="rnn",
        doc=doc,
        example=example,
        macs=_rnn_macs,
        state=_rnn_state(pair),
        rank_help="a recurrent layer reads (B, T, features): "
        "give the input a time axis, e.g. `[T, 4]`",
        depth=lambda a: a["num_layers"],
        saves=_RNN_SAVES[name],
        autocast="half",
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
    pair=True,
)
GRU = _rnn(
    "GRU",
    3,
    "Gated recurrent unit over (B, T, F), batch first; the stack passes on the outputs.",
    "GRU(64, bidirectional=true)",
)


RECURRENT_ENTRIES = (RNN, LSTM, GRU)
