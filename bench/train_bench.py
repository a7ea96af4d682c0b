"""By-hand benchmark of the training scripts nndsl generates (not a test; run it from anywhere):

    python bench/train_bench.py [--rounds 21] [--samples N] [--startup-rounds 7] [--budget 120]
    python bench/train_bench.py --quick           # 1 round, 2,048 samples: a smoke run, < 1 min
    python bench/train_bench.py --profile mlp-b64 # where the runner's time goes, for a MISS

Everything runs on the CPU with torch's default thread count, in rounds that interleave the
variants (their order rotated), and the ratios with a verdict are medians over the rounds of the
per-round ratio, so they hold on a shared machine even when absolute figures move. Two busy
OpenMP threads that share their cores with another process slow down 10-50x, far beyond what
interleaving evens out, so each timed run first waits (up to 3 s) for a quiet machine and records
how much CPU *other* processes used while it ran (from /proc/stat, Linux only); runs during which
they took more than 0.15 cores are set aside, and a figure is flagged "machine busy" when fewer
than 3 runs were undisturbed. Even undisturbed epochs of a 2-core VM vary by 10-30%; the spread
is printed, and so are the ratio of the medians and of the fastest epochs as cross-checks. About
3.5 minutes on an idle 2-core machine; longer when it is busy.

(a) start-up of ``nndsl run`` beyond ``import torch`` (targets < 0.3 s):
    (a1) in process, after torch is imported: ``import nndsl.compiler``, ``analyze`` +
         ``generate`` + ``generate_train`` of examples/mlp.nn, writing the run folder (model.py,
         the script, the source, as ``nndsl run`` writes them) and importing the generated
         script with its model module. The first time in the process (cold: what a run pays)
         has the target; warm repeats are shown for reference, and so is the share of garbage
         collection (with torch loaded, one full collection walks torch's objects too).
    (a2) whole process: ``python -m nndsl run examples/mlp.nn --eval <weights> --quiet`` minus
         ``python -c "import torch"``, interleaved, medians. ``--eval`` makes the script do what
         a run does before its first epoch (compile, write the run folder, exec the script,
         load the data, build the model) and one evaluation pass instead of training. One whole
         ``--epochs 1`` run (one epoch, validation, weights, metrics.csv, loss.png) is shown for
         reference: it also pays torch's first-optimizer cost (building one imports
         ``torch._dynamo``), which any PyTorch script pays, and matplotlib's import.
(b) training throughput, samples/s of one epoch. Four loops per case, same model class, same
    initial weights, same data tensors, same number of samples, one warm-up epoch each:
      runner    the generated script's own ``train_one_epoch`` with its ``State``,
                ``build_optimizer``, ``Config`` (``parse_args([..., "--quiet"])``: no tqdm bar)
                and the train section's loss, called as its ``main`` calls it; only the epoch is
                timed (no validation, metrics.csv, weights or plots).
      premade   the physical limit: batches sliced and cloned into a list in advance; the loop
                is forward + loss + backward + step + zero_grad, nothing else (no shuffling, no
                metrics).
      tutorial  the classic PyTorch tutorial loop: ``DataLoader(TensorDataset(x, y), batch_size,
                shuffle=True)``, forward, loss, backward, step, zero_grad and
                ``running_loss += loss.item()`` per batch.
      hand      the generated loop written by hand and run the same way: one seeded randperm
                gather per epoch, slicing, the same loss/accuracy sums kept as tensors. Its
                warm-up epoch must reproduce the runner's loss (same order, same updates).
    Cases, on synthetic data written in the .nn (so every loop gets exactly the same tensors):
      mlp-b64, mlp-b256  the 20-256-10 MLP below, x = randn(N, 20), y = randint(0, 10, N), SGD
                         with momentum; N = 32,768.
      cnn                examples/digits_cnn.nn, model and train section verbatim (Adam, metrics
                         accuracy, batch 64), with its data section replaced by data of the
                         digits' own shape: x = rand(N, 1, 8, 8), y = randint(0, 10, N); N =
                         4,096. The shipped example is what users run, and 8x8 images keep the
                         per-batch compute small: the hard case for loop overhead, which a 28x28
                         CNN would hide behind its convolutions.
      lstm               examples/digits_lstm.nn verbatim (batch 64), x = rand(N, 8, 8); N = 8,192.
    Rounds continue past --rounds until every loop has --rounds undisturbed epochs; once --budget
    seconds have gone by, (b) neither waits for quiet nor adds rounds.
    Targets, on the runner's samples/s over the other loop's: runner/premade >= 0.95 in every
    case; runner/tutorial >= 1.4 (mlp-b64), >= 2.5 (mlp-b256), >= 1.1 (cnn), lstm for reference;
    runner/hand >= 0.98 in every case (the generated code carries no overhead over the same loop
    written by hand).

--profile CASE is for chasing a MISS: each piece of a batch timed alone (the training step, the
shuffle, ``batches()``, ``keep_for_metrics()``/``measure()``, the finite-loss check); then whole
epochs, interleaved, of the premade loop grown step by step into the hand loop (+ slicing,
+ shuffled gather, + loss sum, + accuracy, + ``loss.item()``) beside the runner and beside a
variant that keeps the batches' losses and outputs and reduces them every 64 batches, each with
the case's model and with a 10-weight one that leaves only the loop's own cost; best of 15 (a busy
machine only ever adds time); then a cProfile of the runner.

Writes only under build/train_bench/ (git-ignored). Exits 0 when every target is met, 1
otherwise.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import importlib.util
import inspect
import io
import math
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "train_bench"
EXAMPLES = REPO / "examples"

STARTUP_MAX_S = 0.3
PREMADE_MIN = 0.95
HAND_MIN = 0.98
TUTORIAL_MIN = {"mlp-b64": 1.4, "mlp-b256": 2.5, "cnn": 1.1}
BUSY_CORES = 0.15  # a run during which other processes used more CPU than this is set aside
MIN_CLEAN = 3  # fewer undisturbed runs than this: use them all and flag the figure
VARIANTS = ("runner", "premade", "tutorial", "hand")

MLP_SOURCE = """\
# The 20-256-10 MLP of the tutorials, on synthetic data (bench/train_bench.py).
model MLP(x: [20]) {{
    hidden = Linear(256)
    ReLU()
    out = Linear(10)
}}

