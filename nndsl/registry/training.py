"""The tables behind a ``train`` section: losses, optimizers, schedulers and init functions, each
with its arguments (kind, default, range) and the PyTorch it becomes. One entry per name; the
checker, the generated script and the docs read these tables.
"""

from __future__ import annotations

from nndsl.registry.args import REQUIRED, ArgSpec
from nndsl.registry.saves import ADAM_STATE, INPUT, Saved
from nndsl.registry.specs import Bound, Spec, bind_spec, spec_rows  # noqa: F401


def _lr(default: float) -> ArgSpec:
    return ArgSpec("lr", "number", default, min=0, exclusive_min=True)


_WD = ArgSpec("weight_decay", "number", 0.0, min=0)
_EPS = ArgSpec("eps", "number", 1e-8, min=0, exclusive_min=True)
_BETAS = ArgSpec("betas", "numbers", (0.9, 0.999), min=0, max=1, exclusive_max=True, length=2)

LOSSES = {
    "mse": Spec("mse", "F.mse_loss", (), "mean squared error", "regression", saves=INPUT),
    "l1": Spec(
        "l1", "F.l1_loss", (), "mean absolute error", "regression", saves=(Saved("new", "input"),)
    ),
    "smooth_l1": Spec(
        "smooth_l1",
        "F.smooth_l1_loss",
        (ArgSpec("beta", "number", 1.0, min=0),),
        "L1 with a quadratic zone of width beta",
        "regression",
        saves=INPUT,
    ),
    "huber": Spec(
        "huber",
        "F.huber_loss",
        (ArgSpec("delta", "number", 1.0, min=0, exclusive_min=True),),
        "quadratic within delta, linear outside",
        "regression",
        saves=INPUT,
    ),
    "cross_entropy": Spec(
        "cross_entropy",
        "F.cross_entropy",
        (ArgSpec("label_smoothing", "number", 0.0, min=0, max=1),),
        "logits (B, C) against class ids (B,)",
        "classes",
        saves=(Saved("new", "input"), Saved("input", index=1)),  # the log-softmax, the ids
    ),
    "nll": Spec(
        "nll",
        "F.nll_loss",
        (),
        "log-probabilities (B, C) against class ids",
        "classes",
        saves=INPUT,
    ),
    "bce": Spec(
        "bce",
        "F.binary_cross_entropy",
        (),
        "probabilities in 0..1 against 0/1 targets",
        "binary",
        saves=INPUT,
    ),
    "bce_with_logits": Spec(
        "bce_with_logits",
        "F.binary_cross_entropy_with_logits",
        (),
        "logits against 0/1 targets (a sigmoid built in)",
        "binary_logits",
        saves=INPUT,
    ),
}

# PyTorch's fused implementation (on the CPU, CUDA and MPS; Adagrad's is the CPU's alone, so it
# has none here): one kernel updates every parameter, a few times faster on the CPU, equal to
# the default's updates up to float rounding, not bit for bit
_FUSED = ArgSpec("fused", "bool", False)

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
            _FUSED,
        ),
        "stochastic gradient descent, with momentum and Nesterov",
        state=(("momentum", 1),),
    ),
    "adam": Spec(
        "adam",
        "torch.optim.Adam",
        (_lr(0.001), _BETAS, _EPS, _WD, ArgSpec("amsgrad", "bool", False), _FUSED),
        "Adam",
        state=ADAM_STATE,
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
            _FUSED,
        ),
        "Adam with decoupled weight decay",
        state=ADAM_STATE,
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
        state=(("", 1), ("momentum", 1), ("centered", 1)),  # square_avg, momentum_buffer, grad_avg
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
        state=(("", 1),),  # sum
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
    save predict freeze samples generate""".split()
)
METRICS = {
    "accuracy": ("classes", "binary", "binary_logits"),
    "f1": ("classes", "binary", "binary_logits"),
    "mae": ("regression",),
}
