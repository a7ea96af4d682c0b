"""The tables behind a ``train`` section: losses, optimizers, schedulers and init functions, each
with its arguments (kind, default, range) and the PyTorch it becomes. One entry per name; the
checker, the generated script and the docs read these tables.
"""

from __future__ import annotations

from nndsl.ir.expr import literal_text
from nndsl.ir.training import Arg, value_of
from nndsl.ir.values import EvalError, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.args import REQUIRED, ArgSpec, bind
from nndsl.util.frozen import frozen


@frozen
class Spec:
    """A loss, optimizer, scheduler or init function."""

    name: str
    torch: str
    args: tuple[ArgSpec, ...]
    doc: str
    extra: str = ""  # task of a loss; step of a scheduler; min rank of an init
    ordered: tuple[tuple[str, str], ...] = ()  # (a, b): the values must have a <= b


def _lr(default: float) -> ArgSpec:
    return ArgSpec("lr", "number", default, min=0, exclusive_min=True)


_WD = ArgSpec("weight_decay", "number", 0.0, min=0)
_EPS = ArgSpec("eps", "number", 1e-8, min=0, exclusive_min=True)
_BETAS = ArgSpec("betas", "numbers", (0.9, 0.999), min=0, max=1, exclusive_max=True, length=2)

LOSSES = {
    "mse": Spec("mse", "F.mse_loss", (), "mean squared error", "regression"),
    "l1": Spec("l1", "F.l1_loss", (), "mean absolute error", "regression"),
    "smooth_l1": Spec(
        "smooth_l1",
        "F.smooth_l1_loss",
        (ArgSpec("beta", "number", 1.0, min=0),),
        "L1 with a quadratic zone of width beta",
        "regression",
    ),
    "huber": Spec(
        "huber",
        "F.huber_loss",
        (ArgSpec("delta", "number", 1.0, min=0, exclusive_min=True),),
        "quadratic within delta, linear outside",
        "regression",
    ),
    "cross_entropy": Spec(
        "cross_entropy",
        "F.cross_entropy",
        (ArgSpec("label_smoothing", "number", 0.0, min=0, max=1),),
        "logits (B, C) against class ids (B,)",
        "classes",
    ),
    "nll": Spec("nll", "F.nll_loss", (), "log-probabilities (B, C) against class ids", "classes"),
    "bce": Spec(
        "bce", "F.binary_cross_entropy", (), "probabilities in 0..1 against 0/1 targets", "binary"
    ),
    "bce_with_logits": Spec(
        "bce_with_logits",
        "F.binary_cross_entropy_with_logits",
        (),
        "logits against 0/1 targets (a sigmoid built in)",
        "binary_logits",
    ),
}

OPTIMIZERS = {
    "sgd": Spec(
        "sgd",
        "torch.optim.SGD",
        (
            _lr(0.01),
            ArgSpec("momentum", "number", 0.0, min=0),
            ArgSpec("dampening", "number", 0.0, min=0),
            _WD,
            ArgSpec("nesterov", "bool", False),
        ),
        "stochastic gradient descent, with momentum and Nesterov",
    ),
    "adam": Spec(
        "adam",
        "torch.optim.Adam",
        (_lr(0.001), _BETAS, _EPS, _WD, ArgSpec("amsgrad", "bool", False)),
        "Adam",
    ),
    "adamw": Spec(
        "adamw",
        "torch.optim.AdamW",
        (
            _lr(0.001),
            _BETAS,
            _EPS,
            ArgSpec("weight_decay", "number", 0.01, min=0),
            ArgSpec("amsgrad", "bool", False),
        ),
        "Adam with decoupled weight decay",
    ),
    "rmsprop": Spec(
        "rmsprop",
        "torch.optim.RMSprop",
        (
            _lr(0.01),
            ArgSpec("alpha", "number", 0.99, min=0),
            _EPS,
            _WD,
            ArgSpec("momentum", "number", 0.0, min=0),
            ArgSpec("centered", "bool", False),
        ),
        "RMSprop",
    ),
    "adagrad": Spec(
        "adagrad",
        "torch.optim.Adagrad",
        (
            _lr(0.01),
            ArgSpec("lr_decay", "number", 0.0, min=0),
            _WD,
            ArgSpec("eps", "number", 1e-10, min=0),
            ArgSpec("initial_accumulator_value", "number", 0.0, min=0),
        ),
        "Adagrad",
    ),
}

