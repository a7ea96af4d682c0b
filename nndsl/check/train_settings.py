"""The plain settings of a ``train`` section: length of training, logging, early stopping,
gradient handling, device and precision, seed, saving and predictions."""

from __future__ import annotations

import math

from nndsl.check.predict import class_names, predict
from nndsl.diagnostics.core import Reported
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.ir.values import EvalError, evaluate
from nndsl.lang import syntax as s

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16")
MONITORED = ("loss", "val_loss", "accuracy", "val_accuracy", "f1", "val_f1", "mae", "val_mae")


def other_settings(b) -> dict:
    r, get = b.r, b.setting
    out: dict = {}

    def take(name, thunk, default):
        st = get(name)
        if st is None:
            out[name] = default
            return
        try:
            out[name] = thunk(st)
        except Reported:
            b.failed = True
            out[name] = default

    take("epochs", lambda st: r._positive(st), 10 if get("steps") is None else 0)
    take("steps", lambda st: r._positive(st), 0)
    take("log_every", lambda st: r._positive(st), 0)
    take("clip", lambda st: _clip(float(r._positive(st, "number", 0))), None)
    take("accumulate", lambda st: r._positive(st), 1)
    take("checkpoint", lambda st: r._positive(st), 0)
    take("distributed", lambda st: r._choice(st, ("none", "ddp", "fsdp")), "none")
    take("checkpoint_activations", lambda st: r._one(st, "bool"), False)
    take("device", lambda st: _device(b, st), "auto")
    take("precision", lambda st: r._choice(st, PRECISIONS), "fp32")
    take("compile", lambda st: r._one(st, "bool"), False)
    take("deterministic", lambda st: r._one(st, "bool"), False)
    take("seed", lambda st: r._positive(st, "int", 0), 0)
    take("save", lambda st: _save(b, st), "model.pt")
    take("early_stop", lambda st: _early_stop(b, st), None)
    take("predict", lambda st: predict(b, st), None)
    out["fsdp"], out["distributed"] = out["distributed"] == "fsdp", out["distributed"] != "none"
    try:
        _with_steps(b, out)
        _sharded(b, out)
    except Reported:
        b.failed = True
    try:
        class_names(b)
    except Reported:
        b.failed = True
    return out


def processes(other: dict) -> dict:
    """The TrainIR fields of how a run uses several processes and its memory."""
    names = ("distributed", "fsdp", "checkpoint_activations")
    return {name: other[name] for name in names}


def _with_steps(b, out: dict) -> None:
    """`checkpoint_activations` works on one model: a train section of steps does not take
    it."""
    if out["checkpoint_activations"] and any(isinstance(st, s.Step) for st in b.node.stmts):
        b.r._error(
            "E0126",
            "`checkpoint_activations` trains one model; a train section of steps does not take it",
            b.setting("checkpoint_activations").span,
            help="leave it out",
        )
        raise Reported


def _sharded(b, out: dict) -> None:
    """`distributed fsdp` shards one model's parameters, gradients and optimizer state, in
    float32 or bf16 (fp16's GradScaler does not take sharded gradients)."""
    st, steps = b.setting("distributed"), any(isinstance(x, s.Step) for x in b.node.stmts)
    if not out["fsdp"] or not (steps or out["precision"] == "fp16"):
        return
    message = (
        "`distributed fsdp` shards one model; a train section of steps does not take it"
        if steps
        else "`distributed fsdp` trains in precision fp32 or bf16, not fp16"
    )
    help = "use `distributed ddp`" if steps else "use `precision bf16`, or `distributed ddp`"
    b.r._error("E0126", message, st.args[0].span, help=help)
    raise Reported


def _clip(value: float) -> tr.Clip | None:
    """``clip 1.0``: the gradients' norm at most 1.0; ``clip 0``: no clipping."""
    if value == 0 and math.copysign(1.0, value) > 0:
        return None
    return tr.Clip("norm", value)


def _device(b, st: s.Setting) -> str:
    v = b.r._one(st, "name")
    if v in DEVICES or (v.startswith("cuda:") and v[5:].isascii() and v[5:].isdigit()):
        return v
    b.r._error("E0126", f'`device` is auto, cpu, cuda, "cuda:N" or mps; got `{v}`', st.args[0].span)
    raise Reported


def _save(b, st: s.Setting) -> str:
    v = b.r._one(st, "str")
    if (
        not v.isprintable()  # the name is written into the script as it is, between quotes
        or any(ch in v for ch in '/\\"')
        or v in (".", "..")
        or len(v.encode("utf-8")) > 255
        or not v.endswith((".pt", ".pth"))
    ):
        b.r._error(
            "E0411",
            "`save` takes a file name ending in .pt, written in the run's output folder",
            st.args[0].span,
            help='e.g. `save "add.pt"`',
        )
        raise Reported
    if v.casefold() == "best.pt" or v.casefold().startswith("checkpoint-"):
        b.r._error(
            "E0411",
            f"`{v}` is a name the run gives its own files (best.pt, checkpoint-<step>.pt); "
            "the weights would replace them",
            st.args[0].span,
            help='choose another name, e.g. `save "final.pt"`',
        )
        raise Reported
    return v


