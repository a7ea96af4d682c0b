"""What a run logs besides metrics.csv: metrics.jsonl (one row per logged optimizer step),
TensorBoard events when tensorboard is installed, the loss plot and the run's last line.

Runs happen in this process through the CLI (``nndsl run``); the plot and the log's pieces are
also tested on the kit itself (templates/trainkit.py, imported as a module)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys

import pytest
from compiled import NET_AND_PAIRS, ROOT

from nndsl.cli import main as nndsl

# two optimizer steps an epoch; two parameter groups, whose rates halve each epoch
SOURCE = NET_AND_PAIRS + """
train Net on pairs {
    loss mse
    optimizer sgd(lr=0.01) {
        hidden.weight: lr=0.001
    }
    scheduler step(step_size=1, gamma=0.5)
    epochs 3
}
"""


@pytest.fixture(scope="module")
def kit():
    """templates/trainkit.py as a module of its own."""
    spec = importlib.util.spec_from_file_location(
        "trainkit_logged", ROOT / "templates" / "trainkit.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def run(tmp_path, source: str, *flags: str) -> tuple:
    """Train `source` in tmp_path/r; the run folder and its metrics.jsonl rows."""
    (tmp_path / "net.nn").write_text(source, encoding="utf-8")
    out = tmp_path / "r"
    assert nndsl(["run", str(tmp_path / "net.nn"), "--out", str(out), *flags]) == 0
    return out, rows(out)


def rows(out) -> list[dict]:
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_by_default_a_row_at_the_end_of_each_epoch_with_each_groups_rate(tmp_path):
    out, logged = run(tmp_path, SOURCE, "--quiet")
    assert [(r["step"], r["epoch"]) for r in logged] == [(2, 1), (4, 2), (6, 3)]
    for row, epoch in zip(logged, (1, 2, 3)):
        assert list(row) == ["step", "epoch", "loss", "lr/0", "lr/1", "samples_per_s"]
        rates = sorted([row["lr/0"], row["lr/1"]])
        assert rates == pytest.approx([0.001 / 2 ** (epoch - 1), 0.01 / 2 ** (epoch - 1)])
        assert row["samples_per_s"] > 0


def test_every_50_steps_and_at_each_epochs_end(tmp_path):
    """Four steps an epoch: step 50 falls mid-epoch."""
    source = SOURCE.replace("batch 2", "batch 1").replace("epochs 3", "epochs 13")
    _, logged = run(tmp_path, source, "--quiet")
    assert [r["step"] for r in logged] == sorted({*range(4, 53, 4), 50})


def test_log_every_logs_each_steps_own_values(tmp_path):
    """Each row holds its batch's loss: with equal batches, an epoch's rows average to the
    epoch's loss in metrics.csv."""
    source = SOURCE.replace("epochs 3", "epochs 3\n    log_every 1")
    out, logged = run(tmp_path, source, "--quiet")
    assert [r["step"] for r in logged] == [1, 2, 3, 4, 5, 6]
    with open(out / "metrics.csv", newline="") as f:
        epochs = list(csv.DictReader(f))
    for epoch, (a, b) in zip(epochs, zip(logged[::2], logged[1::2])):
        assert a["epoch"] == b["epoch"] == int(epoch["epoch"])
        assert (a["loss"] + b["loss"]) / 2 == pytest.approx(float(epoch["loss"]), rel=1e-6)
    assert len({r["loss"] for r in logged}) == 6


def test_loss_terms_and_metrics_are_logged_under_their_names(tmp_path):
    source = NET_AND_PAIRS + (
        "train Net on pairs {\n    loss mse(out, y) + 0.5 * l1(out, y)\n    metrics mae\n"
        "    optimizer sgd(lr=0.01)\n    epochs 1\n}\n"
    )
    out, logged = run(tmp_path, source, "--quiet")
    (row,) = logged
    assert list(row) == ["step", "epoch", "loss", "loss/mse", "loss/l1", "mae", "lr",
                         "samples_per_s"]  # fmt: skip
    assert row["loss"] == pytest.approx(row["loss/mse"] + 0.5 * row["loss/l1"], rel=1e-6)
    assert row["mae"] == pytest.approx(row["loss/l1"], rel=1e-6)  # the same batch's values


def test_resuming_drops_the_rows_after_the_checkpoint_and_a_half_line(kit, tmp_path):
    path = tmp_path / "metrics.jsonl"
    whole = "".join(json.dumps({"step": n, "loss": 1 / n}) + "\n" for n in range(1, 11))
    path.write_text(whole + '{"step": 11, "lo', encoding="utf-8")
    kit.trim_log(path, 6)
    assert [r["step"] for r in map(json.loads, path.read_text().splitlines())] == list(range(1, 7))
    kit.trim_log(path, 6)  # nothing to drop: left as it is
    kit.trim_log(tmp_path / "none.jsonl", 3)
    assert not (tmp_path / "none.jsonl").exists()


