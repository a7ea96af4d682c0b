"""Preemption and clusters: a scheduler's SIGTERM or SIGUSR1 under several processes, runs over
several machines (two on this one, over loopback), and the Slurm batch script.

The single-process cases (a signal mid-run, then --resume, equal bit for bit to an uninterrupted
run) are in tests/test_resume.py, beside Ctrl-C's.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from nndsl.cli import main as nndsl
from nndsl.run.launch import _AGENT

SOURCE = """
model Net(x: [16]) { Linear(32) ReLU() out = Linear(4) }
data d {
    x = randn(512, 16)
    y = argmax(x[:, 0:4], 1)
    batch 64
}
train Net on d {
    loss cross_entropy
    optimizer sgd(lr=0.05, momentum=0.9)
    epochs 3
}
"""
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(sys.path))

# The generated script's main, with rank SIGNAL_RANK sending itself SIGNAL at its SIGNAL_AT-th
# batch; each rank writes the step it stopped at.
DRIVER = textwrap.dedent("""
    import importlib.util, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    spec = importlib.util.spec_from_file_location("train_net", "train_net.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_net"] = module
    spec.loader.exec_module(module)
    kit = module.kit
    cfg = kit.parse_args(module.Config, None, sys.argv[1:])
    check, save = kit.Loop.stop_if_not_finite, kit.Loop.save_checkpoint
    calls = []

    def check_and_signal(self, *args):  # called once per batch on the CPU
        calls.append(1)
        if os.environ["RANK"] == os.environ["SIGNAL_RANK"] and len(calls) == int(
            os.environ["SIGNAL_AT"]
        ):
            os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL"]))
        check(self, *args)

    def save_and_say(self):
        Path(cfg.out_dir, f"stopped-{self.run.rank}.txt").write_text(str(self.state.step))
        return save(self)

    kit.Loop.stop_if_not_finite, kit.Loop.save_checkpoint = check_and_signal, save_and_say
    module.main(cfg)
    """)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("preempt")
    (folder / "net.nn").write_text(SOURCE, encoding="utf-8")
    assert nndsl(["compile", str(folder / "net.nn"), "-o", str(folder / "model.py")]) == 0
    (folder / "driver.py").write_text(DRIVER, encoding="utf-8")
    return folder


def test_a_signal_to_one_rank_stops_both_at_the_same_step_with_one_checkpoint(folder):
    out = folder / "one_rank"
    torchrun = ["--standalone", "--nproc_per_node=2", "driver.py", "--out-dir", str(out)]
    env = dict(ENV, SIGNAL="SIGTERM", SIGNAL_RANK="1", SIGNAL_AT="5")
    proc = subprocess.run(
        [sys.executable, "-c", _AGENT, *torchrun, "--epochs", "100"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    # both workers exited 75, which the launcher passes on without torchrun's traceback
    assert proc.returncode == 75, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    steps = {(out / f"stopped-{r}.txt").read_text() for r in (0, 1)}
    assert len(steps) == 1, steps  # the same step on both
    (step,) = steps
    assert int(step) >= 5  # after the signal, not before
    assert [p.name for p in out.glob("checkpoint-*.pt")] == [f"checkpoint-{int(step):09d}.pt"]
    assert re.search(rf"stopped by SIGTERM at epoch \d+, step {step};", proc.stderr)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_nodes_on_loopback_train_as_one_process_with_the_global_batch(folder, tmp_path):
    source = folder / "net.nn"
    single = tmp_path / "single"
    assert nndsl(["run", str(source), "--out", str(single), "--quiet"]) == 0
    out = tmp_path / "nodes"
    endpoint = f"127.0.0.1:{_free_port()}"
    procs = []
    for rank in (0, 1):
        argv = ["run", str(source), "--out", str(out), "--quiet", "--nnodes", "2",
                "--node-rank", str(rank), "--rdzv-endpoint", endpoint]  # fmt: skip
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "nndsl", *argv],
                env=ENV,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, output in zip(procs, outputs):
        assert proc.returncode == 0, output[-3000:]
    assert f"--nnodes=2 --node-rank=0 --rdzv-endpoint={endpoint}" in outputs[0]
    one = torch.load(single / "model.pt", weights_only=True)
    two = torch.load(out / "model.pt", weights_only=True)
    for name, tensor in one.items():
        torch.testing.assert_close(two[name], tensor, rtol=0, atol=1e-6)


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="POSIX signals")
def test_nndsl_run_passes_the_signal_on_and_says_so_in_one_line(tmp_path):
    source = tmp_path / "net.nn"
    source.write_text(SOURCE.replace("epochs 3", "epochs 100000"), encoding="utf-8")
    out = tmp_path / "r"
    log = tmp_path / "log.txt"
    argv = ["run", str(source), "--out", str(out), "--nproc", "2"]
    with open(log, "w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "nndsl", *argv], env=ENV,
                                stdout=sink, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        while "\nepoch 1 " not in log.read_text():  # the workers are training
            assert proc.poll() is None, log.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGUSR1)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = log.read_text()
    assert code == 75, output
    assert "Traceback" not in output
    assert (
        f"nndsl: training stopped by SIGUSR1, after a checkpoint of its last step in {out}; "
        "exit 75, to requeue" in output
    )
    assert len(list(out.glob("checkpoint-*.pt"))) >= 1


# ---- the Slurm batch script ----------------------------------------------------------------


def test_slurm_writes_a_batch_script_that_resumes_and_requeues(folder, tmp_path, capsys):
    out = tmp_path / "slurm"
    argv = ["run", str(folder / "net.nn"), "--out", str(out), "--slurm", "--nnodes", "2",
            "--nproc", "4", "--epochs", "7"]  # fmt: skip
    assert nndsl(argv) == 0
    script = out / "slurm.sh"
    assert f"wrote {script}; submit it with: sbatch {script}" in capsys.readouterr().err
    text = script.read_text()
    assert os.access(script, os.X_OK)
    assert not list(out.glob("checkpoint-*")) and not (out / "config.json").exists()
    lines = [line.strip() for line in text.splitlines()]
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=1", "#SBATCH --requeue",
                 "#SBATCH --signal=B:USR1@90", "trap warned USR1",
                 'scancel --signal=TERM "$SLURM_JOB_ID"', 'scontrol requeue "$SLURM_JOB_ID"'):  # fmt: skip
        assert any(s.startswith(line) for s in lines), line
    (launch,) = [line for line in text.splitlines() if line.startswith("srun ")]
    for flag in ('--nnodes="$SLURM_NNODES"', '--node-rank="$SLURM_NODEID"',
                 '--rdzv-endpoint="$NNDSL_RDZV"', "--nproc-per-node=4", "--epochs 7",
                 f"{out / 'train_net.py'} --out-dir {out}", "--resume"):  # fmt: skip
        assert flag in launch, flag
    if shutil.which("bash"):
        assert subprocess.run(["bash", "-n", str(script)]).returncode == 0


def test_slurm_writes_where_it_is_told(folder, tmp_path):
    path = tmp_path / "jobs" / "net.sbatch"
    argv = ["run", str(folder / "net.nn"), "--out", str(tmp_path / "r"), "--slurm", str(path)]
    assert nndsl(argv) == 0
    assert "#SBATCH --nodes=1" in path.read_text()
    assert not (tmp_path / "r" / "slurm.sh").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--node-rank", "1"], "--node-rank and --rdzv-endpoint need --nnodes"),
        (["--nnodes", "0"], "--nnodes must be at least 1, not 0"),
        (["--nnodes", "2"], "--nnodes 2 needs --node-rank (this machine's, 0 to 1)"),
        (["--nnodes", "2", "--node-rank", "2", "--rdzv-endpoint", "h:1"],
         "--node-rank must be from 0 to 1, not 2"),  # fmt: skip
        (["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "h"],
         "--rdzv-endpoint 'h' is not HOST:PORT"),  # fmt: skip
        (["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "h:70000"],
         "--rdzv-endpoint 'h:70000' is not HOST:PORT"),  # fmt: skip
        (["--nproc", "0"], "--nproc must be at least 1, not 0"),
        (["--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint", "h:1", "--out", ""],
         "--nnodes 2 needs --out, a run folder that every node sees"),  # fmt: skip
        (["--slurm", "--node-rank", "0"], "--slurm starts every node itself"),
        (["--slurm", "--max-restarts", "1"], "--slurm writes a batch script: leave out"),
    ],
)
def test_cluster_flags_are_checked_before_anything_is_written(
    folder, tmp_path, capsys, flags, message
):
    out = tmp_path / "r"
    assert nndsl(["run", str(folder / "net.nn"), "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()


# Slurm's commands as the batch script uses them, on this machine: one node, srun running its
# command in place (so that scancel can signal it), scontrol naming this machine and noting a
# requeue.
FAKES = {
    "srun": """#!/bin/bash
