"""By-hand benchmark of the training scripts nndsl generates (not a test; run it from anywhere):

    python bench/train_bench.py [--rounds 21] [--samples N] [--startup-rounds 7] [--budget 120]
    python bench/train_bench.py --quick           # 1 round, 2,048 samples: a smoke run, < 1 min
    python bench/train_bench.py --profile mlp-b64 # where the runner's time goes, for a MISS
    python bench/train_bench.py --quick --profile cnn  # the same, 3 rounds: a smoke run
    python bench/train_bench.py --phases [--startup-rounds 7]  # (a0) alone
    python bench/train_bench.py --stop-vote [--rounds 21]   # (c) alone
    python bench/train_bench.py --plot [--startup-rounds 7]    # (a3) alone

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
    (a0) only with --phases: ``nndsl run examples/add.nn --epochs 1`` in a fresh process per
         round (bench/run_phases.py), phase by phase up to its first training step: importing
         nndsl, the command line, ``analyze``, ``generate``, ``generate_train``,
         ``generate_kit``, writing the run folder, executing the script, its ``main`` up to
         the first ``Loop.forward``; medians over the rounds, with the garbage collection in
         each. The target is on the total without torch's own imports (``import torch`` in
         the script and ``torch._dynamo``, which torch imports for the first optimizer),
         shown apart, as is the epoch and what follows it.
    (a1) in process, after torch is imported: ``import nndsl.compiler``, ``analyze`` +
         ``generate`` + ``generate_train`` + ``generate_kit`` of examples/mlp.nn, writing the
         run folder (model.py, the script, trainkit.py, the source, as ``nndsl run`` writes
         them) and importing the generated script with its model and kit modules. The first
         time in the process (cold: what a run pays) has the target; warm repeats are shown
         for reference, and so is the share of garbage collection (with torch loaded, one
         full collection walks torch's objects too).
    (a2) whole process: ``python -m nndsl run examples/mlp.nn --eval <weights> --quiet`` minus
         ``python -c "import torch"``, interleaved, medians. ``--eval`` makes the script do what
         a run does before its first epoch (compile, write the run folder, exec the script,
         load the data, build the model) and one evaluation pass instead of training. One whole
         ``--epochs 1`` run in a new folder (one epoch, validation, a checkpoint, weights,
         metrics.csv, loss.png) is shown for reference: it also pays torch's first-optimizer
         cost (building one imports ``torch._dynamo``), which any PyTorch script pays, and
         matplotlib's import.
    (a3) only with --plot: what the plots add to a run's wall time (target <= 0.2 s):
         ``nndsl run examples/add.nn --epochs 1`` as shipped (loss.png drawn) and with
         matplotlib made unimportable (no plot), fresh processes, interleaved; the median
         over the rounds of the per-round difference.
(b) training throughput, samples/s of one epoch. Four loops per case (five with Lightning),
    same model class, same initial weights, same data tensors, same number of samples, one
    warm-up epoch each:
      runner    the kit's own ``Loop.train_one_epoch`` as ``Run.train`` drives it: the script's
                ``main`` runs with its kit's ``Run.train`` replaced by a recorder, which yields
                the ``kit.Run(cfg, name, SOURCE)`` it built, the model (init rules and layout
                applied), the optimizer and the step and ``Loop`` options it passes; the bench
                builds ``kit.Loop(run, model, optimizer, step, **options)``, places the data
                with ``Loop.place`` and times ``train_one_epoch`` alone (no validation,
                metrics.csv, checkpoints, weights or plots; ``--quiet``: no tqdm bar).
      premade   the physical limit: batches split and cloned into a list in advance (in the
                layout the runner feeds the model: channels-last images for the CNN); the loop
                is forward + loss + backward + step + zero_grad, nothing else (no shuffling, no
                metrics).
      premade+metric  (for reference, where the program measures accuracy) the premade loop
                with the step's own metric computed each batch (``out.argmax(1) == y``) and
                dropped: what the runner adds beyond the work its program asks for.
      tutorial  the classic PyTorch tutorial loop: ``DataLoader(TensorDataset(x, y), batch_size,
                shuffle=True)``, forward, loss, backward, step, zero_grad and
                ``running_loss += loss.item()`` per batch, on a model in the default layout.
      hand      the kit's loop written by hand and run the same way: one seeded randperm
                ``index_select`` per epoch, split into views (channels-last images converted
                per batch), a step returning a dict (the 0-dim loss, each sample's right or
                wrong) per batch, ``loss.item()`` checked before each backward (as the kit does
                on the CPU), the values kept detached and reduced every 256 batches. Its warm-up
                epoch must reproduce the runner's loss and accuracy (same order, same updates).
      lightning only when ``lightning`` or ``pytorch_lightning`` is importable (it is never a
                dependency; the loop is left out otherwise): a LightningModule logging the
                same step per epoch, a shuffled DataLoader, a new ``Trainer(max_epochs=1)``
                per epoch without logger, checkpoints, progress bar or summary; the epoch is
                timed by a callback, without the Trainer's set-up. For reference.
    Cases, on synthetic data written in the .nn (so every loop gets exactly the same tensors):
      mlp-b64, mlp-b256  the 20-256-10 MLP below, x = randn(N, 20), y = randint(0, 10, N), SGD
                         with momentum; N = 32,768.
      cnn                examples/digits_cnn.nn, model and train section verbatim (Adam, batch
                         64) but for `metrics accuracy` (not f1, which the hand-written loops
                         do not count), with its data section replaced by data of the
                         digits' own shape: x = rand(N, 1, 8, 8), y = randint(0, 10, N); N =
                         4,096. The shipped example is what users run, and 8x8 images keep the
                         per-batch compute small: the hard case for loop overhead, which a 28x28
                         CNN would hide behind its convolutions.
      lstm               examples/digits_lstm.nn verbatim (batch 64), x = rand(N, 8, 8); N = 8,192.
    Rounds continue past --rounds until every loop has --rounds undisturbed epochs; once --budget
    seconds have gone by, (b) neither waits for quiet nor adds rounds.
    Targets, on the runner's samples/s over the other loop's: runner/premade >= 0.95 in every
    case; runner/tutorial >= 1.4 (mlp-b64), >= 2.5 (mlp-b256), >= 1.1 (cnn), lstm for reference;
    runner/hand >= 0.98 in every case (the kit carries no overhead over the same loop written by
    hand); runner/lightning for reference.

(c) only with --stop-vote: what agreeing on a stop costs two processes (torchrun, gloo, one
    thread each) of mlp-b64 (the smallest step per batch, where a per-step cost shows most),
    8,192 samples, one ``Loop`` per process: epochs of ``train_one_epoch`` as the kit runs it
    (every 0.2 s or so, a vote: an all-reduce of the stop signals, read a step later) against
    epochs of the same loop with ``Loop.stopping`` replaced by a look at the flag (what one
    process does), interleaved, order rotated, both processes starting each epoch together;
    the median of the per-round ratios has the target vote/plain <= 1.02. A vote's round
    trip, waited for, is shown beside the time of a step, and the share of the epochs spent in
    ``Loop.stopping``: what the vote costs a process, which a busy machine's noise in whole
    epochs can hide.

--profile CASE is for chasing a MISS: each piece of a batch timed alone (the training step, the
accuracy, the shuffle, ``kit.memory_batches``, ``Loop.batches``, ``kit.keep``/``kit.measure``,
``loss.item()``, ``Loop.stop_if_not_finite``, ``Loop.forward`` over the step, the channels-last
copy); then whole epochs, interleaved, of the premade loop grown step by step into the hand loop
(+ split views, + shuffled gather, + the step's dict, + kept and reduced every 256 batches,
+ ``loss.item()``) beside the runner, each with the case's model and with a 10-weight one that
leaves only the loop's own cost; best of 15 (3 with --quick; a busy machine only ever adds
time); then a cProfile of the runner.

Writes only under build/train_bench/ (git-ignored). Exits 0 when every target is met, 1
otherwise.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import importlib.util
import io
import json
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
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build" / "train_bench"
EXAMPLES = REPO / "examples"

STARTUP_MAX_S = 0.3
PLOT_MAX_S = 0.2  # what the plots may add to a run's wall time
PREMADE_MIN = 0.95
HAND_MIN = 0.98
VOTE_MAX = 1.02  # epoch time with the stop vote over without, two processes
TUTORIAL_MIN = {"mlp-b64": 1.4, "mlp-b256": 2.5, "cnn": 1.1}
BUSY_CORES = 0.15  # a run during which other processes used more CPU than this is set aside
MIN_CLEAN = 3  # fewer undisturbed runs than this: use them all and flag the figure

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
    text = pattern.sub(lambda m: block.format(name=found[0], n=n), text)
    # `predict` rows are rows of the example's own data, which the synthetic data is not
    return note + re.sub(r"^\s+predict .*\n", "", text, flags=re.M)


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
    # the hand-written loops measure the accuracy, not the F1 of a confusion matrix
    cnn = re.sub(r"^    metrics accuracy, f1\b.*$", "    metrics accuracy", cnn, flags=re.M)
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

KIT = "trainkit"  # the support module every script imports as `kit`, written beside it


def import_script(script: Path):
    """Import a generated script from its folder as ``nndsl.run.runner._execute`` does: its
    ``model`` and ``trainkit`` modules are popped from sys.modules afterwards (every case has
    its own; the script keeps them as ``module.kit`` and its model class), the script stays
    registered under its own name (its dataclasses look their module up there)."""
    folder = str(script.parent.resolve())
    saved = {name: sys.modules.pop(name, None) for name in ("model", KIT)}
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(folder)
        for name, found in saved.items():
            sys.modules.pop(name, None)
            if found is not None:
                sys.modules[name] = found


def compile_case(source: str, filename: str, folder: Path):
    """Compile a .nn source in process, write it, model.py, the script and trainkit.py into
    ``folder`` and import the script; (module, train IR)."""
    from nndsl.compiler import analyze, generate, generate_kit, generate_train

    result = analyze(source, folder)
    if not result.ok:
        messages = "; ".join(d.message for d in result.diagnostics)
        raise SystemExit(f"{filename} (written by the bench) does not compile: {messages}")
    (t,) = result.program.trains
    folder.mkdir(parents=True, exist_ok=True)
    (folder / filename).write_text(source, encoding="utf-8")
    (folder / "model.py").write_text(generate(result.program, filename), encoding="utf-8")
    (folder / f"{KIT}.py").write_text(generate_kit(), encoding="utf-8")
    script = folder / f"{t.script}.py"
    script.write_text(generate_train(t, filename, "model", data_dir="."), encoding="utf-8")
    sys.modules.pop(t.script, None)
    return import_script(script), t


@dataclass
class Trained:
    """What the script's ``main`` hands to ``Run.train``: its Run, the model it built and
    initialized, the optimizer, the step, the data and the keyword options of ``Loop``."""

    run: object
    model: object
    optimizer: object
    step: object
    data: dict
    val_data: object
    options: dict


def what_main_trains(module, cfg) -> Trained:
    """Call the script's ``main(cfg)`` with its kit's ``Run.train`` replaced by one that only
    records its arguments: the run, model, optimizer, scheduler and Loop options exactly as the
    script builds them, and nothing trained."""
    kit = module.kit
    got: list[Trained] = []

    class Recording(kit.Run):
        def train(self, model, optimizer, step, data, val_data=None, *, save="", **options):
            got.append(Trained(self, model, optimizer, step, data, val_data, options))
            return {}

    original, kit.Run = kit.Run, Recording
    try:
        module.main(cfg)
    finally:
        kit.Run = original
    if len(got) != 1:
        raise SystemExit(f"{module.__name__}.main called Run.train {len(got)} times, not once")
    return got[0]


def runner_loop(module, trained: Trained, model=None, optimizer=None):
    """One call, one epoch of the kit's ``Loop.train_one_epoch``, on a ``kit.Loop`` built as
    ``Run.train`` builds it (the script's Run, step and options, the data placed by
    ``Loop.place``); between epochs the state moves on as ``Loop.end_epoch`` moves it (the
    scheduler does not step, so every loop keeps the same learning rate, and no weights are
    saved). ``model``/``optimizer`` replace the script's (the 10-weight model of --profile)."""
    kit = module.kit
    loop = kit.Loop(
        trained.run,
        trained.model if model is None else model,
        trained.optimizer if optimizer is None else optimizer,
        trained.step,
        **trained.options,
    )
    data = loop.place(trained.data)

    def runner():
        metrics = loop.train_one_epoch(data)
        loop.state.epoch, loop.state.batch = loop.state.epoch + 1, 0
        return metrics

    runner.loop, runner.data = loop, data
    return runner


