"""The checked program's training sections (re-exported by :mod:`nndsl.ir.nodes`): each
train section's script as :class:`TrainIR`, its data loaders and its ``Config`` fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nndsl.util.frozen import frozen

if TYPE_CHECKING:  # a train section's values: imported by the stages that make and read them
    from nndsl.ir.expr import Expr, Stmt
    from nndsl.ir.training import (
        Call,
        Clip,
        Feed,
        Generate,
        InitFrom,
        InitRule,
        LossStep,
        ModelStep,
        Optimizer,
        Predict,
        Samples,
        Scheduler,
    )


# ---- training ---------------------------------------------------------------------------------


@frozen
class ConfigField:
    """One field of the training script's ``Config`` dataclass (and its command-line flag);
    ``default`` is its Python value (an int, float, bool or str)."""

    name: str
    type: str
    default: object
    comment: str = ""


@frozen
class DataCode:
    """The statements of a ``load_*`` function that builds one data section's tensors."""

    name: str
    body: tuple[Stmt, ...]
    returns: tuple[tuple[str, Feed], ...]  # (key, tensor): {"x": x.float(), "y": y}
    samples: int
    random: bool
    seed: int
    sources: tuple[Stmt, ...] = ()  # a streamed section: files opened once, memory-mapped
    stream: bool = False  # then ``body`` computes one batch from rows ``idx``
    row_class: str = ""  # streamed: the Dataset class its rows become, unique in the script


@frozen
class TrainIR:
    """Everything the training script needs; ``nndsl.codegen.train_view`` makes it the view the
    templates render (``templates/train.py.j2``, ``templates/train/``). The training values
    (loss, optimizer, init rules, schedule, clipping, predictions, the dtype conversions of the
    data) are the structured values of :mod:`nndsl.ir.training`; the data loaders' lines and
    the `keep` masks of init rules are still Python text."""

    model: str
    script: str  # the module name of the script, e.g. train_addnet
    source_line: int
    summary: str  # one line for the docstring
    data: DataCode
    validation: DataCode | None
    readers: tuple[str, ...]
    inputs: tuple[str, ...]  # the model's forward inputs, in order: keys of the data dicts
    output: str  # "" or "[0]": the model output the loss reads
    config: tuple[ConfigField, ...]
    loss: Call
    task: str  # regression, classes, binary, binary_logits
    metrics: tuple[str, ...]
    optimizer: Optimizer
    init: tuple[InitRule, ...]
    scheduler: Scheduler | None
    clip: Clip | None
    accumulate: int
    precision: str  # fp32, bf16, fp16
    compile: bool
    deterministic: bool
    early_stop: tuple[str, str, int, float] | None  # metric, mode (min/max), patience, min_delta
    predict: Predict | None  # the inputs to predict after training
    save: str  # file name of the final weights
    monitor: str  # metric that decides the best weights: val_loss, or loss without validation
    drop_last: bool = False
    shuffle: bool = True
    # for `nndsl check`: (parameter, shape, the init rule that sets it, its optimizer group)
    table: tuple[tuple[str, tuple, str, str], ...] = ()
    source_sha256: str = ""  # of the .nn text, recorded with the final weights
    distributed: bool = False  # DDP-ready: one process per rank under torchrun
    fsdp: bool = False  # `distributed fsdp`: parameters, gradients, optimizer state sharded
    checkpoint_activations: bool = False  # each block's recomputed in the backward pass
    # the 4-D inputs of a model with 2-D convolutions, kept in channels-last (NHWC) memory
    channels_last: tuple[str, ...] = ()
    # the dtype the model is built in when its floating inputs are declared in another than
    # float32 (`x: [4] double`), or "": float32, torch's default
    weights_dtype: str = ""
    # a loss written as an expression over named outputs and data (None: `loss mse`, which
    # compares the first output with `y` through ``loss``)
    step: LossStep | None = None
    # metrics written as calls (`metrics top_k(logits, y, k=5)`): each one's key and the
    # expression of its mean over a batch, over the names the step binds
    metric_exprs: tuple[tuple[str, Expr], ...] = ()
    # `freeze encoder`: the parameters nothing trains, and the line as written for a comment
    frozen: tuple[str, ...] = ()
    frozen_source: str = ""
    # a train section of steps (`train Maker, Critic on digits { step Critic {...} ... }`): each
    # model's key in the script's ModuleDict and its class, the steps of each batch in order,
    # and the images drawn after training
    models: tuple[tuple[str, str], ...] = ()
    init_from: InitFrom | None = None  # `init from "base.safetensors"`: the starting weights
    steps: tuple[ModelStep, ...] = ()
    samples: Samples | None = None
    # the held-out data the best weights are tested on after training: the loader of a
    # `test other` section, or the fraction `test 0.1` holds out (0: none)
    test: DataCode | None = None
    test_fraction: float = 0.0
    # one batch's confusion matrix of the loss's scores and targets (`kit.confusion(...)`), when
    # `metrics f1` or the test data's confusion file reads it, and the names of its classes
    confusion: Expr | None = None
    class_names: tuple[str, ...] = ()
    # the characters whose ids text files hold (`VOCABULARY` in the script), and `generate`
    vocabulary: str = ""
    generate: Generate | None = None

    @property
    def predict_data(self) -> DataCode | None:
        """The loader of the data section ``predict other`` names."""
        return self.predict.data if self.predict is not None else None
