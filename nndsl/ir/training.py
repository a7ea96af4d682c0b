"""Structured values of a ``train`` section: calls, their arguments, optimizer groups, init
rules, the schedule, gradient clipping and the inputs to predict.

The checker decides every value here; only :mod:`nndsl.codegen` writes them as Python. A value
is a Python scalar (int, float, bool, str or None, written as a literal), a :class:`Seq` of
values (a tuple or a list), a :class:`Number` as the source wrote it, or a :class:`Ref` to a
name the training script defines (``cfg.lr``, ``optimizer``, the tensor ``w`` of an init rule).
"""

from __future__ import annotations

from nndsl.ir.expr import Expr
from nndsl.util.frozen import frozen


@frozen
class Ref:
    """A name of the training script: ``cfg.lr``, ``optimizer``, ``total_steps``, ``w``."""

    name: str


@frozen
class Number:
    """A number as the source wrote it (``1e-3``, ``-2``, ``2 * 3``), with its value."""

    value: int | float
    expr: Expr


@frozen
class Seq:
    """A tuple (``kind`` "tuple") or a list ("list") of values."""

    items: tuple
    kind: str = "tuple"


def value_of(py: object) -> object:
    """A computed Python value as an IR value: tuples and lists become :class:`Seq`.

    >>> value_of([0.8, (1, 2)])
    Seq(items=(0.8, Seq(items=(1, 2), kind='tuple')), kind='list')
    """
    if isinstance(py, (tuple, list)):
        return Seq(tuple(value_of(x) for x in py), "list" if isinstance(py, list) else "tuple")
    return py


@frozen
class Arg:
    """One argument of a call; ``name`` is None for a positional one."""

    name: str | None
    value: object


@frozen
class Call:
    """``nn.MSELoss()``, ``nn.init.normal_(w, 0, 0.01)``: a callable's dotted path and its
    arguments in order."""

    target: str
    args: tuple[Arg, ...] = ()

    def arg(self, name: str) -> object:
        """The value of keyword argument ``name`` (None when not given)."""
        return next((a.value for a in self.args if a.name == name), None)


@frozen
class OptimizerGroup:
    """An optimizer parameter group: the parameters it takes, its own options (keyword
    arguments of the optimizer) and the group as written, with its line, for a comment."""

    names: tuple[str, ...]
    options: tuple[Arg, ...]
    source: str


@frozen
class Optimizer:
    """The optimizer: its constructor with every argument after the parameters (``lr`` first,
    read from the config) and its parameter groups, in source order."""

    call: Call
    groups: tuple[OptimizerGroup, ...] = ()


@frozen
class InitRule:
    """An init rule: the tensors it sets (those no later rule sets again), the ``nn.init`` call
    on the tensor ``w``, the `keep` mask over ``w`` (an expression, None for none) and the
    rule as written, with its line, for a comment."""

    names: tuple[str, ...]
    call: Call
    source: str
    mask: Expr | None = None


@frozen
class Scheduler:
    """The learning-rate scheduler's constructor and when it steps: "epoch", "batch" or
    "plateau" (once per epoch, on the monitored loss)."""

    call: Call
    step: str


@frozen
class Clip:
    """Gradient clipping; ``kind`` "norm": the gradients' total norm is at most ``value``."""

    kind: str
    value: float


