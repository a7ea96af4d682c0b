"""The parts of a training script that a train section of steps writes (a GAN): one function
per step, the ``samples`` function, and a ``main`` that builds every model and optimizer and
hands them to ``kit.Run.train_steps``."""

from __future__ import annotations

from nndsl.codegen.expr import statements, write
from nndsl.codegen.text import string_safe
from nndsl.codegen.train_values import args_code, value_code
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir import training as tr

STEP_RETURNS = "dict[str, torch.Tensor]"


def step_functions(t: ir.TrainIR) -> list[dict]:
    """Each step's function, then the one that draws the samples."""
    found = [_step(st) for st in t.steps]
    if t.samples is not None:
        found.append(_samples(t, t.samples))
    return found


def _step(st: tr.ModelStep) -> dict:
    lines = [f'{name} = batch["{name}"]' for name in st.feeds]
    for item in st.body:
        if isinstance(item, tr.LossCall):
            args = [write(e) for e in item.operands]
            args += [args_code(item.kwargs)] if item.kwargs else []
            lines.append(f"{item.local} = {item.target}({', '.join(args)})")
        else:
            lines += statements((item,))
    returned = [f'"loss/{st.name}": {write(st.total)}']
    returned += [f'"{key}": {write(e)}' for key, e in st.terms]
    terms = ", and its terms" if st.terms else ""
    return {
        "signature": f"def {st.name}_step(models: nn.ModuleDict, batch: kit.Batch) -> "
        f"{STEP_RETURNS}:",
        "doc": f"Step `{st.model}`: the loss its optimizer minimises{terms}.",
        "lines": [*lines, "return {" + ", ".join(returned) + "}"],
    }


def _samples(t: ir.TrainIR, samples: tr.Samples) -> dict:
    n, *rest = samples.shape
    size = " x ".join(str(d) for d in rest[-2:])
    channels = f" in {rest[0]} channels" if len(rest) == 3 else ""
    return {
        "signature": "def samples(models: nn.ModuleDict) -> torch.Tensor:",
        "doc": f"What the models draw after training: {n} images of {size}{channels}.",
        "lines": [
            "device = next(models.parameters()).device",
            f"return {write(samples.value)}",
        ],
    }


def steps_main(t: ir.TrainIR, run_name: str, options: list[str]) -> list[str]:
    """The body of ``main`` for a train section of steps."""
    lines = [f'run = kit.Run(cfg, "{run_name}", SOURCE)']
    if t.deterministic:
        lines.append("torch.use_deterministic_algorithms(True)")
    load = f"load_{t.data.name}(cfg)"
    if t.validation is not None:
        lines.append(f"data, val_data = {load}, load_{t.validation.name}(cfg)")
    else:
        lines.append(f"data, val_data = kit.split({load}, cfg.val_fraction, cfg.seed)")
    built = ", ".join(f'"{attr}": {cls}()' for attr, cls in t.models)
    lines.append(f"models = nn.ModuleDict({{{built}}}).to(run.device)")
    lines.append("steps = [")
    for st in t.steps:
        opt = st.optimizer.call
        params = ex.Call(ex.Attr(ex.Attr(ex.Name("models"), st.attr), "parameters"))
        made = f"{opt.target}({write(params)}, {args_code(opt.args)})"
        lines.append(f'    kit.TrainStep("{st.name}", {st.name}_step, {made}),')
    lines.append("]")
    extra = [*options]
    if t.samples is not None:
        extra.append("samples=samples")
    call = ", ".join(["models", "steps", "data", "val_data", *extra])
    return [*lines, f"return run.train_steps({call})"]


def steps_options(t: ir.TrainIR) -> list[str]:
    """The keyword arguments of ``run.train_steps`` this program sets."""
    options = [] if t.save == "model.pt" else [f'save="{string_safe(t.save)}"']
    if t.clip is not None:
        options.append(f"clip={value_code(t.clip.value)}")
    if t.precision != "fp32":
        options.append(f'precision="{t.precision}"')
    if not t.shuffle:
        options.append("shuffle=False")
    if t.drop_last:
        options.append("drop_last=True")
    return options