while [[ "$1" == --* ]]; do shift; done
echo $$ > "$FAKE_SLURM/step.pid"
export SLURM_NODEID=0
exec "$@"
""",
    "scancel": """#!/bin/bash
echo "scancel $*" >> "$FAKE_SLURM/log"
kill -TERM "$(cat "$FAKE_SLURM/step.pid")"
""",
    "scontrol": """#!/bin/bash
case "$1" in
    show) echo 127.0.0.1 ;;
    requeue) echo "requeue $2" >> "$FAKE_SLURM/log" ;;
esac
""",
}


@pytest.mark.skipif(not shutil.which("bash"), reason="runs the batch script")
def test_the_batch_script_checkpoints_at_the_warning_requeues_and_resumes(folder, tmp_path):
    """The warning (USR1 to the batch shell) stops training with a checkpoint and requeues the
    job; the requeued job resumes to the weights of a run never stopped."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    for name, text in FAKES.items():
        (fakes / name).write_text(text, encoding="utf-8")
        (fakes / name).chmod(0o755)
    source = folder / "net.nn"
    reference = tmp_path / "reference"
    assert nndsl(["run", str(source), "--out", str(reference), "--quiet", "--epochs", "300"]) == 0
    out = tmp_path / "job"
    assert nndsl(["run", str(source), "--out", str(out), "--slurm", "--epochs", "300"]) == 0
    env = dict(ENV, PATH=f"{fakes}{os.pathsep}{os.environ['PATH']}", FAKE_SLURM=str(tmp_path),
               SLURM_JOB_ID="7", SLURM_JOB_NODELIST="node1", SLURM_NNODES="1",
               NNDSL_PORT=str(_free_port()))  # fmt: skip
    log = tmp_path / "first.txt"
    with open(log, "w") as sink:
        job = subprocess.Popen(["bash", str(out / "slurm.sh")], env=env, stdout=sink,
                               stderr=subprocess.STDOUT)  # fmt: skip
    try:
        while "\nepoch 1 " not in log.read_text():  # training
            assert job.poll() is None, log.read_text()
            time.sleep(0.2)
        job.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@90 sends
        assert job.wait(timeout=120) == 0, log.read_text()
    finally:
        if job.poll() is None:
            job.kill()
    output = log.read_text()
    assert "stopped by SIGTERM at epoch" in output, output
    assert (tmp_path / "log").read_text().splitlines() == ["scancel --signal=TERM 7", "requeue 7"]
    assert list(out.glob("checkpoint-*.pt")) and not (out / "model.pt").exists()
    # the requeued job: the same script, from the beginning
    again = subprocess.run(["bash", str(out / "slurm.sh")], env=env, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "resuming from" in again.stderr
    assert (tmp_path / "log").read_text().count("requeue") == 1
    one = torch.load(reference / "model.pt", weights_only=True)
    two = torch.load(out / "model.pt", weights_only=True)
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
