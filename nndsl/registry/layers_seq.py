"""Registry entries: recurrent and attention layers, all batch first: (B, T, features)."""

from __future__ import annotations

from collections.abc import Callable

from nndsl.ir.shapes import Dim, Shape, ShapeError, fmt_dim, fmt_shape
from nndsl.ir.tensors import Tensor, dim_conflict
from nndsl.registry.layer_base import Arg, Layer, TensorSpec, _check, _last, numel, size
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

# --- attention -------------------------------------------------------------------------------


def _heads_ok(a: dict, dim: str, heads: str) -> None:
    _check(
        a[dim] % a[heads] == 0,
        f"{dim} ({a[dim]}) is not divisible by {heads} ({a[heads]})",
        arg=heads,
        help=f"each head gets {dim} / {heads} features; pick a {heads} that divides {a[dim]}",
    )


def _attention_tensors(e: int, bias: bool, bias_kv: bool = False) -> tuple[TensorSpec, ...]:
    """in_proj (3 e x e), bias_k and bias_v, then out_proj (e x e), as torch registers them.

    >>> [kind for kind, _, _ in _attention_tensors(8, True)]
    ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias']
    """
    e, bias, bias_kv = int(e), bool(bias), bool(bias_kv)
    own = (("in_proj_weight", (3 * e, e), True),) + ((("in_proj_bias", (3 * e,), True),) * bias)
    own += (("bias_k", (1, 1, e), True), ("bias_v", (1, 1, e), True)) * bias_kv
    out = (("out_proj.weight", (e, e), True),) + ((("out_proj.bias", (e,), True),) * bias)
    return own + out


def _attention_macs(t: dict, b: int, length: int, source: int) -> int:
    """Query length L, key length S, embed_dim E: B * (L*E*E + 2*S*E*E + 2*L*S*E + L*E*E), the
    projections, the scores, the weighted sum and the output projection."""
    e = t["out_proj.weight"][0]
    if "in_proj_weight" in t:
        proj = length * e * e + 2 * source * e * e
    else:  # separate key and value sizes
        proj = sum(
            n * size(t[f"{p}_proj_weight"])
            for p, n in (("q", length), ("k", source), ("v", source))
        )
    return b * (proj + 2 * length * source * e + length * e * e)


def _mha_macs(t: dict, out: list, ins: list) -> int:
    q = ins[0]
    k = ins[1] if len(ins) > 1 else q
    return _attention_macs(t, q[0], q[1], k[1])


def _encoder_macs(t: dict, out: list, ins: list) -> int:
    """The self-attention with S = L, the feed-forward layers and the two LayerNorms."""
    b, length, e = out[0]
    ff = t["linear1.weight"][0]
    attention = _attention_macs(
        {k.removeprefix("self_attn."): v for k, v in t.items()}, b, length, length
    )
    return attention + b * 2 * length * e * ff + 2 * numel(out[:1])


# ---- the keywords of an attention layer's forward ----------------------------------------------


def _mask_ok(name: str, m: Tensor, rows: object, cols: object, a: tuple, dtype: str) -> None:
    """An attention mask: bool (true: may not attend) or of the query's dtype (added to the
    scores), (L, S) or (B * heads, L, S); ``a``: the batch and the number of heads."""
    if m.dtype != "bool" and m.dtype != dtype:
        raise ShapeError(
            f"`{name}` is bool (true where attention is not allowed) or {dtype} "
            f"(added to the scores), not {m.dtype}",
            arg=name,
        )
    batch, heads = a
    each = f"{fmt_dim(batch)} * {heads}"
    want = (rows, cols) if len(m.shape) != 3 else (each, rows, cols)
    ok = len(m.shape) in (2, 3) and all(dim_conflict(h, w) is None for h, w in zip(m.shape, want))
    if not ok:
        raise ShapeError(
            f"`{name}` is {fmt_shape(m.shape)}, but this call needs "
            f"{fmt_shape((rows, cols))} or {fmt_shape((each, rows, cols))}",
            arg=name,
        )


def _padding_ok(name: str, m: Tensor, batch: object, cols: object, dtype: str) -> None:
    if m.dtype != "bool" and m.dtype != dtype:
        raise ShapeError(f"`{name}` is bool or {dtype}, not {m.dtype}", arg=name)
    want = (batch, cols)
    if len(m.shape) != 2 or any(dim_conflict(h, w) is not None for h, w in zip(m.shape, want)):
        raise ShapeError(
            f"`{name}` is {fmt_shape(m.shape)}, but this call needs {fmt_shape(want)}", arg=name
        )


