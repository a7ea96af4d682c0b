"""The forward features of GPT-class models: sizes read from the inputs (``T``), tensors made
from them, masks, attention as a function and as a layer called with keywords, gathers with
integer tensors, parameters read in a forward (``wte.weight``) and tied between layers.

Each feature: what the generated code says, that it runs in torch as the checker predicts
(the oracle, tests/test_oracle.py, also runs tests/cases/gpt_features.nn), and a located
diagnostic for its misuse. examples/gpt.nn is compared with a nanoGPT-style reference written
by hand in tests/test_graph_models.py, weights copied in: the same logits.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from compiled import ROOT, compile_file, load_module
from test_graph_models import RefGPT

from nndsl.compiler import analyze, generate
from nndsl.ir import expr as x
from nndsl.ir.tensors import ELLIPSIS, NEWAXIS, OpError, Slice, Tensor
from nndsl.ir.values import Value
from nndsl.registry.operators import index
from nndsl.tools.summary import layer_table


def compiled(source: str) -> tuple[str, object]:
    result = analyze(source)
    assert result.ok, [d.message for d in result.diagnostics]
    return generate(result.program, "t.nn"), result.program


def failure(source: str):
    """The first error of a source that must not compile."""
    result = analyze(source)
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert errors, "expected an error"
    return errors[0]


def model_of(source: str, name: str):
    code, program = compiled(source)
    return load_module(code, "t")[name](), program


def lines(code: str) -> list[str]:
    return [line.strip() for line in code.splitlines()]


# ---- sizes read from the inputs -------------------------------------------------------------

SIZES = """
model Sizes(idx: [T] long, x: [T, 8]) {
    emb = Embedding(10, 8)
    forward {
        pos = arange(T)                         # (T)
        grid = zeros(T, 4) + ones(T, 1)         # (T, 4)
        h = reshape(emb(idx) + x, B, T, 2, 4)   # (B, T, 2, 4)
        return h, pos, grid
    }
}
"""


def test_sizes_are_read_once_at_the_top_and_tensors_made_on_the_input_device():
    code, program = compiled(SIZES)
    body = lines(code)
    assert "B, T = idx.shape" in body
    assert "pos = torch.arange(T, device=idx.device)  # (T)" in body
    assert "grid = torch.zeros(T, 4, device=idx.device) + torch.ones(T, 1, device=idx.device)"
    assert "h = (self.emb(idx) + x).reshape(B, T, 2, 4)  # (B, T, 2, 4)" in body
    returns = program.models[0].returns
    assert [(r.shape, r.dtype) for r in returns] == [
        (("B", "T", 2, 4), "float32"),
        (("T",), "int64"),
        (("T", 4), "float32"),
    ]
    model = load_module(code, "t")["Sizes"]()
    h, pos, grid = model(torch.randint(0, 10, (3, 7)), torch.randn(3, 7, 8))
    assert (h.shape, pos.dtype, grid.shape) == ((3, 7, 2, 4), torch.int64, (7, 4))


def test_one_size_reads_its_dim():
    code, _ = compiled("model M(x: [T, 4]) { forward { return x + ones(T, 1) } }")
    assert "T = x.shape[1]" in lines(code)


@pytest.mark.parametrize(
    "sizes, words",
    [
        ("B, T, 4", "8 values for each B x T become 4"),
        ("B, 8", "T is left out"),
        ("B, B, 8", "B is not a size of the input left"),
    ],
)
def test_a_reshape_to_named_sizes_must_fit(sizes, words):
    err = failure(f"model M(x: [T, 8]) {{ forward {{ return reshape(x, {sizes}) }} }}")
    assert err.code == "E0303" and words in err.message, err.message


def test_a_reshape_fills_its_hole_with_the_sizes_left():
    _, program = compiled("model M(x: [T, 8]) { forward { return reshape(x, -1, B, 4) } }")
    assert program.models[0].returns.shape == ("T * 2", "B", 4)


def test_an_unknown_size_is_undefined_with_a_hint():
    err = failure("model M(x: [T, 8]) { forward { return x + arange(U) } }")
    assert err.code == "E0108" and "`U` is not defined" in err.message


# ---- gathers with integer tensors ------------------------------------------------------------


def test_one_integer_tensor_index_agrees_with_torch():
    base = Value(Tensor((2, 3, 4), "float32"), x.Name("x"))
    idx = Value(Tensor((5, 6), "int64"), x.Name("i"))
    tx, ti = torch.randn(2, 3, 4), torch.zeros(5, 6, dtype=torch.long)
    options = [(Slice(), slice(None)), (NEWAXIS, None), (ELLIPSIS, Ellipsis)]
    for n in range(4):
        for combo in itertools.product(options, repeat=n):
            if sum(o[0] is ELLIPSIS for o in combo) > 1:
                continue  # one `...` at most, as for every index
            for pos in range(n + 1):
                ours = [o[0] for o in combo]
                theirs = [o[1] for o in combo]
                ours.insert(pos, idx)
                theirs.insert(pos, ti)
                try:
                    want = tuple(tx[tuple(theirs)].shape)
                except IndexError:
                    with pytest.raises(OpError):
                        index(base, tuple(ours))
                    continue
                assert tuple(index(base, tuple(ours)).py.shape) == want, (combo, pos)


def test_a_gather_in_a_forward():
    code, program = compiled(
        "model M(idx: [T] long) { table = param([10, 4])"
        "  forward { return table[idx], table[:, idx[0]] } }"
    )
    assert "return self.table[idx], self.table[:, idx[0]]  # (B, T, 4), (10, T)" in lines(code)


def test_a_bool_mask_index_is_refused_with_a_fix():
    err = failure("model M(x: [4]) { forward { return x[x > 0] } }")
    assert err.code == "E0303" and "bool mask" in err.message and "where" in err.help


# ---- layer calls with keywords ---------------------------------------------------------------

ATTENTION = """
model A(x: [T, 16]) {
    attn = MultiheadAttention(4)
    forward {
        mask = triu(ones(T, T), diagonal=1) > 0
        %s
    }
}
"""


def test_attention_keywords_are_passed_by_keyword_and_typed():
    code, program = compiled(
        ATTENTION % """y, w = attn(x, x, x, attn_mask=mask, average_attn_weights=false)
        z, nothing = attn(x, x, x, attn_mask=mask, is_causal=true, need_weights=false)
        return y + z, w"""
    )
    body = "\n".join(lines(code))
    assert "attn_mask=mask, average_attn_weights=False" in body
    assert "attn_mask=mask, is_causal=True, need_weights=False" in body
    assert [r.shape for r in program.models[0].returns] == [("B", "T", 16), ("B", 4, "T", "T")]
    model = load_module(code, "t")["A"]().eval()
    out, weights = model(torch.randn(2, 5, 16))
    assert out.shape == (2, 5, 16) and weights.shape == (2, 4, 5, 5)


@pytest.mark.parametrize(
    "call, code, words",
    [
        ("attn(x, x, x, is_causal=true)", "E0303", "only as a hint"),
        ("attn(x, x, x, attn_msk=mask)", "E0102", "no keyword `attn_msk`"),
        ("attn(x, x, x, attn_mask=ones(T, 3) > 0)", "E0303", "(T, 3)"),
        ("attn(x, x, x, attn_mask=long(mask))", "E0303", "not int64"),
        ("attn(x, x, x, need_weights=1)", "E0106", "`true` or `false`"),
        ("attn(x, x, x, key_padding_mask=mask)", "E0303", "(B, T)"),
    ],
)
def test_attention_keyword_mistakes(call, code, words):
    err = failure(ATTENTION % f"y, w = {call}\n        return y, w")
    assert err.code == code and words in err.message, err.message


def test_need_weights_false_gives_none():
    err = failure(ATTENTION % "y, w = attn(x, x, x, need_weights=false)\n        return y, w")
    assert err.code == "E0306" and "none" in err.message


def test_a_layer_without_keywords_refuses_them():
    err = failure("model M(x: [4]) { fc = Linear(2)  forward { return fc(x, bias=true) } }")
    assert err.code == "E0104" and "no keyword arguments" in err.message


def test_encoder_keywords():
    code, _ = compiled(
        "model E(x: [T, 8]) { enc = TransformerEncoderLayer(2, dim_feedforward=16)"
        "  forward { return enc(x, src_mask=triu(ones(T, T), diagonal=1) > 0, is_causal=true) } }"
    )
    assert "src_mask=torch.triu(" in code and "is_causal=True" in code
    err = failure("model E(x: [T, 8]) { enc = TransformerEncoderLayer(2)"
                  "  forward { return enc(x, is_causal=true) } }")  # fmt: skip
    assert err.code == "E0303" and "`src_mask`" in err.message


DECODER = """
model D(tgt: [T, 8], memory: [S, 8]) {
    dec = TransformerDecoderLayer(2, dim_feedforward=16)
    forward {
        later = triu(ones(T, T), diagonal=1) > 0
        return %s
    }
}
"""


def test_decoder_takes_the_target_the_memory_and_keywords():
    code, program = compiled(
        DECODER % "dec(tgt, memory, tgt_mask=later, tgt_is_causal=true, memory_mask=none)"
    )
    assert "tgt, memory, tgt_mask=later, tgt_is_causal=True, memory_mask=None\n" in code
    model = load_module(code, "t")["D"]().eval()
    reference = torch.nn.TransformerDecoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    assert program.models[0].total_params == sum(p.numel() for p in reference.parameters())
    reference.load_state_dict(model.dec.state_dict())
    tgt, memory = torch.randn(2, 5, 8), torch.randn(2, 7, 8)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(5) < 0
    want = reference.eval()(tgt, memory, tgt_mask=mask, tgt_is_causal=True)
    assert torch.allclose(model(tgt, memory), want)


@pytest.mark.parametrize(
    "call, code, words",
    [
        ("dec(tgt, memory, tgt_is_causal=true)", "E0303", "only as a hint with `tgt_mask`"),
        ("dec(tgt, memory, memory_mask=later)", "E0303", "(T, S)"),
        ("dec(tgt, memory[:, :, 0:4])", "E0303", "needs (B, S, 8)"),
        ("dec(tgt, memory[:, 0])", "E0302", "3-D"),
        ("dec(tgt)", "E0118", "takes 2 inputs"),
        ("dec(tgt, memory, src_mask=later)", "E0102", "no keyword `src_mask`"),
    ],
)
def test_decoder_mistakes(call, code, words):
    err = failure(DECODER % call)
    assert err.code == code and words in err.message, err.message


def test_decoder_memory_of_the_wrong_size_is_pointed_at():
    err = failure(DECODER % "dec(tgt, memory[:, :, 0:4])")
    line = (DECODER % "dec(tgt, memory[:, :, 0:4])").splitlines()[err.span.line - 1]
    assert line[err.span.column - 1 : err.span.end_column - 1] == "memory[:, :, 0:4]"


def test_a_shared_embedding_called_again_makes_floats():
    compiled(
        "model M(a: [S] long, b: [T] long) { embed = Embedding(10, 4)  fc = Linear(2)"
        "  forward { return embed(a), fc(embed(b)) } }"
    )


# ---- scaled_dot_product_attention, masks ------------------------------------------------------


def test_attention_function_mistakes():
    def err(body: str):
        return failure(f"model M(q: [4, 6, 8], v: [4, 6, 3]) {{ forward {{ return {body} }} }}")

    e = err("scaled_dot_product_attention(q, q, v, attn_mask=ones(6, 6) > 0, is_causal=true)")
    assert "not both" in e.message
    e = err("scaled_dot_product_attention(q, v, v)")
    assert "query and key sizes (E) differ: 8 and 3" in e.message
    e = err("scaled_dot_product_attention(q, q, v, attn_mask=ones(5, 6) > 0)")
    assert "`attn_mask` (5, 6) does not broadcast to the scores" in e.message
    e = err("masked_fill(q, q, 0.0)")
    assert "bool mask" in e.message and e.help


# ---- parameters read in a forward, and tied ---------------------------------------------------

TIED = """
model G(idx: [T] long) {
    wte = Embedding(65, 32)
    %s
    forward { %s }
}
"""


def test_a_parameter_reference_has_its_shape():
    code, program = compiled(TIED % ("", "h = wte(idx)\n return h @ transpose(wte.weight, 0, 1)"))
    assert "return h @ self.wte.weight.transpose(0, 1)  # (B, T, 65)" in lines(code)
    assert program.models[0].total_params == 65 * 32


@pytest.mark.parametrize(
    "body, code, words",
    [
        ("return wte.weight", "E0120", "read before `wte` is built"),
        ("h = wte(idx)\n return h @ wte.wieght", "E0108", "no parameter `wieght`"),
        ("return wtf.weight", "E0108", "`wtf` is not a declared layer"),
    ],
)
def test_parameter_reference_mistakes(body, code, words):
    err = failure(TIED % ("", body))
    assert err.code == code and words in err.message


def test_a_tied_weight_is_one_parameter_counted_once():
    model, program = model_of(
        TIED % ("head = Linear(65, bias=false, weight=wte.weight)", "return head(wte(idx))"), "G"
    )
    assert program.models[0].total_params == 65 * 32
    table = layer_table(program.models[0])
    assert any(line.split()[:2] == ["head", "Linear"] and line.endswith("(tied)") for line in table)
    assert model.head.weight is model.wte.weight
    assert [n for n, _ in model.named_parameters()] == ["wte.weight"]
    assert sum(p.numel() for p in model.parameters()) == 65 * 32


@pytest.mark.parametrize(
    "decl, code, words",
    [
        ("head = Linear(64, bias=false, weight=wte.weight)", "E0303", "(64, 32)"),
        ("head = Linear(65, weight=wte.wait)", "E0108", "not a parameter of a layer built"),
        ("head = Linear(65, wieght=wte.weight)", "E0102", "no parameter `wieght`"),
    ],
)
def test_tie_mistakes(decl, code, words):
    err = failure(TIED % (decl, "return head(wte(idx))"))
    assert err.code == code and words in err.message, err.message


def test_a_tie_to_a_layer_declared_later_is_refused():
    err = failure(
        "model G(idx: [T] long) { head = Linear(65, bias=false, weight=wte.weight)"
        "  wte = Embedding(65, 32)  forward { return head(wte(idx)) } }"
    )
    assert err.code == "E0108" and "declared after" in err.message


def test_a_transposed_tie_says_so():
    err = failure(TIED % ("head = Linear(32, bias=false, weight=wte.weight)",
                          "return head(wte(idx) @ transpose(wte.weight, 0, 1))"))  # fmt: skip
    assert err.code == "E0303" and "transposed" in err.help


# ---- the GPT example against a nanoGPT-style reference -----------------------------------------


@pytest.fixture(scope="module")
def gpt():
    code, program = compile_file(ROOT / "examples" / "gpt.nn")
    return load_module(code, "gpt")["GPT"]().eval(), program


def test_the_gpt_example_loads_a_nanogpt_state_dict(gpt):
    """tests/test_graph_models.py compares it with the reference, parameter by parameter; the
    reference's state dict, with both names of the tied weight, loads as it is."""
    ours, program = gpt
    torch.manual_seed(0)
    ref = RefGPT().eval()
    assert sum(p.numel() for p in ours.parameters()) == program.models[0].total_params
    ours.load_state_dict(ref.state_dict())
    assert ours.head.weight is ours.wte.weight  # still tied after loading
    idx = torch.randint(0, 62, (2, 64))
    with torch.no_grad():
        torch.testing.assert_close(ours(idx), ref(idx), rtol=1e-4, atol=1e-5)


def test_the_gpt_example_is_causal(gpt):
    ours, _ = gpt
    idx = torch.randint(0, 62, (1, 16))
    changed = idx.clone()
    changed[0, 10:] = (changed[0, 10:] + 1) % 62
    with torch.no_grad():
        a, b = ours(idx), ours(changed)
    torch.testing.assert_close(a[:, :10], b[:, :10])  # no step sees a later one
    assert not torch.allclose(a[:, 10:], b[:, 10:])
