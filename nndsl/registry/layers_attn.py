"""Registry entries: attention layers, batch first: (B, T, features). ``MultiheadAttention``,
and the encoder and decoder blocks of a Transformer."""

from __future__ import annotations

from nndsl.ir.shapes import Dim, Shape, ShapeError, fmt_dim, fmt_shape
from nndsl.ir.tensors import Tensor, dim_conflict
from nndsl.registry.layer_base import Arg, Layer, TensorSpec, _check, _last, numel, size
from nndsl.registry.saves import Saved


def _heads_ok(a: dict, dim: str, heads: str) -> None:
    _check(
        a[dim] % a[heads] == 0,
        f"{dim} ({a[dim]}) is not divisible by {heads} ({a[heads]})",
        arg=heads,
        help=f"each head gets {dim} / {heads} features; pick a {heads} that divides {a[dim]}",
    )


def _heads_divide(dim: str, heads: str):
    """The shape rule of an attention layer: the input's shape, once ``heads`` divides ``dim``."""

    def shape(a: dict, x):
        _heads_ok(a, dim, heads)
        return x

    return shape


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


def _masks(kw: dict, names: tuple[str, str, str], shapes: tuple, heads: int, dtype: str) -> None:
    """The attention mask, the key padding mask and the causal hint of a call (``names``)."""
    mask_name, padding_name, causal = names
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
    if kw.get(causal) and mask is None:
        raise ShapeError(
            f"torch takes `{causal}=true` only as a hint with `{mask_name}` given",
            help=f"pass the mask too: `{mask_name}=triu(ones(T, T), diagonal=1) > 0` "
            "(true above the diagonal: no attending to later steps)",
            arg=causal,
        )


def _mha_call(a: dict, ins: list, dtype: str, kw: dict) -> Shape | None:
    q = ins[0]
    k = ins[1] if len(ins) > 1 else q
    heads = a["num_heads"]
    names = ("attn_mask", "key_padding_mask", "is_causal")
    _masks(kw, names, (q[0], q[1], k[1]), heads, dtype)
    if not kw.get("need_weights", True):
        return None
    if not kw.get("average_attn_weights", True):
        return (q[0], Dim(heads), q[1], k[1])
    return (q[0], q[1], k[1])


def _encoder_call(a: dict, ins: list, dtype: str, kw: dict) -> None:
    x = ins[0]
    names = ("src_mask", "src_key_padding_mask", "is_causal")
    _masks(kw, names, (x[0], x[1], x[1]), a["nhead"], dtype)
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
    Saved("new", "ff", when="undropped gelu"),  # gelu keeps its input, relu its output
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
    shape=_heads_divide("embed_dim", "num_heads"),
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
    shape=_heads_divide("d_model", "nhead"),
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


# --- the decoder block: tgt (B, T, d_model) and memory (B, S, d_model) ---------------------------


def _decoder_tensors(a: dict) -> tuple[TensorSpec, ...]:
    """self_attn, multihead_attn, linear1, linear2, norm1, norm2, norm3: torch's order."""
    e, ff, bias = int(a["d_model"]), int(a["dim_feedforward"]), bool(a["bias"])
    out: tuple[TensorSpec, ...] = ()
    for attention in ("self_attn", "multihead_attn"):
        out += tuple(
            (f"{attention}.{k}", shape, True) for k, shape, _ in _attention_tensors(e, bias)
        )
    for name, shape in (
        ("linear1", (ff, e)),
        ("linear2", (e, ff)),
        ("norm1", (e,)),
        ("norm2", (e,)),
        ("norm3", (e,)),
    ):
        out += ((f"{name}.weight", shape, True),)
        out += ((f"{name}.bias", shape[:1], True),) * bias
    return out


def _decoder_macs(t: dict, out: list, ins: list) -> int:
    """The self-attention (S = L), the attention over the memory (S its length), the
    feed-forward layers and the three LayerNorms."""
    b, length, e = out[0]
    source = ins[1][1] if len(ins) > 1 else length
    ff = t["linear1.weight"][0]

    def part(prefix: str) -> dict:
        return {k.removeprefix(prefix): v for k, v in t.items() if k.startswith(prefix)}

    attention = _attention_macs(part("self_attn."), b, length, length)
    attention += _attention_macs(part("multihead_attn."), b, length, source)
    return attention + b * 2 * length * e * ff + 3 * numel(out[:1])


