"""Losses as expressions over the model's named outputs and the data: what the checker
accepts and refuses, the step the training script gets, and training with it."""

from __future__ import annotations

import pytest

import nndsl
from nndsl.compiler import analyze, generate_train
from nndsl.diagnostics.core import render_text

HEADS = """
model Heads(x: [4]) {
    body = Linear(8)
    classes = Linear(3)
    amount = Linear(1)
    forward {
        h = relu(body(x))
        logits = classes(h)
        return logits, amount(h), sum(h * h, 1)
    }
}

data d {
    x = randn(32, 4)
    y = argmax(x[:, 0:3], 1)
    size = long(sum(x, 1, keepdim=true) > 0)
    batch 8
}

train Heads on d {
    loss LOSS
    epochs 2
}
"""


def checked(loss: str):
    source = HEADS.replace("LOSS", loss)
    result = analyze(source)
    return result, source


def errors(loss: str) -> list[tuple[str, int, int]]:
    result, _ = checked(loss)
    return [
        (d.code, d.span.line, d.span.column) for d in result.diagnostics if d.severity == "error"
    ]


def step_of(loss: str) -> str:
    result, source = checked(loss)
    assert result.ok, render_text(result.diagnostics, source, "heads.nn")
    code = generate_train(result.program.trains[0], "heads.nn", "model")
    return code[code.index("def step(") : code.index("def main(")]


def test_named_outputs_data_and_weights_become_the_step():
    step = step_of("cross_entropy(logits, y) + 0.5 * mse(out1, size) + 0.01 * mean(out2)")
    assert 'logits, out1, out2 = model(batch["x"])' in step
    assert 'y = batch["y"]' in step and 'size = batch["size"]' in step
    assert "cross_entropy = F.cross_entropy(logits, y)" in step
    assert "mse = F.mse_loss(out1, size)" in step
    assert '"loss": cross_entropy + 0.5 * mse + 0.01 * out2.mean()' in step
    assert '"loss/cross_entropy": cross_entropy' in step and '"loss/out2": out2.mean()' in step
    assert '"accuracy": logits.argmax(1) == y' in step  # the first loss's


def test_targets_are_fed_in_the_dtype_their_loss_takes():
    result, _ = checked("cross_entropy(logits, y) + mse(out1, size) + mean(out2)")
    returns = dict(result.program.trains[0].data.returns)
    assert returns["size"].dtype == "float32"  # int data compared with a float output
    assert returns["y"].dtype is None  # int64 class ids already


def test_out_is_the_first_output_and_a_bare_loss_keeps_its_meaning():
    assert "F.cross_entropy(logits, y, label_smoothing=0.1)" in step_of(
        "cross_entropy(out, y, label_smoothing=0.1) + mean(out2) + mean(out1)"
    )
    for bare in ("cross_entropy", "cross_entropy(label_smoothing=0.1)"):
        result, _ = checked(bare)  # compares the first output with y, as ever
        assert result.ok and result.program.trains[0].step is None


def test_reduction_sum_is_passed_and_mean_is_the_default():
    step = step_of("mse(out1, size, reduction=sum) + cross_entropy(logits, y) + mean(out2)")
    assert 'F.mse_loss(out1, size, reduction="sum")' in step
    assert "F.cross_entropy(logits, y)\n" in step


@pytest.mark.parametrize(
    "loss, code",
    [
        ("cross_entropy(logits, y) + out2", "E0420"),  # (B,): not one number
        ("mse(out1)", "E0420"),  # a loss compares two tensors
        ("mse + 1", "E0420"),  # a loss named alone inside an expression
        ("cross_entropy(logits, nothing)", "E0108"),
        ("cross_entropy(logits, x)", "E0405"),  # float targets for class ids
        ("mse(logits, size)", "E0405"),  # (B, 3) against (B, 1)
        ("mse(y, size)", "E0405"),  # integer scores
        ("crossentropy(logits, y)", "E0401"),
        ("mse(out1, size, reduction=max)", "E0126"),
        ("2 * 3", "E0420"),  # no loss at all
    ],
)
def test_mistakes_are_located(loss, code):
    found = errors(loss)
    assert found and found[0][0] == code and found[0][1] == 21, found


def test_the_messages_say_what_to_do():
    result, source = checked("cross_entropy(logits, y) + out2")
    text = render_text(result.diagnostics, source, "heads.nn")
    assert "the loss must be one floating number, but this is (B)" in text
    assert "mean(...)" in text
    result, source = checked("cross_entropy(logits, nothin)")
    assert "did you mean `nothing`" not in render_text(result.diagnostics, source, "h.nn")
    text = render_text(checked("mse(logits, siz)")[0].diagnostics, source, "h.nn")
    assert "did you mean `size`" in text


def test_unused_outputs_are_named_and_used_ones_are_not():
    result, _ = checked("cross_entropy(logits, y) + mean(out2)")
    warned = [d for d in result.diagnostics if d.code == "W0407"]
    assert len(warned) == 1 and "output 1" in warned[0].message
    assert "does not read" in warned[0].message
    result, _ = checked("cross_entropy(logits, y) + mean(out2) + mse(out1, size)")
    assert not [d for d in result.diagnostics if d.code == "W0407"]


def test_data_the_loss_reads_is_used_data():
    result, _ = checked("cross_entropy(logits, y) + mean(out2) + mse(out1, size)")
    assert not [d for d in result.diagnostics if d.code == "W0408"]
    result, _ = checked("cross_entropy(logits, y) + mean(out2) + mean(out1)")
    assert [d.message for d in result.diagnostics if d.code == "W0408"] == [
        "`size` is not used by the model or the loss"
    ]


