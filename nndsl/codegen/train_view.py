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
from nndsl.codegen.train_main import main_lines
from nndsl.codegen.train_predict import predict_view
from nndsl.codegen.train_steps import STEP_RETURNS, step_functions, steps_main, steps_options
from nndsl.codegen.train_text import text_view
from nndsl.codegen.train_values import (
    args_code,
    call_code,
    feed_code,
    options_code,
    value_code,
)
from nndsl.ir import expr as ex
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
        main = main_lines(t)
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
        **text_view(t),
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
    datas = [d for d in (t.data, t.validation, t.test, t.predict_data) if d is not None]
    # each section once: the data `predict` names may be the training or held-out data
    datas = [d for i, d in enumerate(datas) if d.name not in {e.name for e in datas[:i]}]
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
            found.append(f'"accuracy": {correct}')
        elif metric == "mae":
            found.append(f'"mae": ({out}.float() - {y}).abs()')
        elif metric == "f1":  # a confusion matrix, which the kit adds up and scores
            found.append(f'"counts/f1": {write(t.confusion)}')
    if t.confusion is not None and "f1" not in t.metrics:  # for the test data's file
        found.append(f'"counts/confusion": {write(t.confusion)}')
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
    """An operand as code the metrics can apply a method to: a name, a call, an attribute or
    an index as it is, anything else in parentheses."""
    code = write(e)
    bare = code.isidentifier() or isinstance(e, (ex.Call, ex.Attr, ex.Index))
    return code if bare else f"({code})"
