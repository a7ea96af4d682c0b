"""What every training script nndsl writes shares: the run folder, the training loop and
evaluation, checkpoints and exact resuming, the NaN culprit, progress, metrics, plots,
weights and several processes. A script says what it trains (its Config, data, step and
main); this module says how. It imports torch and the standard library only (tqdm,
matplotlib, safetensors and tensorboard when they are installed).

    run = Run(cfg, "net", source=("net.nn", SOURCE_SHA256))
    metrics = run.train(model, optimizer, step, data, val_data, save="net.pt")

`step(model, batch)` returns the batch's loss under "loss" and any other tensors to
report: 0-dim ones (loss terms) and metrics of each sample (`out.argmax(1) == y`, the
accuracy), whose mean is the batch's; each is averaged over the samples of an epoch.
A value under a key beginning with "counts/" is a confusion matrix instead
(`confusion`: int64, C x C, a row per true class, a column per predicted one), which
is summed over the epoch, not averaged: "counts/f1" (or "counts/f1/<head>") reports
"f1" ("f1/<head>"), the F1 score of the summed matrix (`f1_score`), and the first such
matrix of the test data (or, without test data, of the validation data) is written
out after training.

    metrics = run.train(model, optimizer, step, data, val_data, test_data)

evaluates the best weights (best.pt) on `test_data` after training, into
test_metrics.json (and test_confusion.csv, .png). Several models, each trained by its
own optimizer (a GAN), take several steps a batch:

    models = nn.ModuleDict({"generator": generator, "discriminator": discriminator})
    steps = [TrainStep("discriminator", discriminator_step, d_optimizer),
             TrainStep("generator", generator_step, g_optimizer)]
    metrics = run.train_steps(models, steps, data, samples=draw)

where each step returns its loss under f"loss/{name}"."""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import hashlib
import inspect
import io
import itertools
import json
import math
import multiprocessing
import os
import pickle
import random
import re
import signal
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel

Batch = dict[str, torch.Tensor]
Step = Callable[[nn.Module, Batch], dict[str, torch.Tensor]]
COUNTS = "counts/"  # a step's confusion matrices: summed over an epoch, not averaged


@dataclass
class TrainStep:
    """One update of each batch: `fn(models, batch)` returns its loss under
    f"loss/{name}" (and any other 0-dim terms to report, e.g. f"loss/{name}/real");
    `optimizer` steps the parameters it holds."""

    name: str
    fn: Step
    optimizer: torch.optim.Optimizer

    @property
    def key(self) -> str:
        """Where `fn` returns the loss: "loss" for the one step of `Run.train`."""
        return f"loss/{self.name}" if self.name else "loss"


class Optimizers:
    """The optimizers of several TrainSteps as one for the State: its `state_dict`
    holds each one's under its step's name."""

    def __init__(self, optimizers: dict[str, torch.optim.Optimizer]):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers.values() for g in o.param_groups]

    def state_dict(self) -> dict:
        return {name: o.state_dict() for name, o in self.optimizers.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state[name])


@dataclass
class Config:
    """The flags of every training script; a script's own Config adds to them and sets
    their defaults."""

    epochs: int = 10  # passes over the data; 0: no limit (with --max-steps)
    max_steps: int = 0  # stop after this many optimizer steps; 0: no limit
    batch_size: int = 32  # samples per batch, over all processes together
    lr: float = 0.001  # the learning rate
    seed: int = 0  # seeds the weights, the shuffling and the validation split
    device: str = "auto"  # auto: cuda when available, else cpu
    val_fraction: float = 0.0  # of the data held out for validation
    log_every: int = 0  # print and log the loss every N steps; 0: log every 50 steps
    out_dir: str = ""  # the run folder; "": a new one under runs/
    eval: str = ""  # evaluate these saved weights instead of training
    checkpoint_every: int = 0  # steps between checkpoints; 0: each epoch, once a minute
    keep_checkpoints: int = 2  # how many of the newest checkpoints to keep (at least 2)
    resume: bool = False  # continue the run in --out-dir (or the newest one)
    quiet: bool = False  # no progress bars or epoch lines, only the final metrics