data synthetic {{
    x = randn({n}, 20)
    y = randint(0, 10, {n})
    batch 64
}}

train MLP on synthetic {{
    loss cross_entropy
    optimizer sgd(lr=0.01, momentum=0.9)
    epochs 1
}}
"""
CNN_DATA = (
    "data {name} {{\n    x = rand({n}, 1, 8, 8)\n    y = randint(0, 10, {n})\n    batch 64\n}}\n"
)
LSTM_DATA = (
    "data {name} {{\n    x = rand({n}, 8, 8)\n    y = randint(0, 10, {n})\n    batch 64\n}}\n"
)
DEFAULT_SAMPLES = {"mlp": 32768, "cnn": 4096, "lstm": 8192}


def synthetic_example(path: Path, block: str, n: int) -> str:
    """The example's source with its one ``data`` section replaced by synthetic data."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(r"^data (\w+) \{\n.*?^\}\n", re.M | re.S)
    found = pattern.findall(text)
    if len(found) != 1:
        raise SystemExit(f"{path.name}: expected one data section, found {len(found)}")
    note = f"# {path.name} with synthetic data of the same shape (bench/train_bench.py)\n"
    return note + pattern.sub(lambda m: block.format(name=found[0], n=n), text)


@dataclass
class Case:
    name: str
    key: str  # the build/train_bench/<key>/ folder; cases with the same key share one script
    source: str
    filename: str
    batch_size: int
    optimizer: object  # params -> the optimizer the train section asks for, written by hand


def cases(samples: int | None) -> list[Case]:
    import torch

    n = {k: samples or v for k, v in DEFAULT_SAMPLES.items()}
    mlp = MLP_SOURCE.format(n=n["mlp"])
    cnn = synthetic_example(EXAMPLES / "digits_cnn.nn", CNN_DATA, n["cnn"])
    lstm = synthetic_example(EXAMPLES / "digits_lstm.nn", LSTM_DATA, n["lstm"])
    sgd = lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)  # noqa: E731
    return [
        Case("mlp-b64", "mlp", mlp, "mlp.nn", 64, sgd),
        Case("mlp-b256", "mlp", mlp, "mlp.nn", 256, sgd),
        Case("cnn", "cnn", cnn, "digits_cnn.nn", 64, lambda p: torch.optim.Adam(p, lr=0.003)),
        Case("lstm", "lstm", lstm, "digits_lstm.nn", 64, lambda p: torch.optim.Adam(p, lr=0.01)),
    ]


CASE_NAMES = ("mlp-b64", "mlp-b256", "cnn", "lstm")


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def row(label: str, value: str, target: str = "", status: str = "", note: str = "") -> None:
    print(f"  {label:<40} {value:>10}   {target:<10} {status:<4}  {note}".rstrip())


# ---- how busy the machine is --------------------------------------------------------------------