def hand_step(model, xb, yb, accuracy: bool) -> dict:
    """The train section's step, written by hand: cross-entropy, and whether each sample's
    class is right."""
    import torch.nn.functional as F

    out = model(xb)
    terms = {"loss": F.cross_entropy(out, yb)}
    if accuracy:
        terms["accuracy"] = out.argmax(1) == yb
    return terms


def premade_loop(model, optimizer, x, y, bs: int, accuracy: bool = False):
    """The physical limit: batches ready in a list; forward, loss, backward, step, zero_grad.
    With `accuracy`, the step's own work too: `hand_step`'s dict, each sample's right or wrong
    (computed, then dropped)."""
    import torch.nn.functional as F

    ready = [(xb.clone(), yb.clone()) for xb, yb in zip(x.split(bs), y.split(bs))]

    def premade():
        model.train()
        for xb, yb in ready:
            if accuracy:
                loss = hand_step(model, xb, yb, True)["loss"]
            else:
                loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return premade


def tutorial_loop(model, optimizer, x, y, bs: int, seed: int):
    """The classic PyTorch tutorial loop."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    loss_fn = torch.nn.CrossEntropyLoss()
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


def hand_loop(model, optimizer, x, y, bs: int, seed: int, accuracy: bool, nhwc: bool):
    """The kit's loop written by hand: one seeded randperm and index_select gather per epoch,
    split into views (channels-last images converted per batch), the step's dict per batch (the
    0-dim loss, each sample's right or wrong), the loss checked with ``.item()`` before each
    backward (as the kit does on the CPU), and the values kept detached and reduced every 256
    batches and at the end: the loss weighted by the batch's samples, the rights counted."""
    import torch

    g = torch.Generator().manual_seed(seed)

    def reduce(pending: list, sums: dict) -> None:
        sizes, kept = zip(*pending)
        pending.clear()
        weights = torch.tensor(sizes, dtype=torch.float64)
        for key in kept[0]:
            if kept[0][key].dim() == 0:  # a batch mean: weighted by the batch's samples
                values = torch.stack([terms[key] for terms in kept]).double()
                sums[key] = sums.get(key, 0.0) + (values * weights).sum()
            else:  # right or wrong, sample by sample: counted
                values = torch.cat([terms[key] for terms in kept]).double()
                sums[key] = sums.get(key, 0.0) + values.sum()

    def hand():
        model.train()
        n = len(y)
        order = torch.randperm(n, generator=g)
        xs, ys = x.index_select(0, order), y.index_select(0, order)
        pending, sums = [], {}
        for xb, yb in zip(xs.split(bs), ys.split(bs)):
            if nhwc:
                xb = xb.contiguous(memory_format=torch.channels_last)
            terms = hand_step(model, xb, yb, accuracy)
            loss = terms["loss"]
            if not math.isfinite(loss.item()):
                raise SystemExit("the hand loop's loss is not finite")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            pending.append((len(yb), {k: v.detach() for k, v in terms.items()}))
            if len(pending) >= 256:
                reduce(pending, sums)
        if pending:
            reduce(pending, sums)
        return {k: float(v) / n for k, v in sums.items()}

    return hand