def parse_args(config: type[Config], doc: str | None, argv: list[str] | None = None):
    """`config` from the command line: one flag per field, its comment as its help."""
    lines = (doc or "").strip().splitlines()
    parser = argparse.ArgumentParser(
        description=lines[0] if lines else None,
        epilog="\n".join(lines[1:]).strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # the help is each field's comment, read from the source: only when it is asked for
    wanted = {"-h", "--help"} & set(sys.argv[1:] if argv is None else argv)
    helps = _comments(config) if wanted else {}
    for f in fields(config):
        flag = "--" + f.name.replace("_", "-")
        text = f"{helps.get(f.name, '')} (default: {f.default!r})".lstrip()
        if isinstance(f.default, bool):
            action = argparse.BooleanOptionalAction
            parser.add_argument(flag, action=action, default=f.default, help=text)
        else:
            kind = type(f.default)
            parser.add_argument(flag, type=kind, default=f.default, help=text)
    return config(**vars(parser.parse_args(argv)))


def _comments(config: type) -> dict[str, str]:
    """The comment after each field of `config` and of the Configs it extends."""
    found: dict[str, str] = {}
    for cls in reversed(inspect.getmro(config)):
        try:
            source = inspect.getsource(cls)
        except (OSError, TypeError):
            continue
        for name, text in re.findall(r"^\s+(\w+):[^#\n]*#\s*(.+)$", source, re.M):
            found[name] = text.strip()
    return found


@dataclass
class EarlyStop:
    """Stop when `metric` has not improved by more than `min_delta` for `patience`
    epochs; `mode` "max" for a metric that improves upwards."""

    metric: str
    patience: int
    min_delta: float = 0.0
    mode: str = "min"


@dataclass
class State:
    """Everything a checkpoint holds: enough to go on exactly where a run stopped."""

    model: nn.Module  # an nn.ModuleDict of the models for Run.train_steps
    optimizer: torch.optim.Optimizer | Optimizers
    generator: torch.Generator  # shuffles the training data
    scheduler: object = None
    scaler: torch.amp.GradScaler | None = None
    run_id: str = ""  # the run the checkpoints belong to, as in config.json
    step: int = 0  # optimizer steps taken
    epoch: int = 1
    batch: int = 0  # batches of `epoch` already trained
    epoch_rng: torch.Tensor | None = None  # the generator's state when `epoch` began
    sums: dict = field(default_factory=dict)  # the running metrics of `epoch`
    pending: list = field(default_factory=list)  # batches not yet added to `sums`
    history: list = field(default_factory=list)  # one row of metrics per finished epoch
    best: float | None = None  # the lowest monitored loss so far
    best_epoch: int = 0
    record: float | None = None  # the best value of the early-stopping metric
    stale: int = 0  # epochs since it improved
    last_loss: float | dict | None = None  # the last finite loss (of each TrainStep)
    asked: int = 0  # the signal that asked this process to stop (Ctrl-C, SIGTERM...)
    stop: int = 0  # the signal every process saves a checkpoint and leaves after


# what a checkpoint holds of the State, besides the model, the optimizer and the RNGs
_KEPT = (
    "run_id step epoch batch epoch_rng sums history best best_epoch record stale "
    "last_loss"
).split()


class NonFiniteLoss(SystemExit):
    """Training stopped at a NaN or infinite loss; `layer` names the first layer whose
    output was not finite (a path such as "body.0.fc1"), when one was found."""

    def __init__(self, message: str, layer: str | None):
        super().__init__(message)
        self.layer = layer


class Run:
    """One run of a training script: its device and processes, and its folder."""

    def __init__(self, cfg: Config, name: str, source: tuple[str, str] = ("", "")):
        if cfg.epochs < 0 or cfg.max_steps < 0 or not (cfg.epochs or cfg.max_steps):
            raise SystemExit(
                "error: train for a positive number of --epochs or --max-steps"
            )
        if cfg.batch_size < 1:
            raise SystemExit("error: --batch-size must be at least 1")
        self.cfg, self.name, self.source = cfg, name, source
        torch.manual_seed(cfg.seed)
        self.rank, self.world, self.device = setup_distributed(cfg)
        self.main = self.rank == 0  # only the first process prints and writes files
        if cfg.batch_size % self.world:
            raise SystemExit(
                f"error: the batch of {cfg.batch_size} does not split evenly over "
                f"{self.world} processes"
            )
        folder = run_folder(cfg, name)
        if (
            self.world > 1 and not cfg.out_dir
        ):  # a folder named by the time: the first's
            folders = [folder]
            dist.broadcast_object_list(folders)
            folder = folders[0]
        self.folder = Path(folder)
        # only the first process's id is written; a resumed run's is its folder's
        self.run_id = "" if cfg.eval else start_run(self.folder, cfg)
        # the plots' worker imports matplotlib while this process trains; not beside
        # several processes, where it would look like one more to torchrun's watchers
        self.figures = Figures(start=self.world == 1 and not cfg.eval)
        # the model as trained, whole: with `distributed fsdp` over several processes,
        # the first one's copy holding the weights gathered from every shard (None on
        # the others), set by `train`
        self.model: nn.Module | None = None

    def print(self, *args, **kwargs) -> None:
        if self.main:
            print(*args, **kwargs)

    @contextlib.contextmanager
    def init_device(self):
        """Where a model that `distributed fsdp` shards is built: with several processes
        the first builds it whole on the CPU, its init drawn there, and the others on
        the meta device, which holds no memory (`fully_sharded` then gives each process
        its shard of the first's weights); alone or with --eval, on the CPU, then moved
        to this run's device as any model. Yields the device to move the model to."""
        if self.world == 1 or self.cfg.eval:
            yield self.device
        elif self.main:
            yield torch.device("cpu")
        else:
            with torch.device("meta"):
                yield torch.device("meta")

    def train(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        step: Step,
        data,
        val_data=None,
        test_data=None,
        *,
        save: str = "model.pt",
        classes: list[str] | None = None,
        **options,
    ) -> dict[str, float]:
        """Train `model` on `data` (or, with --eval, evaluate saved weights), write the
        results into the run folder and return the last epoch's metrics, and those of
        the best weights on `test_data` (test_loss...). `classes` names the rows and
        columns of a confusion matrix; `options` are those of Loop."""
        loop = Loop(self, model, optimizer, step, **options)
        return self._train(
            loop, data, val_data, save, HeldOut(self, loop, test_data, classes)
        )

    def train_steps(
        self,
        models: nn.ModuleDict,
        steps: list[TrainStep],
        data,
        val_data=None,
        *,
        save: str = "model.pt",
        samples: Callable[[nn.ModuleDict], torch.Tensor] | None = None,
        **options,
    ) -> dict[str, float]:
        """`train` for several models, each updated by its own optimizer: every batch
        takes each of `steps` in order (forward, backward, clip, optimizer step, every
        model's gradients cleared). There is no one loss, so no best.pt; the weights
        saved are the ModuleDict's. `samples(models)`, when given, returns images
        ((N, H, W) or (N, C, H, W), values in [0, 1]) that are drawn into samples.png
        after training."""
        refuse_with_steps(steps, options)
        optimizers = Optimizers({s.name: s.optimizer for s in steps})
        loop = Loop(self, models, optimizers, steps, **options)
        return self._train(loop, data, val_data, save, HeldOut(self, loop), samples)

    def _train(self, loop: Loop, data, val_data, save: str, held_out, samples=None):
        data, val_data = loop.place(data), loop.place(val_data)
        self.model = loop.state.model
        if self.cfg.eval:
            load_weights(loop.state.model, self.cfg.eval, self.device)
            sums = loop.sums(val_data if val_data is not None else data)
            metrics = summarize(sums)
            self.print("  ".join(f"{k} {v:.4g}" for k, v in metrics.items()))
            self.leave()  # the rest is the first process's alone
            if not self.main:
                return metrics
            tested = held_out.report(self.cfg.eval, None, val_data, sums)
            self.figures.wait()
            return {**metrics, **tested}
        batch_count(size(data), self.cfg.batch_size, loop.drop_last)  # before any file
        if self.cfg.resume and loop.sharded:
            resume_sharded(loop.state, self, loop.votes)
        elif self.cfg.resume:
            resume(loop.state, self.folder)
        if self.world > 1:
            dist.barrier()  # every process has seen the folder before it is written
        if self.main:
            write_config(self.cfg, self.folder, loop.state.run_id)
            loop.log = Log(self.folder, loop.state.step, self.cfg.resume)
        try:
            with interrupt_saves(loop.state):
                loop.fit(data, val_data)
                loop.settle()
                if not loop.state.stop:
                    loop.stop_if_diverged()
            if loop.state.stop:
                path = loop.save_checkpoint()
                code, how = stopped(loop.state.stop)
                self.print(
                    f"{how} at epoch {loop.state.epoch}, step {loop.state.step}; "
                    f"saved {path}. Continue with --resume"
                    + (f" (exit {code}: requeue the run)." if code == REQUEUE else "."),
                    file=sys.stderr,
                )
                self.leave()
                raise SystemExit(code)
            loop.save_checkpoint()  # the final state: --resume --epochs N trains on
            tested = {}
            whole = loop.whole()  # sharded: the first process goes on with it
            if whole is not None:
                loop.state.model = whole
            self.model = whole
            if self.main:
                tested = held_out.best(val_data) if loop.single else {}
                self._finish(loop, save, samples, tested, held_out.written)
        finally:
            self.figures.close()
            if loop.log is not None:
                loop.log.close()
        self.leave()
        return {**loop.state.history[-1], **tested}

    def leave(self) -> None:
        """With several processes, leave the process group together, once every
        collective is done: a process that exits without leaving it, or leaves it while
        another still talks to it, can abort in gloo's threads ("terminate called")."""
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()

    def _finish(
        self, loop: Loop, save: str, samples, tested: dict, written: list[str]
    ) -> None:
        """The final weights, the plot, the samples, and where they are (and the files
        of the held-out data)."""
        state = loop.state
        self.figures.draw("loss", self.folder / "loss.png", state.history)
        if samples is not None:
            pixels = sample_pixels(state.model, samples)
            self.figures.draw("samples", self.folder / "samples.png", *pixels)
        save_weights(state.model, self.folder / save)
        save_safetensors(state.model, self.folder / save, self.source)
        drawn = self.figures.wait()  # the PNGs drawn, once they are whole
        sampled = "samples.png" in drawn
        written = [n for n in written if not n.endswith(".png") or n in drawn]
        last = {**state.history[-1], **tested}
        if self.cfg.quiet:
            print("  ".join(f"{k} {v:.4g}" for k, v in last.items()))
            return
        plotted = f"; plot: {self.folder}/loss.png" if "loss.png" in drawn else ""
        if sampled:
            plotted += f"; samples: {self.folder}/samples.png"
        best = f"; best epoch {state.best_epoch} (best.pt)" if loop.single else ""
        if written:
            best += f"; held out: {self.folder}/{', '.join(written)}"
        print(
            f"weights: {self.folder / save}; metrics: {self.folder}/metrics.csv, "
            f"metrics.jsonl{plotted}{best}"
        )

    def predictions(self, header: list[str], rows: list[list]) -> None:
        """A data section's predictions, a row per sample, as predictions.csv in the run
        folder (each row also printed when there are at most 10); --eval without
        --out-dir has no folder, and prints them as CSV."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        if self.cfg.eval and not self.cfg.out_dir:
            print(out.getvalue(), end="")
            return
        path = self.folder / "predictions.csv"
        self.folder.mkdir(parents=True, exist_ok=True)
        write_text(path, out.getvalue())
        if len(rows) <= 10 and not self.cfg.quiet:
            for row in rows:
                shown = ", ".join(f"{k} {rounded(v)}" for k, v in zip(header, row))
                print(f"predict {shown}")
        print(f"predictions of {len(rows):,} samples: {path}")

    def total_steps(self, data, accumulate: int = 1, drop_last: bool = False) -> int:
        """The optimizer steps of the whole run: --max-steps, or --epochs of `data`."""
        batches = batch_count(size(data), self.cfg.batch_size, drop_last)
        return self.cfg.max_steps or self.cfg.epochs * -(-batches // accumulate)


class Loop:
    """The loop of a Run: epochs of optimizer steps, evaluation, checkpoints. `step` is
    the one Step of `model` and `optimizer`, or (for Run.train_steps) the TrainSteps of
    each batch, `model` the ModuleDict they train and `optimizer` their Optimizers."""

    def __init__(
        self,
        run: Run,
        model: nn.Module,
        optimizer: torch.optim.Optimizer | Optimizers,
        step: Step | list[TrainStep],
        *,
        scheduler=None,
        scheduler_every: str = "epoch",  # "epoch" or "step"
        clip: float = 0.0,  # the largest norm of all gradients together; 0: no clipping
        accumulate: int = 1,  # batches whose gradients add up to one optimizer step
        precision: str = "fp32",  # fp32, bf16 or fp16 (autocast; fp16 a GradScaler)
        compile: bool = False,  # run the model through torch.compile
        early_stop: EarlyStop | None = None,
        channels_last: tuple[str, ...] = (),  # the 4-D inputs kept in NHWC memory
        shuffle: bool = True,
        drop_last: bool = False,  # leave out a last, smaller training batch
        checkpoint_activations: bool = False,  # recompute each block's in the backward
        distributed: str = "ddp",  # or "fsdp": the model sharded over the processes
    ):
        cfg = run.cfg
        self.run, self.cfg = run, cfg
        # Run.train's one step, the loss "loss"; or several, each with an optimizer
        self.single = not isinstance(step, list)
        self.steps = [TrainStep("", step, optimizer)] if self.single else step
        self.scheduler_every, self.clip, self.accumulate = (
            scheduler_every,
            clip,
            accumulate,
        )
        self.early_stop, self.channels_last = early_stop, channels_last
        self.shuffle, self.drop_last = shuffle, drop_last
        # metrics.jsonl and TensorBoard, kept by the first process only
        self.log: Log | None = None
        self.autocast = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        # fsdp: checkpoints of shards; with several processes, the model sharded
        self.sharded = distributed == "fsdp"
        self.fsdp = self.sharded and run.world > 1 and not cfg.eval
        if self.fsdp:
            self.replica = fully_sharded(
                model, optimizer, precision, run.device, run.main
            )
        if checkpoint_activations:
            checkpoint_blocks(model)
        self.net = self.wrap(model, compile)
        self.state = State(
            model=model,
            optimizer=optimizer,
            generator=torch.Generator().manual_seed(cfg.seed),
            scheduler=scheduler,
            scaler=(
                torch.amp.GradScaler(run.device.type) if precision == "fp16" else None
            ),
            run_id=run.run_id,
            last_loss=None if self.single else {},
        )
        # the processes' stop signals, all-reduced over gloo (not the device): the
        # vote under way (its work, tensor, step), the next one's step, the last's time
        self.votes = dist.new_group(backend="gloo") if run.world > 1 else None
        if self.votes is not None:  # every process has made it before any uses it: a
            dist.barrier()  # restarted one could otherwise reach a peer's dead address
        self.vote: tuple | None = None
        self.vote_at, self.voted = 0, None

    def wrap(self, model: nn.Module, compile: bool) -> nn.Module:
        """What the steps call: the model, compiled or in DistributedDataParallel. With
        several steps, each model is compiled on its own; their gradients are averaged
        over the processes by `average_gradients` (DDP expects one forward and one
        backward of each model an iteration)."""
        if self.single:
            net = torch.compile(model) if compile else model
            ddp = self.run.world > 1 and not self.fsdp
            return DistributedDataParallel(model) if ddp else net
        if self.run.world > 1:  # every process starts from the first one's weights
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, 0)
        if not compile:
            return model
        return nn.ModuleDict({k: torch.compile(m) for k, m in model.items()})

    def place(self, data):
        """Data held in memory on the device (a streamed Dataset stays where it is)."""
        if not isinstance(data, dict):
            return data
        data = {k: v.to(self.run.device) for k, v in data.items()}
        return to_channels_last(data, self.channels_last)

    def forward(self, fn: Step, batch: Batch, net=None) -> dict[str, torch.Tensor]:
        """A step's loss and metrics of one batch (under autocast for bf16, fp16), by
        `net` (the model as trained, unless given)."""
        net = self.net if net is None else net
        if self.autocast is None:
            return fn(net, batch)
        with torch.autocast(self.run.device.type, dtype=self.autocast):
            return fn(net, batch)

    def terms(self, batch: Batch, net=None) -> dict[str, torch.Tensor]:
        """Every step's loss and metrics of one batch, in one dict, without training."""
        terms = None
        for step in self.steps:
            got = self.forward(step.fn, batch, net)
            terms = got if terms is None else {**terms, **got}
        return terms

    def batches(
        self, data, batch_size: int, generator, drop_last: bool
    ) -> Iterator[Batch]:
        """The batches of `data` on the device (the images `channels_last` converted),
        in the order `generator` shuffles (in order without one)."""
        if isinstance(data, dict):
            rows = memory_batches(data, batch_size, generator, drop_last)
        else:
            workers = getattr(self.cfg, "workers", 0)
            rows = stream_batches(data, batch_size, generator, workers, drop_last)
            rows = (
                {k: v.to(self.run.device, non_blocking=True) for k, v in batch.items()}
                for batch in rows
            )
        if not self.channels_last:
            return rows
        return (to_channels_last(batch, self.channels_last) for batch in rows)

    def fit(self, data, val_data) -> None:
        """Epoch after epoch until --epochs, --max-steps, early stopping or Ctrl-C."""
        state, cfg, run = self.state, self.cfg, self.run
        saved = time.monotonic()
        while not cfg.epochs or state.epoch <= cfg.epochs:
            start = time.perf_counter()
            metrics = {"epoch": state.epoch, **self.train_one_epoch(data)}
            if state.stop:
                return
            if val_data is not None:
                val = self.evaluate(val_data)
                metrics.update({f"val_{k}": v for k, v in val.items()})
            seconds = time.perf_counter() - start
            metrics["seconds"] = round(seconds, 3)
            state.history.append(metrics)
            if run.main:
                write_metrics(state.history, run.folder / "metrics.csv")
            if self.log is not None:
                self.log.epoch(state.step, metrics)
            if not cfg.quiet:
                shown = "  ".join(
                    f"{k} {v:.4g}"
                    for k, v in metrics.items()
                    if k not in ("epoch", "seconds")
                )
                rate = size(data) / seconds
                run.print(
                    f"epoch {state.epoch}  {shown}  ({rate:,.0f} samples/s)", flush=True
                )
            monitor = "val_loss" if val_data is not None else "loss"
            done = self.end_epoch(metrics, monitor if self.single else None)
            if done or (cfg.max_steps and state.step >= cfg.max_steps):
                return
            if not cfg.checkpoint_every and time.monotonic() - saved >= 60:
                self.save_checkpoint()
                saved = time.monotonic()

    def end_epoch(self, metrics: dict[str, float], monitor: str | None) -> bool:
        """The best weights (by `monitor`, when there is one loss), the scheduler's
        step and early stopping, after an epoch; True when early stopping ends the
        run."""
        state, run = self.state, self.run
        monitored = metrics[monitor] if monitor else None
        better = monitor and (state.best is None or monitored < state.best)
        if better and math.isfinite(monitored):  # a NaN is never the best
            state.best, state.best_epoch = monitored, state.epoch
            whole = self.whole()  # sharded: gathered by every process
            if run.main:
                save_weights(whole, run.folder / "best.pt")
        if isinstance(state.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            state.scheduler.step(monitored)
        elif state.scheduler is not None and self.scheduler_every == "epoch":
            state.scheduler.step()
        state.epoch, state.batch = state.epoch + 1, 0
        rule = self.early_stop
        if rule is None:
            return False
        if rule.metric not in metrics:  # --val-fraction 0, or one that holds out none
            raise SystemExit(
                f"error: early stopping watches {rule.metric}, but no samples are held "
                "out to validate on: raise --val-fraction"
            )
        watched = metrics[rule.metric]
        sign = 1 if rule.mode == "max" else -1
        if state.record is None or sign * (watched - state.record) > rule.min_delta:
            state.record, state.stale = watched, 0
            return False
        state.stale += 1
        if state.stale < rule.patience:
            return False
        run.print(
            f"early stop: {rule.metric} has not improved for {rule.patience} epochs"
        )
        return True

    def train_one_epoch(self, data) -> dict[str, float]:
        """Train on the rest of `state.epoch` (all of it unless resuming mid-epoch)."""
        state, cfg, run, steps = self.state, self.cfg, self.run, self.steps
        self.net.train()
        if state.batch == 0:
            state.epoch_rng = state.generator.get_state()
            state.sums = {}
        else:  # resuming: replay the epoch's order, skip the batches already trained
            state.generator.set_state(state.epoch_rng)
        count = batch_count(size(data), cfg.batch_size, self.drop_last)
        bar = progress_bar(
            size(data), f"epoch {state.epoch}", cfg if run.main else None
        )
        # batches between loss checks; a check waits for the device
        check = 1 if run.device.type == "cpu" else 50
        every = cfg.log_every or 50  # optimizer steps between rows of metrics.jsonl
        generator = state.generator if self.shuffle else None
        rows = self.batches(data, cfg.batch_size, generator, self.drop_last)
        for i, batch in enumerate(
            itertools.islice(rows, state.batch, None), start=state.batch
        ):
            samples = n = next(iter(batch.values())).shape[0]  # of all the processes
            if run.world > 1:
                batch = shard(batch, run.rank, run.world)
                n = next(iter(batch.values())).shape[0]  # of this one
            last = (i + 1) % self.accumulate == 0 or i + 1 == count
            terms = self.train_batch(batch, i % check == 0, last)
            state.batch = i + 1
            keep(state.pending, state.sums, terms, n)
            if self.log is not None:
                self.log.samples += samples
            if bar is not None:
                bar.update(samples)
                if i % 20 == 0:
                    bar.set_postfix(
                        {s.key: f"{terms[s.key].item():.4g}" for s in steps}
                    )
            if not last:
                continue  # checkpoints and stops fall between optimizer steps
            ends = i + 1 == count or (cfg.max_steps and state.step >= cfg.max_steps)
            logged = state.step % every == 0 or (ends and not cfg.log_every)
            if logged and self.log is not None:
                row = self.log.row(state, terms)
                if cfg.log_every and not cfg.quiet:
                    losses = "  ".join(f"{s.key} {row[s.key]:.4g}" for s in steps)
                    print(f"  step {state.step}: {losses}", flush=True)
            if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                self.save_checkpoint()
            if self.stopping() or (cfg.max_steps and state.step >= cfg.max_steps):
                break
        if bar is not None:
            bar.close()
        measure(state.pending, state.sums)
        return summarize(state.sums, run.world > 1)

    def train_batch(self, batch: Batch, check: bool, last: bool) -> dict:
        """Each step's forward, loss check (when `check`) and backward, then (when the
        batch is the `last` one of an optimizer step) its update; the terms of all."""
        terms = None
        for step in self.steps:
            try:
                got = self.forward(step.fn, batch)
            except Exception as err:  # torch.compile wraps it in an error of its own
                stop = one_sample_error(err, batch, self.run.world)
                if stop is None:
                    raise
                raise stop from None
            loss = got[step.key]
            if check:
                self.stop_if_not_finite(loss, batch, step)
            self.backward(loss)
            if last:
                self.optimizer_step(step)
            terms = got if terms is None else {**terms, **got}
        if last:
            self.end_step()
        return terms

    def backward(self, loss: torch.Tensor) -> None:
        if self.accumulate > 1:
            loss = loss / self.accumulate
        if self.state.scaler is not None:
            loss = self.state.scaler.scale(loss)
        loss.backward()

    def optimizer_step(self, step: TrainStep) -> None:
        """Clip, step `step`'s optimizer (through the GradScaler for fp16), clear the
        gradients: with several steps, every model's, so that none reaches the next
        step's update."""
        state, optimizer, scaler = self.state, step.optimizer, self.state.scaler
        if not self.single and self.run.world > 1:
            average_gradients(optimizer, self.run.world)
        if self.clip:
            if scaler is not None:
                scaler.unscale_(optimizer)
            held = state.model.parameters() if self.single else parameters(optimizer)
            nn.utils.clip_grad_norm_(held, self.clip)
        if scaler is not None:
            scaler.step(optimizer)
        else:
            optimizer.step()
        (optimizer if self.single else state.model).zero_grad(set_to_none=True)

    def end_step(self) -> None:
        """After the optimizer steps of a batch: the GradScaler's new scale, the step
        count, the scheduler."""
        state = self.state
        if state.scaler is not None:
            state.scaler.update()
        state.step += 1
        if state.scheduler is not None and self.scheduler_every == "step":
            state.scheduler.step()

    def evaluate(self, data) -> dict[str, float]:
        """The loss and metrics over `data`, in order, in batches of at least 256."""
        return summarize(self.sums(data))

    @torch.no_grad()
    def sums(self, data, net: nn.Module | None = None) -> dict:
        """The loss and metrics of `data` added up (as `summarize` takes them), in
        order, in batches of at least 256, by `net` (the model as trained, unless
        given)."""
        net = self.net if net is None else net
        net.eval()
        pending: list = []
        sums: dict = {}
        for batch in self.batches(data, max(self.cfg.batch_size, 256), None, False):
            keep(pending, sums, self.terms(batch, net), len(next(iter(batch.values()))))
        measure(pending, sums)
        return sums

    def stop_if_not_finite(
        self, loss: torch.Tensor, batch: Batch, step: TrainStep
    ) -> None:
        """Stop before a NaN or infinite loss reaches the weights."""
        state = self.state
        value = loss.item()
        if math.isfinite(value):
            if self.single:
                state.last_loss = value
            else:  # each step's, by name
                state.last_loss[step.name] = value
            return
        known = state.last_loss if self.single else state.last_loss.get(step.name)
        last = "none yet" if known is None else f"{known:.6g}"
        where, layer = first_non_finite(state.model, batch, step.fn)
        what = f"the loss of {step.name}" if step.name else "the loss"
        raise NonFiniteLoss(
            f"error: {what} is {value} at epoch {state.epoch}, step {state.step + 1} "
            f"(the last finite loss: {last}){where}; the weights before this step "
            "are in the newest checkpoint. Try a smaller learning rate, `clip`, or "
            "check the data for NaNs.",
            layer,
        )

    def stop_if_diverged(self) -> None:
        """After the last step, whose update no later loss check sees: stop before the
        weights are saved or used if it made one of them NaN or infinite, or the last
        epoch's losses (on the validation data: made after that update) are not finite.
        Every process agrees."""
        state = self.state
        bad = [
            name
            for name, p in state.model.named_parameters()
            if not bool(torch.isfinite(getattr(p, "_local_tensor", p)).all())
        ]
        last = state.history[-1] if state.history else {}
        losses = [
            f"{key} is {value}"
            for key, value in last.items()
            if key.startswith(("loss", "val_loss")) and not math.isfinite(value)
        ]
        flag = torch.tensor([float(bool(bad or losses))])
        if self.votes is not None:
            dist.all_reduce(flag, dist.ReduceOp.MAX, self.votes)
        if not flag.item():
            return
        if bad:
            more = f" and {len(bad) - 1} more" if bad[1:] else ""
            what = f"the weights are not finite (`{bad[0]}`{more})"
        else:
            what = f"the last epoch's {' and '.join(losses) or 'losses are not finite'}"
        raise NonFiniteLoss(
            f"error: {what} after step {state.step}, the last step: the weights have "
            "diverged, and are not saved as the final ones. Try a smaller learning "
            "rate, or `clip`.",
            None,
        )

    def stopping(self) -> bool:
        """After an optimizer step: whether every process stops now, at a signal one of
        them was sent. With several, a vote starts an all-reduce of the signals asked,
        which the next step reads (done by then: no process waits for the device or
        for a round trip), about every VOTE_EVERY_S (every step when steps are slower);
        the steps to the next vote are all-reduced with it, so every process votes,
        and stops, at the same step."""
        state = self.state
        if self.votes is None:
            state.stop = state.asked
            return bool(state.stop)
        if self.vote is not None and state.step > self.vote[2]:
            work, ballot, _ = self.vote
            work.wait()
            state.stop, self.vote = int(ballot[0]), None
            self.vote_at = state.step + int(ballot[1]) - 1
        if self.vote is None and state.step >= self.vote_at:
            now = time.perf_counter()
            gap = 1
            if self.voted is not None:
                took, steps = now - self.voted[0], state.step - self.voted[1]
                gap = min(max(int(VOTE_EVERY_S * steps / max(took, 1e-6)), 1), 1000)
            self.voted = (now, state.step)
            ballot = torch.tensor([state.asked, gap])
            work = dist.all_reduce(ballot, dist.ReduceOp.MAX, self.votes, async_op=True)
            self.vote = (work, ballot, state.step)
        return bool(state.stop)

    def settle(self) -> None:
        """After training: one last vote, waited for, so that every process leaves the
        same way (and none with an all-reduce under way)."""
        state = self.state
        if self.votes is None:
            state.stop = state.asked
            return
        if self.vote is not None:
            self.vote[0].wait()
            self.vote = None
        ballot = torch.tensor([state.asked])
        dist.all_reduce(ballot, dist.ReduceOp.MAX, self.votes)
        state.stop = int(ballot[0])

    def save_checkpoint(self) -> Path:
        measure(
            self.state.pending, self.state.sums
        )  # so that a resumed run adds up the same batches
        if self.sharded:
            return save_sharded_checkpoint(self.state, self.run)
        return save_checkpoint(self.state, self.run)

    def whole(self) -> nn.Module | None:
        """The model with all its weights: itself or, sharded, its replica holding them
        on the first process (every process must call this; None on the others)."""
        if not self.fsdp:
            return self.state.model
        return gathered(self.state.model, self.replica, self.run.device)


class HeldOut:
    """What a run reports after training of the data it did not train on: the loss and
    metrics of the test data (printed, returned as test_<name>, test_metrics.json) and
    the confusion matrix a classifier's step counts, of the test data or, without any,
    of the validation data (test_confusion.csv and .png, or val_...). Files go into the
    run folder, which --eval has only with --out-dir."""

    def __init__(self, run: Run, loop: Loop, test_data=None, classes=None):
        self.run, self.loop = run, loop
        self.test_data = loop.place(test_data)
        self.classes = list(classes or ())  # the names of the class ids, when known
        self.written: list[str] = []  # the files written into the run folder

    def best(self, val_data) -> dict[str, float]:
        """`report` of the best weights (best.pt), after training; the model keeps its
        final weights."""
        state = self.loop.state
        counted = any(key.startswith(COUNTS) for key in state.sums)
        if self.test_data is None and not (counted and val_data is not None):
            return {}
        model = state.model
        final = {k: v.clone() for k, v in model.state_dict().items()}
        load_weights(model, str(self.run.folder / "best.pt"), self.run.device)
        try:
            return self.report("best.pt", state.best_epoch, val_data)
        finally:
            model.load_state_dict(final)

    def report(
        self, weights: str, epoch: int | None, val_data, val_sums: dict | None = None
    ) -> dict[str, float]:
        """The test metrics of the model's weights (read from the file `weights`, of
        `epoch` when training chose them), printed and written with the confusion
        matrix; without test data, the validation data's confusion matrix (from
        `val_sums`, when they are known)."""
        model = self.loop.state.model
        which = f"{weights}, epoch {epoch}" if epoch is not None else weights
        if self.test_data is None:
            if val_data is not None:
                if val_sums is None:
                    val_sums = self.loop.sums(val_data, model)
                self.files("val", val_sums, f"validation data: {which}")
            return {}
        sums = self.loop.sums(self.test_data, model)
        metrics = {f"test_{k}": v for k, v in summarize(sums).items()}
        if self.run.cfg.eval or not self.run.cfg.quiet:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            print(f"{shown}  ({which})")
        finite = {k: v if math.isfinite(v) else None for k, v in metrics.items()}
        report = {"weights": weights, "epoch": epoch, "samples": sums["samples"]}
        self.files("test", sums, f"test data: {which}", {**report, **finite})
        return metrics

    def files(self, part: str, sums: dict, title: str, report: dict | None = None):
        """test_metrics.json (`report`, with each class's scores) and the confusion
        matrix that `sums` count, as <part>_confusion.csv and .png."""
        run = self.run
        matrix = next((v for k, v in sums.items() if k.startswith(COUNTS)), None)
        nothing = report is None and matrix is None
        if nothing or (run.cfg.eval and not run.cfg.out_dir):
            return
        run.folder.mkdir(parents=True, exist_ok=True)
        names = self.names(matrix) if matrix is not None else []
        if report is not None:
            if matrix is not None:
                report["classes"] = per_class(matrix, names)
            self.write("test_metrics.json", json.dumps(report, indent=2) + "\n")
        if matrix is not None:
            self.write(f"{part}_confusion.csv", confusion_csv(matrix, names))
            png = f"{part}_confusion.png"  # listed, once drawn (Run._finish)
            run.figures.draw(
                "confusion", run.folder / png, matrix.tolist(), names, title
            )
            self.written.append(png)

    def names(self, matrix: torch.Tensor) -> list[str]:
        """The classes' names, or their ids when there are none for each."""
        named = len(self.classes) == len(matrix)
        return self.classes if named else [str(i) for i in range(len(matrix))]

    def write(self, name: str, text: str) -> None:
        write_text(self.run.folder / name, text)
        self.written.append(name)


def per_class(matrix: torch.Tensor, names: list[str]) -> dict[str, dict]:
    """Each class's precision, recall, F1 and support, by name."""
    scores = class_scores(matrix)
    return {
        name: {
            k: round(float(v[i]), 6) if k != "support" else int(v[i])
            for k, v in scores.items()
        }
        for i, name in enumerate(names)
    }


def confusion_csv(matrix: torch.Tensor, names: list[str]) -> str:
    """A confusion matrix as CSV: a row per true class, a column per predicted one."""
    out = io.StringIO()
    rows = csv.writer(out, lineterminator="\n")
    rows.writerow(["true \\ predicted", *names])
    for name, row in zip(names, matrix.tolist()):
        rows.writerow([name, *row])
    return out.getvalue()


def confusion_figure(matrix: torch.Tensor | list, names: list[str], title: str):
    """A matplotlib Figure (drawn by Agg, without pyplot) of a confusion matrix (or its
    counts as lists), with the count in each cell (up to 30 classes)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    counts = matrix.tolist() if isinstance(matrix, torch.Tensor) else matrix
    n = len(counts)
    side = min(3 + 0.4 * n, 12)  # inches
    fig = Figure(figsize=(side, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    high = max(max(row) for row in counts)
    if n <= 30:
        for i, row in enumerate(counts):
            for j, count in enumerate(row):
                colour = "white" if count > high / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", color=colour)
    slanted = (
        n > 3 and max(len(name) for name in names) > 2
    )  # long names, slanted apart
    ax.set_xticks(range(n))
    ax.set_xticklabels(
        names, rotation=45 if slanted else 0, ha="right" if slanted else "center"
    )
    ax.set_yticks(range(n))
    ax.set_yticklabels(names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize="medium")
    return fig


def draw_confusion(
    matrix: torch.Tensor | list, names: list[str], title: str, path: Path
) -> bool:
    """confusion_figure as the PNG `path`; False without matplotlib."""
    try:
        figure = confusion_figure(matrix, names, title)
    except ImportError:
        return False
    write_atomic(
        path, lambda tmp: figure.savefig(tmp, format="png", bbox_inches="tight")
    )
    return True


def refuse_with_steps(steps: list[TrainStep], options: dict) -> None:
    """What Run.train_steps does not do: a one-line error for each."""
    names = [step.name for step in steps]
    if not steps or "" in names or len(set(names)) < len(names):
        raise SystemExit("error: train_steps takes TrainSteps with distinct names")
    refused = {
        "accumulate": options.get("accumulate", 1) > 1,
        "a scheduler": options.get("scheduler") is not None,
        "early stopping": options.get("early_stop") is not None,
        "distributed fsdp": options.get("distributed") == "fsdp",
    }
    for what, given in refused.items():
        if given:
            raise SystemExit(f"error: {what} is not supported with several train steps")


def parameters(optimizer: torch.optim.Optimizer) -> list[nn.Parameter]:
    """The parameters `optimizer` holds."""
    return [p for group in optimizer.param_groups for p in group["params"]]


def average_gradients(optimizer: torch.optim.Optimizer, world: int) -> None:
    """The gradients of the parameters `optimizer` holds, averaged over the processes
    (one all-reduce for each dtype), as DistributedDataParallel averages a model's."""
    grads = [p.grad for p in parameters(optimizer) if p.grad is not None]
    for dtype in dict.fromkeys(g.dtype for g in grads):
        same = [g for g in grads if g.dtype == dtype]
        flat = torch.cat([g.reshape(-1) for g in same]).div_(world)
        dist.all_reduce(flat)
        for grad, part in zip(same, flat.split([g.numel() for g in same])):
            grad.copy_(part.view_as(grad))


def size(data) -> int:
    """The number of samples: of a dict of tensors, or of a Dataset."""
    return len(next(iter(data.values()))) if isinstance(data, dict) else len(data)


def batch_count(n: int, batch_size: int, drop_last: bool) -> int:
    """The batches of an epoch; none ends the run, saying why (an epoch without a batch
    would report a loss of nan)."""
    count = n // batch_size if drop_last else -(-n // batch_size)
    if count == 0:
        why = (
            f"drop_last leaves out all {n} training samples, fewer than a batch of "
            f"{batch_size}; give a --batch-size of at most {n}"
            if n
            else "the training data holds no sample (does --val-fraction hold out "
            "every one?)"
        )
        raise SystemExit(f"error: no batch to train on: {why}")
    return count


def split(data, fraction: float, seed: int):
    """Hold out `fraction` of the samples, chosen by a seeded shuffle, for validation
    (or testing): (train, val), val None when nothing is held out. They are the samples
    `train_val_test` holds out for testing with that fraction."""
    train, val, _ = train_val_test(data, fraction, 0.0, seed)
    return train, val


def train_val_test(data, val_fraction: float, test_fraction: float, seed: int):
    """Hold out `test_fraction` of the samples for testing, then `val_fraction` of them
    for validation, chosen by one seeded shuffle: (train, val, test), val or test None
    when nothing is held out for it. The test samples are the same whatever
    `val_fraction` is."""
    n = size(data)
    if not (0 <= val_fraction < 1 and 0 <= test_fraction < 1):
        raise SystemExit("error: --val-fraction and --test-fraction lie in [0, 1)")
    test, val = round(n * test_fraction), round(n * val_fraction)
    if n and test + val >= n:
        raise SystemExit(
            f"error: --val-fraction {val_fraction} and --test-fraction {test_fraction} "
            f"hold out all {n} samples: none is left to train on"
        )
    if test + val == 0:
        return data, None, None
    generator = torch.Generator().manual_seed(seed)
    if isinstance(data, dict):
        order = torch.randperm(n, generator=generator)
        parts = [
            {k: v[i] for k, v in data.items()}
            for i in order.split([test, val, n - test - val])
        ]
    else:
        parts = torch.utils.data.random_split(
            data, [test, val, n - test - val], generator
        )
    held_test, held_val, train = parts
    return train, held_val if val else None, held_test if test else None


def memory_batches(
    data: Batch, batch_size: int, generator: torch.Generator | None, drop_last: bool
) -> Iterator[Batch]:
    """Batches as views: one shuffled gather per epoch (when given a generator), then
    split."""
    n = size(data)
    if generator is not None:
        order = torch.randperm(n, generator=generator).to(
            next(iter(data.values())).device
        )
        data = {k: v.index_select(0, order) for k, v in data.items()}
    if drop_last:  # without the last, smaller batch
        data = {k: v[: n - n % batch_size] for k, v in data.items()}
    for batch in zip(*(v.split(batch_size) for v in data.values())):
        yield dict(zip(data, batch))


def stream_batches(
    data,
    batch_size: int,
    generator: torch.Generator | None,
    workers: int,
    drop_last: bool,
) -> Iterator[Batch]:
    """Batches of rows read by `workers` processes; shuffled when given a generator."""
    if generator is not None:
        rows = torch.utils.data.RandomSampler(data, generator=generator)
    else:
        rows = torch.utils.data.SequentialSampler(data)
    sampler = torch.utils.data.BatchSampler(rows, batch_size, drop_last=drop_last)
    yield from torch.utils.data.DataLoader(
        data,
        batch_size=None,
        sampler=sampler,
        num_workers=workers,
        pin_memory=torch.cuda.is_available(),
        worker_init_fn=ignore_stop_signals if workers else None,
    )


def to_channels_last(data: Batch | None, keys: tuple[str, ...]) -> Batch | None:
    """The images `keys` in channels-last (NHWC) memory: faster convolutions, the same
    values (a gather gives the default layout, so each shuffled batch is converted
    again)."""
    if not keys or data is None:
        return data
    nhwc = torch.channels_last
    return {
        k: v.contiguous(memory_format=nhwc) if k in keys else v for k, v in data.items()
    }


def one_sample_error(err: Exception, batch: Batch, world: int) -> SystemExit | None:
    """A norm layer's refusal of a batch too small to train on, as a one-line error with
    the fix; None for any other error."""
    text = str(err)
    if "Expected more than 1 spatial element when training" in text:
        return SystemExit(
            "error: an instance norm needs more than one position per channel to "
            "train, but the model gives it one"
        )
    if "Expected more than 1 value per channel when training" not in text:
        return None
    n = len(next(iter(batch.values())))
    where = f" per process ({world} processes)" if world > 1 else ""
    return SystemExit(
        f"error: a training batch of {n} sample{'s' * (n != 1)}{where} leaves a batch "
        "norm one value per channel, which torch refuses in training: choose a "
        "--batch-size that leaves no batch of one sample, or set drop_last in the data "
        "section"
    )


def shard(batch: Batch, rank: int, world: int) -> Batch:
    """This rank's contiguous share of a global batch; the ranks cover it once."""
    return {k: v.tensor_split(world)[rank] for k, v in batch.items()}


HELD = 1 << 22  # elements of per-sample values that may wait to be added up


def keep(pending: list, sums: dict, terms: dict[str, torch.Tensor], n: int) -> None:
    """Hold a batch's loss and metrics (detached) until 256 batches wait, or their
    per-sample values hold `HELD` elements, then add them up."""
    kept = {k: v.detach() for k, v in terms.items()}
    pending.append((n, kept))
    if (
        len(pending) >= 256
        or len(pending) * max(map(torch.numel, kept.values())) > HELD
    ):
        measure(pending, sums)


def measure(pending: list, sums: dict) -> None:
    """Add the pending batches' values to `sums`, each batch's mean weighted by its
    samples (and their counts, unweighted): one reduction for many batches, without
    waiting for the device. A value of more than one element (a metric of each sample,
    `out.argmax(1) == y`) counts as the mean of its elements."""
    if not pending:
        return
    sizes, terms = zip(*pending)
    pending.clear()
    for key in terms[0]:
        values = [t[key] for t in terms]
        if key.startswith(COUNTS):
            total = torch.stack(values).sum(0)
        else:
            total = weighted_total(values, sizes)
        sums[key] = sums.get(key, 0) + total
    sums["samples"] = sums.get("samples", 0) + sum(sizes)


def weighted_total(values: list[torch.Tensor], sizes: tuple[int, ...]) -> torch.Tensor:
    """The sum over batches of each batch's mean value times its samples, in float64
    (float32 on MPS, which has no float64): one stack when all are 0-dim (a quarter of
    the concatenation's cost, which reshapes each), else one concatenation."""
    device = values[0].device
    dtype = torch.float32 if device.type == "mps" else torch.float64
    if all(v.dim() == 0 for v in values):
        weights = torch.tensor(sizes, dtype=dtype, device=device)
        return (torch.stack(values).to(dtype) * weights).sum()
    counts = [v.numel() for v in values]
    flat = torch.cat([v.reshape(-1) for v in values]).to(dtype)
    shares = [n / max(count, 1) for n, count in zip(sizes, counts)]
    weights = torch.tensor(shares, dtype=dtype, device=device)
    repeats = torch.tensor(counts, device=device)
    return (flat * weights.repeat_interleave(repeats, output_size=len(flat))).sum()


def summarize(sums: dict, across_ranks: bool = False) -> dict[str, float]:
    """The epoch's averages, and the metrics of its counts (F1 of "counts/f1");
    `across_ranks`: over every process's samples."""
    keys = list(sums)  # in the step's order, the same in every process
    if across_ranks and dist.is_initialized():
        device = next(v.device for v in sums.values() if isinstance(v, torch.Tensor))
        means = [k for k in keys if not k.startswith(COUNTS)]
        totals = torch.tensor(
            [float(sums[k]) for k in means], dtype=torch.float64, device=device
        )
        dist.all_reduce(totals)
        summed = dict(zip(means, totals.tolist()))
        for key in keys:
            if key.startswith(COUNTS):
                summed[key] = sums[key].clone()
                dist.all_reduce(summed[key])
        sums = {k: summed[k] for k in keys}
    metrics = {}
    for key, value in sums.items():
        if key.startswith(COUNTS):
            name = key.removeprefix(COUNTS)
            if name.split("/")[0] == "f1":
                metrics[name] = f1_score(value)
        elif key != "samples":
            metrics[key] = float(value) / sums["samples"]
    return metrics


def confusion(targets: torch.Tensor, predicted: torch.Tensor, classes: int):
    """The (classes, classes) int64 confusion matrix of a batch: a row per true class, a
    column per predicted one. Added up on the device without waiting for it (which
    torch.bincount does, to size its result)."""
    index = (targets.long() * classes + predicted.long()).reshape(-1)
    counts = torch.zeros(classes * classes, dtype=torch.int64, device=index.device)
    counts.index_add_(0, index, torch.ones_like(index))
    return counts.view(classes, classes)


def f1_score(matrix: torch.Tensor) -> float:
    """The F1 score of a confusion matrix: of class 1 for two classes (the positive
    class of a binary loss), else the mean over the classes that occur among the
    targets or the predictions (macro F1). A class's F1 is 2 TP / (2 TP + FP + FN), 0
    when it is never predicted right."""
    scores, m = class_scores(matrix)["f1"], matrix.cpu()
    if len(m) == 2:
        return float(scores[1])
    seen = m.sum(0) + m.sum(1) > 0
    return float(scores[seen].mean()) if seen.any() else 0.0


def class_scores(matrix: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each class's precision, recall and F1 (0 where they divide by 0) and support
    (its samples) in a confusion matrix."""
    m = matrix.double().cpu()
    hits, predicted, support = m.diagonal(), m.sum(0), m.sum(1)
    return {
        "precision": hits / predicted.clamp_min(1),
        "recall": hits / support.clamp_min(1),
        "f1": 2 * hits / (predicted + support).clamp_min(1),
        "support": support.long(),
    }


@torch.no_grad()
def first_non_finite(
    model: nn.Module, batch: Batch, step: Step
) -> tuple[str, str | None]:
    """Where the first NaN or inf appears: in the batch, or in the output of a layer
    (found by running the batch forward again, without autocast, with a hook on every
    layer)."""
    for key, value in batch.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            return f"; the data `{key}` holds NaN or inf", None
    found = []

    def check(module: nn.Module, args, output) -> None:
        outputs = [output]
        while outputs and not found:
            out = outputs.pop()
            if isinstance(out, (tuple, list)):
                outputs.extend(out)
            elif isinstance(out, torch.Tensor) and out.is_floating_point():
                if not torch.isfinite(out).all():
                    found.append(module)

    names = {module: name for name, module in model.named_modules() if name}
    hooks = [module.register_forward_hook(check) for module in names]
    # the running statistics of batch norm, which this extra pass would move
    buffers = {name: value.clone() for name, value in model.named_buffers()}
    try:
        step(model, batch)
    finally:
        for hook in hooks:
            hook.remove()
        model.load_state_dict(buffers, strict=False)
    if not found:
        return "", None
    name, kind = names[found[0]], type(found[0]).__name__
    return f"; the first layer whose output is not finite: `{name}` ({kind})", name


def progress_bar(total: int, desc: str, cfg: Config | None):
    """A tqdm bar on a terminal, when tqdm is installed; otherwise None."""
    if cfg is None or cfg.quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="sample", unit_scale=True, leave=False)


def pick_device(name: str) -> torch.device:
    """`auto` is the first GPU when there is one; a device this machine lacks ends the
    run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    gpus = torch.cuda.device_count()
    if device.type == "cuda" and (device.index or 0) >= gpus:
        raise SystemExit(
            f"error: device {name}: this machine has {gpus} CUDA GPUs; try --device cpu"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise SystemExit("error: device mps is not available here; try --device cpu")
    return device


def setup_distributed(cfg: Config) -> tuple[int, int, torch.device]:
    """This process's rank, the number of processes and its device. Started by torchrun,
    it joins the process group (NCCL on CUDA, gloo on the CPU); started alone, it is
    rank 0 of 1."""
    device = pick_device(cfg.device)
    if int(os.environ.get("WORLD_SIZE", "1")) == 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    else:  # gloo: connect on first use, so that a slow start does not fail
        os.environ.setdefault("TORCH_GLOO_LAZY_INIT", "1")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def blocks(model: nn.Module) -> list[nn.Module]:
    """The parts of `model` that activation checkpointing and sharding work on, in
    order: the outermost submodules that hold parameters and are either of a class the
    model's own module defines (a `block` of the program) or one copy of a `repeat` (an
    element of an nn.Sequential)."""
    own = defined_in(model)
    found: list[tuple[str, nn.Module]] = []

    def visit(module: nn.Module, prefix: str) -> None:
        for name, child in module.named_children():
            holds = next(child.parameters(), None) is not None
            block = own in {c.__module__ for c in inspect.getmro(type(child))}
            if holds and (block or isinstance(module, nn.Sequential)):
                found.append((prefix + name, child))
            else:
                visit(child, f"{prefix}{name}.")

    visit(model, "")
    return [block for _, block in found]


def defined_in(model: nn.Module) -> str:
    """The module that defines the class of `model` (past the subclass FSDP makes of
    it); "" for one of torch's own."""
    for cls in inspect.getmro(type(model)):
        if cls.__module__.split(".")[0] not in ("torch", "builtins"):
            return cls.__module__
    return ""


def checkpoint_blocks(model: nn.Module) -> None:
    """Recompute the activations inside each of the `blocks` of `model` in the backward
    pass instead of keeping them (torch.utils.checkpoint): less memory for about one
    more forward. The random state is replayed (dropout draws the same masks) and the
    buffers are kept as the forward left them (batch norm counts each batch once), so
    the gradients, weights and statistics are those of training without it."""
    for block in blocks(model):
        block.forward = checkpointed(block, block.forward)


def checkpointed(block: nn.Module, forward: Callable) -> Callable:
    """`forward` of `block`, its activations recomputed in the backward pass."""
    from torch.utils.checkpoint import checkpoint

    def contexts():  # the forward's, the recomputation's
        return contextlib.nullcontext(), buffers_kept(block)

    def run(*args, **kwargs):
        if not torch.is_grad_enabled():  # no backward: nothing to recompute
            return forward(*args, **kwargs)
        return checkpoint(
            forward, *args, use_reentrant=False, context_fn=contexts, **kwargs
        )

    return run


@contextlib.contextmanager
def buffers_kept(module: nn.Module):
    """The buffers of `module` put back as they were once the block is done."""
    kept = [(buffer, buffer.clone()) for buffer in module.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in kept:
                buffer.copy_(value)


# ---- distributed fsdp: a model sharded over the processes, and its checkpoints ----
# With `distributed fsdp`, torchrun's processes each hold a 1/N shard of the parameters,
# gradients and optimizer state (FSDP2's fully_shard, one unit per block), and every
# process writes its shards of a checkpoint (torch.distributed.checkpoint), a folder
# checkpoint-<step>/ that any number of processes can resume from.

SHARDED_FILES = "checkpoint.sha256"  # the SHA-256 of each file of a sharded checkpoint


def fully_sharded(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    precision: str,
    device: torch.device,
    main: bool,
) -> nn.Module | None:
    """Shard `model`, built by `Run.init_device` (whole on the CPU in the first process,
    on the meta device in the others), over the processes on `device`. The first takes
    its whole state_dict and moves its model to the meta device too (tied weights stay
    tied); each process then fully_shards each of its `blocks` and the model, allocates
    its shards (to_empty) and receives the first's weights into them one tensor at a
    time (set_model_state_dict(..., broadcast_from_rank0=True)), then the buffers the
    state_dict leaves out, then the first's random states. A device never holds more
    than its shards and one whole tensor; the first process's host memory holds the
    whole model once, from the build until it is sent. `optimizer`, which has no state
    yet, then holds the shards (its state is made sharded at its first step). With bf16
    the parameters are gathered in bfloat16 and the gradients reduced in float32, the
    shards (the master weights) staying float32. Returns, on the first process, a copy
    of the model with its parameters on the meta device, into which `gathered` puts
    the whole weights (None on the others)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
    )
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kept = model.state_dict()  # the first's: its weights, on the CPU
    loose = {n: b for n, b in model.named_buffers() if n not in kept}
    replica = None
    if main:
        memo = {
            id(p): nn.Parameter(p.detach().to("meta"), p.requires_grad)
            for p in model.parameters()
        }
        replica = copy.deepcopy(model, memo)
        swap = torch.__future__.get_swap_module_params_on_conversion()
        torch.__future__.set_swap_module_params_on_conversion(True)  # the same objects
        try:
            model.to("meta")
        finally:
            torch.__future__.set_swap_module_params_on_conversion(swap)
    names = {id(p): name for name, p in model.named_parameters()}
    policy = MixedPrecisionPolicy()
    if precision == "bf16":
        policy = MixedPrecisionPolicy(
            param_dtype=torch.bfloat16, reduce_dtype=torch.float32
        )
    for block in blocks(model):
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    model.to_empty(device=device)
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=True)
    set_model_state_dict(model, kept if main else {}, options=options)
    with torch.no_grad():
        for name, value in loose.items():  # non-persistent buffers
            buffer = model.get_buffer(name)
            if main:
                buffer.copy_(value)
            dist.broadcast(buffer, 0)
    states = [random_states()]  # the others did not draw the init
    dist.broadcast_object_list(states, 0)
    restore_random_states(states[0])
    shards = dict(model.named_parameters())
    for group in optimizer.param_groups:
        group["params"] = [shards[names[id(p)]] for p in group["params"]]
    return replica


def gathered(model: nn.Module, replica: nn.Module | None, device) -> nn.Module | None:
    """The whole weights of the sharded `model`, gathered from every process (each must
    call this) into `replica` on `device`; None on the processes without one."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    whole = get_model_state_dict(model, options=options)
    if replica is None:
        return None
    replica.load_state_dict(whole, assign=True)
    return replica.to(device)


def save_sharded_checkpoint(state: State, run: Run) -> Path:
    """The checkpoint of a sharded model: the model's and optimizer's shards written by
    every process (torch.distributed.checkpoint, whose metadata is written last, once
    all are), the rest of the State by the first, into checkpoint-<step>.tmp/; then the
    SHA-256 of each file, and the folder renamed checkpoint-<step>/. The newest few
    are kept."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    path = run.folder / f"checkpoint-{state.step:09d}"
    tmp = path.with_name(path.name + ".tmp")
    if run.main:
        remove_checkpoint(tmp)
    if run.world > 1:
        dist.barrier()  # every process has finished the step
    model, optimizer = get_state_dict(state.model, state.optimizer)
    with one_process_quiet():
        dcp.save(
            {"model": model, "optimizer": optimizer},
            checkpoint_id=tmp,
            no_dist=run.world == 1,
        )
    if run.main:
        rest = {
            "generator": state.generator.get_state(),
            "rng": random_states(),
            "made_with": {**made_with(run.device), "processes": run.world},
            **{key: getattr(state, key) for key in _KEPT},
        }
        if state.scheduler is not None:
            rest["scheduler"] = state.scheduler.state_dict()
        try:
            save_synced(rest, tmp / "state.pt")
            sums = [f"{sha256(f)}  {f.name}\n" for f in sorted(tmp.iterdir())]
            write_text(tmp / SHARDED_FILES, "".join(sums))
            remove_checkpoint(path)  # one passed over by --resume
            os.replace(tmp, path)
        except OSError as err:
            raise SystemExit(cannot_write(path, err)) from None
        older = [p for p in sharded_checkpoints(run.folder) if p.name <= path.name]
        for old in older[: -max(run.cfg.keep_checkpoints, 2)]:
            remove_checkpoint(old)
    if run.world > 1:
        dist.barrier()
    return path


@contextlib.contextmanager
def one_process_quiet():
    """Without torch.distributed's warning that one process saves or loads alone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "torch.distributed is disabled")
        yield


def remove_checkpoint(path: Path) -> None:
    """The sharded checkpoint folder `path`, removed (its files hold no folders)."""
    with contextlib.suppress(OSError):
        for file in path.iterdir():
            file.unlink(missing_ok=True)
        path.rmdir()


def sharded_checkpoints(folder: Path) -> list[Path]:
    """The sharded checkpoints in `folder`, oldest first."""
    found = folder.glob("checkpoint-*")
    return sorted(p for p in found if p.is_dir() and p.suffix != ".tmp")


def sharded_damage(path: Path) -> str | None:
    """Why the sharded checkpoint `path` is not whole; None when it is."""
    if not (path / ".metadata").is_file():
        return "its .metadata is missing: its save did not finish"
    try:
        lines = (path / SHARDED_FILES).read_text(encoding="utf-8").splitlines()
    except OSError:
        return f"its {SHARDED_FILES} is missing: its save did not finish"
    for line in lines:
        digest, _, name = line.partition("  ")
        try:
            if sha256(path / name) != digest:
                return f"{name} differs from its SHA-256 in {SHARDED_FILES}: damaged"
        except OSError as err:
            return f"cannot read {name}: {err.strerror or err}"
    return None


def load_sharded_checkpoint(path: Path, state: State, group=None) -> dict:
    """The sharded checkpoint `path` into `state` (every process reads its shards, as
    many processes as wrote it or not); what else it holds is returned. A ValueError
    says why it cannot be resumed from: the same on every process (of `group`), even
    when only one of them found the fault, so that none is left waiting for the others
    in a collective they have left."""
    rest, why = None, sharded_damage(path)
    if why is None:
        try:
            rest = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
        except Exception as err:  # torch.load fails in many ways on files of others
            why = unreadable(err)
    needed = ("generator", "rng", "made_with", *_KEPT)
    if why is None and (not isinstance(rest, dict) or not set(needed) <= rest.keys()):
        why = "it is not a checkpoint a training script wrote"
    if why is None and state.run_id and rest["run_id"] != state.run_id:
        why = f"it belongs to run {rest['run_id']}, not to run {state.run_id}"
    why = agreed(why, group)  # before the collective reads
    if why is None:
        why = agreed(load_shards(path, state, rest), group)
    if why is not None:
        raise ValueError(why)
    for key in _KEPT:
        setattr(state, key, rest[key])
    state.generator.set_state(rest["generator"])
    restore_random_states(rest["rng"])
    return rest


def load_shards(path: Path, state: State, rest: dict) -> str | None:
    """The model's and optimizer's shards in the checkpoint `path` (and the scheduler
    in `rest`) into `state`; why they do not fit, or None."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.api import CheckpointException
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    model, optimizer = get_state_dict(state.model, state.optimizer)
    shards = {"model": model, "optimizer": optimizer}
    try:
        with one_process_quiet():
            dcp.load(shards, checkpoint_id=path, no_dist=not dist.is_initialized())
        set_state_dict(
            state.model,
            state.optimizer,
            model_state_dict=shards["model"],
            optim_state_dict=shards["optimizer"],
        )
        if state.scheduler is not None:
            state.scheduler.load_state_dict(rest["scheduler"])
    except CheckpointException as err:
        if err.args[0] == "read":  # the step that failed: "plan" or "read"
            return f"its shards cannot be read: {failure(err)}"
        return f"it does not fit this model and optimizer: {failure(err)}"
    except (KeyError, RuntimeError, ValueError) as err:
        return f"it does not fit this model and optimizer: {failure(err)}"
    return None


def failure(err: BaseException) -> str:
    """Why a load failed, on one line; for torch.distributed.checkpoint's failure of
    several processes (the same on each), the first one's reason."""
    from torch.distributed.checkpoint.api import CheckpointException

    if isinstance(err, CheckpointException) and err.failures:
        rank, (cause, _) = min(err.failures.items())
        why = failure(cause)
        if isinstance(cause, (pickle.UnpicklingError, EOFError)):
            why = "a shard file is damaged or cut short"
        every = len(err.failures) == (
            dist.get_world_size() if dist.is_initialized() else 1
        )
        return why if every else f"{why} (process {rank})"
    return f"no {err}" if isinstance(err, KeyError) else unreadable(err)


def agreed(why: str | None, group=None) -> str | None:
    """`why` one process of `group` (by default, all) cannot go on, the same on each
    (gathered from every process: the first one's reason, naming it when the others
    had none); None when none has one."""
    if not dist.is_initialized() or dist.get_world_size(group) == 1:
        return why
    whys: list[str | None] = [None] * dist.get_world_size(group)
    dist.all_gather_object(whys, why, group=group)
    failed = [(rank, w) for rank, w in enumerate(whys) if w is not None]
    if not failed:
        return None
    rank, first = failed[0]
    return first if len(failed) == len(whys) else f"{first} (process {rank})"


def load_sharded_weights(model: nn.Module, path: Path) -> None:
    """The model's weights in the sharded checkpoint `path`, whole, into `model` (by
    every process); a folder that is not such ends every process, saying why."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.api import CheckpointException

    why = agreed(sharded_damage(path))  # before the collective reads
    if why is None:
        state = model.state_dict()
        try:
            with one_process_quiet():
                dcp.load(
                    {"model": state},
                    checkpoint_id=path,
                    no_dist=not dist.is_initialized(),
                )
            model.load_state_dict(state)
        except (CheckpointException, Exception) as err:  # another model, other files
            why = failure(err)
        why = agreed(why)
    if why is not None:
        raise SystemExit(f"error: cannot load the weights in {path}: {why}")


def resume_sharded(state: State, run: Run, group=None) -> None:
    """`resume` from the newest whole sharded checkpoint in the run folder, the same
    for every process: the checkpoints the first one finds, each passed over by all
    when one process cannot read it."""
    say = print if run.main else (lambda *args, **kwargs: None)
    if run.main:
        for stale in run.folder.glob("checkpoint-*.tmp"):
            remove_checkpoint(stale)  # a save that never finished
    found = [sharded_checkpoints(run.folder)[::-1]]
    if run.world > 1:
        dist.broadcast_object_list(found, 0, group=group)
    for path in found[0]:
        try:
            rest = load_sharded_checkpoint(path, state, group)
            break
        except ValueError as err:
            say(f"warning: not resuming from {path}: {err}", file=sys.stderr)
    else:
        if found[0]:
            raise SystemExit(
                f"error: no checkpoint in {run.folder} can be resumed from; start "
                "again in another --out-dir"
            )
        say(
            f"no checkpoint in {run.folder}; starting from the beginning",
            file=sys.stderr,
        )
        return
    now = {**made_with(run.device), "processes": run.world}
    resumed(path, state, rest["made_with"], now, say)


# ---- end of distributed fsdp ------------------------------------------------------


def run_folder(cfg: Config, name: str) -> str:
    """--out-dir; else a new runs/<name>/<date-time>, or the newest for --resume."""
    if cfg.out_dir or cfg.eval:
        return cfg.out_dir
    base = Path("runs") / name
    if cfg.resume:
        runs = sorted(p for p in base.glob("*") if p.is_dir())
        if not runs:
            raise SystemExit(
                f"error: no run under {base} to resume; give its --out-dir"
            )
        return str(runs[-1])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path, n = base / stamp, 1
    while path.exists():
        n += 1
        path = base / f"{stamp}-{n}"
    return str(path)


def start_run(folder: Path, cfg: Config) -> str:
    """The id of the run in `folder`, kept in config.json and in every checkpoint. A new
    run gets a new one and refuses a folder that holds a run already: the two runs'
    checkpoints and weights would replace each other's."""
    config = folder / "config.json"
    if not config.exists() and not any(folder.glob("checkpoint-*")):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a read-only disk, a file where a folder would be
            why = f"cannot make the run folder {folder}: {err.strerror or err}"
            raise SystemExit(f"error: {why}") from None
        return uuid.uuid4().hex[:12]
    if not cfg.resume:
        raise SystemExit(
            f"error: {folder} holds an earlier run; continue it with --resume, or "
            "train in another --out-dir"
        )
    if not config.exists():
        return ""  # the checkpoint resumed from names it
    return json.loads(config.read_text(encoding="utf-8")).get("run_id", "")


def write_config(cfg: Config, folder: Path, run_id: str) -> None:
    config = {"run_id": run_id, **asdict(cfg), "out_dir": str(folder)}
    write_text(folder / "config.json", json.dumps(config, indent=2) + "\n")


def write_atomic(path: Path, write) -> None:
    """`write(tmp)` writes a temporary file beside `path`, which then replaces it: never
    a half-written file. A full or read-only disk ends the run, naming the file."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        raise SystemExit(cannot_write(path, err)) from None
    finally:
        with contextlib.suppress(OSError):  # such as a folder that is a file
            tmp.unlink(missing_ok=True)


def cannot_write(path: Path, err: OSError) -> str:
    return (
        f"error: cannot write {path}: {err.strerror or err}; the files written before "
        "are whole, and once this is mended --resume continues"
    )


def save_synced(obj, path: Path) -> None:
    """`torch.save`, flushed to disk. A full disk raises OSError (which torch's writer,
    failing again as it closes, would hide behind a RuntimeError)."""
    with open(path, "wb") as f:
        try:
            torch.save(obj, f)
        except RuntimeError as err:
            if isinstance(err.__context__, OSError):
                raise err.__context__ from None
            raise
        f.flush()
        os.fsync(f.fileno())


def write_text(path: Path, text: str) -> None:
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_weights(model: nn.Module, path: Path) -> None:
    """The weights, then their SHA-256 beside them (as for a checkpoint), which --eval
    checks. The old one goes first: replaced weights never sit beside a stale one."""
    checksum_file(path).unlink(missing_ok=True)
    write_atomic(path, lambda tmp: save_synced(model.state_dict(), tmp))
    write_checksum(path)


def load_weights(model: nn.Module, path: str, device: torch.device) -> None:
    """Weights a script saved (or the model's in a checkpoint), into `model`, once they
    match the SHA-256 recorded beside them, if any; a file that is not such ends the
    run, saying why."""
    if Path(path).is_dir():
        return load_sharded_weights(model, Path(path))
    why = damage(Path(path), required=False)
    try:
        if why is None:
            state = torch.load(path, map_location=device, weights_only=True)
            if isinstance(state, dict) and {"model", "made_with"} <= state.keys():
                state = state["model"]  # a checkpoint
            model.load_state_dict(state)
    except Exception as err:  # torch.load fails in many ways on a file it did not write
        why = unreadable(err)
    if why is not None:
        raise SystemExit(f"error: cannot load the weights in {path}: {why}")


def init_from(
    model: nn.Module,
    path: Path,
    rename: dict[str, str | None] | None = None,
    partial: bool = False,
) -> None:
    """The weights training starts from: a .safetensors file or a .pt state_dict (or a
    checkpoint's "model"), its keys renamed by `rename` (a key, or a pattern with one
    `*`, to its new name; None leaves it out). Every key must then be the model's, of
    the same shape; with `partial` the tensors the file lacks keep their values."""
    try:
        if path.suffix.lower() == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except ImportError:
        raise SystemExit(
            "error: reading .safetensors needs: pip install safetensors"
        ) from None
    except Exception as err:  # OSError, a damaged file, a pickle of more than tensors
        why = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        raise SystemExit(f"error: cannot read the weights in {path}: {why}") from None
    if isinstance(state.get("model"), dict):
        state = state["model"]
    renamed = {}
    for key, value in state.items():
        new = renamed_key(key, rename or {})
        if new is not None:
            renamed[new] = value
    own = model.state_dict()
    extra = [k for k in renamed if k not in own]
    wrong = [k for k in renamed if k in own and own[k].shape != renamed[k].shape]
    missing = [k for k in own if k not in renamed]
    problems = [f"{k} is not in the model" for k in extra[:3]]
    problems += [
        f"{k} is {tuple(renamed[k].shape)}, the model's {tuple(own[k].shape)}"
        for k in wrong[:3]
    ]
    if missing and not partial:
        problems.append(f"it lacks {', '.join(missing[:3])}")
    if problems:
        raise SystemExit(f"error: {path} does not fit the model: {'; '.join(problems)}")
    if all(tensor.is_meta for tensor in own.values()):
        return  # Run.init_device's: it is given the first process's weights
    model.load_state_dict(renamed, strict=False)


def renamed_key(key: str, rename: dict[str, str | None]) -> str | None:
    """`key` under the first rule that matches it (None: left out), else itself."""
    for source, target in rename.items():
        head, star, tail = source.partition("*")
        if not star:
            if key == source:
                return target
            continue
        if key.startswith(head) and key.endswith(tail) and len(key) >= len(source) - 1:
            if target is None:
                return None
            return target.replace("*", key[len(head) : len(key) - len(tail)])
    return key


def save_safetensors(model: nn.Module, weights: Path, source: tuple[str, str]) -> None:
    """The final weights also in safetensors format (no pickle) beside `weights`, tagged
    with the source file's name and SHA-256, when safetensors is installed."""
    try:
        from safetensors.torch import save_model
    except ImportError:
        return
    metadata = {"source": source[0], "source_sha256": source[1]}
    path = weights.with_suffix(".safetensors")
    write_atomic(path, lambda tmp: save_model(model, str(tmp), metadata=metadata))


def write_metrics(history: list[dict], path: Path) -> None:
    keys = list(history[0])
    rows = [",".join(keys)] + [
        ",".join(f"{h.get(k, '')}" for k in keys) for h in history
    ]
    write_text(path, "\n".join(rows) + "\n")


class Log:
    """The rows of metrics.jsonl, one per logged optimizer step, and (when
    torch.utils.tensorboard works) the same scalars and each epoch's metrics as
    TensorBoard events in tb/. Only the first process logs."""

    def __init__(self, folder: Path, step: int, resumed: bool):
        self.path = folder / "metrics.jsonl"
        trim_log(self.path, step)  # the steps after the checkpoint are trained again
        try:  # unbuffered: each row is one whole line, written at once
            self.file = open(self.path, "ab", buffering=0)
        except OSError as err:
            raise SystemExit(cannot_write(self.path, err)) from None
        self.tb = tensorboard_writer(folder / "tb", step + 1 if resumed else None)
        self.samples, self.since = 0, time.perf_counter()  # trained since the last row

    def row(self, state: State, terms: dict[str, torch.Tensor]) -> dict:
        """Log the values `step` returned for the step's batch, the learning rate of
        each parameter group (of each TrainStep's optimizer: its first group's) and the
        samples per second since the last row."""
        names = [k for k in terms if not k.startswith(COUNTS)]
        # one wait for the device, for all the values together
        means = [terms[k].detach().float().mean() for k in names]
        values = torch.stack(means).tolist()
        row = {"step": state.step, "epoch": state.epoch}
        row.update((k, v if math.isfinite(v) else None) for k, v in zip(names, values))
        rates = [float(group["lr"]) for group in state.optimizer.param_groups]
        if isinstance(state.optimizer, Optimizers):  # each step's first group's
            for name, optimizer in state.optimizer.optimizers.items():
                row[f"lr/{name}"] = float(optimizer.param_groups[0]["lr"])
        elif len(rates) == 1:
            row["lr"] = rates[0]
        else:
            row.update((f"lr/{i}", rate) for i, rate in enumerate(rates))
        now = time.perf_counter()
        row["samples_per_s"] = round(self.samples / max(now - self.since, 1e-9), 1)
        self.samples, self.since = 0, now
        line = json.dumps(row) + "\n"
        try:
            self.file.write(line.encode("utf-8"))
        except OSError as err:
            raise SystemExit(cannot_write(self.path, err)) from None
        if self.tb is not None:
            for key, value in row.items():
                if key not in ("step", "epoch") and value is not None:
                    self.tb.add_scalar(key, value, state.step)
        return row

    def epoch(self, step: int, metrics: dict[str, float]) -> None:
        """An epoch's metrics, as TensorBoard scalars `epoch/<name>` at its last
        step."""
        if self.tb is None:
            return
        for key, value in metrics.items():
            if key not in ("epoch", "seconds"):
                self.tb.add_scalar(f"epoch/{key}", value, step)

    def close(self) -> None:
        self.file.close()
        if self.tb is not None:
            self.tb.close()


def trim_log(path: Path, step: int) -> None:
    """Drop the rows of metrics.jsonl after `step` (those of a run stopped after its
    newest checkpoint), and a line left unfinished: a resumed run's log holds each step
    once, in order."""
    if not path.exists():
        return
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines(True)
    kept = []
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if line.endswith("\n") and isinstance(row, dict) and row.get("step", 0) <= step:
            kept.append(line)
    if len(kept) < len(lines):
        write_text(path, "".join(kept))


def tensorboard_writer(folder: Path, purge_step: int | None):
    """A TensorBoard SummaryWriter into `folder` when torch.utils.tensorboard works (the
    tensorboard package is installed), else None. `purge_step`: a resumed run hides the
    events of the steps it trains again."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # not installed, or too broken to import: no events
        return None
    return SummaryWriter(str(folder), purge_step=purge_step, flush_secs=10)


def loss_figure(history: list[dict]):
    """A matplotlib Figure (drawn by Agg, without pyplot) of every loss and metric in
    `history` by epoch, training solid and validation dashed in the same colour: the
    loss and its terms on one axis (logarithmic when they span more than two decades),
    the metrics whose values all lie in [0, 1] (accuracies) on a second panel below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    epochs = [h["epoch"] for h in history]
    keys = dict.fromkeys(k for h in history for k in h if k not in ("epoch", "seconds"))
    series = {
        k: [float("nan") if h.get(k) is None else h[k] for h in history] for k in keys
    }
    names = list(dict.fromkeys(k.removeprefix("val_") for k in series))
    colours = {name: f"C{i % 10}" for i, name in enumerate(names)}

    def fraction(name: str) -> bool:
        values = [v for k in (name, f"val_{name}") for v in series.get(k, [])]
        finite = [v for v in values if math.isfinite(v)]
        return bool(finite) and all(0 <= v <= 1 for v in finite)

    # the loss, its terms and the metrics beyond [0, 1] on one axis; the rest below
    shares = [n for n in names if n != "loss" and not n.startswith("loss/")]
    shares = [n for n in shares if fraction(n)]
    lossy = [n for n in names if n not in shares]
    panels = [lossy, shares] if shares else [lossy]
    height = 4 if len(panels) == 1 else 6  # inches
    fig = Figure(figsize=(7, height), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    marker = "o" if len(epochs) == 1 else None
    for ax, panel, label in zip(axes, panels, ("loss", "metric")):
        for name in panel:
            for key, style in ((name, "-"), (f"val_{name}", "--")):
                if key in series:
                    colour = colours[name]
                    ax.plot(
                        epochs, series[key], style, c=colour, marker=marker, label=key
                    )
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")
    values = [v for n in lossy for k in (n, f"val_{n}") for v in series.get(k, [])]
    finite = [v for v in values if math.isfinite(v)]
    if finite and min(finite) > 0 and max(finite) / min(finite) > 100:
        axes[0].set_yscale("log")
        axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axes[0].yaxis.set_minor_formatter(NullFormatter())
    axes[-1].set_xlabel("epoch")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(epochs) == 1:
        axes[-1].set_xlim(epochs[0] - 1, epochs[0] + 1)
    # fixed margins (in inches, the legends at the right): no second layout pass
    fig.subplots_adjust(
        left=0.8 / 7, right=1 - 1.8 / 7, bottom=0.6 / height, top=1 - 0.2 / height
    )
    return fig


def plot(history: list[dict], path: Path) -> bool:
    """The curves of `history` (loss_figure) as the PNG `path`; False without
    matplotlib."""
    try:
        figure = loss_figure(history)
    except ImportError:
        return False
    write_atomic(path, lambda tmp: figure.savefig(tmp, format="png"))
    return True


def sample_grid(images: torch.Tensor) -> torch.Tensor:
    """(N, H, W) or (N, C, H, W) images (C 1 or 3) tiled into one (C, H', W') image in
    [0, 1]: ceil(sqrt N) columns, a white 1-pixel gap, each image scaled up to at least
    32 pixels. Values outside [0, 1] are rescaled from the smallest and largest."""
    x = images.detach().float().cpu()
    x = x[:, None] if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[1] not in (1, 3) or not x.numel():
        raise SystemExit(
            f"error: samples returned a tensor of shape {tuple(images.shape)}; give "
            "(N, H, W) or (N, C, H, W) images with 1 or 3 channels"
        )
    x = x.nan_to_num(0.0, 1.0, 0.0)
    low, high = x.min(), x.max()
    if low < 0 or high > 1:
        x = (x - low) / (high - low).clamp_min(1e-12)
    x = x.clamp(0, 1)
    scale = -(-32 // max(x.shape[2:]))
    x = x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    n, c, h, w = x.shape
    cols = math.ceil(math.sqrt(n))
    rows = -(-n // cols)
    x = torch.cat([x, x.new_ones(rows * cols - n, c, h, w)])  # the empty cells
    x = nn.functional.pad(x, (0, 1, 0, 1), value=1.0)  # the gaps right and below
    grid = x.view(rows, cols, c, h + 1, w + 1).permute(2, 0, 3, 1, 4)
    return grid.reshape(c, rows * (h + 1), cols * (w + 1))[:, :-1, :-1]


def sample_pixels(models: nn.Module, samples: Callable) -> tuple:
    """`samples(models)`, run without gradients in eval mode, tiled (sample_grid): the
    pixels of samples.png and how imsave colours them (`draw_samples`)."""
    training = models.training
    models.eval()
    try:
        with torch.no_grad():
            grid = sample_grid(samples(models))
    finally:
        models.train(training)
    if len(grid) == 1:
        return grid[0].numpy(), {"cmap": "gray", "vmin": 0, "vmax": 1}
    return grid.permute(1, 2, 0).numpy(), {}


def draw_samples(pixels, colours: dict, path: Path) -> bool:
    """sample_pixels as the PNG `path`; False without matplotlib."""
    try:
        from matplotlib.image import imsave
    except ImportError:
        return False
    write_atomic(path, lambda tmp: imsave(tmp, pixels, format="png", **colours))
    return True


class Figures:
    """The PNGs of a run (loss.png, the confusion matrix, samples.png), drawn by a
    worker process forked as the run starts: it imports matplotlib on another core while
    the run trains, draws each figure `draw` hands it, and `wait` collects which were
    drawn. Where there is no fork, beside other threads (which fork could leave holding
    a lock in the worker), or once the worker fails, this process draws them. A PNG is
    written whole or not at all, and none without matplotlib."""

    DRAW = {"loss": plot, "confusion": draw_confusion, "samples": draw_samples}

    def __init__(self, start: bool):
        self.worker = self.conn = None
        self.sent: list[tuple] = []
        # a fork copies this thread alone: another could hold a lock it never frees;
        # and a daemonic process (a pool's worker) may not start processes
        alone = sys.platform == "linux" and threading.active_count() == 1
        if start and alone and not multiprocessing.current_process().daemon:
            context = multiprocessing.get_context("fork")
            self.conn, theirs = context.Pipe()
            ends = (theirs, self.conn)
            self.worker = context.Process(target=draw_figures, args=ends)
            self.worker.daemon = True
            try:
                self.worker.start()
            except OSError:  # no memory or processes left for it: drawn here
                self.worker = None
                self.close()
            theirs.close()

    def draw(self, kind: str, path: Path, *args) -> None:
        """Draw the figure `kind` (a key of DRAW) of `args` as the PNG `path`."""
        self.sent.append((kind, path, args))
        if self.conn is not None:
            with contextlib.suppress(OSError):  # a failed worker: `wait` draws it
                self.conn.send((kind, str(path), args))

    def wait(self) -> set[str]:
        """The names of the PNGs drawn since the last `wait`, once they are written."""
        figures, self.sent = self.sent, []
        done = None
        if self.conn is not None and figures:
            try:
                self.conn.send(None)
                if self.conn.poll(60):  # a worker stuck that long: drawn here
                    done = self.conn.recv()
            except (OSError, EOFError):
                pass
            self.close()
        if done is None:
            done = [_drawn(*figure) for figure in figures]
        for result in done:
            if isinstance(result, BaseException):  # such as a disk refusing the file
                raise result
        return {path.name for (_, path, _), ok in zip(figures, done) if ok is True}

    def close(self) -> None:
        """Stop the worker: it has drawn what `wait` sent, or the run ends without
        figures (it failed, or was interrupted), and the worker has nothing to write."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.worker is not None:
            if self.worker.is_alive():
                self.worker.terminate()
            self.worker.join()
            self.worker = None


def _drawn(kind: str, path: Path, args: tuple) -> bool | BaseException:
    """Figures.DRAW[kind](*args, path), or what it raised."""
    try:
        return Figures.DRAW[kind](*args, Path(path))
    except (Exception, SystemExit) as err:
        return err


def draw_figures(conn, run_end) -> None:
    """The figures' worker: matplotlib imported (and its fonts loaded) by drawing an
    empty plot, then each figure sent until None, and which were drawn sent back.
    `run_end` is the run's end of the pipe, which the worker closes: once the run is
    gone, the pipe is closed and the worker leaves."""
    run_end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle
    with contextlib.suppress(ImportError):
        loss_figure([{"epoch": 1, "loss": 1.0}]).savefig(io.BytesIO(), format="png")
    done = []
    with contextlib.suppress(EOFError):  # the run is gone: so is its worker
        for kind, path, args in iter(conn.recv, None):
            done.append(_drawn(kind, Path(path), args))
        conn.send(done)


def rounded(values):
    """Numbers (in nested lists) to 4 significant digits, for printing; whole numbers
    and names as they are."""
    if isinstance(values, list):
        return [rounded(v) for v in values]
    if isinstance(values, (int, str)):
        return values
    return float(f"{values:.4g}")


def save_checkpoint(state: State, run: Run) -> Path:
    """Write what resuming needs (tensors, numbers, strings and plain containers only),
    then its SHA-256 beside it, as `sha256sum` writes it; keep the newest few."""
    folder = run.folder
    path = folder / f"checkpoint-{state.step:09d}.pt"
    if run.world > 1:
        dist.barrier()  # every process has finished the step
        if not run.main:
            dist.barrier()  # the first one has written it
            return path
    checkpoint = {
        "model": state.model.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "generator": state.generator.get_state(),
        "rng": random_states(),
        "made_with": made_with(next(state.model.parameters()).device),
        **{key: getattr(state, key) for key in _KEPT},
    }
    if state.scheduler is not None:
        checkpoint["scheduler"] = state.scheduler.state_dict()
    if state.scaler is not None:
        checkpoint["scaler"] = state.scaler.state_dict()
    write_atomic(path, lambda tmp: save_synced(checkpoint, tmp))
    write_checksum(path)  # last: a checkpoint without one never finished saving
    # only older ones: a newer one, passed over by --resume, is replaced when the run
    # gets there
    older = [p for p in sorted(folder.glob("checkpoint-*.pt")) if p.name <= path.name]
    for old in older[: -max(run.cfg.keep_checkpoints, 2)]:
        old.unlink()
        checksum_file(old).unlink(missing_ok=True)
    if run.world > 1:
        dist.barrier()
    return path


def random_states() -> dict:
    """The random states of torch, CUDA, Python and (when the script uses it) NumPy."""
    states = {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "python": random.getstate(),
    }
    if "numpy" in sys.modules:
        kind, keys, *rest = sys.modules["numpy"].random.get_state()
        states["numpy"] = [kind, keys.tolist(), *rest]
    return states


def restore_random_states(rng: dict) -> None:
    torch.set_rng_state(rng["torch"])
    if rng["cuda"]:
        torch.cuda.set_rng_state_all(rng["cuda"])
    random.setstate(rng["python"])
    if "numpy" in rng:
        import numpy as np

        kind, keys, *rest = rng["numpy"]
        np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))


def made_with(device: torch.device) -> dict:
    """What a run's numbers depend on besides its inputs."""
    threads = torch.get_num_threads()
    return {"torch": str(torch.__version__), "threads": threads, "device": str(device)}


def checksum_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def write_checksum(path: Path) -> None:
    """The SHA-256 of `path` beside it, as `sha256sum` writes it."""
    write_text(checksum_file(path), f"{sha256(path)}  {path.name}\n")


def damage(path: Path, required: bool) -> str | None:
    """Why `path` does not match the SHA-256 recorded beside it; None when it does, or
    when none is recorded and none is `required`."""
    recorded = checksum_file(path)
    try:
        words = recorded.read_text(encoding="utf-8", errors="replace").split()
    except FileNotFoundError:
        missing = f"{recorded.name} is missing: its save did not finish"
        return missing if required else None
    except OSError as err:
        return f"cannot read {recorded.name}: {err.strerror or err}"
    try:
        if sha256(path) == (words or [""])[0]:
            return None
    except OSError as err:
        return f"cannot read it: {err.strerror or err}"
    return f"its SHA-256 differs from {recorded.name}: it is damaged"


def unreadable(err: Exception) -> str:
    """Why torch.load or load_state_dict refused a file, on one line."""
    if isinstance(err, pickle.UnpicklingError):
        return "it holds more than tensors and numbers"
    why = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
    if isinstance(err, (EOFError, KeyError)) or not why:
        return "it is not a file torch.save wrote, or it is cut short"
    return why


def load_checkpoint(path: Path, run_id: str, device: torch.device) -> dict:
    """The checkpoint at `path`; a ValueError says why it cannot be resumed from."""
    why = damage(path, required=True)
    if why is not None:
        raise ValueError(why)
    try:
        checkpoint = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # torch.load fails in many ways on a file it did not write
        raise ValueError(unreadable(err)) from None
    needed = ("model", "optimizer", "generator", "rng", "made_with", *_KEPT)
    if not isinstance(checkpoint, dict) or not set(needed) <= checkpoint.keys():
        raise ValueError("it is not a checkpoint a training script wrote")
    theirs = checkpoint.get("run_id")
    if run_id and theirs != run_id:
        raise ValueError(f"it belongs to run {theirs}, not to run {run_id}")
    return checkpoint


def resume(state: State, folder: Path) -> None:
    """Continue from the newest checkpoint in `folder` that is whole and of this run,
    saying why each newer one is passed over (and leaving it as it is)."""
    for stale in folder.glob("checkpoint-*.tmp"):
        stale.unlink(missing_ok=True)  # a save that never finished
    found = sorted(folder.glob("checkpoint-*.pt"), reverse=True)
    if not found:
        print(
            f"no checkpoint in {folder}; starting from the beginning", file=sys.stderr
        )
        return
    device = next(state.model.parameters()).device
    for path in found:
        try:
            checkpoint = load_checkpoint(path, state.run_id, device)
            restore(state, checkpoint)
            break
        except ValueError as err:
            print(f"warning: not resuming from {path}: {err}", file=sys.stderr)
    else:
        raise SystemExit(
            f"error: no checkpoint in {folder} can be resumed from; start again in "
            "another --out-dir"
        )
    resumed(path, state, checkpoint["made_with"], made_with(device), print)


def resumed(path: Path, state: State, then: dict, now: dict, say) -> None:
    """Say (with `say`) where the run resumes from, and what differs between what the
    checkpoint was written with (`then`) and this run (`now`)."""
    for key, was in then.items():
        if now.get(key) != was:
            say(
                f"warning: the checkpoint was written with {key} {was}, this run has "
                f"{now.get(key)}; the result may differ from an uninterrupted run",
                file=sys.stderr,
            )
    say(
        f"resuming from {path} (epoch {state.epoch}, step {state.step})",
        file=sys.stderr,
    )


def restore(state: State, checkpoint: dict) -> None:
    """`checkpoint` into `state`; a ValueError when it does not fit (another model,
    optimizer or scheduler). One that fails part way is wholly replaced by the next."""
    try:
        _restore(state, checkpoint)
    except (KeyError, IndexError, RuntimeError, TypeError, ValueError) as err:
        why = unreadable(err) if not isinstance(err, KeyError) else f"no {err}"
        raise ValueError(f"it does not fit this model and optimizer: {why}") from None


def _restore(state: State, checkpoint: dict) -> None:
    state.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    if state.scheduler is not None:
        state.scheduler.load_state_dict(checkpoint["scheduler"])
    if state.scaler is not None:
        state.scaler.load_state_dict(checkpoint["scaler"])
    for key in _KEPT:
        setattr(state, key, checkpoint[key])
    state.generator.set_state(checkpoint["generator"])
    restore_random_states(checkpoint["rng"])


# the exit code after SIGTERM or SIGUSR1 (a scheduler's "stop now" or "time is nearly
# up"): a checkpoint was saved and --resume continues; EX_TEMPFAIL of sysexits.h, "a
# temporary failure: try again later", which a scheduler can be told to requeue on
REQUEUE = 75
# how often, in seconds, several processes agree on whether to stop (Loop.stopping)
VOTE_EVERY_S = 0.2
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGUSR1")
    if hasattr(signal, name)
)


def stopped(signum: int) -> tuple[int, str]:
    """The exit code and the words for a run stopped at `signum`: 130 after Ctrl-C,
    REQUEUE after a scheduler's SIGTERM or SIGUSR1."""
    if signum == signal.SIGINT:
        return 130, "interrupted"
    return REQUEUE, f"stopped by {signal.Signals(signum).name}"


def ignore_stop_signals(worker: int = 0) -> None:
    """In a data-loading process: SIGTERM and SIGUSR1 are the training process's to act
    on (a scheduler may send them to every process of a job)."""
    for signum in STOP_SIGNALS:
        if signum != signal.SIGINT:  # Ctrl-C: the DataLoader's workers ignore it
            signal.signal(signum, signal.SIG_IGN)


@contextlib.contextmanager
def interrupt_saves(state: State):
    """While training, Ctrl-C, SIGTERM and SIGUSR1 ask for a checkpoint after the
    current step (`Loop.stopping`), then the exit code of `stopped`; a Ctrl-C after
    any of them quits."""

    def handler(signum, frame):
        if signum == signal.SIGINT and state.asked:
            raise KeyboardInterrupt
        state.asked = state.asked or signum

    try:
        previous = {s: signal.signal(s, handler) for s in STOP_SIGNALS}
    except ValueError:  # not the main thread: leave the signals as they are
        yield
        return
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