def _machine_busy_s() -> float | None:
    """CPU seconds every process has used since boot (user, system, irq, steal), or None."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    busy = sum(ticks[:8]) - idle  # guest time is already inside user
    return busy / os.sysconf("SC_CLK_TCK")


def _own_cpu_s() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(f) -> tuple[float, float, object]:
    """Run f(); (wall seconds, cores other processes used meanwhile, f's result)."""
    busy0, own0 = _machine_busy_s(), _own_cpu_s()
    start = time.perf_counter()
    result = f()
    wall = time.perf_counter() - start
    busy1, own1 = _machine_busy_s(), _own_cpu_s()
    if busy0 is None or busy1 is None or wall <= 0:
        return wall, 0.0, result
    return wall, max(0.0, (busy1 - busy0) - (own1 - own0)) / wall, result


def wait_quiet(max_wait: float, window: float = 0.25) -> None:
    """Sleep until other processes have used less than BUSY_CORES / 2 for `window` seconds,
    or `max_wait` seconds have gone by."""
    if _machine_busy_s() is None:
        return
    deadline = time.perf_counter() + max_wait
    while time.perf_counter() < deadline:
        wall, other, _ = timed(lambda: time.sleep(window))
        if other < BUSY_CORES / 2:
            return


def clean_median(runs: list[tuple[float, float]]) -> tuple[float, int, bool]:
    """Median wall time of the undisturbed runs; (median, runs used, all runs were needed)."""
    clean = [w for w, other in runs if other <= BUSY_CORES]
    if len(clean) >= MIN_CLEAN or (clean and len(clean) == len(runs)):
        return statistics.median(clean), len(clean), False
    return statistics.median(w for w, _ in runs), len(runs), True


def spread(runs: list[tuple[float, float]]) -> float:
    """Interquartile range over median of the undisturbed runs (all runs if too few)."""
    walls = [w for w, other in runs if other <= BUSY_CORES]
    walls = walls if len(walls) >= MIN_CLEAN else [w for w, _ in runs]
    if len(walls) < 4:
        return float("nan")
    q1, _, q3 = statistics.quantiles(walls, n=4)
    return (q3 - q1) / statistics.median(walls)


def fastest(runs: list[tuple[float, float]]) -> float:
    """The fastest undisturbed run (of all runs if too few were undisturbed)."""
    walls = [w for w, other in runs if other <= BUSY_CORES]
    return min(walls if len(walls) >= MIN_CLEAN else [w for w, _ in runs])


def paired(runner: list[tuple[float, float]], other: list[tuple[float, float]]) -> float:
    """Median over rounds of other's time / runner's time (the runner's speed over the other's),
    in rounds where both ran undisturbed (all rounds if fewer than 3). Steadier than the ratio of
    the medians when the machine's speed drifts: both epochs of a pair ran seconds apart."""
    both = [(r, o) for r, o in zip(runner, other) if max(r[1], o[1]) <= BUSY_CORES]
    both = both if len(both) >= MIN_CLEAN else list(zip(runner, other))
    return statistics.median(o[0] / r[0] for r, o in both)


# ---- driving the generated code ---------------------------------------------------------------


def import_script(script: Path):
    """Import a generated script from its folder as ``nndsl.run.runner._execute`` does: its
    ``model`` module is popped from sys.modules afterwards (every case has one), the script stays
    registered under its own name (its dataclasses look their module up there)."""
    folder = str(script.parent.resolve())
    saved = sys.modules.pop("model", None)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(folder)
        sys.modules.pop("model", None)
        if saved is not None:
            sys.modules["model"] = saved


def compile_case(source: str, filename: str, folder: Path):
    """Compile a .nn source in process, write it, model.py and the script into ``folder`` and
    import the script; (module, train IR)."""
    from nndsl.compiler import analyze, generate, generate_train

    result = analyze(source, folder)
    if not result.ok:
        messages = "; ".join(d.message for d in result.diagnostics)
        raise SystemExit(f"{filename} (written by the bench) does not compile: {messages}")
    (t,) = result.program.trains
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(source, encoding="utf-8")
    (folder / "model.py").write_text(generate(result.program, filename), encoding="utf-8")
    script = folder / f"{t.script}.py"
    script.write_text(generate_train(t, filename, "model", data_dir="."), encoding="utf-8")
    sys.modules.pop(t.script, None)
    return import_script(script), t


def runner_loop(module, t, model, optimizer, cfg, data: dict):
    """One call, one epoch of the generated ``train_one_epoch``, with the ``State`` the
    script's ``main`` builds and the loss of the train section."""
    import torch

    state_fields = {f.name for f in fields(module.State)}
    extra = {"scheduler": None} if "scheduler" in state_fields else {}
    if "net" in state_fields:
        extra["net"] = model
    state = module.State(
        model=model,
        optimizer=optimizer,
        loss_fn=eval(t.loss, vars(module)),  # noqa: S307 - the loss main() builds
        generator=torch.Generator().manual_seed(cfg.seed),
        **extra,
    )
    takes_epoch = "epoch" in inspect.signature(module.train_one_epoch).parameters
    epoch = [0]

    def runner():
        epoch[0] += 1
        if hasattr(state, "batch"):  # what the script's loop does between epochs
            state.epoch, state.batch = epoch[0], 0
        if takes_epoch:
            return module.train_one_epoch(state, data, cfg, epoch[0])
        return module.train_one_epoch(state, data, cfg)

    runner.state = state
    return runner


def premade_loop(model, optimizer, loss_fn, x, y, bs: int):
    """The physical limit: batches ready in a list; forward, loss, backward, step, zero_grad."""
    ready = [(x[i : i + bs].clone(), y[i : i + bs].clone()) for i in range(0, len(y), bs)]

    def premade():
        model.train()
        for xb, yb in ready:
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return premade


def tutorial_loop(model, optimizer, loss_fn, x, y, bs: int, seed: int):
    """The classic PyTorch tutorial loop."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=bs,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )

    def tutorial():
        model.train()
        running_loss = 0.0
        for inputs, labels in loader:
            outputs = model(inputs)
            loss = loss_fn(outputs, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            running_loss += loss.item()
        return running_loss

    return tutorial


def hand_loop(model, optimizer, loss_fn, x, y, bs: int, seed: int, accuracy: bool):
    """The generated loop written by hand: one shuffled gather per epoch, slices, and the same
    loss (and accuracy) sums, kept as tensors until the epoch ends."""
    import torch

    g = torch.Generator().manual_seed(seed)

    def hand():
        model.train()
        n = len(y)
        order = torch.randperm(n, generator=g)
        xs, ys = x[order], y[order]
        loss_sum, correct = 0.0, 0
        for start in range(0, n, bs):
            xb, yb = xs[start : start + bs], ys[start : start + bs]
            out = model(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum = loss_sum + loss.detach() * len(yb)
            if accuracy:
                correct = correct + (out.argmax(1) == yb).sum()
        metrics = {"loss": float(loss_sum) / n}
        if accuracy:
            metrics["accuracy"] = float(correct) / n
        return metrics

    return hand


class Loops:
    """The four training loops of one case, each training its own copy of the same model."""

    def __init__(self, case: Case, module, t):
        import torch
        import torch.nn as nn

        self.case, self.module, self.t = case, module, t
        cfg = module.parse_args(
            [
                "--device",
                "cpu",
                "--quiet",
                "--batch-size",
                str(case.batch_size),
                "--out-dir",
                str(BUILD / case.key / "out"),
            ]
        )
        if t.scheduler_step == "batch" or t.clip or t.accumulate > 1 or t.precision != "fp32":
            raise SystemExit(
                f"{case.name}: the hand-written loops do not mirror this train section"
            )
        if tuple(t.inputs) != ("x",) or t.output or t.compile:
            raise SystemExit(
                f"{case.name}: the hand-written loops expect one input `x`, no compile"
            )
        self.cfg = cfg
        data = getattr(module, f"load_{t.data.name}")(cfg)
        self.data = data
        x, y = data["x"], data["y"]
        self.x, self.y, self.samples = x, y, len(y)
        torch.manual_seed(cfg.seed)
        base = getattr(module, t.model)()
        if hasattr(module, "init_weights"):
            module.init_weights(base)
        self.base = base
        bs, seed = case.batch_size, cfg.seed
        self.accuracy = "accuracy" in t.metrics

        model = copy.deepcopy(base)
        runner = runner_loop(module, t, model, module.build_optimizer(model, cfg), cfg, data)
        # the other loops build the same loss and optimizer by hand
        loss_fn = nn.CrossEntropyLoss()
        if repr(runner.state.loss_fn) != repr(loss_fn):
            raise SystemExit(f"{case.name}: the train section's loss is {runner.state.loss_fn!r}")
        check_optimizer(case, runner.state.optimizer, case.optimizer(base.parameters()))

        def loop(make, *args):
            m = copy.deepcopy(base)
            return make(m, case.optimizer(m.parameters()), loss_fn, x, y, bs, *args)

        self.variants = {
            "runner": runner,
            "premade": loop(premade_loop),
            "tutorial": loop(tutorial_loop, seed),
            "hand": loop(hand_loop, seed, self.accuracy),
        }


def check_optimizer(case: Case, generated, written) -> None:
    """The hand-written optimizer must be the one the train section builds."""

    def settings(opt):
        return type(opt), [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups]

    if settings(generated) != settings(written):
        raise SystemExit(
            f"{case.name}: the generated optimizer {settings(generated)} differs from the "
            f"hand-written one {settings(written)}; update Case.optimizer"
        )


def prepare(samples: int | None, names=CASE_NAMES) -> list[Loops]:
    built: dict[str, tuple] = {}
    loops = []
    for case in cases(samples):
        if case.name not in names:
            continue
        if case.key not in built:
            built[case.key] = compile_case(case.source, case.filename, BUILD / case.key)
        loops.append(Loops(case, *built[case.key]))
    return loops


# ---- (a) start-up -----------------------------------------------------------------------------


def _write_atomic():
    """The file writer ``nndsl run`` uses (it has moved between modules)."""
    for name in ("nndsl.codegen.outputs", "nndsl.cli"):
        try:
            return importlib.import_module(name).write_atomic
        except (ImportError, AttributeError):
            continue
    return lambda path, text: path.write_text(text, encoding="utf-8")


def startup_in_process(warm_rounds: int, patience: float) -> bool:
    """Compile examples/mlp.nn, write the run folder and import the script, as ``nndsl run``
    does before it calls main(); the first time imports nndsl, jinja2 and black."""
    print(
        f"(a1) start-up in process, torch already imported: cold, then {warm_rounds} warm repeats"
    )
    source = EXAMPLES / "mlp.nn"
    text = source.read_text(encoding="utf-8")
    collecting: list[float] = []
    gc_s = [0.0]

    def on_gc(phase, info):
        if phase == "start":
            collecting.append(time.perf_counter())
        elif collecting:
            gc_s[0] += time.perf_counter() - collecting.pop()

    def once(folder: Path) -> list[tuple[str, float]]:
        marks = [("", time.perf_counter())]
        import nndsl.cli  # noqa: F401 - what `nndsl run` has imported when it compiles
        from nndsl.compiler import analyze, generate, generate_train

        write_atomic = _write_atomic()

        marks.append(("import nndsl.cli, .compiler, jinja2, lark", time.perf_counter()))
        result = analyze(text, source.parent)
        if not result.ok:
            raise SystemExit(f"examples/mlp.nn does not compile: {result.diagnostics}")
        (t,) = result.program.trains
        marks.append(("analyze", time.perf_counter()))
        model_text = generate(result.program, source.name)
        marks.append(("generate: model.py, import black", time.perf_counter()))
        data_dir = Path(os.path.relpath(source.parent.resolve(), folder.resolve())).as_posix()
        script_text = generate_train(t, source.name, "model", data_dir=data_dir)
        marks.append(("generate_train: train_mlp.py", time.perf_counter()))
        write_atomic(folder / "model.py", model_text)
        script = folder / f"{t.script}.py"
        write_atomic(script, script_text)
        write_atomic(folder / source.name, text)
        marks.append(("write the run folder", time.perf_counter()))
        sys.modules.pop(t.script, None)
        module = import_script(script)
        module.parse_args(["--out-dir", str(folder), "--quiet"])
        sys.modules.pop(t.script, None)
        marks.append(("import the script + parse_args", time.perf_counter()))
        return [(name, end - begin) for (_, begin), (name, end) in zip(marks, marks[1:])]

    gc.callbacks.append(on_gc)
    try:
        wait_quiet(patience)
        _, other, cold = timed(lambda: once(BUILD / "startup_inproc" / "cold"))
        cold_gc = gc_s[0]
        warm = []
        for r in range(warm_rounds):
            wait_quiet(patience)
            folder = BUILD / "startup_inproc" / f"warm{r}"
            warm.append(timed(lambda folder=folder: sum(s for _, s in once(folder))))
    finally:
        gc.callbacks.remove(on_gc)
    for name, seconds in cold:
        row(f"  {name}", f"{seconds * 1000:.0f} ms")
    total = sum(s for _, s in cold)
    row("    of which garbage collection", f"{cold_gc * 1000:.0f} ms")
    ok = total < STARTUP_MAX_S
    busy = f"machine busy: others used {other:.1f} cores" if other > BUSY_CORES else ""
    row("cold, total", f"{total * 1000:.0f} ms", f"< {STARTUP_MAX_S} s", verdict(ok), busy)
    median, used, flagged = clean_median([(w, o) for w, o, _ in warm])
    row(
        "warm, median",
        f"{median * 1000:.0f} ms",
        note=f"{used} runs" + (", machine busy" if flagged else ""),
    )
    return ok


def run_process(cmd: list[str]):
    # As installed, Python caches compiled modules (__pycache__); an environment that turns
    # that off would have every run compile nndsl's sources again, which no user's run does.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-800:].replace("\n", "\n    ")
        raise RuntimeError(f"`{' '.join(cmd[1:])}` exited {proc.returncode}:\n    {tail}")
    return proc


def startup_process(rounds: int, patience: float) -> bool | None:
    print(f"(a2) start-up, whole process, {rounds} interleaved rounds, medians")
    folder = (BUILD / "startup_run").relative_to(REPO)
    if (REPO / folder).exists():
        shutil.rmtree(REPO / folder)
    run = [sys.executable, "-m", "nndsl", "run", "examples/mlp.nn", "--out", str(folder), "--quiet"]
    cmds = {
        "torch": [sys.executable, "-c", "import torch"],
        "eval": run + ["--eval", str(folder / "model.pt")],
        "train": run + ["--epochs", "1"],
    }
    runs: dict[str, list[tuple[float, float]]] = {"torch": [], "eval": []}
    try:
        for name in ("train", "torch", "eval"):  # writes the weights; warms the file cache
            run_process(cmds[name])
        for r in range(rounds):
            for name in ("torch", "eval") if r % 2 == 0 else ("eval", "torch"):
                wait_quiet(patience)
                wall, other, _ = timed(lambda cmd=cmds[name]: run_process(cmd))
                runs[name].append((wall, other))
        wait_quiet(patience)
        train_wall, train_other, _ = timed(lambda: run_process(cmds["train"]))
    except RuntimeError as err:
        print(f"  failed: {err}")
        return False
    (t, nt, ft), (e, ne, fe) = (clean_median(runs[k]) for k in ("torch", "eval"))
    flag = lambda n, f: f"{n} runs" + (", machine busy: unreliable" if f else "")  # noqa: E731
    row("python -c 'import torch'", f"{t * 1000:.0f} ms", note=flag(nt, ft))
    row("nndsl run mlp.nn --eval", f"{e * 1000:.0f} ms", note=flag(ne, fe))
    ok = e - t < STARTUP_MAX_S
    row("  minus import torch", f"{(e - t) * 1000:.0f} ms", f"< {STARTUP_MAX_S} s", verdict(ok))
    busy = train_other > BUSY_CORES
    row("nndsl run mlp.nn --epochs 1", f"{train_wall * 1000:.0f} ms", note=flag(1, busy))
    row("  minus import torch", f"{(train_wall - t) * 1000:.0f} ms", "reference")
    return ok


# ---- (b) throughput ---------------------------------------------------------------------------


def interleave(
    loops: list, rounds: int, budget: float, patience: float, warmup: bool = True
) -> dict:
    """{(case, variant): [(wall, other cores)]}: one epoch of every variant per round, order
    rotated, each after waiting up to `patience` s for a quiet machine; past `rounds`, more
    rounds until each has `rounds` undisturbed epochs; no waiting or extra rounds once
    `budget` seconds have gone by."""
    if warmup:
        for lp in loops:
            for f in lp.variants.values():
                f()
    runs = {(lp.case.name, v): [] for lp in loops for v in lp.variants}
    start, r = time.perf_counter(), 0
    deadline = start + budget
    while True:
        for lp in loops:
            names = list(lp.variants)
            for name in names[r % len(names) :] + names[: r % len(names)]:
                wait_quiet(min(patience, deadline - time.perf_counter()))
                wall, other, _ = timed(lp.variants[name])
                runs[lp.case.name, name].append((wall, other))
        r += 1
        clean = min(sum(o <= BUSY_CORES for _, o in v) for v in runs.values())
        if r >= rounds and (clean >= rounds or time.perf_counter() > deadline):
            return runs


def throughput(rounds: int, samples: int | None, budget: float, patience: float) -> bool:
    import torch

    print(
        f"(b) training throughput, samples/s of one epoch, >= {rounds} interleaved rounds, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    )
    loops = prepare(samples)
    ok = True
    for lp in loops:  # the warm-up epoch; the runner and the hand loop must agree
        got = {name: f() for name, f in lp.variants.items()}
        r, h = got["runner"], got["hand"]
        if abs(r["loss"] - h["loss"]) > 1e-4 * max(1.0, abs(h["loss"])):
            print(
                f"  {lp.case.name}: runner loss {r['loss']:.6f} != hand loss {h['loss']:.6f}: "
                "the hand loop no longer mirrors the generated one"
            )
            ok = False
    start = time.perf_counter()
    runs = interleave(loops, rounds, budget, patience, warmup=False)
    total = len(next(iter(runs.values())))
    print(
        f"  {total} rounds in {time.perf_counter() - start:.0f} s. Only epochs during which other "
        f"processes used <= {BUSY_CORES} cores count. ratio: median over the rounds of the "
        "runner's samples/s over the other loop's (the verdict); medians: ratio of the median "
        "samples/s; best: of the fastest epochs; spread: interquartile range / median"
    )
    for lp in loops:
        c = lp.case.name
        med = {v: clean_median(runs[c, v]) for v in lp.variants}
        rate = {v: lp.samples / m[0] for v, m in med.items()}
        used = "/".join(str(med[v][1]) for v in VARIANTS)
        flagged = any(m[2] for m in med.values())
        batches = -(-lp.samples // lp.case.batch_size)
        print(
            f"  {c}: batch {lp.case.batch_size}, {lp.samples:,} samples, {batches} batches; "
            f"epochs counted {used} of {total}" + ("; MACHINE BUSY: unreliable" if flagged else "")
        )
        print("    median samples/s  " + "  ".join(f"{v} {rate[v]:,.0f}" for v in VARIANTS))
        if total >= 4:
            print(
                "    spread            "
                + "  ".join(f"{v} {spread(runs[c, v]):.1%}" for v in VARIANTS)
            )
        for other in ("premade", "tutorial", "hand"):
            ratio = paired(runs[c, "runner"], runs[c, other])
            note = ""
            if total >= MIN_CLEAN:
                note = f"medians {rate['runner'] / rate[other]:.3f}x, best "
                note += f"{fastest(runs[c, other]) / fastest(runs[c, 'runner']):.3f}x"
            target = {"premade": PREMADE_MIN, "hand": HAND_MIN}.get(other, TUTORIAL_MIN.get(c))
            if target is None:
                row(f"  runner / {other}", f"{ratio:.3f}x", "reference", "", note)
                continue
            ok &= ratio >= target
            row(
                f"  runner / {other}",
                f"{ratio:.3f}x",
                f">= {target}x",
                verdict(ratio >= target),
                note,
            )
    return ok


# ---- --profile --------------------------------------------------------------------------------


def best_us(fn, number: int, repeat: int = 15) -> float:
    """Microseconds per call of fn(), the best of `repeat` timings of `number` calls: a busy
    machine only ever adds time, so the best is the closest to the code's own cost."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best * 1e6


def tiny_model():
    """A 10-weight model: next to no compute, so what is left of an epoch is the loop."""
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(10))

        def forward(self, x):
            return x.flatten(1)[:, :10] * self.w

    return Tiny()