def _decoder_call(a: dict, ins: list, dtype: str, kw: dict) -> None:
    """The memory against the target, and the masks of each attention."""
    tgt, memory = ins[0], ins[1]
    e, heads = a["d_model"], a["nhead"]
    want = (tgt[0], memory[1], e)
    if dim_conflict(memory[0], tgt[0]) is not None or dim_conflict(memory[-1], e) is not None:
        raise ShapeError(
            f"the memory is {fmt_shape(memory)}, but a decoder of d_model={e} called with "
            f"{fmt_shape(tgt)} needs {fmt_shape(want)}",
            help="the memory is what an encoder of the same d_model made of the source",
            item=1,  # the second input
        )
    names = ("tgt_mask", "tgt_key_padding_mask", "tgt_is_causal")
    _masks(kw, names, (tgt[0], tgt[1], tgt[1]), heads, dtype)
    names = ("memory_mask", "memory_key_padding_mask", "memory_is_causal")
    _masks(kw, names, (tgt[0], tgt[1], memory[1]), heads, dtype)
    return None


# The decoder layer, measured on the CPU: its target and memory, 11 more values of the target
# (the projections, outputs and norm inputs of its two attentions, the feed-forward's input),
# the memory's keys and values, the log-sum-exp of each head and row of each attention (which
# the CPU's step-by-step attention with dropout does not keep), three norms' statistics, the
# feed-forward's activation (and its input, for a gelu); with dropout, three residual dropout
# masks and the feed-forward's mask and dropped activation, and on the CPU the query and keys of
# the self-attention again, the memory's keys again, and each attention's scores, their mask and
# the dropped scores.
_DECODER_SAVES = (
    Saved("input", index=0),
    Saved("input", index=1),
    Saved("new", "input", 11),
    Saved("new", "keys", 2),
    Saved("new", "head rows", 2, "float32", when="no dropout"),
    Saved("new", "head rows", 2, "float32", when="dropping", device="cuda"),
    Saved("new", "tokens", 6, "float32"),
    Saved("new", "ff"),
    Saved("new", "ff", when="undropped gelu"),
    Saved("new", "input", 3, "mask", when="dropping"),
    Saved("new", "ff", 1, "mask", when="dropping"),
    Saved("new", "ff", 1, when="dropping"),
    Saved("new", "input", 2, when="dropping", device="cpu"),
    Saved("new", "keys", 1, when="dropping", device="cpu"),
    Saved("new", "self scores", 2, when="dropping", device="cpu"),
    Saved("new", "self scores", 1, "mask", when="dropping", device="cpu"),
    Saved("new", "scores", 2, when="dropping", device="cpu"),
    Saved("new", "scores", 1, "mask", when="dropping", device="cpu"),
    Saved("new", "weights"),
)


TRANSFORMER_DECODER_LAYER = Layer(
    name="TransformerDecoderLayer",
    args=TRANSFORMER_ENCODER_LAYER.args,  # torch's signatures are the same
    positional=2,
    ranks=(3,),
    layout="(B, T, d_model) and (B, S, d_model)",
    inputs=2,
    shape=_heads_divide("d_model", "nhead"),
    tensors=_decoder_tensors,
    doc="Transformer decoder block (self-attention, attention over the memory, feed-forward), "
    "batch first, called as dec(tgt, memory) in a forward; d_model is inferred.",
    example="TransformerDecoderLayer(8, dim_feedforward=512)",
    prefix="decoder",
    macs=_decoder_macs,
    call_keywords=(
        Arg("tgt_mask", "tensor?", None),
        Arg("memory_mask", "tensor?", None),
        Arg("tgt_key_padding_mask", "tensor?", None),
        Arg("memory_key_padding_mask", "tensor?", None),
        Arg("tgt_is_causal", "bool", False),
        Arg("memory_is_causal", "bool", False),
    ),
    call_rule=_decoder_call,
    saves=_DECODER_SAVES,
    autocast="half",
)

ATTENTION_ENTRIES = (MULTIHEAD_ATTENTION, TRANSFORMER_ENCODER_LAYER, TRANSFORMER_DECODER_LAYER)