def _early_stop(b, st: s.Setting) -> tuple[str, str, int, float]:
    """``early_stop val_loss, patience=5, min_delta=0.001``."""
    metric, patience, delta = None, 5, 0.0
    for a in st.args:
        if a.name is None and isinstance(a.value, s.Name) and metric is None:
            metric = a.value.id
            if metric not in MONITORED:
                b.r._error("E0126", f"`early_stop` watches one of {', '.join(MONITORED)}", a.span)
                raise Reported
        elif a.name in ("patience", "min_delta"):
            v = evaluate(a.value, {}).py
            if a.name == "patience" and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise EvalError(
                    "`patience` is a whole number of epochs, at least 1", a.value.span, "E0125"
                )
            if a.name == "min_delta" and (
                isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < math.inf
            ):
                raise EvalError("`min_delta` is a number, at least 0", a.value.span, "E0125")
            patience, delta = (v, delta) if a.name == "patience" else (patience, float(v))
        else:
            b.r._error("E0102", "write `early_stop val_loss, patience=5`", a.span)
            raise Reported
    metric = metric or "val_loss"
    mode = "max" if metric.endswith(("accuracy", "f1")) else "min"
    return metric, mode, patience, delta


def _held_out(data) -> dict[str, int]:
    """The samples ``split`` and ``test`` hold out, as the training script rounds them."""
    return {
        name: round(data.samples * fraction)
        for name, fraction in (("split", data.split), ("test", data.test))
        if fraction and (name == "test" or data.validation is None)
    }


def training_samples(data) -> tuple[int, int]:
    """The samples left to train on once ``split`` and ``test`` hold theirs out, and the
    batch (the script's default: at most 64)."""
    left = data.samples - sum(_held_out(data).values())
    return left, data.batch or min(64, data.samples)


def training_batches(b, data) -> None:
    """E0418 when the training data leaves no batch to train on: ``split`` and ``test`` hold
    out every sample, or ``drop_last`` drops the only, incomplete batch (an epoch's loss would
    be nan)."""
    if data.samples is None:
        return
    held = _held_out(data)
    left, batch = training_samples(data)
    if held.get("split") == 0:  # the fraction rounds to no sample at all
        b.error(
            "E0125",
            f"`split {data.split}` of {data.samples} samples holds out none "
            f"({data.split} x {data.samples} rounds to 0): there is nothing to validate on",
            data.setting_spans["split"],
            help="hold out a fraction that is at least one sample, or add samples",
        )
        raise Reported
    if left <= 0:
        which = " and ".join(f"`{n} {getattr(data, n)}`" for n in held)
        verb = "hold" if len(held) > 1 else "holds"
        message = f"{which} of {data.samples} samples {verb} out every one"
        span, help = data.setting_spans[next(iter(held))], "hold out fewer, or add samples"
    elif data.drop_last and left < batch:
        message = f"`drop_last` drops the only batch: {left} training samples, batch {batch}"
        span, help = data.setting_spans["drop_last"], f"use a batch of at most {left}"
    else:
        return
    b.error("E0418", f"data `{data.name}` leaves no batch to train on: {message}", span, help=help)
    raise Reported


def config_fields(b, lr, other: dict) -> tuple[ir.ConfigField, ...]:
    """The fields of the script's Config and their defaults (the script writes those that
    differ from the support module's, and its own): ``test_fraction`` when the data holds out
    a fraction to test on, ``workers`` for streamed data."""
    F, data = ir.ConfigField, b.data
    test = (
        F("test_fraction", "float", data.test, "of the data held out to test the best weights on"),
    )
    return (
        F("epochs", "int", other["epochs"]),
        F("max_steps", "int", other["steps"], "stop after this many optimizer steps; 0: no limit"),
        F("batch_size", "int", data.batch or min(64, data.samples or 1)),
        F("lr", "float", float(lr)),
        F("seed", "int", other["seed"]),
        F("device", "str", other["device"], "auto: cuda when available, else cpu"),
        F("val_fraction", "float", float(data.split), "of the data held out for validation"),
        *(test if data.test else ()),
        F(
            "log_every",
            "int",
            other["log_every"],
            "print the loss every N steps; 0: once per epoch",
        ),
        F("data_dir", "str", ".", "the data files' folder, relative to this script"),
        F("out_dir", "str", "", 'the run folder; "": a new one under runs/'),
        F("eval", "str", "", "evaluate these saved weights instead of training"),
        F(
            "checkpoint_every",
            "int",
            other["checkpoint"],
            "optimizer steps between checkpoints; 0: after an epoch, at most once a minute",
        ),
        F("keep_checkpoints", "int", 2, "how many of the newest checkpoints to keep (at least 2)"),
        F("resume", "bool", False, "continue from the newest checkpoint in out_dir"),
        F("quiet", "bool", False, "no progress bars"),
        *((F("workers", "int", 2, "processes reading streamed data"),) if data.stream else ()),
    )
