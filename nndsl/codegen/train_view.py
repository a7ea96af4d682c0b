"""The view of a TrainIR that the training-script templates (``templates/train/``) render.

Every decision about what the script holds is made here: the templates substitute these
fields, loop over their lists, and test only single booleans of this view.
"""

from __future__ import annotations

from nndsl.codegen.expr import statements, write
from nndsl.codegen.text import comment_safe, packed, string_safe
from nndsl.codegen.train_values import (
    CLIP_FUNCTIONS,
    args_code,
    call_code,
    feed_code,
    options_code,
    value_code,
)
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.registry.readers import uses_numpy


def train_view(t: ir.TrainIR, source_name: str, model_module: str, data_dir: str) -> dict:
    """The template's context: the TrainIR as ``t`` (for plain substitutions) and the fields
    each part of the script decides on."""
    view = {
        "t": t,
        "source": string_safe(source_name),
        "model_module": model_module,
        "config_lines": _config_lines(t, data_dir),
    }
    for part in (_imports, _features, _data, _values, _params, _metrics, _loop, _fit, _main):
        view.update(part(t))
    return view


def _config_lines(t: ir.TrainIR, data_dir: str) -> list[str]:
    """The fields of Config; ``data_dir`` only for a script that reads files, defaulting to
    where the data is."""
    lines = []
    for f in t.config:
        if f.name == "data_dir" and not t.readers:
            continue
        default = value_code(data_dir if f.name == "data_dir" else f.default)
        comment = f"  # {f.comment}" if f.comment else ""
        lines.append(f"{f.name}: {f.type} = {default}{comment}")
    return lines


# the standard library modules every script imports
STD_MODULES = (
    "argparse contextlib hashlib itertools json math os pickle random signal sys time uuid".split()
)


def _imports(t: ir.TrainIR) -> dict:
    """The script's imports: the standard library's, then numpy (for data files), torch and
    the distributed parts of torch."""
    std = sorted(STD_MODULES)
    third = ["import numpy as np"] if uses_numpy(t.readers) else []
    third.append("import torch")
    if t.distributed:
        third.append("import torch.distributed as dist")
    third.append("import torch.nn as nn")
    if t.distributed:
        third.append("from torch.nn.parallel import DistributedDataParallel")
    return {"std_imports": [f"import {m}" for m in std], "torch_imports": third}


def _features(t: ir.TrainIR) -> dict:
    """Switches that several parts of the script test."""
    return {
        "csv": "csv" in t.readers,
        "numpy": uses_numpy(t.readers),
        "distributed": t.distributed,
        "stream": t.data.stream,
        "fp16": t.precision == "fp16",
        "autocast": t.precision != "fp32",
        "autocast_dtype": "bfloat16" if t.precision == "bf16" else "float16",
        "has_scheduler": t.scheduler is not None,
        "early_stop": t.early_stop is not None,
        "channels_last": bool(t.channels_last),
        "has_init": bool(t.init),
        "has_predict": t.predict is not None,
        "call_args": ", ".join(f'batch["{name}"]' for name in t.inputs),
    }


def _data(t: ir.TrainIR) -> dict:
    """The loaders, one per data section, and the helpers that split and batch their data."""
    datas = [t.data] + ([t.validation] if t.validation else [])
    kind = "stream" if t.data.stream else "memory"
    helpers = ([] if t.validation else [f"train/split_{kind}.py.j2"]) + [
        f"train/batches_{kind}.py.j2"
    ]
    keys = ", ".join(f'"{k}"' for k in t.channels_last)
    return {
        "datas": [_data_view(d, bool(t.readers)) for d in datas],
        "data_helpers": helpers,
        "drop_last": t.drop_last,
        "sampler_drop_last": "drop_last" if t.drop_last else "False",
        "drop_last_param": ", drop_last: bool = False" if t.drop_last else "",
        "channels_last_keys": f"({keys},)",
    }


def _data_view(d: ir.DataCode, reads_files: bool) -> dict:
    return {
        "name": d.name,
        "class_name": d.row_class,
        "samples": d.samples,
        "samples_text": f"{d.samples:,}",
        "sources": statements(d.sources),
        "lines": (
            statements(d.body) if d.stream else [packed(line, 4) for line in statements(d.body)]
        ),
        "returns": ", ".join(f'"{k}": {feed_code(feed)}' for k, feed in d.returns),
        "template": f"train/load_{'stream' if d.stream else 'memory'}.py.j2",
        "reads_files": reads_files,
        "random": d.random,
        "seed": d.seed,
    }


def _values(t: ir.TrainIR) -> dict:
    """The loss, the optimizer's constructor, the scheduler, clipping and the inputs to
    predict, as Python."""
    clip, predict = t.clip, t.predict
    return {
        "loss_code": call_code(t.loss),
        "optimizer_ctor": t.optimizer.call.target,
        "optimizer_args": args_code(t.optimizer.call.args),
        "scheduler_code": call_code(t.scheduler.call) if t.scheduler else "",
        "clip_function": CLIP_FUNCTIONS[clip.kind] if clip else "",
        "clip_value": value_code(clip.value) if clip else "",
        "predict_rows": value_code(predict.rows) if predict else "",
        "predict_dtype": f"torch.{predict.dtype}" if predict else "",
    }


