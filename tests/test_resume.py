"""Training faults: kill -9 and resume, Ctrl-C, damaged or hostile checkpoints, NaN losses.

The generated script runs in its own process; the final weights and optimizer state after any
number of kills and resumes must equal, bit for bit, those of a run that was never interrupted
(CPU, same thread count). That run is `python train_net.py`; the others are forked from a server
that has imported torch already (tests/prestarted.py), which spares each of them seconds of
start-up and, as their results equal the reference's, changes nothing they compute.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys

import pytest
import torch
from compiled import NET_AND_PAIRS
from prestarted import Server

from nndsl.cli import main as nndsl

SOURCE = """
model Net(x: [16]) { Linear(64) ReLU() Dropout(0.3) Linear(64) ReLU() out = Linear(4) }
data d {
    x = randn(1200, 16)
    y = argmax(x[:, 0:4], 1)
    batch 32
    split 0.1
}
train Net on d {
    loss cross_entropy
    optimizer adam(lr=0.003)
    scheduler step(step_size=1, gamma=0.8)
    epochs 3
    metrics accuracy, f1
    checkpoint 10
}
"""
STEPS = 3 * -(-1080 // 32)  # 3 epochs of 34 batches


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    (folder / "net.nn").write_text(SOURCE, encoding="utf-8")
    assert nndsl(["compile", str(folder / "net.nn"), "-o", str(folder / "model.py")]) == 0
    return folder


ENV = dict(os.environ, OMP_NUM_THREADS="1")
_server: list[Server] = []  # the module's forking server, while its tests run


@pytest.fixture(scope="module", autouse=True)
def server():
    with Server(ENV) as started:
        _server.append(started)
        yield started
        _server.remove(started)


def train(
    folder,
    out,
    *flags,
    kill_at: int | None = None,
    interrupt_at: int | None = None,
    max_file_size: int | None = None,
    plain: bool = False,
    signum: int = signal.SIGINT,
):
    """Run the script, forked from the server (plain: as `python train_net.py`); with kill_at,
    SIGKILL it once it has logged that step (or send it `signum` with interrupt_at); with
    max_file_size,
    writing a larger file fails as on a full disk (EFBIG). Returns the process's exit code and
    its output."""
    argv = ["train_net.py", "--out-dir", str(out), "--log-every", "1", *flags]
    if plain:
        proc = subprocess.Popen(
            [sys.executable, *argv], cwd=folder, env=ENV, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    else:
        proc = _server[0].start(folder, argv, max_file_size)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        step = int(line.split()[1].rstrip(":")) if line.startswith("  step ") else None
        if step is not None and kill_at is not None and step >= kill_at:
            proc.send_signal(signal.SIGKILL)
            break
        if step is not None and interrupt_at is not None and step >= interrupt_at:
            proc.send_signal(signum)
            interrupt_at = None
    lines += proc.stdout.readlines()
    return proc.wait(timeout=300), "".join(lines)


def final_state(out) -> dict:
    newest = sorted(out.glob("checkpoint-*.pt"))[-1]
    checkpoint = torch.load(newest, weights_only=True)
    return {
        "model": checkpoint["model"],
        "optimizer": checkpoint["optimizer"],
        "step": checkpoint["step"],
    }


def logged(out) -> list[dict]:
    """metrics.jsonl's rows without their timings."""
    lines = (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    return [{k: v for k, v in r.items() if k != "samples_per_s"} for r in rows]


def counted(out) -> list[tuple[str, str]]:
    """metrics.csv's F1 of each epoch, counted over its batches, which a resumed run counts
    on from the checkpoint's sums."""
    lines = (out / "metrics.csv").read_text(encoding="utf-8").splitlines()
    keys = lines[0].split(",")
    assert "f1" in keys and "val_f1" in keys
    rows = [dict(zip(keys, line.split(","))) for line in lines[1:]]
    return [(r["f1"], r["val_f1"]) for r in rows]


def same(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and torch.equal(a, b)
    return a == b


@pytest.fixture(scope="module")
def reference(scripts):
    code, output = train(scripts, scripts / "reference", "--keep-checkpoints", "5", plain=True)
    assert code == 0, output
    state = final_state(scripts / "reference")
    assert state["step"] == STEPS
    return state


def test_kill_and_resume_gives_the_uninterrupted_weights_bit_for_bit(scripts, reference):
    rng = random.Random(5)
    trials = [
        [rng.randrange(12, STEPS - 5)],
        [4],
        [rng.randrange(15, 40), rng.randrange(50, STEPS - 5)],
    ]
    for n, kills in enumerate(trials):  # mid-epoch, before the first checkpoint, twice
        out = scripts / f"killed{n}"
        for at in kills:
            code, output = train(scripts, out, "--resume", kill_at=at)
            assert code == -signal.SIGKILL, output
        code, output = train(scripts, out, "--resume")
        assert code == 0, output
        assert same(final_state(out), reference), f"kills at {kills} changed the result"
        # metrics.jsonl: each step once, in order, with the uninterrupted run's values
        assert logged(out) == logged(scripts / "reference"), f"kills at {kills}"
        assert counted(out) == counted(scripts / "reference"), f"kills at {kills}"


def test_without_the_random_state_resuming_would_differ(scripts, reference):
    """The companion: a script that forgets to restore torch's RNG (dropout masks) after a
    resume ends with other weights, so the test above can fail."""
    text = (scripts / "trainkit.py").read_text(encoding="utf-8")
    broken = text.replace('torch.set_rng_state(rng["torch"])', "pass")
    assert broken != text
    (scripts / "trainkit.py").write_text(broken, encoding="utf-8")
    try:
        out = scripts / "forgetful"
        assert train(scripts, out, kill_at=25)[0] == -signal.SIGKILL
        assert train(scripts, out, "--resume")[0] == 0
        assert not same(final_state(out)["model"], reference["model"])
    finally:
        (scripts / "trainkit.py").write_text(text, encoding="utf-8")


def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(scripts, reference):
    out = scripts / "interrupted"
    code, output = train(scripts, out, interrupt_at=17)
    assert code == 130, output
    assert "Continue with --resume" in output
    assert train(scripts, out, "--resume")[0] == 0
    assert same(final_state(out), reference)
    assert logged(out) == logged(scripts / "reference")
    assert (out / "loss.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["TERM", "USR1"])
def test_a_schedulers_signal_saves_a_checkpoint_and_exits_to_be_requeued(
    scripts, reference, signum
):
    """SIGTERM (a scheduler stopping the job) and SIGUSR1 (its warning of the time limit) end
    the run as Ctrl-C does, after the current step, with the exit code a scheduler requeues
    on; resuming ends with the uninterrupted run's weights."""
    out = scripts / f"stopped-{signum.name}"
    code, output = train(scripts, out, interrupt_at=23, signum=signum)
    assert code == 75, output
    assert f"stopped by {signum.name} at epoch 1, step " in output
    assert "(exit 75: requeue the run)" in output and "Traceback" not in output
    assert train(scripts, out, "--resume")[0] == 0
    assert same(final_state(out), reference)
    assert logged(out) == logged(scripts / "reference")


def test_a_save_killed_midway_leaves_only_loadable_checkpoints(scripts):
    out = scripts / "save_loop"
    code, _ = train(scripts, out, "--checkpoint-every", "1", kill_at=30)
    assert code == -signal.SIGKILL
    complete = sorted(out.glob("checkpoint-*.pt"))
    assert len(complete) >= 2
    for path in complete:
        torch.load(path, weights_only=True)  # raises if damaged
    code, output = train(scripts, out, "--resume")
    assert code == 0 and not list(out.glob("*.tmp")), output


class _Payload:
    def __reduce__(self):
        return (os.system, ("echo hacked > PWNED",))


def test_a_checkpoint_with_a_pickled_payload_is_refused(scripts):
    """Even with a matching SHA-256 beside it (anyone can compute one)."""
    out = scripts / "hostile"
    out.mkdir()
    path = out / "checkpoint-000000001.pt"
    with open(path, "wb") as f:
        pickle.dump({"model": _Payload()}, f)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (out / f"{path.name}.sha256").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    code, output = train(scripts, out, "--resume")
    assert code == 1 and "Traceback" not in output, output
    assert f"not resuming from {path}: it holds more than tensors and numbers" in output
    assert not (scripts / "PWNED").exists() and not (out / "PWNED").exists()


# ---- checkpoint integrity: a damaged checkpoint is never resumed from ---------------------------


def checkpoints(out) -> list:
    return sorted(out.glob("checkpoint-*.pt"))


def copy_of_reference(scripts, name: str):
    """A copy of the finished reference run: its checkpoints are at steps 70 to 100 and 102."""
    out = scripts / name
    shutil.copytree(scripts / "reference", out)
    steps = [70, 80, 90, 100, 102]
    assert [p.name for p in checkpoints(out)] == [f"checkpoint-{n:09d}.pt" for n in steps]
    return out


def flip_a_weight_bit(data: bytes) -> bytes:
    """One bit flipped inside the largest weight tensor (of a checkpoint, or of saved weights):
    torch.load notices nothing."""
    weights = torch.load(io.BytesIO(data), weights_only=True)
    weights = weights["model"] if "made_with" in weights else weights
    raw = max(weights.values(), key=torch.Tensor.numel).numpy().tobytes()
    at = data.index(raw[:64]) + len(raw) // 2
    return data[:at] + bytes([data[at] ^ 0x10]) + data[at + 1 :]


def cut_short(data: bytes) -> bytes:
    return data[: len(data) // 2]


def zeroed_start(data: bytes) -> bytes:
    return bytes(64) + data[64:]


def test_damaged_checkpoints_are_passed_over_for_the_newest_whole_one(scripts, reference):
    """Each damage, newest first, is named with its reason, and the run goes on from step 70;
    killed at 85, it resumes from the checkpoint it wrote at 80 (not pruned for the damaged
    ones, which are newer)."""
    out = copy_of_reference(scripts, "damaged")
    *_, whole, unfinished, zeroed, cut, flipped = checkpoints(out)
    for path, damage in [(flipped, flip_a_weight_bit), (cut, cut_short), (zeroed, zeroed_start)]:
        path.write_bytes(damage(path.read_bytes()))
    (out / f"{unfinished.name}.sha256").unlink()  # as if killed before the checksum was written
    code, output = train(scripts, out, "--resume", kill_at=85)
    assert code == -signal.SIGKILL and "Traceback" not in output, output
    for path in (flipped, cut, zeroed):
        assert f"not resuming from {path}: its SHA-256 differs from" in output, output
    assert f"not resuming from {unfinished}: {unfinished.name}.sha256 is missing" in output
    assert f"resuming from {whole} (epoch 3, step 70)" in output, output
    code, output = train(scripts, out, "--resume")
    assert code == 0 and f"resuming from {unfinished} (epoch 3, step 80)" in output, output
    assert same(final_state(out), reference)  # the steps after 70 trained again


def test_when_no_checkpoint_verifies_resuming_stops_and_says_so(scripts):
    out = copy_of_reference(scripts, "all_damaged")
    for path in checkpoints(out):
        path.write_bytes(flip_a_weight_bit(path.read_bytes()))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, output = train(scripts, out, "--resume")
    assert code == 1 and "Traceback" not in output, output
    assert f"no checkpoint in {out} can be resumed from" in output, output
    assert all(p.name in output for p in checkpoints(out))
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing overwritten


def test_checkpoints_that_verify_but_cannot_be_loaded_are_passed_over(scripts, reference):
    """A matching SHA-256 beside a file that is empty, another model's checkpoint, or a checksum
    that cannot be read: each was a traceback (EOFError, RuntimeError, IsADirectoryError)."""
    out = copy_of_reference(scripts, "loads_badly")
    *_, whole, unreadable, other_model, empty = checkpoints(out)
    empty.write_bytes(b"")
    checkpoint = torch.load(other_model, weights_only=True)
    checkpoint["model"]["fc1.weight"] = torch.zeros(3, 3)
    torch.save(checkpoint, other_model)
    for path in (empty, other_model):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        (out / f"{path.name}.sha256").write_text(f"{digest}  {path.name}\n", encoding="utf-8")
    (out / f"{unreadable.name}.sha256").unlink()
    (out / f"{unreadable.name}.sha256").mkdir()
    code, output = train(scripts, out, "--resume", kill_at=81)
    assert code == -signal.SIGKILL and "Traceback" not in output, output
    assert f"not resuming from {empty}: it is not a file torch.save wrote" in output, output
    assert f"not resuming from {other_model}: it does not fit this model" in output, output
    assert f"not resuming from {unreadable}: cannot read {unreadable.name}.sha256" in output
    assert f"resuming from {whole} (epoch 3, step 80)" in output, output


def test_the_weights_have_their_sha256_beside_them_and_eval_checks_it(scripts, reference):
    """best.pt and the final weights were written without one: a flipped bit was evaluated."""
    out = copy_of_reference(scripts, "weights_sums")
    for name in ("best.pt", "model.pt"):
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert (out / f"{name}.sha256").read_text(encoding="utf-8") == f"{digest}  {name}\n"
    # the final weights are the last checkpoint's, which --eval also takes
    code, final = train(scripts, out, "--eval", str(out / "model.pt"))
    assert code == 0, final
    code, output = train(scripts, out, "--eval", str(checkpoints(out)[-1]))
    assert code == 0 and output == final, output
    best = out / "best.pt"
    best.write_bytes(flip_a_weight_bit(best.read_bytes()))
    code, output = train(scripts, out, "--eval", str(best))
    assert code == 1 and "Traceback" not in output, output
    assert output == (
        f"error: cannot load the weights in {best}: its SHA-256 differs from best.pt.sha256: "
        "it is damaged\n"
    )


def test_no_training_sample_left_by_val_fraction_is_an_error_before_any_file(scripts):
    """Every epoch's loss was nan, reported as "try a smaller learning rate"."""
    out = scripts / "all_held_out"
    code, output = train(scripts, out, "--val-fraction", "0.9999")  # every sample, rounded
    assert code == 1 and "Traceback" not in output, output
    assert "hold out all 1200 samples: none is left to train on" in output, output
    code, output = train(scripts, out, "--val-fraction", "1")  # not a fraction to hold out
    assert code == 1 and "error: --val-fraction and --test-fraction lie in [0, 1)" in output
    assert not (out / "config.json").exists()


# ---- one run per folder ----------------------------------------------------------------------


def test_the_run_id_is_in_config_json_and_in_every_checkpoint(scripts, reference):
    out = scripts / "reference"
    run_id = json.loads((out / "config.json").read_text(encoding="utf-8"))["run_id"]
    assert len(run_id) >= 8
    assert {torch.load(p, weights_only=True)["run_id"] for p in checkpoints(out)} == {run_id}


def test_a_new_run_into_a_folder_holding_a_run_is_refused(scripts, reference):
    """It used to train there: its own checkpoints, older-numbered than the first run's, were
    deleted as old, best.pt overwritten, and a later --resume restored the first run."""
    out = copy_of_reference(scripts, "second_run")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code, output = train(scripts, out, "--max-steps", "5")
    assert code == 1 and "Traceback" not in output, output
    assert f"{out} holds an earlier run" in output and "--resume" in output, output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_checkpoints_of_another_run_are_not_resumed_from(scripts):
    out = copy_of_reference(scripts, "other_run")
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    theirs, config["run_id"] = config["run_id"], "0123456789ab"
    (out / "config.json").write_text(json.dumps(config), encoding="utf-8")
    code, output = train(scripts, out, "--resume")
    assert code == 1 and "Traceback" not in output, output
    assert f"it belongs to run {theirs}, not to run 0123456789ab" in output, output


# ---- operating-system errors -----------------------------------------------------------------


def test_a_full_disk_mid_run_stops_cleanly_and_the_run_resumes(scripts, reference):
    out = copy_of_reference(scripts, "full_disk")
    last = checkpoints(out)[-1]
    last.unlink()
    last.with_name(last.name + ".sha256").unlink()
    # files over 40 kB fail as on a full disk: the weights (23 kB) fit, a checkpoint (70 kB) not
    code, output = train(scripts, out, "--resume", max_file_size=40_000)
    assert code == 1 and "Traceback" not in output, output
    assert f"cannot write {last}: File too large" in output, output
    assert not list(out.glob("*.tmp")) and not last.exists()
    code, output = train(scripts, out, "--resume")
    assert code == 0 and f"resuming from {out / 'checkpoint-000000100.pt'}" in output, output
    assert same(final_state(out), reference)


# ---- nndsl run and its run folder (in process: no torch import per run) -------------------------

TINY = (
    NET_AND_PAIRS
    + "train Net on pairs {\n    loss mse\n    optimizer sgd(lr=0.01)\n    epochs 1\n}\n"
)


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A folder (the current one) holding net.nn, a model that trains in two steps."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.nn").write_text(TINY, encoding="utf-8")
    return tmp_path


def contents(folder) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.mark.parametrize("edited", ["model.py", "train_net.py"])
@pytest.mark.parametrize("how", ["resume", "fresh"])
def test_run_never_overwrites_a_hand_edited_source(tiny, capsys, edited, how):
    if how == "resume":
        assert nndsl(["run", "net.nn", "--out", "r", "--quiet"]) == 0
    else:  # a folder of sources only, as `compile` writes them
        assert nndsl(["compile", "net.nn", "-o", "r/model.py"]) == 0
    path = tiny / "r" / edited
    path.write_text(path.read_text(encoding="utf-8") + "# my change\n", encoding="utf-8")
    before = contents(tiny / "r")
    capsys.readouterr()
    flags = ["--resume"] if how == "resume" else []
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert f"{path.relative_to(tiny)} has been edited since nndsl wrote it" in err, err
    assert contents(tiny / "r") == before


def test_a_second_run_into_a_run_folder_is_refused_and_resume_continues_it(tiny, capsys):
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet"]) == 0
    before = contents(tiny / "r")
    run_id = json.loads(before["config.json"])["run_id"]
    capsys.readouterr()
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet", "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert f"r holds run {run_id}" in err and "--resume" in err, err
    assert contents(tiny / "r") == before
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet", "--resume", "--epochs", "2"]) == 0
    assert json.loads((tiny / "r" / "config.json").read_bytes())["run_id"] == run_id
    assert checkpoints(tiny / "r")[-1].name == "checkpoint-000000004.pt"


def test_resume_refuses_a_source_whose_model_has_changed(tiny, capsys):
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet"]) == 0
    before = contents(tiny / "r")
    (tiny / "net.nn").write_text(TINY.replace("Linear(8)", "Linear(9)"), encoding="utf-8")
    capsys.readouterr()
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err
    assert "the model in net.nn has changed since this run began" in err, err
    assert contents(tiny / "r") == before


def test_a_source_named_like_a_run_file_does_not_replace_it(tiny):
    (tiny / "model.py").write_text(TINY, encoding="utf-8")
    assert nndsl(["run", "model.py", "--out", "r", "--quiet"]) == 0
    assert (tiny / "r" / "model.py").read_text(encoding="utf-8").startswith("# Generated by nndsl")
    assert (tiny / "r" / "model.py.nn").read_text(encoding="utf-8") == TINY


def test_a_run_folder_that_cannot_be_made_is_an_error_not_a_bug(tiny, capsys):
    (tiny / "plain").write_text("a file\n", encoding="utf-8")
    assert nndsl(["run", "net.nn", "--out", "plain/r", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nndsl: error: cannot write plain/r" in err and "bug" not in err, err


def test_a_run_folder_the_script_cannot_make_is_an_error_not_a_traceback(scripts):
    (scripts / "plain").write_text("a file\n", encoding="utf-8")
    code, output = train(scripts, scripts / "plain" / "r")
    assert code == 1 and "Traceback" not in output, output
    assert f"error: cannot make the run folder {scripts / 'plain' / 'r'}: Not a directory" in output


def test_drop_last_leaving_no_batch_for_the_batch_size_given_is_an_error(tiny, capsys):
    """The checker knows the data's size and its batch (E0418); --batch-size is not known to it."""
    (tiny / "net.nn").write_text(TINY.replace("batch 2", "batch 2\n    drop_last true"))
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet", "--batch-size", "8"]) == 1
    err = capsys.readouterr().err
    assert "error: no batch to train on: drop_last leaves out all 4 training samples, fewer " in err
    assert "give a --batch-size of at most 4" in err and "nan" not in err, err
    assert not (tiny / "r" / "config.json").exists()


def test_a_full_disk_under_nndsl_run_is_an_error_and_the_run_resumes(tiny, capsys, monkeypatch):
    save = torch.save

    def full_disk(obj, f, *args, **kwargs):
        if "checkpoint" in str(getattr(f, "name", f)):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", full_disk)
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "nndsl: error: cannot write " in err, err
    assert "r/checkpoint-000000002.pt: No space left on device" in err, err
    assert "Traceback" not in err and not list((tiny / "r").glob("*.tmp")), err
    monkeypatch.setattr(torch, "save", save)
    assert nndsl(["run", "net.nn", "--out", "r", "--quiet", "--resume"]) == 0
    assert checkpoints(tiny / "r")[-1].name == "checkpoint-000000002.pt"
