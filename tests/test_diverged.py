"""A run whose last update makes the weights diverge: no later loss check sees it, so the kit
looks at the weights and the last epoch's losses before saving or using them.

Before, such a run saved NaN or infinite weights as its final ones, and a `generate` or
`predict` after it failed in torch (`probability tensor contains either inf, nan`: found by
the fuzzer with `adamw(lr=10 ** 9)` on examples/gpt.nn)."""

from __future__ import annotations

import pytest

from nndsl.cli import main as nndsl

SOURCE = """
model Net(x: [4]) {
    out = Linear(1)
}
data d {
    x = randn(16, 4)
    y = sum(x, 1, keepdim=true)
    batch 16
    split 0.25
}
train Net on d {
    loss mse
    optimizer sgd(lr=1e30)
    epochs 1
}
"""


@pytest.mark.parametrize(
    "lr, split, said",
    [
        # weights of about 1e30: finite, but the validation loss after the update is not
        ("1e30", True, "the last epoch's val_loss is inf after step 1"),
        # an update past float32's range: the weights themselves are infinite
        ("3e38", False, "the weights are not finite (`out.weight` and 1 more) after step 1"),
    ],
)
def test_a_last_update_that_diverges_stops_the_run_before_its_weights_are_saved(
    tmp_path, capsys, lr, split, said
):
    source = SOURCE.replace("1e30", lr)
    if not split:
        source = source.replace("    split 0.25\n", "")
    (tmp_path / "net.nn").write_text(source, encoding="utf-8")
    out = tmp_path / "r"
    assert nndsl(["run", str(tmp_path / "net.nn"), "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert said in err and "Try a smaller learning rate" in err
    assert "Traceback" not in err
    assert not (out / "model.pt").exists()
    if split:  # an infinite validation loss is never the best
        assert not (out / "best.pt").exists()


def test_a_run_that_converges_is_not_stopped(tmp_path):
    (tmp_path / "net.nn").write_text(SOURCE.replace("1e30", "0.01"), encoding="utf-8")
    out = tmp_path / "r"
    assert nndsl(["run", str(tmp_path / "net.nn"), "--out", str(out), "--quiet"]) == 0
    assert (out / "model.pt").exists() and (out / "best.pt").exists()