def lightning_module():
    """PyTorch Lightning, when it is installed (``lightning`` or ``pytorch_lightning``; never
    a dependency of nndsl), else None."""
    for name in ("lightning.pytorch", "pytorch_lightning"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None


def lightning_loop(model, optimizer, pl, x, y, bs: int, seed: int, accuracy: bool):
    """Lightning's Trainer as its documentation has a user write it: a LightningModule whose
    ``training_step`` logs the step's loss and accuracy per epoch, a shuffled DataLoader of a
    TensorDataset, ``Trainer(max_epochs=1)`` on the CPU without logger, checkpoints, progress
    bar or model summary. Each call fits one epoch with a new Trainer (the same module and
    optimizer); the epoch itself is timed by a callback, from ``on_train_epoch_start`` to
    ``on_train_epoch_end``, leaving out the Trainer's set-up and tear-down."""
    import logging
    import warnings

    import torch
    from torch.utils.data import DataLoader, TensorDataset

    for name in ("lightning", "lightning.pytorch", "pytorch_lightning", "lightning_fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)

    class Net(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = model

        def training_step(self, batch, batch_idx):
            xb, yb = batch
            terms = hand_step(self.net, xb, yb, accuracy)
            self.log_dict(terms, on_step=False, on_epoch=True, batch_size=len(yb))
            return terms["loss"]

        def configure_optimizers(self):
            return optimizer

    class EpochTimer(pl.Callback):
        def on_train_epoch_start(self, trainer, module):
            self.start = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            self.seconds = time.perf_counter() - self.start

    net, timer = Net(), EpochTimer()
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=bs,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )

    def lightning():
        trainer = pl.Trainer(
            max_epochs=1,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            callbacks=[timer],
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "the DataLoader does not have many workers"...
            trainer.fit(net, loader)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        return {**metrics, EPOCH_S: timer.seconds}

    return lightning


EPOCH_S = "epoch seconds"  # a variant that returns this times its epoch itself


class Loops:
    """The training loops of one case, each training its own copy of the same model."""

    def __init__(self, case: Case, module, t, pl=None):
        self.case, self.module, self.t = case, module, t
        kit = module.kit
        cfg = kit.parse_args(
            module.Config,
            module.__doc__,
            [
                "--device",
                "cpu",
                "--quiet",
                "--batch-size",
                str(case.batch_size),
                "--val-fraction",
                "0",
                "--out-dir",
                str(BUILD / case.key / f"out-{case.name}"),
            ],
        )
        sched = t.scheduler.step if t.scheduler else "epoch"
        if sched == "batch" or t.clip or t.accumulate > 1 or t.precision != "fp32":
            raise SystemExit(
                f"{case.name}: the hand-written loops do not mirror this train section"
            )
        if tuple(t.inputs) != ("x",) or t.output or t.compile or t.step is not None:
            raise SystemExit(
                f"{case.name}: the hand-written loops expect one input `x`, no compile and "
                "a plain loss"
            )
        if (t.loss.target, t.loss.args, t.task) != ("F.cross_entropy", (), "classes"):
            raise SystemExit(f"{case.name}: the train section's loss is {t.loss}")
        if not t.shuffle or t.drop_last or t.distributed:
            raise SystemExit(f"{case.name}: the hand-written loops shuffle and keep every batch")
        self.cfg = cfg
        trained = what_main_trains(module, cfg)
        # the initial weights (init rules, channels-last layout) of every loop
        self.base = copy.deepcopy(trained.model)
        runner = runner_loop(module, trained)
        self.trained, self.runner = trained, runner
        data = runner.data  # as Loop.place leaves it: on the CPU, images channels-last
        x, y = data["x"], data["y"]
        self.x, self.y, self.samples = x, y, len(y)
        self.nhwc = "x" in trained.options.get("channels_last", ())
        bs, seed = case.batch_size, cfg.seed
        self.accuracy = "accuracy" in t.metrics
        check_optimizer(case, trained.optimizer, case.optimizer(self.base.parameters()))
        self.check_step(trained.step, data)

        def loop(make, *args, layout=True):
            m = copy.deepcopy(self.base)
            if not layout:  # a model as the tutorials build it: default (NCHW) weights
                for p in m.parameters():
                    p.data = p.data.contiguous()
            return make(m, case.optimizer(m.parameters()), *args)

        plain = {k: v.contiguous() for k, v in trained.data.items()}
        self.variants = {
            "runner": runner,
            "premade": loop(premade_loop, x, y, bs),
            **({"premade+metric": loop(premade_loop, x, y, bs, True)} if self.accuracy else {}),
            "tutorial": loop(tutorial_loop, plain["x"], plain["y"], bs, seed, layout=False),
            "hand": loop(hand_loop, x, y, bs, seed, self.accuracy, self.nhwc),
        }
        if pl is not None:
            self.variants["lightning"] = loop(
                lightning_loop, pl, plain["x"], plain["y"], bs, seed, self.accuracy, layout=False
            )

    def check_step(self, step, data: dict) -> None:
        """The hand-written step must give what the script's step gives, on its first batch."""
        import torch

        xb, yb = data["x"][: self.case.batch_size], data["y"][: self.case.batch_size]
        model = copy.deepcopy(self.base)
        with torch.no_grad():
            theirs = step(model, {"x": xb, "y": yb})
            ours = hand_step(model, xb, yb, self.accuracy)
        same = list(theirs) == list(ours) and all(
            torch.allclose(theirs[k].double(), ours[k].double()) for k in ours
        )
        if not same:
            raise SystemExit(
                f"{self.case.name}: the script's step gives {sorted(theirs)}, the hand-written "
                f"one {sorted(ours)} (or other values); update hand_step"
            )


def check_optimizer(case: Case, generated, written) -> None:
    """The hand-written optimizer must be the one the train section builds."""

    def settings(opt):
        skip = ("params", "initial_lr")  # a scheduler adds initial_lr
        return type(opt), [{k: v for k, v in g.items() if k not in skip} for g in opt.param_groups]

    if settings(generated) != settings(written):
        raise SystemExit(
            f"{case.name}: the generated optimizer {settings(generated)} differs from the "
            f"hand-written one {settings(written)}; update Case.optimizer"
        )


def prepare(samples: int | None, names=CASE_NAMES, pl=None) -> list[Loops]:
    built: dict[str, tuple] = {}
    loops = []
    for case in cases(samples):
        if case.name not in names:
            continue
        if case.key not in built:
            built[case.key] = compile_case(case.source, case.filename, BUILD / case.key)
        loops.append(Loops(case, *built[case.key], pl=pl))
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
        from nndsl.compiler import analyze, generate, generate_kit, generate_train

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
        kit_text = generate_kit()
        marks.append(("generate_kit: trainkit.py", time.perf_counter()))
        write_atomic(folder / "model.py", model_text)
        script = folder / f"{t.script}.py"
        write_atomic(script, script_text)
        write_atomic(folder / f"{KIT}.py", kit_text)
        write_atomic(folder / source.name, text)
        marks.append(("write the run folder", time.perf_counter()))
        sys.modules.pop(t.script, None)
        module = import_script(script)
        module.kit.parse_args(module.Config, module.__doc__, ["--out-dir", str(folder), "--quiet"])
        sys.modules.pop(t.script, None)
        marks.append(("import the script, its kit; parse_args", time.perf_counter()))
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
    fresh = (BUILD / "startup_train").relative_to(REPO)  # a new run refuses a run's folder
    for path in (folder, fresh):
        if (REPO / path).exists():
            shutil.rmtree(REPO / path)
    run = [sys.executable, "-m", "nndsl", "run", "examples/mlp.nn", "--quiet", "--out"]
    cmds = {
        "torch": [sys.executable, "-c", "import torch"],
        "eval": run + [str(folder), "--eval", str(folder / "model.pt")],
        "first": run + [str(folder), "--epochs", "1"],
        "train": run + [str(fresh), "--epochs", "1"],
    }
    runs: dict[str, list[tuple[float, float]]] = {"torch": [], "eval": []}
    try:
        for name in ("first", "torch", "eval"):  # writes the weights; warms the file cache
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


def startup_phases(rounds: int, patience: float) -> bool:
    print(
        f"(a0) start-up phases of `nndsl run examples/add.nn --epochs 1`, {rounds} fresh processes"
    )
    runs = []
    for r in range(rounds):
        folder = BUILD / "startup_phases" / f"run{r}"
        if folder.exists():
            shutil.rmtree(folder)
        wait_quiet(patience)
        cmd = [sys.executable, str(REPO / "bench" / "run_phases.py"), str(folder)]
        try:
            proc = run_process(cmd)
        except RuntimeError as err:
            print(f"  failed: {err}")
            return False
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    median = lambda values: statistics.median(values) * 1000  # noqa: E731 - ms
    names = [name for name, _, _ in runs[0]["phases"]]
    last = names[-2:]  # the epoch and what follows it: for reference
    for i, name in enumerate(names):
        seconds, gc_s = (median(run["phases"][i][k] for run in runs) for k in (1, 2))
        note = "reference" if name in last else ""
        row(f"  {name}", f"{seconds:.0f} ms", note=f"gc {gc_s:.0f} ms {note}".rstrip())
    for module in runs[0]["torch"]:
        seconds, gc_s = (median(run["torch"][module][k] for run in runs) for k in (0, 1))
        row(f"    of which torch's {module}", f"{seconds:.0f} ms", note=f"gc {gc_s:.0f} ms")

    def own(run) -> tuple[float, float]:
        counted = [p for p in run["phases"] if p[0] not in last]
        torch_s = [t for t in run["torch"].values()]
        return (
            sum(p[1] for p in counted) - sum(t[0] for t in torch_s),
            sum(p[2] for p in counted) - sum(t[1] for t in torch_s),
        )

    total, gc_s = median(own(run)[0] for run in runs), median(own(run)[1] for run in runs)
    ok = total < STARTUP_MAX_S * 1000
    row("    of which garbage collection", f"{gc_s:.0f} ms")
    row(
        "up to training, without torch's imports",
        f"{total:.0f} ms",
        f"< {STARTUP_MAX_S} s",
        verdict(ok),
    )
    return ok


# a run with matplotlib made unimportable: no plot, the baseline of (a3)
WITHOUT_MATPLOTLIB = (
    "import runpy, sys; sys.modules['matplotlib'] = None; "
    "runpy.run_module('nndsl', run_name='__main__', alter_sys=True)"
)


def plot_cost(rounds: int, patience: float) -> bool:
    """(a3) what the plots add to a run's wall time: `nndsl run examples/add.nn --epochs 1`
    with matplotlib installed (loss.png drawn) and with it made unimportable (no plot),
    interleaved, each a fresh process; the median over the rounds of the per-round
    difference."""
    print(f"(a3) the loss plot's cost, `nndsl run examples/add.nn --epochs 1`, {rounds} rounds")
    run = ["run", "examples/add.nn", "--epochs", "1", "--quiet", "--out"]
    variants = {"plot": [sys.executable, "-m", "nndsl"], "none": [sys.executable, "-c"]}
    variants["none"].append(WITHOUT_MATPLOTLIB)
    runs: dict[str, list[tuple[float, float]]] = {"plot": [], "none": []}
    try:
        for r in range(rounds + 1):  # the first round warms the file cache, not counted
            for name in ("plot", "none") if r % 2 == 0 else ("none", "plot"):
                folder = BUILD / "plot_cost" / f"{name}{r}"
                shutil.rmtree(folder, ignore_errors=True)
                wait_quiet(patience)
                cmd = [*variants[name], *run, str(folder.relative_to(REPO))]
                wall, other, _ = timed(lambda cmd=cmd: run_process(cmd))
                if (folder / "loss.png").exists() != (name == "plot"):
                    raise RuntimeError(f"{name}: loss.png {'not ' * (name == 'plot')}written")
                if r:
                    runs[name].append((wall, other))
    except RuntimeError as err:
        print(f"  failed: {err}")
        return False
    for name in ("none", "plot"):
        median, n, busy = clean_median(runs[name])
        note = f"{n} runs" + (", machine busy: unreliable" if busy else "")
        row(
            f"{name}: {'no plot' if name == 'none' else 'loss.png'}",
            f"{median * 1000:.0f} ms",
            note=note,
        )
    diffs = [p[0] - n[0] for p, n in zip(runs["plot"], runs["none"])]
    added = statistics.median(diffs)
    ok = added <= PLOT_MAX_S
    spread_note = f"per round {min(diffs) * 1000:+.0f} to {max(diffs) * 1000:+.0f} ms"
    row(
        "  the plot adds", f"{added * 1000:+.0f} ms", f"<= {PLOT_MAX_S} s", verdict(ok), spread_note
    )
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
                wall, other, got = timed(lp.variants[name])
                if isinstance(got, dict) and EPOCH_S in got:
                    wall = got[EPOCH_S]  # the epoch without the Trainer's set-up
                runs[lp.case.name, name].append((wall, other))
        r += 1
        clean = min(sum(o <= BUSY_CORES for _, o in v) for v in runs.values())
        if r >= rounds and (clean >= rounds or time.perf_counter() > deadline):
            return runs


def throughput(rounds: int, samples: int | None, budget: float, patience: float) -> bool:
    import torch

    pl = lightning_module()
    print(
        f"(b) training throughput, samples/s of one epoch, >= {rounds} interleaved rounds, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        + (
            f"PyTorch Lightning {pl.__version__} ({pl.__name__})"
            if pl is not None
            else "PyTorch Lightning is not installed: its loop is left out"
        )
    )
    loops = prepare(samples, pl=pl)
    ok = True
    for lp in loops:  # the warm-up epoch; the runner and the hand loop must agree
        got = {name: f() for name, f in lp.variants.items()}
        r, h = got["runner"], got["hand"]
        for key in r:
            if key not in h or abs(r[key] - h[key]) > 1e-4 * max(1.0, abs(h[key])):
                print(
                    f"  {lp.case.name}: runner {key} {r[key]:.6f} != hand "
                    f"{h.get(key, float('nan')):.6f}: the hand loop no longer mirrors the kit's"
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
        variants = list(lp.variants)
        med = {v: clean_median(runs[c, v]) for v in variants}
        rate = {v: lp.samples / m[0] for v, m in med.items()}
        used = "/".join(str(med[v][1]) for v in variants)
        flagged = any(m[2] for m in med.values())
        batches = -(-lp.samples // lp.case.batch_size)
        print(
            f"  {c}: batch {lp.case.batch_size}, {lp.samples:,} samples, {batches} batches; "
            f"epochs counted {used} of {total}" + ("; MACHINE BUSY: unreliable" if flagged else "")
        )
        print("    median samples/s  " + "  ".join(f"{v} {rate[v]:,.0f}" for v in variants))
        if total >= 4:
            print(
                "    spread            "
                + "  ".join(f"{v} {spread(runs[c, v]):.1%}" for v in variants)
            )
        for other in variants[1:]:
            ratio = paired(runs[c, "runner"], runs[c, other])
            note = ""
            if total >= MIN_CLEAN:
                note = f"medians {rate['runner'] / rate[other]:.3f}x, best "
                note += f"{fastest(runs[c, other]) / fastest(runs[c, 'runner']):.3f}x"
            target = {"premade": PREMADE_MIN, "hand": HAND_MIN}.get(other)
            if other == "tutorial":
                target = TUTORIAL_MIN.get(c)
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
    import torch

    kit, loop = lp.module.kit, lp.runner.loop
    data, bs, n = lp.runner.data, lp.case.batch_size, lp.samples
    batches = -(-n // bs)
    m = copy.deepcopy(lp.base)
    opt = lp.case.optimizer(m.parameters())
    xb, yb = lp.x[:bs].clone(), lp.y[:bs].clone()
    batch = {"x": xb, "y": yb}
    g = torch.Generator().manual_seed(0)

    def step():
        loss = hand_step(m, xb, yb, lp.accuracy)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def kept():
        pending, sums = [], {}
        for _ in range(256):
            kit.keep(pending, sums, terms, bs)
        kit.measure(pending, sums)

    terms = hand_step(m, xb, yb, lp.accuracy)
    loss = terms["loss"]
    shuffled = {k: v.index_select(0, torch.randperm(n)) for k, v in data.items()}
    cost = {
        "train step: forward, loss, backward, step, zero_grad": best_us(step, 20),
        "the step's accuracy (argmax, ==)": best_us(lambda: m(xb).argmax(1) == yb, 20)
        - best_us(lambda: m(xb), 20),
        "shuffle: randperm + index_select once an epoch, per batch": best_us(
            lambda: {k: v.index_select(0, torch.randperm(n, generator=g)) for k, v in data.items()},
            3,
        )
        / batches,
        "kit.memory_batches(), shuffled, per batch": best_us(
            lambda: [None for _ in kit.memory_batches(data, bs, g, False)], 3
        )
        / batches,
        "Loop.batches(), shuffled, per batch": best_us(
            lambda: [None for _ in loop.batches(data, bs, g, False)], 3
        )
        / batches,
        "kit.keep() each batch + kit.measure() of 256": best_us(kept, 5) / 256,
        "loss.item()": best_us(loss.item, 200),
        "Loop.stop_if_not_finite(loss, batch, step)": best_us(
            lambda: loop.stop_if_not_finite(loss, batch, loop.steps[0]), 200
        ),
        "Loop.forward(step, batch) over the step itself": best_us(
            lambda: loop.forward(loop.steps[0].fn, batch), 20
        )
        - best_us(lambda: lp.trained.step(loop.net, batch), 20),
    }
    if lp.nhwc:
        cost["to channels-last, a shuffled batch"] = best_us(
            lambda: shuffled["x"][:bs].contiguous(memory_format=torch.channels_last), 200
        )
    print(f"{lp.case.name}: each piece alone, microseconds per batch, best of 15 timings")
    for label, us in cost.items():
        print(f"  {label:<60} {us:8.1f}")


LEVELS = (
    "premade",
    "+ split views of x, y",
    "+ shuffled index_select once an epoch",
    "+ the step's dict (loss, accuracy)",
    "+ kept detached, reduced every 256",
    "+ loss.item() per batch (= the hand loop)",
)


def grown(lp: Loops, level: str, real: bool):
    """One epoch of the premade loop grown up to `level` (see LEVELS), with the case's model
    or the 10-weight one."""
    import torch

    x, y, bs, n = lp.x, lp.y, lp.case.batch_size, lp.samples
    m = copy.deepcopy(lp.base) if real else tiny_model()
    opt = lp.case.optimizer(m.parameters()) if real else torch.optim.SGD(m.parameters(), lr=0.01)
    g = torch.Generator().manual_seed(0)
    ready = [(xb.clone(), yb.clone()) for xb, yb in zip(x.split(bs), y.split(bs))]
    k = LEVELS.index(level)
    accuracy = lp.accuracy and k >= 3

    def epoch():
        m.train()
        if k == 0:
            pairs = ready
        elif k == 1:
            pairs = zip(x.split(bs), y.split(bs))
        else:
            order = torch.randperm(n, generator=g)
            pairs = zip(x.index_select(0, order).split(bs), y.index_select(0, order).split(bs))
        pending, sums = [], {}
        for xb, yb in pairs:
            if lp.nhwc and k >= 1:
                xb = xb.contiguous(memory_format=torch.channels_last)
            terms = hand_step(m, xb, yb, accuracy)
            loss = terms["loss"]
            if k >= 5 and not math.isfinite(loss.item()):
                raise SystemExit("the loss is not finite")
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if k >= 4:
                pending.append((len(yb), {key: v.detach() for key, v in terms.items()}))
                if len(pending) >= 256:
                    lp.module.kit.measure(pending, sums)
        if pending:
            lp.module.kit.measure(pending, sums)
        return sums

    return epoch


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
    print(f"  {'':<44} {'10 weights':>10} {'+/-':>7} {'the model':>10} {'+/-':>7}")
    loops = {}
    for real in (False, True):
        for level in LEVELS:
            loops[level, real] = grown(lp, level, real)
        m = copy.deepcopy(lp.base) if real else tiny_model()
        opt = (
            lp.case.optimizer(m.parameters()) if real else torch.optim.SGD(m.parameters(), lr=0.01)
        )
        loops["runner", real] = runner_loop(lp.module, lp.trained, m, opt)
    best = {key: float("inf") for key in loops}
    for f in loops.values():
        f()
    for r in range(rounds):
        keys = list(loops)
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            start = time.perf_counter()
            loops[key]()
            best[key] = min(best[key], time.perf_counter() - start)
    for level in (*LEVELS, "runner"):
        cells = []
        for real in (False, True):
            us = best[level, real] / batches * 1e6
            cells.append(f"{us:10.1f} {us - best['premade', real] / batches * 1e6:+7.1f}")
        print(f"  {level:<44} {'  '.join(cells)}")
    tiny = {k: best[k, False] - best["premade", False] for k in ("runner", *LEVELS)}
    premade = best["premade", True]
    metric = ""
    if lp.accuracy:  # the step's own metric counted as work: premade+metric of (b)
        with_metric = premade + tiny[LEVELS[3]] - tiny[LEVELS[2]]
        metric = f", runner / premade+metric {with_metric / (premade + tiny['runner']):.3f}x"
    print(
        f"  the model's premade epoch plus the loops' own costs: runner / premade "
        f"{premade / (premade + tiny['runner']):.3f}x, runner / hand "
        f"{(premade + tiny[LEVELS[-1]]) / (premade + tiny['runner']):.3f}x{metric}"
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


def stop_vote(rounds: int) -> bool:
    """(c): two processes under torchrun run ``_vote_worker``; rank 0 prints the figures and
    exits 1 on a MISS."""
    print("(c) the stop vote of two processes (gloo), mlp-b64, 8,192 samples")
    folder = BUILD / "stop_vote"
    source = MLP_SOURCE.format(n=8192)
    compile_case(source, "mlp.nn", folder)
    worker = [__file__, "--vote-worker", str(folder), str(rounds)]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2", *worker]  # fmt: skip
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    verdict_file = folder / "verdict.txt"
    verdict_file.unlink(missing_ok=True)
    if subprocess.run(torchrun, env=env).returncode != 0 or not verdict_file.exists():
        raise SystemExit("(c): the two processes failed")
    return verdict_file.read_text() == "ok"


def _vote_worker(folder: Path, rounds: int) -> int:
    """One process of (c): its Loop, epochs with and without the vote, interleaved."""
    import torch
    import torch.distributed as dist

    module = import_script(next(folder.glob("train_*.py")))
    kit = module.kit
    cfg = kit.parse_args(module.Config, None, ["--out-dir", str(folder / "out"), "--quiet",
                                               "--device", "cpu"])  # fmt: skip
    runner = runner_loop(module, what_main_trains(module, cfg))
    loop = runner.loop
    voting, inside = loop.stopping, [0.0]  # the kit's, and the time spent in it

    def timed_vote() -> bool:
        began = time.perf_counter()
        try:
            return voting()
        finally:
            inside[0] += time.perf_counter() - began

    def plain() -> bool:  # one process's check: the flag, no all-reduce
        loop.state.stop = loop.state.asked
        return bool(loop.state.stop)

    variants = {"vote": timed_vote, "plain": plain}
    times = {name: [] for name in variants}
    for r in range(rounds + 1):  # the first round warms up
        inside[0] = inside[0] if r != 1 else 0.0
        names = list(variants)[r % 2 :] + list(variants)[: r % 2]
        for name in names:
            loop.stopping = variants[name]
            dist.barrier()
            began = time.perf_counter()
            runner()
            if r:
                times[name].append(time.perf_counter() - began)
    calls = 2000  # a vote's all-reduce, waited for: a round trip between the processes
    dist.barrier()
    began = time.perf_counter()
    for _ in range(calls):
        dist.all_reduce(torch.tensor([0, 1]), dist.ReduceOp.MAX, loop.votes)
    alone_us = (time.perf_counter() - began) / calls * 1e6
    loop.stopping = voting
    loop.settle()
    if loop.run.rank != 0:
        return 0
    ratio = statistics.median(v / p for v, p in zip(times["vote"], times["plain"]))
    vote_s, plain_s = statistics.median(times["vote"]), statistics.median(times["plain"])
    step_us = min(times["plain"]) / loop.state.step * (rounds + 1) * 2 * 1e6
    ok = ratio <= VOTE_MAX
    row(
        "epoch, with the vote",
        f"{vote_s * 1000:.1f} ms",
        note=f"fastest {min(times['vote']) * 1000:.1f}",
    )
    row(
        "epoch, without",
        f"{plain_s * 1000:.1f} ms",
        note=f"fastest {min(times['plain']) * 1000:.1f}",
    )
    row("vote / plain", f"{ratio:.3f}", f"<= {VOTE_MAX}", verdict(ok),
        f"median of {rounds} rounds; ratio of medians {vote_s / plain_s:.3f}, of the fastest "
        f"{min(times['vote']) / min(times['plain']):.3f}")  # fmt: skip
    share = inside[0] / sum(times["vote"])
    row("in Loop.stopping, of the epoch", f"{share:.2%}", note="with the vote, warm-up left out")
    row("a vote's round trip, waited for", f"{alone_us:.0f} us",
        note=f"a step takes {step_us:.0f} us; one vote every 0.2 s or so")  # fmt: skip
    (folder / "verdict.txt").write_text(verdict(ok))
    return 0


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] == ["--vote-worker"]:  # a process of (c), by torchrun
        sys.path.insert(0, str(REPO))
        return _vote_worker(Path(sys.argv[2]), int(sys.argv[3]))
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
        "--phases",
        action="store_true",
        help="only (a0): the phases of `nndsl run examples/add.nn` up to its first training step",
    )
    parser.add_argument(
        "--plot",
        action="store_true",
        help="only (a3): what the loss plot adds to `nndsl run examples/add.nn --epochs 1`",
    )
    parser.add_argument(
        "--profile",
        metavar="CASE",
        choices=CASE_NAMES,
        help="profile one case instead: " + ", ".join(CASE_NAMES),
    )
    parser.add_argument(
        "--stop-vote",
        action="store_true",
        help="only (c): the cost of agreeing on a stop, two processes under torchrun",
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

    if args.stop_vote:
        sys.path.insert(0, str(REPO))
        BUILD.mkdir(parents=True, exist_ok=True)
        return 0 if stop_vote(rounds) else 1
    if args.phases:  # before importing torch here: each round is a fresh process anyway
        BUILD.mkdir(parents=True, exist_ok=True)
        return 0 if startup_phases(max(startup_rounds, 3), patience) else 1
    if args.plot:
        BUILD.mkdir(parents=True, exist_ok=True)
        return 0 if plot_cost(max(startup_rounds, 3), patience) else 1
    sys.path.insert(0, str(REPO))  # the checkout's nndsl, even when it is not installed
    began = time.perf_counter()
    import torch

    torch_s = time.perf_counter() - began
    BUILD.mkdir(parents=True, exist_ok=True)
    if args.profile:
        profile(args.profile, samples, 3 if quick else max(rounds, 15))
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
