"""The view of a TrainIR that the training-script templates (``templates/train.py.j2``,
``templates/train/``) render.

A script holds only what its program says: its Config (the fields whose defaults differ from
the support module's, and its own), its data loaders, the step that turns a batch into a
loss and metrics, init rules, optimizer groups, predictions and ``main``. Everything every
program shares is in the support module ``trainkit.py`` (``templates/trainkit.py``), the same
file for every program. Every decision is made here: the templates place these strings and
loop over these lists.
"""

from __future__ import annotations

from nndsl.codegen import KIT_MODULE
from nndsl.codegen.expr import statements, write
from nndsl.codegen.text import WIDTH, comment_safe, packed, string_safe
from nndsl.codegen.train_predict import predict_view
from nndsl.codegen.train_steps import STEP_RETURNS, step_functions, steps_main, steps_options
from nndsl.codegen.train_values import (
    args_code,
    call_code,
    feed_code,
    init_from_lines,
    options_code,
    value_code,
)
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr
from nndsl.registry.readers import uses_numpy

# The fields of trainkit.Config and their defaults: a script writes a field only when its
# program gives it another default (tests/test_trainkit.py checks these against the file).
KIT_DEFAULTS = {
    "epochs": 10,
    "max_steps": 0,
    "batch_size": 32,
    "lr": 0.001,
    "seed": 0,
    "device": "auto",
    "val_fraction": 0.0,
    "log_every": 0,
    "out_dir": "",
    "eval": "",
    "checkpoint_every": 0,
    "keep_checkpoints": 2,
    "resume": False,
    "quiet": False,
}

# what a batch's accuracy is, by the loss's task
_CORRECT = {
    "classes": "out.argmax(1) == y",
    "binary_logits": "(out > 0) == (y > 0.5)",
    "binary": "(out > 0.5) == (y > 0.5)",
}


def train_view(t: ir.TrainIR, source_name: str, model_module: str, data_dir: str) -> dict:
    """The template's context: the TrainIR as ``t`` (for plain substitutions) and what each
    part of the script holds."""
    run_name = "_".join(a for a, _ in t.models) if t.steps else t.model.lower()
    if t.steps:
        functions = step_functions(t)
        main = steps_main(t, run_name, steps_options(t))
    else:
        functions = [
            {
                "signature": f"def step(model: {t.model}, batch: kit.Batch) -> {STEP_RETURNS}:",
                "doc": _step_doc(t),
                "lines": _step(t),
            }
        ]
        main = _main(t)
    return {
        "t": t,
        "source": string_safe(source_name),
        "model_module": model_module,
        "model_imports": ", ".join(sorted(c for _, c in t.models)) if t.steps else t.model,
        "kit": KIT_MODULE,
        "run_name": run_name,
        "config_lines": _config_lines(t, data_dir),
        **_imports(t),
        **_data(t),
        **_params(t),
        "functions": functions,
        "has_predict": t.predict is not None,
        **predict_view(t),
        "main_lines": main,
    }


def _config_lines(t: ir.TrainIR, data_dir: str) -> list[str]:
    """The fields of Config the program sets: those whose default is not trainkit's, and its
    own (``data_dir`` only for a script that reads files, defaulting to where the data is;
    ``workers`` for streamed data; ``patience`` for early stopping)."""
    lines = []
    for f in t.config:
        if f.name == "data_dir" and not (t.readers or t.init_from):
            continue
        default = data_dir if f.name == "data_dir" else f.default
        if f.name in KIT_DEFAULTS and KIT_DEFAULTS[f.name] == default:
            continue
        line = f"{f.name}: {f.type} = {value_code(default)}"
        if f.comment and f.name not in KIT_DEFAULTS:
            # a comment that would pass the line width goes above its field, unwrapped
            fits = len(line) + len(f.comment) + 8 <= WIDTH
            lines += [f"{line}  # {f.comment}"] if fits else [f"# {f.comment}", line]
        else:
            lines.append(line)
    if t.early_stop is not None:
        patience = t.early_stop[2]
        lines.append(f"patience: int = {patience}  # epochs without improvement, then stop")
    return lines


