"""Training with several processes: torchrun, DistributedDataParallel, gloo on the CPU.

Two processes must end with identical parameters on both ranks, equal to a single process on
the same global batches (within 1e-6: the all-reduce adds the two halves' gradients in another
order than one process does); shards are disjoint and cover each batch; a rank killed mid-run
is restarted by torchrun and training resumes from the newest checkpoint to the same result.
(The model has no dropout: each rank draws the masks for its own share of a batch, so with
dropout two processes match one only in distribution.)
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from nndsl.cli import main as nndsl

SOURCE = """
model Net(x: [16]) { Linear(32) ReLU() out = Linear(4) }
data d {
    x = randn(512, 16)
    y = argmax(x[:, 0:4], 1)
    batch 64
    split 0.125
    test 0.125
}
train Net on d {
    loss cross_entropy
    optimizer sgd(lr=0.05, momentum=0.9)
    metrics accuracy, f1
    epochs 3
    checkpoint 4
    distributed ddp
}
"""

# Runs the generated script's main under torchrun, and afterwards writes each rank's digest
# of its parameters; with KILL_AT, rank 1 kills itself at that step of its first attempt.
DRIVER = textwrap.dedent("""
    import hashlib, importlib.util, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("train_net", "train_net.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_net"] = module
    spec.loader.exec_module(module)
    kit = module.kit
    cfg = kit.parse_args(module.Config, None, sys.argv[1:])
    fit, check = kit.Loop.fit, kit.Loop.stop_if_not_finite
    kill_at = int(os.environ.get("KILL_AT", "0"))
    first = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    calls = []

    def check_and_maybe_die(self, *args):  # called once per batch on the CPU
        calls.append(1)
        if kill_at and first and os.environ.get("RANK") == "1" and len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        check(self, *args)

    def fit_and_digest(self, *args):
        fit(self, *args)
        blob = b"".join(p.detach().numpy().tobytes() for p in self.state.model.parameters())
        name = f"digest-{self.run.rank}.txt"
        Path(cfg.out_dir, name).write_text(hashlib.sha256(blob).hexdigest())

    kit.Loop.stop_if_not_finite, kit.Loop.fit = check_and_maybe_die, fit_and_digest
    module.main(cfg)
    """)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    (folder / "net.nn").write_text(SOURCE, encoding="utf-8")
    assert nndsl(["compile", str(folder / "net.nn"), "-o", str(folder / "model.py")]) == 0
    (folder / "driver.py").write_text(DRIVER, encoding="utf-8")
    return folder


def launch(folder, out, nproc: int, *extra, env=None) -> subprocess.CompletedProcess:
    """The driver under torchrun as `nproc` processes; with nproc 0, as one plain process
    (what torchrun's single worker is, WORLD_SIZE 1, without starting torchrun's agent too)."""
    torchrun = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *extra]
    cmd = [sys.executable, *(torchrun if nproc else []), "driver.py", "--out-dir", str(out),
           "--quiet", "--resume"]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=300)


def weights(out) -> dict:
    return torch.load(out / "model.pt", weights_only=True)


@pytest.fixture(scope="module")
def single(folder):
    proc = launch(folder, folder / "single", 0)
    assert proc.returncode == 0, proc.stderr
    return weights(folder / "single")


@pytest.fixture(scope="module")
def double(folder):
    proc = launch(folder, folder / "double", 2)
    assert proc.returncode == 0, proc.stderr
    return folder / "double"


def test_two_processes_agree_with_each_other_and_with_one(single, double):
    digests = [(double / f"digest-{r}.txt").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    two = weights(double)
    for name, tensor in single.items():
        torch.testing.assert_close(two[name], tensor, rtol=0, atol=1e-6)
    # the metrics are reduced over both ranks (F1 from the counts of both): the same figures
    # as one process
    one_rows = (double.parent / "single" / "metrics.csv").read_text().splitlines()
    two_rows = (double / "metrics.csv").read_text().splitlines()
    assert one_rows[0].split(",")[:4] == ["epoch", "loss", "accuracy", "f1"]
    for a, b in zip(one_rows[1:], two_rows[1:]):
        assert [round(float(v), 5) for v in a.split(",")[:4]] == [
            round(float(v), 5) for v in b.split(",")[:4]
        ]
    # the first process tests the best weights, as one process does
    one = json.loads((double.parent / "single" / "test_metrics.json").read_text())
    two = json.loads((double / "test_metrics.json").read_text())
    assert two.pop("classes") == one.pop("classes") and two == pytest.approx(one)


def test_shards_are_disjoint_and_cover_each_batch(folder):
    spec = importlib.util.spec_from_file_location("train_net_shards", folder / "train_net.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("model", None)
        sys.modules.pop("trainkit", None)
    for world in (2, 3, 4):
        for size in (64, 65, 7):
            batch = {"x": torch.arange(size), "y": torch.arange(size)}
            parts = [module.kit.shard(batch, rank, world)["x"] for rank in range(world)]
            assert torch.equal(torch.cat(parts), batch["x"])  # in order: disjoint and complete


def test_a_killed_rank_is_restarted_and_resumes_to_the_same_weights(folder, single):
    out = folder / "restarted"
    proc = launch(folder, out, 2, "--max-restarts=1", env={"KILL_AT": "13"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "resuming from" in proc.stderr
    for name, tensor in single.items():
        torch.testing.assert_close(weights(out)[name], tensor, rtol=0, atol=1e-6)


def test_nndsl_run_nproc_launches_torchrun(tmp_path, capsys):
    source = tmp_path / "net.nn"
    source.write_text(SOURCE.replace("    distributed ddp\n", ""), encoding="utf-8")
    code = nndsl(
        [
            "run",
            str(source),
            "--out",
            str(tmp_path / "r"),
            "--nproc",
            "2",
            "--quiet",
            "--epochs",
            "1",
        ]
    )
    assert code == 0
    assert "torchrun --standalone --nproc_per_node=2" in capsys.readouterr().err
    assert (tmp_path / "r" / "model.pt").exists()
    # one epoch, one row: only the first process writes the metrics
    assert (tmp_path / "r" / "metrics.csv").read_text().count("\n") == 2


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(script: Path) -> list[int]:
    """The processes running `script`."""
    mark = str(script).encode()
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if mark in cmdline.read_bytes().split(b"\0"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="lists processes in /proc")
def test_a_killed_torchrun_is_reported_and_its_workers_stopped(tmp_path):
    """It used to end `nndsl run` with exit 247 and no word, its workers training on."""
    source = tmp_path / "net.nn"
    text = SOURCE.replace("    distributed ddp\n", "").replace("epochs 3", "epochs 100000")
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "r"
    argv = ["run", str(source), "--out", str(out), "--nproc", "2"]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    log = tmp_path / "log.txt"  # not a pipe: workers left running would hold it open
    script = out / "train_net.py"
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "nndsl", *argv], env=env,
                                stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        while "\nepoch 1 " not in log.read_text():  # the workers are training
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        (launcher,) = _children(proc.pid)
        os.kill(launcher, signal.SIGKILL)
        code = proc.wait(timeout=60)
        for _ in range(100):  # SIGTERM ends them at once; a loaded machine may take a moment
            if not _running(script.resolve()):
                break
            time.sleep(0.1)
        left = _running(script.resolve())
    finally:
        for pid in _running(script.resolve()):  # whatever happened, none is left behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert code == 1, output
    assert "torchrun was killed by SIGKILL; the 2 worker processes it left were stopped" in output
    assert f"The checkpoints in {out} are whole" in output
    assert not left


def test_nproc_evaluates_weights_named_from_where_it_runs(tmp_path):
    """`--eval` with a path relative to the user's folder (torchrun's processes start in the
    run folder), and a failure in the processes ends in their one-line error, not in
    torchrun's traceback."""
    (tmp_path / "net.nn").write_text(SOURCE, encoding="utf-8")
    assert nndsl(["run", str(tmp_path / "net.nn"), "--out", str(tmp_path / "r"),
                  "--epochs", "1", "--quiet"]) == 0  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))
    runs = {}
    for weights in ("r/model.pt", "r/missing.pt"):
        argv = ["run", "net.nn", "--out", "e", "--nproc", "2", "--eval", weights]
        runs[weights] = subprocess.run(
            [sys.executable, "-m", "nndsl", *argv],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    good, bad = runs["r/model.pt"], runs["r/missing.pt"]
    assert good.returncode == 0, good.stderr[-3000:]
    assert "test_accuracy" in good.stdout
    assert bad.returncode == 1, bad.stderr[-3000:]
    assert "error: cannot load the weights in" in bad.stderr
    assert "Traceback" not in bad.stderr and "ChildFailedError" not in bad.stderr
