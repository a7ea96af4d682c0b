"""The body of a training script's ``main`` (for one model and its step): the run, the data and
its held-out parts, the model, the optimizer and the scheduler, then ``run.train`` with the
options the program sets."""

from __future__ import annotations

from nndsl.codegen.text import comment_safe, string_safe
from nndsl.codegen.train_values import args_code, call_code, init_from_lines, value_code
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr


def main_lines(t: ir.TrainIR) -> list[str]:
    """The body of ``main``: the run, the data, the model, the optimizer, training."""
    lines = [f'run = kit.Run(cfg, "{t.model.lower()}", SOURCE)']
    if t.deterministic:
        lines.append("torch.use_deterministic_algorithms(True)")
    lines += data_lines(t)
    to = ["run.device"]
    if t.weights_dtype:
        lines.append(f"# the inputs are declared {t.weights_dtype}: so are the weights")
        to.append(f"dtype=torch.{t.weights_dtype}")
    if t.channels_last:
        lines.append("# channels-last (NHWC) weights, as the images: faster convolutions")
        to.append("memory_format=torch.channels_last")
    if t.fsdp:  # the devices of several processes would each hold the whole model
        to[0] = "device"
        lines += [
            "# sharded over several processes: only the first builds the whole model",
            "with run.init_device() as device:",
            f"    model = {t.model}().to({', '.join(to)})",
        ]
    else:
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
    options = train_options(t)
    if t.scheduler is not None:
        if t.scheduler.step == "batch":
            extra = "".join(f", {o}" for o in options if o.startswith(("accumulate", "drop")))
            lines.append(f"total_steps = run.total_steps(data{extra})")
        lines.append(f"scheduler = {call_code(t.scheduler.call)}")
    held_out = ["val_data", "test_data"] if t.test or t.test_fraction else ["val_data"]
    train = ", ".join(["model", "optimizer", "step", "data", *held_out, *options])
    after = []
    if t.fsdp and (t.predict is not None or t.generate is not None):
        after.append("    model = run.model  # whole: the weights gathered from every shard")
    if t.predict is not None:
        given = "run, cfg" if t.predict.data is not None else "run.device"
        after.append(f"    predict(model, {given})")
    if t.generate is not None:
        after.append("    generate(model, run.device, cfg.seed)")
    if not after:
        return lines + [f"return run.train({train})"]
    return lines + [f"metrics = run.train({train})", "if run.main:", *after, "return metrics"]


def data_lines(t: ir.TrainIR) -> list[str]:
    """The training data, and the validation and test data: data sections of their own, or
    fractions held out of the training data by one seeded shuffle."""
    load = f"load_{t.data.name}(cfg)"
    val = f"load_{t.validation.name}(cfg)" if t.validation is not None else None
    if t.test_fraction and val is None:
        fractions = "cfg.val_fraction, cfg.test_fraction, cfg.seed"
        return [f"data, val_data, test_data = kit.train_val_test({load}, {fractions})"]
    if t.test_fraction:
        return [
            f"data, test_data = kit.split({load}, cfg.test_fraction, cfg.seed)",
            f"val_data = {val}",
        ]
    if val is not None:
        lines = [f"data, val_data = {load}, {val}"]
    else:
        lines = [f"data, val_data = kit.split({load}, cfg.val_fraction, cfg.seed)"]
    return lines + ([f"test_data = load_{t.test.name}(cfg)"] if t.test is not None else [])


def train_options(t: ir.TrainIR) -> list[str]:
    """The keyword arguments of ``run.train`` this program sets."""
    options = [] if t.save == "model.pt" else [f'save="{string_safe(t.save)}"']
    if t.class_names:  # the rows and columns of the confusion matrix
        options.append(f"classes={value_code(tr.Seq(t.class_names, 'list'))}")
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
    if t.fsdp:
        options.append('distributed="fsdp"')
    return options