def test_a_resumed_run_logs_each_step_once_in_order(tmp_path):
    source = SOURCE.replace("epochs 3", "epochs 3\n    log_every 1")
    out, first = run(tmp_path, source, "--quiet", "--epochs", "2")
    # rows beyond the newest checkpoint (step 4), as a run killed after logging them leaves
    with open(out / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({**first[-1], "step": 5}) + "\n" + '{"step": 6, "epo')
    assert nndsl(["run", str(tmp_path / "net.nn"), "--out", str(out), "--quiet",
                  "--resume", "--epochs", "3"]) == 0  # fmt: skip
    again = rows(out)
    assert [r["step"] for r in again] == [1, 2, 3, 4, 5, 6]
    assert again[:4] == first


def test_tensorboard_events_hold_the_same_scalars(tmp_path):
    pytest.importorskip("torch.utils.tensorboard")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    out, logged = run(tmp_path, SOURCE, "--quiet")
    events = accumulator.EventAccumulator(str(out / "tb"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"loss", "lr/0", "lr/1", "samples_per_s", "epoch/loss"} <= tags
    losses = [(e.step, e.value) for e in events.Scalars("loss")]
    assert losses == [(r["step"], pytest.approx(r["loss"])) for r in logged]
    with open(out / "metrics.csv", newline="") as f:
        epochs = [float(r["loss"]) for r in csv.DictReader(f)]
    assert [e.value for e in events.Scalars("epoch/loss")] == pytest.approx(epochs)


def test_without_tensorboard_nothing_changes_and_nothing_is_said(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    out, logged = run(tmp_path, SOURCE)
    assert not (out / "tb").exists() and len(logged) == 3
    captured = capsys.readouterr()
    said = (captured.out + captured.err).replace(str(tmp_path), "")
    assert "warning" not in said.lower() and "tensorboard" not in said.lower(), said


def test_the_last_line_names_the_log_and_the_plot(tmp_path, capsys):
    out, _ = run(tmp_path, SOURCE)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert f"metrics: {out}/metrics.csv, metrics.jsonl" in last
    assert f"plot: {out}/loss.png" in last and (out / "loss.png").exists()
    assert "best epoch 3 (best.pt)" in last


def test_without_matplotlib_no_plot_and_the_last_line_says_none(tmp_path, monkeypatch, capsys):
    for name in ("matplotlib", "matplotlib.figure"):
        monkeypatch.setitem(sys.modules, name, None)
    out, _ = run(tmp_path, SOURCE)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert not (out / "loss.png").exists()
    assert "loss.png" not in last and "metrics.jsonl" in last


# ---- the plot --------------------------------------------------------------------------------


def history(n: int, span: float, **extra) -> list[dict]:
    """n epochs whose losses fall by `span` in all."""
    return [
        {"epoch": e, "loss": span ** (-(e - 1) / (n - 1)), "loss/mse": 0.5, **extra,
         "val_loss": 1.2 * span ** (-(e - 1) / (n - 1)), "seconds": 0.1}
        for e in range(1, n + 1)
    ]  # fmt: skip


def lines(ax) -> dict[str, str]:
    return {line.get_label(): line.get_linestyle() for line in ax.get_lines()}


def test_the_plot_shows_every_term_and_metric_train_solid_val_dashed(kit):
    pytest.importorskip("matplotlib")
    rows = history(5, 10, accuracy=0.5, mae=3.0)
    for row in rows:
        row["val_accuracy"] = 0.6
    losses, metrics = kit.loss_figure(rows).axes[:2]
    assert lines(losses) == {
        "loss": "-", "val_loss": "--", "loss/mse": "-", "mae": "-"
    }  # fmt: skip
    assert lines(metrics) == {"accuracy": "-", "val_accuracy": "--"}
    assert losses.get_yscale() == "linear"
    assert "seconds" not in lines(losses) and "epoch" not in lines(losses)


def test_the_loss_axis_is_logarithmic_beyond_two_decades(kit):
    pytest.importorskip("matplotlib")
    assert len(kit.loss_figure(history(5, 1000)).axes) == 1  # no metric: one panel
    assert kit.loss_figure(history(5, 1000)).axes[0].get_yscale() == "log"
    assert kit.loss_figure(history(5, 50)).axes[0].get_yscale() == "linear"
    negative = [dict(h, **{"loss/mse": -1.0}) for h in history(5, 1000)]
    assert kit.loss_figure(negative).axes[0].get_yscale() == "linear"


def test_the_plot_is_a_png_written_whole(kit, tmp_path):
    pytest.importorskip("matplotlib")
    assert kit.plot(history(4, 10), tmp_path / "loss.png")
    assert (tmp_path / "loss.png").read_bytes().startswith(b"\x89PNG")
    assert not list(tmp_path.glob("*.tmp"))


def test_a_plot_the_system_refuses_ends_the_run_naming_it(kit, tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"error: cannot write .*file/loss.png"):
        kit.plot(history(4, 10), tmp_path / "file" / "loss.png")


# ---- the figures' worker -----------------------------------------------------------------------


@pytest.fixture
def alone(kit, monkeypatch):
    """A process the figures' worker may fork from, as a run's is: one thread (pytest's own
    helpers may have left others)."""
    monkeypatch.setattr(kit.threading, "active_count", lambda: 1)
    if sys.platform != "linux":
        pytest.skip("the worker is forked on Linux only")


def figures(kit, folder, start: bool) -> tuple:
    """Every figure of a run drawn by kit.Figures into `folder`: (the names drawn, the
    worker it had)."""
    import torch

    figs = kit.Figures(start=start)
    worker = figs.worker
    figs.draw("loss", folder / "loss.png", history(4, 1000))
    matrix = torch.tensor([[3, 1], [0, 4]])
    figs.draw("confusion", folder / "test_confusion.png", matrix.tolist(), ["a", "b"], "test")
    figs.draw("samples", folder / "samples.png", *kit.sample_pixels(torch.nn.Identity(), draw))
    return figs.wait(), worker


def draw(model):
    import torch

    return model(torch.rand(3, 4, 4))


def test_a_worker_draws_every_figure_while_the_run_goes_on(kit, alone, tmp_path):
    pytest.importorskip("matplotlib")
    drawn, worker = figures(kit, tmp_path, start=True)
    assert worker is not None and not worker.is_alive()  # it drew them, and is gone
    assert drawn == {"loss.png", "test_confusion.png", "samples.png"}
    for name in drawn:
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    assert not list(tmp_path.glob("*.tmp"))


def test_without_a_worker_the_same_figures_are_drawn_here(kit, tmp_path):
    pytest.importorskip("matplotlib")
    drawn, worker = figures(kit, tmp_path, start=False)
    assert worker is None and drawn == {"loss.png", "test_confusion.png", "samples.png"}


def test_a_worker_that_died_leaves_its_figures_to_the_run(kit, alone, tmp_path):
    pytest.importorskip("matplotlib")
    figs = kit.Figures(start=True)
    figs.worker.kill()
    figs.worker.join()
    figs.draw("loss", tmp_path / "loss.png", history(4, 10))
    assert figs.wait() == {"loss.png"} and (tmp_path / "loss.png").exists()


def test_a_png_the_system_refuses_in_the_worker_ends_the_run_naming_it(kit, alone, tmp_path):
    pytest.importorskip("matplotlib")
    (tmp_path / "file").write_text("", encoding="utf-8")
    figs = kit.Figures(start=True)
    figs.draw("loss", tmp_path / "file" / "loss.png", history(4, 10))
    with pytest.raises(SystemExit, match=r"error: cannot write .*file/loss.png"):
        figs.wait()


def test_without_matplotlib_the_worker_draws_nothing_and_says_so(kit, alone, tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.image"):
        monkeypatch.setitem(sys.modules, name, None)
    drawn, worker = figures(kit, tmp_path, start=True)
    assert worker is not None and drawn == set() and not list(tmp_path.iterdir())


def test_a_worker_that_cannot_start_leaves_the_figures_to_the_run(
    kit, alone, tmp_path, monkeypatch
):
    import multiprocessing.process

    def refused(process):
        raise OSError("no processes left")

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refused)
    figs = kit.Figures(start=True)
    assert figs.worker is None and figs.conn is None
    figs.draw("loss", tmp_path / "loss.png", history(4, 10))
    assert figs.wait() == {"loss.png"} and (tmp_path / "loss.png").exists()


def test_a_run_inside_a_daemonic_process_draws_its_figures_itself(
    kit, alone, tmp_path, monkeypatch
):
    """A run started in a multiprocessing pool's worker (a daemonic process, which may not
    start processes) failed at its start: the figures' worker's start raised."""
    import multiprocessing

    monkeypatch.setitem(multiprocessing.current_process()._config, "daemon", True)
    figs = kit.Figures(start=True)
    assert figs.worker is None and figs.conn is None
    figs.draw("loss", tmp_path / "loss.png", history(4, 10))
    assert figs.wait() == ({"loss.png"} if importlib.util.find_spec("matplotlib") else set())