def _params(t: ir.TrainIR) -> dict:
    """The init rules and the optimizer's parameter groups."""
    groups = t.optimizer.groups
    return {
        "init": [_init_rule(p) for p in t.init],
        "groups": [
            {
                "names_list": "[" + ", ".join(f'"{n}"' for n in g.names) + "]",
                "source": comment_safe(g.source),
                "dict_code": options_code(g.options),
            }
            for g in groups
        ],
        "has_groups": bool(groups),
    }


def _init_rule(p: tr.InitRule) -> dict:
    names = "(" + ", ".join(f'"{n}"' for n in p.names) + ("," if len(p.names) == 1 else "") + ")"
    return {
        "names_code": names,
        "code": call_code(p.call),
        "mask": "" if p.mask is None else write(p.mask),
        "has_mask": p.mask is not None,
        "source": comment_safe(p.source),
    }


def _metrics(t: ir.TrainIR) -> dict:
    """What `measure` and `summarize` add up besides the loss."""
    if t.task == "classes":
        correct = "(out.argmax(1) == y).sum()"
    elif t.task == "binary_logits":
        correct = "((out > 0) == (y > 0.5)).sum()"
    else:
        correct = "((out > 0.5) == (y > 0.5)).sum()"
    return {
        "metrics_phrase": f" and {', '.join(t.metrics)}" if t.metrics else "",
        "has_metrics": bool(t.metrics),
        "accuracy": "accuracy" in t.metrics,
        "correct_code": correct,
        "mae": "mae" in t.metrics,
        "summarize_param": ", across_ranks: bool = False" if t.distributed else "",
        "across_ranks": ", across_ranks=True" if t.distributed else "",
    }


def _size(t: ir.TrainIR, name: str) -> str:
    """The number of samples in the data bound to `name`, as code."""
    return f"len({name})" if t.data.stream else f'len({name}["y"])'


def _batch_count(t: ir.TrainIR, name: str) -> str:
    size = _size(t, name)
    return f"{size} // cfg.batch_size" if t.drop_last else f"-(-{size} // cfg.batch_size)"


def _scheduler_step(t: ir.TrainIR) -> str:
    """When the scheduler steps: "epoch", "batch", "plateau", or "" without one."""
    return t.scheduler.step if t.scheduler else ""


def _loop(t: ir.TrainIR) -> dict:
    """The steps of `train_one_epoch`: the backward pass, accumulation and the optimizer step."""
    accumulating = t.accumulate > 1
    scaled = f"loss / {t.accumulate}" if accumulating else "loss"
    if t.precision == "fp16":
        backward = f"state.scaler.scale({scaled}).backward()"
    else:
        backward = (scaled if t.accumulate == 1 else f"({scaled})") + ".backward()"
    batches_args = (
        ("state.generator" if t.shuffle else "None")
        + (", cfg.workers" if t.data.stream else "")
        + (", drop_last=True" if t.drop_last else "")
    )
    return {
        "accumulating": accumulating,
        "count_code": _batch_count(t, "data"),
        "data_size": _size(t, "data"),
        "batches_args": batches_args,
        "backward": backward,
        "step_indent": "    " if accumulating else "",
        "clip": t.clip is not None,
        "unscale": t.clip is not None and t.precision == "fp16",
        "scheduler_per_batch": _scheduler_step(t) == "batch",
        "predict_classes": t.task == "classes",
        "needs_rounded": t.predict is not None and t.task != "classes",
        "resume_extra_keys": '"record", "stale", ' if t.early_stop else "",
    }


def _fit(t: ir.TrainIR) -> dict:
    """The epoch loop: the scheduler's step and early stopping."""
    fields = {
        "train_size": _size(t, "train_data"),
        "scheduler_per_epoch": _scheduler_step(t) == "epoch",
        "scheduler_on_plateau": _scheduler_step(t) == "plateau",
        "early_metric": "",
        "early_patience": 0,
        "early_improved": "",
    }
    if t.early_stop is not None:
        metric, mode, patience, delta = t.early_stop
        op, sign = ("<", "-") if mode == "min" else (">", "+")
        improved = f"watched {op} state.record"
        fields.update(
            early_metric=metric,
            early_patience=patience,
            early_improved=f"{improved} {sign} {delta!r}" if delta else improved,
        )
    return fields


def _main(t: ir.TrainIR) -> dict:
    """`main`: loading the data, building the state and writing the results."""
    steps = f"-(-steps_per_epoch // {t.accumulate})" if t.accumulate > 1 else "steps_per_epoch"
    return {
        "deterministic": t.deterministic,
        "stream_validation": t.validation is not None and t.data.stream,
        "memory_validation": t.validation is not None and not t.data.stream,
        "needs_split": t.validation is None,
        "split_in_memory": t.validation is None and not t.data.stream,
        "validation_name": t.validation.name if t.validation else "",
        "steps_per_epoch_code": _batch_count(t, "train_data"),
        "total_steps_code": f"cfg.max_steps or cfg.epochs * {steps}",
        "net_code": "torch.compile(model)" if t.compile else "model",
        "model_to": f"device, dtype=torch.{t.weights_dtype}" if t.weights_dtype else "device",
        "model_notes": (
            [f"the inputs are declared {t.weights_dtype}: the weights are built in it too"]
            if t.weights_dtype
            else []
        ),
        "finish": f"train/finish_{'distributed' if t.distributed else 'single'}.py.j2",
        "safetensors_name": t.save.rsplit(".", 1)[0] + ".safetensors",
    }
