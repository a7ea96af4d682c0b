"""`distributed fsdp`: the model sharded over torchrun's processes (FSDP2's fully_shard, one
unit per block or repeated block, then the model), gloo on the CPU, and its checkpoints
written by every process with torch.distributed.checkpoint.

Two processes must end with the weights of one process on the same global batches, within
1e-6 (measured: at most 1.2e-7 after 18 Adam steps; the reduce-scatter adds the two halves'
gradients in another order than one process does). A rank killed mid-run and restarted
resumes to the uninterrupted two-process weights bit for bit; a checkpoint written by two
processes resumes in one; a checkpoint without its metadata is passed over for the one
before. The weights file is the whole, unsharded state_dict the model file loads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from compiled import NET_AND_PAIRS, ROOT

from nndsl.cli import main as nndsl
from nndsl.compiler import analyze, generate_kit
from nndsl.tools.memory_plan import plan

SOURCE = """
block Layer {
    Linear(32) Tanh()
}
model Net(x: [16]) {
    Linear(32)
    body = repeat 2 { Layer() }
    out = Linear(4)
}
data d {
    x = randn(512, 16)
    y = argmax(x[:, 0:4], 1)
    batch 64
    split 0.125
    test 0.125
}
train Net on d {
    loss cross_entropy
    optimizer adam(lr=0.01)
    metrics accuracy
    epochs 3
    checkpoint 4
    distributed fsdp
    predict [[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
}
"""

# Runs the generated script's main, writing which modules were sharded; with KILL_AT,
# rank 1 kills itself at that batch of its first attempt.
DRIVER = textwrap.dedent("""
    import importlib.util, os, signal, sys
    from pathlib import Path
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    script = os.environ.get("SCRIPT", "train_net.py")
    spec = importlib.util.spec_from_file_location(script[:-3], script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[script[:-3]] = module
    spec.loader.exec_module(module)
    kit = module.kit
    cfg = kit.parse_args(module.Config, None, sys.argv[1:])
    init, check, shard = kit.Loop.__init__, kit.Loop.stop_if_not_finite, kit.fully_sharded
    import torch
    kill_at = int(os.environ.get("KILL_AT", "0"))
    first = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") == "0"
    calls = []

    def init_and_list(self, *args, **kwargs):
        init(self, *args, **kwargs)
        from torch.distributed.fsdp import FSDPModule
        model = self.state.model
        units = [n or "." for n, m in model.named_modules() if isinstance(m, FSDPModule)]
        Path(cfg.out_dir, f"units-{self.run.rank}.txt").write_text(" ".join(units))
        if os.environ.get("BUILD_ONLY"):  # the weights as built, then stop
            tied = model.get_parameter("head.weight") is model.get_parameter("wte.weight")
            Path(cfg.out_dir, f"tied-{self.run.rank}.txt").write_text(str(tied))
            draw = str(torch.rand(1).item())  # the random state after the build
            Path(cfg.out_dir, f"draw-{self.run.rank}.txt").write_text(draw)
            whole = self.whole()
            if whole is not None:
                torch.save(whole.state_dict(), Path(cfg.out_dir, "built.pt"))
            self.run.figures.close()
            raise SystemExit(0)

    def shard_and_note(model, *args):  # the devices each process built the model on
        on = sorted({t.device.type for t in [*model.parameters(), *model.buffers()]})
        Path(cfg.out_dir, f"built-{os.environ.get('RANK', '0')}.txt").write_text(" ".join(on))
        return shard(model, *args)

    def check_and_maybe_die(self, *args):  # called once per batch on the CPU
        calls.append(1)
        if kill_at and first and os.environ.get("RANK") == "1" and len(calls) == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        check(self, *args)

    kit.Loop.__init__, kit.Loop.stop_if_not_finite = init_and_list, check_and_maybe_die
    kit.fully_sharded = shard_and_note
    damage, blind = kit.sharded_damage, os.environ.get("BLIND", "checkpoint-").split(":")
    if os.environ.get("RANK", "0") == os.environ.get("BLIND_RANK"):  # as on a disk of its own
        kit.sharded_damage = lambda path: (
            "its .metadata is missing" if path.name.startswith(tuple(blind)) else damage(path))
    module.main(cfg)
    """)


# Init rules, a tied weight, BatchNorm's buffers and a `const` one: what the first process
# builds and sends into the others' shards.
BUILT = """
block Layer {
    Linear(32) Tanh()
}
model Net(x: [8] long) {
    wte = Embedding(16, 32)
    scale = const([32], init=rand)
    norm = BatchNorm1d(32)
    body = repeat 2 { Layer() }
    head = Linear(16, bias=false, weight=wte.weight)
    forward {
        h = body(wte(x) * scale)
        return head(transpose(norm(transpose(h, 1, 2)), 1, 2))
    }
}
data d {
    x = long(rand(256, 8) * 16)
    y = long(rand(256, 8) * 16)
    batch 32
}
train Net on d {
    loss cross_entropy(flatten(out, 0, 1), flatten(y))
    optimizer adam(lr=0.01)
    init {
        Linear.weight ~ normal(0, 0.02)
        Linear.bias ~ uniform(-0.1, 0.1)
        Embedding.weight ~ normal(0, 0.5)
    }
    distributed fsdp
}
"""


def compiled_folder(folder, source: str):
    (folder / "net.nn").write_text(source, encoding="utf-8")
    assert nndsl(["compile", str(folder / "net.nn"), "-o", str(folder / "model.py")]) == 0
    (folder / "driver.py").write_text(DRIVER, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return compiled_folder(tmp_path_factory.mktemp("fsdp"), SOURCE)


def test_only_the_first_process_builds_the_whole_model(tmp_path):
    compiled_folder(tmp_path, BUILT)
    assert "with run.init_device() as device:" in (tmp_path / "train_net.py").read_text()
    build = {"BUILD_ONLY": "1"}
    one = launch(tmp_path, tmp_path / "one", 0, env=build)
    assert one.returncode == 0, one.stderr
    two = launch(tmp_path, tmp_path / "two", 2, env=build)
    assert two.returncode == 0, two.stderr[-3000:]
    # the others built on the meta device: no parameter or buffer of theirs was whole
    assert (tmp_path / "two" / "built-0.txt").read_text() == "cpu"
    assert (tmp_path / "two" / "built-1.txt").read_text() == "meta"
    draw = (tmp_path / "one" / "draw-0.txt").read_text()
    for rank in (0, 1):  # the tie survives the meta device, sharding and to_empty
        assert (tmp_path / "two" / f"tied-{rank}.txt").read_text() == "True"
        # every process goes on from the random state of one that built the model
        assert (tmp_path / "two" / f"draw-{rank}.txt").read_text() == draw
    # gathered from the shards: bit for bit the model one process builds, buffers too
    built = torch.load(tmp_path / "two" / "built.pt", weights_only=True)
    alone = torch.load(tmp_path / "one" / "built.pt", weights_only=True)
    assert {"scale", "norm.running_var", "norm.num_batches_tracked"} <= alone.keys()
    assert_close(built, alone, atol=0)


def launch(folder, out, nproc: int, *extra, env=None, args=(), timeout=600):
    """The driver under torchrun as `nproc` processes; with nproc 0, as one plain process;
    `args` for the script."""
    torchrun = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *extra]
    cmd = [sys.executable, *(torchrun if nproc else []), "driver.py", "--out-dir", str(out),
           "--quiet", "--resume", *args]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    return subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)


def weights(out) -> dict:
    return torch.load(out / "model.pt", weights_only=True)


def assert_close(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for name, tensor in b.items():
        torch.testing.assert_close(a[name], tensor, rtol=0, atol=atol)


def load_kit(folder):
    path = folder / "trainkit.py"
    path.write_text(generate_kit(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("trainkit_fsdp", path)
    kit = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = kit  # its dataclasses look themselves up there
    spec.loader.exec_module(kit)
    return kit


@pytest.fixture(scope="module")
def single(folder):
    proc = launch(folder, folder / "single", 0)
    assert proc.returncode == 0, proc.stderr
    (folder / "single" / "stdout.txt").write_text(proc.stdout, encoding="utf-8")
    return weights(folder / "single")


@pytest.fixture(scope="module")
def double(folder):
    proc = launch(folder, folder / "double", 2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder / "double" / "stdout.txt").write_text(proc.stdout, encoding="utf-8")
    return folder / "double"


@pytest.fixture(scope="module")
def killed(folder):
    """A two-process run whose rank 1 died at batch 13, after the checkpoint of step 12."""
    out = folder / "killed"
    proc = launch(folder, out, 2, env={"KILL_AT": "13"})
    assert proc.returncode != 0
    assert (out / "checkpoint-000000012" / ".metadata").is_file(), proc.stderr[-3000:]
    return out


def test_two_sharded_processes_train_as_one(folder, single, double):
    for rank in (0, 1):  # the model, and each copy of the repeat
        assert (double / f"units-{rank}.txt").read_text() == ". body.0 body.1"
    assert_close(weights(double), single, atol=1e-6)
    # the weights file is whole: the model file's class loads it, strictly
    spec = importlib.util.spec_from_file_location("fsdp_model", folder / "model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    model.Net().load_state_dict(weights(double))
    # the newest two checkpoints are kept; every process wrote its shards of each
    checkpoints = sorted(double.glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-000000016", "checkpoint-000000018"]
    for checkpoint in checkpoints:
        names = {p.name for p in checkpoint.iterdir()}
        assert {".metadata", "__0_0.distcp", "__1_0.distcp", "state.pt"} <= names
    # the first process tested the best weights, gathered, as one process does
    one = json.loads((folder / "single" / "test_metrics.json").read_text())
    two = json.loads((double / "test_metrics.json").read_text())
    assert two.pop("classes") == one.pop("classes") and two == pytest.approx(one)
    # and predicted with the whole weights (the sharded model would wait for the others)
    said = [(out / "stdout.txt").read_text().splitlines() for out in (folder / "single", double)]
    predicted = [[line for line in lines if line.startswith("predict ")] for lines in said]
    assert len(predicted[0]) == 1 and predicted[1] == predicted[0]


def test_eval_reads_the_weights_of_a_sharded_checkpoint(tmp_path, folder, double):
    kit = load_kit(tmp_path)
    spec = importlib.util.spec_from_file_location("fsdp_model_eval", folder / "model.py")
    model = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(model)
    net, last = model.Net(), double / "checkpoint-000000018"  # the final state
    kit.load_weights(net, str(last), torch.device("cpu"))
    assert_close(net.state_dict(), weights(double), atol=0)
    damaged = tmp_path / "damaged"
    shutil.copytree(last, damaged)
    (damaged / "__1_0.distcp").write_bytes(b"cut short")
    with pytest.raises(SystemExit, match="__1_0.distcp differs from its SHA-256"):
        kit.load_weights(net, str(damaged), torch.device("cpu"))


def test_a_killed_rank_resumes_to_the_same_weights_bit_for_bit(folder, double):
    out = folder / "restarted"
    proc = launch(folder, out, 2, "--max-restarts=1", env={"KILL_AT": "13"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"resuming from {out}/checkpoint-000000012 (epoch 2, step 12)" in proc.stderr
    assert_close(weights(out), weights(double), atol=0)


def test_a_checkpoint_of_two_processes_resumes_in_one(folder, single, killed):
    out = folder / "resharded"
    shutil.copytree(killed, out)
    proc = launch(folder, out, 0)
    assert proc.returncode == 0, proc.stderr
    assert f"resuming from {out}/checkpoint-000000012" in proc.stderr
    assert "written with processes 2, this run has 1" in proc.stderr
    assert_close(weights(out), single, atol=1e-6)


def test_a_checkpoint_without_metadata_is_passed_over(folder, single, killed):
    out = folder / "unfinished"
    shutil.copytree(killed, out)
    (out / "checkpoint-000000012" / ".metadata").unlink()
    proc = launch(folder, out, 0)
    assert proc.returncode == 0, proc.stderr
    newest = out / "checkpoint-000000012"
    assert f"not resuming from {newest}: its .metadata is missing" in proc.stderr
    assert f"resuming from {out}/checkpoint-000000008 (epoch 2, step 8)" in proc.stderr
    assert_close(weights(out), single, atol=1e-6)


def checkpoints(out) -> list:
    return sorted(p for p in out.glob("checkpoint-*") if p.suffix != ".tmp")


# One process's view of a checkpoint may differ from the others' (each node's own disk); it
# used to load another checkpoint than they did, or none, and leave them waiting (measured:
# rank 0 resumed from step 12, rank 1 from step 8, and both hung).
def test_a_checkpoint_one_process_cannot_read_is_passed_over_by_all(folder, double, killed):
    out = folder / "half-blind"
    shutil.copytree(killed, out)
    blind = {"BLIND_RANK": "1", "BLIND": "checkpoint-000000012"}
    proc = launch(folder, out, 2, env=blind, timeout=200)  # not waiting for each other
    assert proc.returncode == 0, proc.stderr[-3000:]
    newest = out / "checkpoint-000000012"
    warning = f"not resuming from {newest}: its .metadata is missing (process 1)"
    assert proc.stderr.count(warning) == 1  # said by the first process
    assert f"resuming from {out}/checkpoint-000000008 (epoch 2, step 8)" in proc.stderr
    assert_close(weights(out), weights(double), atol=0)


def test_checkpoints_one_process_cannot_read_end_every_process(folder, killed):
    out = folder / "blind"
    shutil.copytree(killed, out)
    proc = launch(folder, out, 2, env={"BLIND_RANK": "1"}, timeout=120)
    assert proc.returncode != 0
    for path in checkpoints(out):  # passed over by every process, then the end
        assert f"not resuming from {path}: its .metadata is missing (process 1)" in proc.stderr
    assert_ends_every_process(proc, f"error: no checkpoint in {out} can be resumed from")


def assert_ends_every_process(proc, message: str) -> None:
    """Each of the two processes ended on `message`, without a traceback of its own."""
    assert proc.stderr.count(message) == 2, proc.stderr[-3000:]
    assert not re.search(r"\[rank\d\]: Traceback", proc.stderr)


def test_a_shard_that_cannot_be_read_ends_every_process(folder, killed):
    out = folder / "unreadable"
    shutil.copytree(killed, out)
    for checkpoint in checkpoints(out):  # damaged, and its SHA-256 made to agree
        shard = checkpoint / "__1_0.distcp"
        shard.write_bytes(bytes(shard.stat().st_size))
        files = sorted(f for f in checkpoint.iterdir() if f.suffix != ".sha256")
        sums = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}\n" for f in files]
        (checkpoint / "checkpoint.sha256").write_text("".join(sums))
    proc = launch(folder, out, 2, timeout=120)
    assert proc.returncode != 0
    for path in checkpoints(out):  # DCP's failure, the same for both processes
        assert f"not resuming from {path}: its shards cannot be read: " in proc.stderr
    assert_ends_every_process(proc, f"error: no checkpoint in {out} can be resumed from")


# examples/sharded_gpt.nn at a reduced size: 32 wide instead of 4096, 2 blocks of 4 heads
# instead of 32 of 32 (its full 6.4 billion parameters are never built by the tests); the rest
# is the example's own code, data and settings, for 4 optimizer steps.
REDUCED = {"4096)": "32)", "repeat 32 { Block(32) }": "repeat 2 { Block(4) }"}


def test_the_sharded_example_trains_at_a_reduced_size_as_one_process(tmp_path):
    source = (ROOT / "examples" / "sharded_gpt.nn").read_text(encoding="utf-8")
    for full, reduced in REDUCED.items():
        assert full in source
        source = source.replace(full, reduced)
    (tmp_path / "data").mkdir()
    shutil.copy(ROOT / "examples" / "data" / "sonnets.txt", tmp_path / "data")
    compiled_folder(tmp_path, source)
    run = {"env": {"SCRIPT": "train_shardedgpt.py"}, "args": ("--max-steps", "4")}
    one = launch(tmp_path, tmp_path / "one", 0, **run)
    assert one.returncode == 0, one.stderr
    two = launch(tmp_path, tmp_path / "two", 2, **run)
    assert two.returncode == 0, two.stderr[-3000:]
    assert (tmp_path / "two" / "units-1.txt").read_text() == ". blocks.0 blocks.1"
    assert (tmp_path / "two" / "built-1.txt").read_text() == "meta"
    assert_close(weights(tmp_path / "two"), weights(tmp_path / "one"), atol=1e-6)


@pytest.fixture()
def one_process_group():
    """A process group of one, in this process (fully_shard needs one)."""
    import torch.distributed as dist

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_sharding_gathers_in_bf16_keeps_float32_shards_and_repoints_the_optimizer(
    tmp_path, one_process_group
):
    kit = load_kit(tmp_path)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    model[1].register_buffer("loose", torch.randn(3), persistent=False)  # not in state_dict
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loose = model[1].loose.clone()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    replica = kit.fully_sharded(model, optimizer, "bf16", torch.device("cpu"), main=True)
    assert torch.equal(model[1].loose, loose)  # sent as the state_dict is
    for name, tensor in model.state_dict().items():  # the shards of one process: whole
        assert torch.equal(tensor.full_tensor(), before[name])
    assert all(p.device.type == "meta" for p in replica.parameters())
    held = [p for group in optimizer.param_groups for p in group["params"]]
    assert [id(p) for p in held] == [id(p) for p in model.parameters()]
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    model(torch.randn(3, 4)).sum().backward()
    optimizer.step()
    assert seen == [torch.bfloat16]  # computed in bfloat16 ...
    assert {p.dtype for p in model.parameters()} == {torch.float32}  # ... kept in float32
    whole = kit.gathered(model, replica, torch.device("cpu"))
    assert whole is replica and whole.state_dict().keys() == before.keys()
    assert not torch.equal(whole[0].weight, before["0.weight"])  # the trained weights


def fsdp(settings: str) -> str:
    return NET_AND_PAIRS + f"train Net on pairs {{ loss mse {settings} }}"


def test_the_script_asks_the_kit_to_shard(tmp_path):
    (tmp_path / "net.nn").write_text(fsdp("distributed fsdp"), encoding="utf-8")
    assert nndsl(["compile", str(tmp_path / "net.nn"), "-o", str(tmp_path / "model.py")]) == 0
    assert 'distributed="fsdp"' in (tmp_path / "train_net.py").read_text()


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            "distributed fsdp precision fp16",
            "`distributed fsdp` trains in precision fp32 or " "bf16, not fp16",
        ),
        ("distributed zero", "`distributed` is one of none, ddp, fsdp; got `zero`"),
    ],
)
def test_what_fsdp_refuses(extra, message):
    result = analyze(fsdp(extra))
    assert [d.message for d in result.diagnostics if d.severity == "error"] == [message]


def test_the_memory_plan_shards_what_the_section_says():
    result = analyze(fsdp("distributed fsdp"))
    program = result.program
    (t,) = program.trains
    sharded, whole = plan(program, t, nproc=2), plan(program, t, nproc=2, strategy="ddp")
    figures = {name: b for name, b, _ in sharded.rows}
    assert sharded.strategy == "fsdp" and whole.strategy == "ddp"
    assert figures["Parameters"] < dict((n, b) for n, b, _ in whole.rows)["Parameters"]
    result = analyze(fsdp("distributed fsdp precision bf16"))
    (t,) = result.program.trains
    gathered = {name: b for name, b, _ in plan(result.program, t, nproc=2).rows}
    assert gathered["Gathered layer"] * 2 == figures["Gathered layer"]  # bfloat16, not float32