@frozen
class Predict:
    """The inputs predicted after training: rows of numbers (a :class:`Seq` nested as written)
    and the dtype of the tensor they make; how the outputs are shown (``kind``: "softmax" or
    "exp" for class scores or log-probabilities, "sigmoid" or "probability" for binary
    outputs, "values"), the names of the classes, and whether each sample has one class (or
    probability) to show. When the rows are rows of the data the model's input is made from,
    the tensor ``name`` holds them (made from the list ``param``; ``shape``, that of a row;
    ``source``, the data tensor they are rows of, "" for a file read or columns inside a line),
    ``steps`` (statements of :mod:`nndsl.ir.expr`) make the input from it and ``feed``
    converts it for the model. ``predict other`` names a data section instead, whose samples
    are predicted: ``data`` is its loader, of the model's input alone (``rows`` are empty)."""

    rows: Seq
    dtype: str
    kind: str = "values"
    classes: tuple[str, ...] = ()
    single: bool = False
    name: str = ""
    source: str = ""
    param: str = "rows"
    shape: tuple = ()
    steps: tuple = ()
    feed: Feed | None = None
    data: object = None  # a train_program.DataCode, which imports this module


@frozen
class Feed:
    """A data tensor as the model or the loss takes it: ``tensor`` converted to ``dtype``, or
    as it is when ``dtype`` is None."""

    tensor: str
    dtype: str | None = None


@frozen
class LossCall:
    """One loss function of a loss expression, bound to ``local`` in the step: its function
    (``F.mse_loss``), its operands and keyword arguments, and its task (as a loss table
    entry's: regression, classes, binary, binary_logits)."""

    local: str
    target: str
    operands: tuple[Expr, Expr]
    kwargs: tuple[Arg, ...]
    task: str
    name: str = ""  # as the language names it: mse


@frozen
class LossStep:
    """A loss written as an expression (``loss mse(recon, x) + 0.001 * kl``): what the step of
    the training script binds and returns.

    ``outputs`` are the names the model's outputs are bound to, in order; ``used`` the
    positions of those the loss reads; ``feeds`` the data tensors it reads (bound by name from
    the batch); ``calls`` its loss functions in order; ``total`` the loss over those names;
    ``terms`` the logged parts of a loss with several (``("loss/kl", kl)``)."""

    outputs: tuple[str, ...]
    used: tuple[int, ...]
    feeds: tuple[str, ...]
    calls: tuple[LossCall, ...]
    total: Expr
    terms: tuple[tuple[str, Expr], ...] = ()


@frozen
class ModelStep:
    """``step Critic { ... }`` in a train section of several models: one optimizer's update of
    each batch. ``name`` keys its loss in the metrics (``loss/critic``) and names its function
    (``critic_step``); ``model`` is the class it trains and ``attr`` that model's key in the
    script's ModuleDict; ``feeds`` the data tensors it binds from the batch; ``body`` its
    statements in order (:class:`~nndsl.ir.expr.Assign` and :class:`LossCall`); ``total`` the
    loss; ``terms`` the logged parts of a loss of several."""

    name: str
    model: str
    attr: str
    optimizer: Optimizer
    feeds: tuple[str, ...]
    body: tuple
    total: Expr
    terms: tuple[tuple[str, Expr], ...] = ()


@frozen
class Samples:
    """``samples reshape(Maker(randn(64, 16)), 64, 8, 8)``: what the models draw after training,
    written as a grid of images; ``shape`` is (N, H, W) or (N, C, H, W)."""

    value: Expr
    shape: tuple


@frozen
class InitFrom:
    """``init from "base.safetensors"``: the file the weights start from (relative to the data
    folder), its key rules in order (``(source, target)``, target None for a key left out),
    whether a partial load was asked for, and the model's tensors it sets and leaves."""

    path: str
    maps: tuple[tuple[str, str | None], ...]
    partial: bool
    loaded: tuple[str, ...]
    fresh: tuple[str, ...]


@frozen
class Generate:
    """``generate 300, temperature=0.8, top_k=10, start="\\n"``: the characters sampled after
    training, one at a time after ``start``, each from the softmax of the model's last scores
    divided by ``temperature``, among the ``top_k`` likeliest (0: all); the model sees at most
    the last ``context`` characters, the length of the samples it was trained on. ``output``
    picks the scores from what the model returns (``""`` or ``"[0]"``)."""

    count: int
    temperature: float
    top_k: int
    start: str
    context: int
    output: str = ""