SCHEDULERS = {
    "step": Spec(
        "step",
        "torch.optim.lr_scheduler.StepLR",
        (ArgSpec("step_size", "int", REQUIRED, min=1), ArgSpec("gamma", "number", 0.1, min=0)),
        "multiply the rate by gamma every step_size epochs",
        "epoch",
    ),
    "multistep": Spec(
        "multistep",
        "torch.optim.lr_scheduler.MultiStepLR",
        (ArgSpec("milestones", "ints", REQUIRED), ArgSpec("gamma", "number", 0.1, min=0)),
        "multiply the rate by gamma at each milestone epoch",
        "epoch",
    ),
    "exponential": Spec(
        "exponential",
        "torch.optim.lr_scheduler.ExponentialLR",
        (ArgSpec("gamma", "number", REQUIRED, min=0),),
        "multiply the rate by gamma every epoch",
        "epoch",
    ),
    "cosine": Spec(
        "cosine",
        "torch.optim.lr_scheduler.CosineAnnealingLR",
        (
            ArgSpec("t_max", "int", None, min=1, torch_name="T_max"),
            ArgSpec("eta_min", "number", 0.0, min=0),
        ),
        "cosine decay to eta_min over t_max epochs (default: all of them)",
        "epoch",
    ),
    "onecycle": Spec(
        "onecycle",
        "torch.optim.lr_scheduler.OneCycleLR",
        (
            ArgSpec("max_lr", "number", REQUIRED, min=0, exclusive_min=True),
            ArgSpec("pct_start", "number", 0.3, min=0, max=1),
        ),
        "warm up to max_lr and anneal, stepped every optimizer step",
        "batch",
    ),
    "reduce_on_plateau": Spec(
        "reduce_on_plateau",
        "torch.optim.lr_scheduler.ReduceLROnPlateau",
        (
            ArgSpec("factor", "number", 0.1, min=0, max=1, exclusive_min=True, exclusive_max=True),
            ArgSpec("patience", "int", 10, min=0),
        ),
        "divide the rate when the monitored loss stops improving",
        "plateau",
    ),
}

_GAIN = ArgSpec("gain", "number", 1.0)
_KAIMING = (
    ArgSpec("a", "number", 0.0),
    ArgSpec("mode", "str", "fan_in", choices=("fan_in", "fan_out")),
    ArgSpec(
        "nonlinearity",
        "str",
        "leaky_relu",
        choices=("relu", "leaky_relu", "linear", "tanh", "sigmoid"),
    ),
)
INITS = {
    "normal": Spec(
        "normal",
        "nn.init.normal_",
        (ArgSpec("mean", "number", 0.0), ArgSpec("std", "number", 1.0, min=0)),
        "normal distribution",
        "0",
    ),
    "uniform": Spec(
        "uniform",
        "nn.init.uniform_",
        (ArgSpec("a", "number", 0.0), ArgSpec("b", "number", 1.0)),
        "uniform on a .. b",
        "0",
        ordered=(("a", "b"),),
    ),
    "trunc_normal": Spec(
        "trunc_normal",
        "nn.init.trunc_normal_",
        (
            ArgSpec("mean", "number", 0.0),
            ArgSpec("std", "number", 1.0, min=0),
            ArgSpec("a", "number", -2.0),
            ArgSpec("b", "number", 2.0),
        ),
        "normal, redrawn outside a .. b",
        "0",
        ordered=(("a", "b"),),
    ),
    "constant": Spec(
        "constant",
        "nn.init.constant_",
        (ArgSpec("val", "number", REQUIRED),),
        "one value everywhere",
        "0",
    ),
    "zeros": Spec("zeros", "nn.init.zeros_", (), "all zeros", "0"),
    "ones": Spec("ones", "nn.init.ones_", (), "all ones", "0"),
    "xavier_uniform": Spec(
        "xavier_uniform", "nn.init.xavier_uniform_", (_GAIN,), "Glorot uniform", "2"
    ),
    "xavier_normal": Spec(
        "xavier_normal", "nn.init.xavier_normal_", (_GAIN,), "Glorot normal", "2"
    ),
    "kaiming_uniform": Spec(
        "kaiming_uniform", "nn.init.kaiming_uniform_", _KAIMING, "He uniform", "2"
    ),
    "kaiming_normal": Spec("kaiming_normal", "nn.init.kaiming_normal_", _KAIMING, "He normal", "2"),
    "orthogonal": Spec(
        "orthogonal", "nn.init.orthogonal_", (_GAIN,), "a (semi-)orthogonal matrix", "2"
    ),
}

TRAIN_SETTINGS = tuple(
    """loss optimizer scheduler init epochs steps metrics log_every early_stop clip accumulate
    checkpoint checkpoint_activations distributed device precision compile seed deterministic
    save predict freeze samples""".split()
)
METRICS = {"accuracy": ("classes", "binary", "binary_logits"), "mae": ("regression",)}


