"""`nndsl summary`: parameter counts against torch, MACs and activation memory by hand."""

from __future__ import annotations

import pytest
from compiled import EXAMPLES, compile_file, load_module, shapes_only, uncounted

from nndsl.cli import main
from nndsl.compiler import analyze
from nndsl.ir.nodes import Results
from nndsl.tools.summary_full import UnknownSize, model_summary, sized, totals


def _model(source: str, name: str | None = None):
    result = analyze(source)
    assert result.ok, [d.message for d in result.diagnostics]
    models = result.program.models
    return next(m for m in models if name in (None, m.name))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_parameter_counts_match_torch(path):
    pytest.importorskip("torch")
    code, program = compile_file(path)
    namespace = load_module(code, path.stem, path.parent)
    for info in program.models:
        with shapes_only(path):
            model = namespace[info.name]()
        n = totals(info, 8)
        outside = uncounted(model, info)  # a torch module's or imported class's, not known
        params = [p for p in model.parameters() if id(p) not in outside]
        assert n["params"] == sum(p.numel() for p in params), info.name
        assert n["trainable"] == sum(p.numel() for p in params if p.requires_grad)
        assert n["non_trainable"] == sum(p.numel() for p in params if not p.requires_grad)
        assert n["buffers"] == sum(b.numel() for b in model.buffers()), info.name
        assert n["buffer_tensors"] == len(list(model.buffers()))


def test_linear_macs_by_hand():
    m = _model("model M(x: [20]) { Linear(30) ReLU() Linear(5) }")
    # batch 4: 4 * 30 * 20 + 4 * 5 * 30
    assert totals(m, 4)["macs"] == 4 * 30 * 20 + 4 * 5 * 30


def test_conv2d_macs_by_hand():
    m = _model("model M(x: [3, 8, 8]) { Conv2d(16, 3, padding=1) ReLU() Conv2d(4, 3, stride=2) }")
    first = 2 * 16 * 8 * 8 * (3 * 3 * 3)  # batch 2, output (2, 16, 8, 8), 3*3*3 per output
    second = 2 * 4 * 3 * 3 * (16 * 3 * 3)  # output (2, 4, 3, 3)
    assert totals(m, 2)["macs"] == first + second


def test_grouped_conv_and_batchnorm_macs():
    m = _model(
        "model M(x: [4, 6, 6]) { Conv2d(8, 3, groups=2, padding=1, bias=false) BatchNorm2d() }"
    )
    conv = 1 * 8 * 6 * 6 * (2 * 3 * 3)
    assert totals(m, 1)["macs"] == conv + 8 * 6 * 6


def test_lstm_macs_by_hand():
    m = _model("model M(x: [10, 4]) { LSTM(8) }")
    # batch 3, 10 steps, 4 gates of 8: 4 * 8 * (4 + 8) per step
    assert totals(m, 3)["macs"] == 3 * 10 * 4 * 8 * (4 + 8)
    two = _model("model M(x: [10, 4]) { LSTM(8, num_layers=2, bidirectional=true) }")
    per_step = 2 * 4 * 8 * (4 + 8) + 2 * 4 * 8 * (16 + 8)
    assert totals(two, 3)["macs"] == 3 * 10 * per_step


def test_attention_macs_by_hand():
    m = _model("""model M(q: [5, 16], k: [7, 16]) {
        attn = MultiheadAttention(2)
        forward { o, w = attn(q, k, k) return o, w }
    }""")
    e, length, source = 16, 5, 7
    per = length * e * e + 2 * source * e * e + 2 * length * source * e + length * e * e
    assert totals(m, 2)["macs"] == 2 * per


def test_activation_memory_by_hand():
    m = _model("model M(x: [20]) { Linear(30) ReLU() Linear(5) }")
    # outputs (B, 30), (B, 30), (B, 5) float32 at batch 4
    assert totals(m, 4)["memory"] == 4 * (30 + 30 + 5) * 4
    half = _model("model M(x: [20] float64) { Linear(30) }")
    assert totals(half, 4)["memory"] == 4 * 30 * 8
    # a custom layer's output counts once, its parameter rows not at all
    custom = _model(
        "layer Scale(n) {\n    w = param([n])\n    forward(x) = x * w\n}\n"
        "model M(x: [6]) {\n    Scale(6)\n    Linear(2)\n}\n"
    )
    assert totals(custom, 4)["memory"] == 4 * (6 + 2) * 4
    # a block's output is its last layer's: counted once
    block = _model("block B { Linear(7) ReLU() }\nmodel M(x: [3]) { B() }")
    assert totals(block, 4)["memory"] == 4 * (7 + 7) * 4


def test_shared_layers_counted_once(tmp_path):
    path = next(p for p in EXAMPLES if p.stem == "tied")
    m = _model(path.read_text(encoding="utf-8"))
    n = totals(m, 2)
    assert n["params"] == 20 * 8 + 8 + 8 * 8 + 8 + 8 + 1 == 249
    # the tied layer computes at both uses
    assert n["macs"] == 2 * (8 * 20 + 8 * 8 + 8 * 8 + 1 * 8)


def test_symbolic_sizes_are_left_out_or_given():
    m = _model("model M(x: [T, 4]) { GRU(8) }")
    assert totals(m, 2)["macs"] == 0 and totals(m, 2)["unknown"] == {"T"}
    assert totals(m, 2, {"T": 5})["macs"] == 2 * 5 * 3 * 8 * (4 + 8)
    assert "?" in model_summary(m, 2)


def test_sized_shapes():
    shape = Results([("B", "T", 1), Results([None, (1, "B", 32)])])
    assert sized(shape, {"B": 2, "T": 3}) == [(2, 3, 1), (1, 2, 32)]
    assert sized(("B", "5 * T"), {"B": 1, "T": 6}) == [(1, 30)]
    with pytest.raises(UnknownSize):
        sized(("B", None), {"B": 1})


def test_command(capsys):
    path = next(p for p in EXAMPLES if p.stem == "cnn")
    assert main(["summary", str(path), "--batch", "2"]) == 0
    out = capsys.readouterr().out
    assert "Total params: 28,938" in out and "MACs (batch 2)" in out
    assert "Activation memory (batch 2)" in out and "Buffers: 0" in out
    assert main(["summary", str(path), "--model", "Nope"]) == 2
    assert main(["summary", str(path), "--size", "T"]) == 2