def test_a_loss_expression_trains_and_logs_each_term(tmp_path):
    source = HEADS.replace(
        "LOSS", "cross_entropy(logits, y) + 0.5 * mse(out1, size) + 0.01 * mean(out2)"
    )
    trained = nndsl.train(source, out=tmp_path / "run", quiet=True, device="cpu")
    rows = trained.history
    assert len(rows) == 2
    for key in ("loss", "loss/cross_entropy", "loss/mse", "loss/out2", "accuracy"):
        assert key in rows[-1], rows[-1]
    total = (
        rows[-1]["loss/cross_entropy"] + 0.5 * rows[-1]["loss/mse"] + 0.01 * rows[-1]["loss/out2"]
    )
    assert rows[-1]["loss"] == pytest.approx(total, rel=1e-5)


# ---- metrics written as calls ----------------------------------------------------------------


def test_metrics_per_head_as_calls():
    result, source = checked("cross_entropy(logits, y) + mse(out1, size) + mean(out2)")
    source = source.replace(
        "    epochs 2", "    metrics accuracy, top_k(logits, y, k=2), mae(out1, size)\n    epochs 2"
    )
    result = analyze(source)
    assert result.ok, render_text(result.diagnostics, source, "h.nn")
    code = generate_train(result.program.trains[0], "h.nn", "model")
    assert '"top2": (logits.topk(2, 1).indices == y.unsqueeze(1)).any(1)' in code
    assert '"mae": (out1.float() - size).abs()' in code
    assert '"accuracy": logits.argmax(1) == y' in code


def test_with_a_loss_named_alone_metric_calls_read_out_and_y():
    source = HEADS.replace("LOSS", "cross_entropy").replace(
        "    epochs 2", "    metrics top_k(out, y, k=3), accuracy(out, y)\n    epochs 2"
    )
    result = analyze(source)
    assert result.ok, render_text(result.diagnostics, source, "h.nn")
    code = generate_train(result.program.trains[0], "h.nn", "model")
    assert '"top3": (out.topk(3, 1).indices == y.unsqueeze(1)).any(1)' in code
    bad = source.replace("top_k(out, y, k=3)", "mae(out1, size)")
    found = [(d.code, d.message) for d in analyze(bad).diagnostics if d.severity == "error"]
    assert found and found[0][0] == "E0108", found  # only `out` and `y` are bound there


@pytest.mark.parametrize(
    "metric, code",
    [
        ("top_k(out1, size)", "E0405"),  # class scores wanted
        ("top_k(logits, y, k=4)", "E0405"),  # more than the 3 classes
        ("top_k(logits, y, k=0)", "E0126"),
        ("mae(logits, size)", "E0405"),
        ("accuracy(logits)", "E0420"),
        ("recall(logits, y)", "E0401"),
    ],
)
def test_metric_mistakes_are_located(metric, code):
    source = HEADS.replace("LOSS", "cross_entropy(logits, y) + mse(out1, size) + mean(out2)")
    source = source.replace("    epochs 2", f"    metrics {metric}\n    epochs 2")
    found = [(d.code, d.span.line) for d in analyze(source).diagnostics if d.severity == "error"]
    assert found and found[0] == (code, 22), found


def test_metrics_written_as_calls_are_measured(tmp_path):
    source = HEADS.replace("LOSS", "cross_entropy(logits, y) + mse(out1, size) + mean(out2)")
    source = source.replace(
        "    epochs 2", "    metrics top_k(logits, y, k=3), mae(out1, size)\n    epochs 2"
    )
    trained = nndsl.train(source, out=tmp_path / "run", quiet=True, device="cpu")
    last = trained.history[-1]
    assert last["top3"] == 1.0  # every class is among the top 3 of 3
    assert 0 < last["mae"] < 10


def test_data_only_a_metric_reads_is_fed_and_bound_in_the_step(tmp_path):
    """`size` is read by no loss, only by `mae`: the loader returns it and the step binds it."""
    source = HEADS.replace("LOSS", "cross_entropy(logits, y) + mean(out1) + mean(out2)")
    source = source.replace("    epochs 2", "    metrics mae(out1, size)\n    epochs 2")
    result = analyze(source)
    assert result.ok, render_text(result.diagnostics, source, "h.nn")
    t = result.program.trains[0]
    assert "size" in dict(t.data.returns) and "size" in t.step.feeds
    trained = nndsl.train(source, out=tmp_path / "run", quiet=True, device="cpu")
    assert trained.history[-1]["mae"] > 0


def test_class_ids_beyond_the_scores_of_a_loss_expression_are_located(tmp_path):
    """Found by one-step fuzzing: `cross_entropy(out, y)` in an expression took class ids 0..9
    against scores of 8 classes and the run died in torch ("Target 8 is out of bounds")."""
    import shutil
    from pathlib import Path

    examples = Path(__file__).resolve().parent.parent / "examples"
    shutil.copytree(examples / "data", tmp_path / "data")
    text = (examples / "digits_two_heads.nn").read_text(encoding="utf-8")
    text = text.replace("classes = Linear(10)", "classes = Linear(8)")
    found = analyze(text, tmp_path).diagnostics
    assert [d.code for d in found if d.severity == "error"] == ["E0406"]
    assert "holds class ids 0 .. 9, but `cross_entropy` is given scores of 8" in found[0].message