@frozen
class Bound:
    """A spec's arguments after binding: every value, and the keyword arguments to emit (only
    the arguments given, in the spec's order, by their PyTorch names)."""

    values: dict
    args: tuple[Arg, ...]

    def kwargs(self, skip: tuple = ()) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.name not in skip)

    def positional(self, spec: Spec) -> tuple[Arg, ...]:
        """The arguments given, positionally while they are the spec's first ones in order, then
        by keyword: ``normal(std=0.01)`` is ``nn.init.normal_(w, std=0.01)``, not ``(w, 0.01)``,
        which would set the mean."""
        order = [a.torch for a in spec.args]
        out: list[Arg] = []
        for i, arg in enumerate(self.args):
            leading = all(o.name is None for o in out) and i < len(order) and arg.name == order[i]
            out.append(Arg(None, arg.value) if leading else arg)
        return tuple(out)


def bind_spec(spec: Spec, args: tuple[s.Arg, ...], where: str) -> Bound:
    """Bind call arguments to a spec; raises EvalError with the offending argument's span."""
    binding = bind(spec.args, [a.name for a in args], where)
    if binding.problems:
        p = binding.problems[0]
        span = None if not args else args[-1].span if p.at is None else args[p.at].span
        if p.to is not None:
            span = span.to(args[p.to].span)
        raise EvalError(p.message, span, p.code, help=p.help)
    given = {name: args[i] for name, i in binding.slots.items()}
    written = {name: evaluate(arg.value, {}).py for name, arg in given.items()}  # as written
    values, code = {}, []
    for a in spec.args:
        if a.name not in given:
            values[a.name] = a.default
            continue
        v = values[a.name] = _checked(a, written[a.name], given[a.name].value.span)
        code.append(Arg(a.torch, value_of(tuple(v) if a.kind == "numbers" else v)))
    _ordered(spec, values, given)
    return Bound(values, tuple(code))


def _checked(a: ArgSpec, v: object, span) -> object:
    def is_num(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool)

    kind = a.kind
    if kind in ("numbers", "ints"):
        if (
            not isinstance(v, (list, tuple))
            or not v
            or not all(is_num(x) and (kind == "numbers" or isinstance(x, int)) for x in v)
        ):
            raise EvalError(
                f"`{a.name}` takes a list of {'numbers' if kind == 'numbers' else 'integers'}",
                span,
                "E0106",
            )
        if a.length is not None and len(v) != a.length:
            raise EvalError(
                f"`{a.name}` takes {a.length} numbers, got {len(v)}",
                span,
                "E0106",
                help=f"e.g. `{a.name}={literal_text(a.default)}`",
            )
        for x in v:
            _in_range(a, x, span, f"every value of `{a.name}`")
        return list(v) if kind == "ints" else tuple(float(x) for x in v)  # torch wants floats
    ok = {
        "number": is_num(v),
        "int": isinstance(v, int) and not isinstance(v, bool),
        "bool": isinstance(v, bool),
        "str": isinstance(v, str),
    }[kind]
    if v is None and a.default is None:
        return v
    if not ok:
        raise EvalError(f"`{a.name}` takes a {kind}, got {literal_text(v)}", span, "E0106")
    if a.choices and v not in a.choices:
        raise EvalError(f"`{a.name}` is one of {', '.join(map(repr, a.choices))}", span, "E0126")
    _in_range(a, v, span, f"`{a.name}`")
    return v


def _in_range(a: ArgSpec, v: object, span, what: str) -> None:
    """E0125 unless ``v`` lies within the argument's bounds (and is finite)."""
    why = a.out_of_bounds(v, what)
    if why is not None:
        raise EvalError(why, span, "E0125")


def _ordered(spec: Spec, values: dict, given: dict) -> None:
    """E0125 when two arguments the spec wants in order (``a <= b``) are not."""
    for lo, hi in spec.ordered:
        if values[lo] > values[hi]:
            arg = given.get(hi) or given[lo]
            raise EvalError(
                f"`{lo}` must be at most `{hi}`, got {lo}={values[lo]} and {hi}={values[hi]}",
                arg.span,
                "E0125",
                help=f"`{spec.name}` draws from {lo} .. {hi}",
            )


def spec_rows(table: dict[str, Spec]) -> list[tuple[str, str, str]]:
    """(signature, PyTorch, doc) per entry, for the docs."""
    rows = []
    for spec in table.values():
        params = ", ".join(
            a.name if a.default is REQUIRED else f"{a.name}={literal_text(a.default)}"
            for a in spec.args
        )
        rows.append((f"{spec.name}({params})" if params else spec.name, spec.torch, spec.doc))
    return rows