def _masks(kw: dict, names: tuple[str, str], shapes: tuple, heads: int, dtype: str) -> None:
    """The attention mask and the key padding mask of a call, and the causal hint."""
    mask_name, padding_name = names
    batch, rows, cols = shapes
    mask, padding = kw.get(mask_name), kw.get(padding_name)
    if mask is not None:
        _mask_ok(mask_name, mask, rows, cols, (batch, heads), dtype)
    if padding is not None:
        _padding_ok(padding_name, padding, batch, cols, dtype)
    if (
        mask is not None
        and padding is not None
        and (mask.dtype == "bool") != (padding.dtype == "bool")
    ):
        raise ShapeError(
            f"`{mask_name}` and `{padding_name}` must both be bool or both be {dtype}",
            arg=padding_name,
        )
    if kw.get("is_causal") and mask is None:
        raise ShapeError(
            f"torch takes `is_causal=true` only as a hint with `{mask_name}` given",
            help=f"pass the mask too: `{mask_name}=triu(ones(T, T), diagonal=1) > 0` "
            "(true above the diagonal: no attending to later steps)",
            arg="is_causal",
        )


def _mha_call(a: dict, ins: list, dtype: str, kw: dict) -> Shape | None:
    q = ins[0]
    k = ins[1] if len(ins) > 1 else q
    heads = a["num_heads"]
    _masks(kw, ("attn_mask", "key_padding_mask"), (q[0], q[1], k[1]), heads, dtype)
    if not kw.get("need_weights", True):
        return None
    if not kw.get("average_attn_weights", True):
        return (q[0], Dim(heads), q[1], k[1])
    return (q[0], q[1], k[1])


def _encoder_call(a: dict, ins: list, dtype: str, kw: dict) -> None:
    x = ins[0]
    _masks(kw, ("src_mask", "src_key_padding_mask"), (x[0], x[1], x[1]), a["nhead"], dtype)
    return None


_CAUSAL = Arg("is_causal", "bool", False)


# Self-attention keeps its input, q, k, v and the output (4 inputs' worth) and a float32 value a
# head and row; with dropout, the CPU computes it step by step, keeping q and k again and the
# scores, their dropout mask and the dropped scores (CUDA's kernels drop in place).
_ATTENTION_SAVES = (
    Saved("input"),
    Saved("new", "input", 4),
    Saved("new", "head rows", 1, "float32"),
    Saved("new", "input", 2, when="dropping", device="cpu"),
    Saved("new", "scores", 2, when="dropping", device="cpu"),
    Saved("new", "scores", 1, "mask", when="dropping", device="cpu"),
    Saved("new", "weights"),
)
# The encoder layer: its self-attention, then its two norms (input and 2 statistics a token
# each), the feed-forward's input, its activation and, with dropout, three dropout masks and
# the dropped activation, which the second linear layer keeps.
_ENCODER_SAVES = (
    *_ATTENTION_SAVES,
    Saved("new", "input", 3),
    Saved("new", "tokens", 4, "float32"),
    Saved("new", "ff"),
    Saved("new", "input", 2, "mask", when="dropping"),
    Saved("new", "ff", 1, "mask", when="dropping"),
    Saved("new", "ff", 1, when="dropping"),
)
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
    tensors=lambda a: _attention_tensors(a["embed_dim"], a["bias"], a["add_bias_kv"]),
    call="attention",
    doc="Multi-head self-attention over (B, T, E), batch first; embed_dim is inferred.",
    example="MultiheadAttention(8)",
    prefix="attn",
    stack_inputs=3,
    stack_kwargs=(("need_weights", False),),
    macs=_mha_macs,
    weights=lambda q, k: (q[0], q[1], k[1]),
    call_keywords=(
        Arg("attn_mask", "tensor?", None),
        Arg("key_padding_mask", "tensor?", None),
        Arg("need_weights", "bool", True),
        _CAUSAL,
        Arg("average_attn_weights", "bool", True),
    ),
    call_rule=_mha_call,
    saves=_ATTENTION_SAVES,
    autocast="half",
)


def _encoder_tensors(a: dict) -> tuple[TensorSpec, ...]:
    """self_attn, linear1, linear2, norm1, norm2: torch's registration order."""
    e, ff, bias = int(a["d_model"]), int(a["dim_feedforward"]), bool(a["bias"])
    out = tuple((f"self_attn.{k}", shape, True) for k, shape, _ in _attention_tensors(e, bias))
    for name, shape in (
        ("linear1", (ff, e)),
        ("linear2", (e, ff)),
        ("norm1", (e,)),
        ("norm2", (e,)),
    ):
        out += ((f"{name}.weight", shape, True),)
        out += ((f"{name}.bias", shape[:1], True),) * bias
    return out


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
    tensors=_encoder_tensors,
    doc="Transformer encoder block (self-attention + feed-forward), batch first; "
    "d_model is inferred.",
    example="TransformerEncoderLayer(8, dim_feedforward=512)",
    prefix="encoder",
    macs=_encoder_macs,
    call_keywords=(
        Arg("src_mask", "tensor?", None),
        Arg("src_key_padding_mask", "tensor?", None),
        _CAUSAL,
    ),
    call_rule=_encoder_call,
    saves=_ENCODER_SAVES,
    autocast="half",
)

RECURRENT_ENTRIES = (RNN, LSTM, GRU)
ATTENTION_ENTRIES = (MULTIHEAD_ATTENTION, TRANSFORMER_ENCODER_LAYER)