def pieces(lp: Loops) -> None:
    """What each piece of a batch costs alone."""
    import types

    import torch

    module, x, y, bs = lp.module, lp.x, lp.y, lp.case.batch_size
    data, n = {"x": x, "y": y}, len(y)
    batches = -(-n // bs)
    loss_fn = torch.nn.CrossEntropyLoss()
    m = copy.deepcopy(lp.base)
    opt = lp.case.optimizer(m.parameters())
    xb, yb = x[:bs].clone(), y[:bs].clone()
    g = torch.Generator().manual_seed(0)

    def step():
        loss = loss_fn(m(xb), yb)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def gather(index_select: bool):
        order = torch.randperm(n, generator=g)
        if index_select:
            return {k: v.index_select(0, order) for k, v in data.items()}
        return {k: v[order] for k, v in data.items()}

    def metrics():
        pending, sums = [], {}
        for _ in range(64):
            module.keep_for_metrics(pending, sums, out, yb, loss)
        module.measure(pending, sums)

    out = m(xb)
    loss = loss_fn(out, yb)
    state = types.SimpleNamespace(last_loss=None, epoch=1, step=0)
    cost = {
        "train step: forward, loss, backward, step, zero_grad": best_us(step, 20),
        "shuffle: randperm + v[order] once an epoch, per batch": best_us(lambda: gather(False), 3)
        / batches,
        "  the same with v.index_select(0, order)": best_us(lambda: gather(True), 3) / batches,
        "batches(): a dict of slices from a generator": best_us(
            lambda: [None for _ in module.batches(data, bs, None)], 3
        )
        / batches,
        "keep_for_metrics() each batch + measure() of 64": best_us(metrics, 20) / 64,
        "the hand loop's loss and accuracy sums": best_us(
            lambda: (0.0 + loss.detach() * len(yb), 0 + (out.argmax(1) == yb).sum()), 200
        ),
        "loss.item()": best_us(loss.item, 200),
    }
    if hasattr(module, "stop_if_not_finite"):
        cost["stop_if_not_finite(loss, state, batch)"] = best_us(
            lambda: module.stop_if_not_finite(loss, state, {"x": xb, "y": yb}), 200
        )
    print(f"{lp.case.name}: each piece alone, microseconds per batch, best of 15 timings")
    for label, us in cost.items():
        print(f"  {label:<56} {us:8.1f}")


def grown(lp: Loops, level: str, real: bool):
    """One epoch of the premade loop grown up to `level` (see LEVELS), with the case's model
    or the 10-weight one."""
    import torch

    x, y, bs, n = lp.x, lp.y, lp.case.batch_size, lp.samples
    loss_fn = torch.nn.CrossEntropyLoss()
    m = copy.deepcopy(lp.base) if real else tiny_model()
    opt = lp.case.optimizer(m.parameters()) if real else torch.optim.SGD(m.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    ready = [(x[i : i + bs].clone(), y[i : i + bs].clone()) for i in range(0, n, bs)]
    k = LEVELS.index(level)
    deferred = level == LEVELS[-1]

    def epoch():
        m.train()
        if k == 0:
            pairs = ready
        elif k == 1:
            pairs = ((x[s : s + bs], y[s : s + bs]) for s in range(0, n, bs))
        else:
            order = torch.randperm(n, generator=g)
            xs, ys = x[order], y[order]
            pairs = ((xs[s : s + bs], ys[s : s + bs]) for s in range(0, n, bs))
        loss_sum, correct, losses, outs, done = 0.0, 0, [], [], 0
        for xb, yb in pairs:
            out = m(xb)
            loss = loss_fn(out, yb)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if deferred:  # keep references; reduce every 64 batches and at the end
                losses.append(loss.detach())
                outs.append(out.detach())
                if len(losses) == 64 or done + len(losses) * bs >= n:
                    kept = torch.cat(outs)
                    loss_sum = loss_sum + torch.stack(losses).sum() * bs
                    correct = correct + (kept.argmax(1) == ys[done : done + len(kept)]).sum()
                    done += len(kept)
                    losses.clear()
                    outs.clear()
                continue
            if k >= 3:
                loss_sum = loss_sum + loss.detach() * len(yb)
            if k >= 4:
                correct = correct + (out.argmax(1) == yb).sum()
            if k >= 5 and not math.isfinite(loss.item()):
                raise SystemExit("the loss is not finite")
        return loss_sum, correct

    return epoch


LEVELS = (
    "premade",
    "+ slicing views of x, y",
    "+ shuffled gather once an epoch",
    "+ loss sum",
    "+ accuracy sum (= the hand loop)",
    "+ loss.item() per batch",
    "(shuffle + sums deferred, 64 batches)",
)


def profile(name: str, samples: int | None, rounds: int) -> None:
    """Where the runner's time goes beyond the premade loop."""
    import torch

    (lp,) = prepare(samples, (name,))
    pieces(lp)
    batches = -(-lp.samples // lp.case.batch_size)
    print(
        f"{name}: whole epochs ({batches} batches), interleaved, microseconds per batch, best of "
        f"{rounds}; the 10-weight model leaves only the loop's own cost"
    )
    print(f"  {'':<40} {'10 weights':>10} {'+/-':>7} {'the model':>10} {'+/-':>7}")
    loops = {}
    for real in (False, True):
        for level in LEVELS:
            loops[level, real] = grown(lp, level, real)
        m = copy.deepcopy(lp.base) if real else tiny_model()
        loops["runner", real] = runner_loop(
            lp.module,
            lp.t,
            m,
            lp.case.optimizer(m.parameters()) if real else torch.optim.SGD(m.parameters(), lr=0.01),
            lp.cfg,
            lp.data,
        )
    best = {key: float("inf") for key in loops}
    for f in loops.values():
        f()
    for r in range(rounds):
        keys = list(loops)
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            start = time.perf_counter()
            loops[key]()
            best[key] = min(best[key], time.perf_counter() - start)
    for level in (*LEVELS[:-1], "runner", LEVELS[-1]):
        cells = []
        for real in (False, True):
            us = best[level, real] / batches * 1e6
            cells.append(f"{us:10.1f} {us - best['premade', real] / batches * 1e6:+7.1f}")
        print(f"  {level:<40} {'  '.join(cells)}")
    tiny = {k: best[k, False] - best["premade", False] for k in ("runner", LEVELS[4])}
    premade = best["premade", True]
    print(
        f"  the model's premade epoch plus the loops' own costs: runner / premade "
        f"{premade / (premade + tiny['runner']):.3f}x, runner / hand "
        f"{(premade + tiny[LEVELS[4]]) / (premade + tiny['runner']):.3f}x"
    )
    prof = cProfile.Profile()
    runner = loops["runner", True]
    prof.enable()
    for _ in range(3):
        runner()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(16)
    print(f"cProfile of 3 runner epochs ({3 * batches} batches), by own time:")
    text = out.getvalue()
    print(text[text.index("   ncalls") :].rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, help="undisturbed interleaved rounds (>= 7; default 21)"
    )
    parser.add_argument(
        "--samples",
        type=int,
        help="samples per epoch in every case (default: MLP 32,768, CNN "
        "4,096, LSTM 8,192; --quick 2,048)",
    )
    parser.add_argument("--startup-rounds", type=int, help="whole-process rounds (>= 7; default 7)")
    parser.add_argument(
        "--budget",
        type=float,
        help="seconds (b) may spend waiting for quiet and on extra rounds (default 120)",
    )
    parser.add_argument("--quick", action="store_true", help="1 round, 2,048 samples: a smoke run")
    parser.add_argument(
        "--profile",
        metavar="CASE",
        choices=CASE_NAMES,
        help="profile one case instead: " + ", ".join(CASE_NAMES),
    )
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (1 if quick else 21)
    samples = args.samples or (2048 if quick else None)
    startup_rounds = args.startup_rounds or (1 if quick else 7)
    budget = args.budget if args.budget is not None else (0.0 if quick else 120.0)
    patience = 0.0 if quick else 3.0  # seconds to wait for a quiet machine before each run
    if not quick and (rounds < 7 or startup_rounds < 7):
        parser.error("--rounds and --startup-rounds must be at least 7 (or use --quick)")
    if samples is not None and samples < 256:
        parser.error("--samples must be at least 256")

    sys.path.insert(0, str(REPO))  # the checkout's nndsl, even when it is not installed
    began = time.perf_counter()
    import torch

    torch_s = time.perf_counter() - began
    BUILD.mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile(args.profile, samples, max(rounds, 15))
        return 0
    print(
        f"nndsl training benchmark{' --quick: one round, indicative figures only' if quick else ''}"
        f"; Python {sys.version.split()[0]}, torch {torch.__version__} (import {torch_s:.2f} s), "
        f"{os.cpu_count()} CPUs"
    )
    results = [startup_in_process(max(startup_rounds, 3), patience)]
    results.append(startup_process(startup_rounds, patience))
    results.append(throughput(rounds, samples, budget, patience))
    measured = [r for r in results if r is not None]
    print(
        f"{sum(measured)}/{len(measured)} measured sections met their targets"
        + (f"; {len(results) - len(measured)} skipped" if len(measured) < len(results) else "")
        + f" ({time.perf_counter() - began:.0f} s)"
    )
    return 0 if measured and all(measured) else 1


if __name__ == "__main__":
    sys.exit(main())