def _imports(t: ir.TrainIR) -> dict:
    """The script's imports: the standard library's, then numpy (for data files) and torch."""
    std = ["from dataclasses import dataclass"]
    if t.readers or t.init_from:
        std.append("from pathlib import Path")
    third = ["import numpy as np"] if uses_numpy(t.readers) else []
    third.append("import torch")
    if t.init or t.steps:
        third.append("import torch.nn as nn")
    third.append("import torch.nn.functional as F")
    return {"std_imports": std, "torch_imports": third}


def _data(t: ir.TrainIR) -> dict:
    """The loaders, one per data section."""
    datas = [t.data] + ([t.validation] if t.validation else [])
    return {
        "datas": [_data_view(d, bool(t.readers)) for d in datas],
        "csv": "csv" in t.readers,
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


def _params(t: ir.TrainIR) -> dict:
    """The init rules and the optimizer's parameter groups."""
    groups = t.optimizer.groups
    return {
        "has_init": bool(t.init),
        "init": [_init_rule(p) for p in t.init],
        "has_groups": bool(groups),
        "groups": [
            {
                "names_list": "[" + ", ".join(f'"{n}"' for n in g.names) + "]",
                "source": comment_safe(g.source),
                "dict_code": options_code(g.options),
            }
            for g in groups
        ],
        "optimizer_ctor": t.optimizer.call.target,
        "optimizer_args": args_code(t.optimizer.call.args),
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


def _step_doc(t: ir.TrainIR) -> str:
    parts = (["terms"] if t.step is not None and t.step.terms else []) + list(t.metrics)
    if t.metric_exprs:
        parts = [p for p in parts if p == "terms"] + ["metrics"]
    if not parts:
        return "The loss of one batch."
    return f"The loss of one batch, and its {' and '.join(parts)}."


def _step(t: ir.TrainIR) -> list[str]:
    """The body of ``step``: the forward pass, the loss and the metrics of one batch."""
    call = f"model({', '.join(f'batch[{name!r}]' for name in t.inputs)})"
    if t.step is not None:
        return _loss_step(t, t.step, call)
    args = args_code(t.loss.args)
    loss = f"{t.loss.target}(out, y{', ' + args if args else ''})"
    terms = [f'"loss": {loss}', *_metrics(t, "out", "y")]
    return [f'out, y = {call}{t.output}, batch["y"]', "return {" + ", ".join(terms) + "}"]


def _metrics(t: ir.TrainIR, out: str, y: str) -> list[str]:
    """The metrics of a batch, over the scores ``out`` and the targets ``y`` (as code), then
    those written as calls."""
    found = []
    for metric in t.metrics:
        if metric == "accuracy":
            correct = _CORRECT[t.task].replace("out", out).replace("y", y)
            found.append(f'"accuracy": ({correct}).float().mean()')
        elif metric == "mae":
            found.append(f'"mae": ({out}.float() - {y}).abs().mean()')
    return found + [f'"{key}": {write(e)}' for key, e in t.metric_exprs]


def _loss_step(t: ir.TrainIR, step: tr.LossStep, call: str) -> list[str]:
    """A loss expression's step: the outputs and data it reads bound by name, each loss
    function to a local, then the loss, its terms and the metrics of its first loss."""
    lines = [f"{', '.join(step.outputs)} = {call}"]
    lines += [f'{name} = batch["{name}"]' for name in step.feeds]
    for c in step.calls:
        args = [write(e) for e in c.operands] + ([args_code(c.kwargs)] if c.kwargs else [])
        args = ", ".join(args)
        lines.append(f"{c.local} = {c.target}({args})")
    first = step.calls[0]
    out, y = (_operand_code(e) for e in first.operands)
    terms = [f'"loss": {write(step.total)}']
    terms += [f'"{key}": {write(e)}' for key, e in step.terms]
    return [*lines, "return {" + ", ".join([*terms, *_metrics(t, out, y)]) + "}"]


def _operand_code(e) -> str:
    """An operand as code the metrics can apply a method to: a name, or in parentheses."""
    code = write(e)
    return code if code.isidentifier() else f"({code})"


def _main(t: ir.TrainIR) -> list[str]:
    """The body of ``main``: the run, the data, the model, the optimizer, training."""
    lines = [f'run = kit.Run(cfg, "{t.model.lower()}", SOURCE)']
    if t.deterministic:
        lines.append("torch.use_deterministic_algorithms(True)")
    load = f"load_{t.data.name}(cfg)"
    if t.validation is not None:
        lines.append(f"data, val_data = {load}, load_{t.validation.name}(cfg)")
    else:
        lines.append(f"data, val_data = kit.split({load}, cfg.val_fraction, cfg.seed)")
    to = ["run.device"]
    if t.weights_dtype:
        lines.append(f"# the inputs are declared {t.weights_dtype}: so are the weights")
        to.append(f"dtype=torch.{t.weights_dtype}")
    if t.channels_last:
        lines.append("# channels-last (NHWC) weights, as the images: faster convolutions")
        to.append("memory_format=torch.channels_last")
    lines.append(f"model = {t.model}().to({', '.join(to)})")
    if t.init:
        lines.append("init_weights(model)")
    if t.init_from is not None:
        lines += init_from_lines(t.init_from)
    params = "model.parameters()"
    if t.frozen:
        names = ", ".join(f'"{n}"' for n in t.frozen) + ("," if len(t.frozen) == 1 else "")
        lines += [
            f"# {comment_safe(t.frozen_source)}: not trained",
            f"for name in ({names}):",
            "    model.get_parameter(name).requires_grad_(False)",
        ]
        params = "[p for p in model.parameters() if p.requires_grad]"
    if t.optimizer.groups:
        lines.append("optimizer = build_optimizer(model, cfg)")
    else:
        args = args_code(t.optimizer.call.args)
        lines.append(f"optimizer = {t.optimizer.call.target}({params}, {args})")
    options = _train_options(t)
    if t.scheduler is not None:
        if t.scheduler.step == "batch":
            extra = "".join(f", {o}" for o in options if o.startswith(("accumulate", "drop")))
            lines.append(f"total_steps = run.total_steps(data{extra})")
        lines.append(f"scheduler = {call_code(t.scheduler.call)}")
    train = ", ".join(["model", "optimizer", "step", "data", "val_data", *options])
    if t.predict is None:
        return lines + [f"return run.train({train})"]
    return lines + [
        f"metrics = run.train({train})",
        "if run.main:",
        "    predict(model, run.device)",
        "return metrics",
    ]


def _train_options(t: ir.TrainIR) -> list[str]:
    """The keyword arguments of ``run.train`` this program sets."""
    options = [] if t.save == "model.pt" else [f'save="{string_safe(t.save)}"']
    if t.scheduler is not None:
        options.append("scheduler=scheduler")
        if t.scheduler.step == "batch":
            options.append('scheduler_every="step"')
    if t.clip is not None:
        options.append(f"clip={value_code(t.clip.value)}")
    if t.accumulate > 1:
        options.append(f"accumulate={t.accumulate}")
    if t.precision != "fp32":
        options.append(f'precision="{t.precision}"')
    if t.compile:
        options.append("compile=True")
    if t.early_stop is not None:
        metric, mode, _, delta = t.early_stop
        rule = [f'"{metric}"', "cfg.patience"]
        if delta:
            rule.append(f"min_delta={delta!r}")
        if mode == "max":
            rule.append('mode="max"')
        options.append(f"early_stop=kit.EarlyStop({', '.join(rule)})")
    if t.channels_last:
        keys = ", ".join(f'"{k}"' for k in t.channels_last)
        options.append(f"channels_last=({keys},)")
    if not t.shuffle:
        options.append("shuffle=False")
    if t.drop_last:
        options.append("drop_last=True")
    if t.checkpoint_activations:
        options.append("checkpoint_activations=True")
    return options
