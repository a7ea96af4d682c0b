"""The types of the layer registry, and the small helpers its entries share.

The registry itself, and the conventions entries follow, are in :mod:`nndsl.registry.layers`; the
entries live in ``layers_dense`` (linear, shape, embedding), ``layers_act`` (activation,
dropout), ``layers_norm`` (normalisation), ``layers_conv`` (convolution), ``layers_pool``
(pooling, padding, resampling), ``layers_seq`` (recurrent) and ``layers_attn`` (attention).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from functools import cached_property

from nndsl.ir.shapes import Shape, ShapeError, conv_out, normalize_dim, ntuple
from nndsl.registry.args import ArgSpec
from nndsl.registry.saves import Saved
from nndsl.util.frozen import frozen
from nndsl.util.naming import snake

# One tensor a layer owns: (kind, shape, trainable). ``kind`` is the name torch gives it inside
# the layer (``weight``, ``running_mean``, ``out_proj.weight``); trainable ones are parameters,
# the others buffers.
TensorSpec = tuple[str, tuple[int, ...], bool]


# A layer's constructor arguments are argument specs, as every built-in's are. ``kind`` (also
# ``type``) is one of ``int``, ``float``, ``bool``, ``str``, ``ints`` (an int or a tuple of ints,
# e.g. a kernel size), ``int?`` / ``float?`` / ``ints?`` (may be ``none``). ``emit`` forces the
# argument into generated code even when left at its default (``batch_first=True``, which differs
# from torch's own default). ``infer`` computes the value from the input shape.
Arg = ArgSpec


@frozen
class Layer:
    """One built-in layer.

    ``ranks``: the input ranks accepted (batch included), with ``layout`` describing them in
    messages, e.g. ``(B, C, H, W)``. ``functional`` is the stateless call used when the layer is
    anonymous and has no parameters (``F.relu``), taking the same argument names.
    ``call`` says how a stack model calls it: ``tensor`` (``x = m(x)``), ``rnn`` (``x, _ = m(x)``)
    or ``attention`` (self-attention, ``x, _ = m(x, x, x, need_weights=False)``).
    ``in_dtype`` is ``float`` or ``long``; ``out_dtype`` is ``None`` (same as input) or a dtype.
    ``tensors(a)`` lists the parameters and buffers the torch module holds, as
    ``model.named_parameters()`` then ``named_buffers()`` list them; :meth:`params` counts them.

    What the rest of the compiler knows about a layer is here too, never in a table of its own:

    - ``prefix``: the start of its attribute names in generated code (``fc`` gives ``fc1``);
      empty for the snake-case name (``Softplus`` gives ``softplus1``).
    - ``stack_inputs``: how many times a stack model passes it its input (3 for self-attention:
      query, key, value); ``stack_kwargs``: the keyword arguments it adds, as (name, value).
    - ``macs(t, out, ins)``: multiply-accumulates of one forward pass, from ``t`` (each tensor's
      shape by its kind, see ``tensors``), the output shapes and the input shapes (batch
      included, every size known); None for none.
    - ``state(a, x)``: a recurrent layer's state shapes, one tensor or an ``(h, c)`` pair, for
      the input shape ``x``. ``weights(q, k)``: an attention layer's weights shape, for query and
      key shapes.
    - ``traits``: ``biased`` (a bias that a following batch norm cancels), ``centres`` (batch
      norm: it subtracts the mean), ``dropout``. ``clips``: the range an activation's outputs lie
      in, e.g. ``[0, inf)``. ``in_loss``: the losses that apply this layer themselves.
    - ``channels_last``: a model that uses it keeps its 4-D inputs in NHWC memory.
    - ``rank_help``: the advice for an input of a rank it does not accept.
    - ``depth(a)``: how many layers it stands for in the checker's size limit (a recurrent
      layer's ``num_layers``); one when None.
    - ``call_keywords``: the keyword arguments its forward takes from a hand-written forward
      (``attn_mask``, ``is_causal``), as argument specs of kind ``bool`` or ``tensor?``;
      ``call_rule(a, ins, dtype, kw)`` checks them (``ins``: the input shapes, ``dtype`` the
      first input's, ``kw`` the types of the keywords given) and gives the shape of an attention
      layer's weights, None when it returns none; it raises ShapeError naming the keyword.
    - ``saves``: what autograd keeps of a call for the backward (:mod:`nndsl.registry.saves`);
      ``autocast``: ``half`` for a layer autocast runs in half precision, ``float32`` for one it
      runs in float32, empty for one that keeps its input's dtype. The ``view`` trait: its
      output shares the input's memory.
    """

    name: str
    args: tuple[Arg, ...]
    shape: Callable[[dict, Shape], Shape]
    tensors: Callable[[dict], tuple[TensorSpec, ...]]
    doc: str
    positional: int = 0
    ranks: tuple[int, ...] | None = None
    layout: str = ""
    functional: str | None = None
    call: str = "tensor"
    inputs: int = 1
    in_dtype: str = "float"
    out_dtype: str | None = None
    example: str = ""
    torch: str = field(default="")
    prefix: str = ""
    stack_inputs: int = 1
    stack_kwargs: tuple[tuple[str, object], ...] = ()
    macs: Callable[[dict, list, list], int] | None = None
    state: Callable[[dict, Shape], tuple[Shape, ...]] | None = None
    weights: Callable[[Shape, Shape], Shape] | None = None
    traits: frozenset[str] = frozenset()
    clips: str | None = None
    in_loss: tuple[str, ...] = ()
    channels_last: bool = False
    rank_help: str | None = None
    depth: Callable[[dict], int] | None = None
    call_keywords: tuple[Arg, ...] = ()
    call_rule: Callable[[dict, list, str, dict], Shape | None] | None = None
    saves: tuple[Saved, ...] = ()
    autocast: str = ""

    @cached_property
    def ctor(self) -> str:
        """The emitted constructor, e.g. ``nn.Linear``."""
        return self.torch or f"nn.{self.name}"

    @cached_property
    def attr_prefix(self) -> str:
        """The start of its attribute names: ``prefix``, or the snake-case name."""
        return self.prefix or snake(self.name)

    @cached_property
    def arg_names(self) -> tuple[str, ...]:
        """The constructor arguments' names, in order."""
        return tuple(a.name for a in self.args)

    @cached_property
    def inferred_names(self) -> tuple[str, ...]:
        """The names of the arguments inferred from the input shape, in order."""
        return tuple(a.name for a in self.args if a.infer is not None)

    @cached_property
    def _args_by_name(self) -> dict[str, Arg]:
        """Each argument by its name, for :meth:`arg`."""
        by_name: dict[str, Arg] = {}
        for a in self.args:
            by_name.setdefault(a.name, a)  # the first of a name, as a search would find
        return by_name

    def arg(self, name: str) -> Arg | None:
        """The argument called ``name``, or None."""
        return self._args_by_name.get(name)

    def params(self, a: dict) -> int:
        """The number of trainable parameters, as torch counts them.

        >>> from nndsl.registry.layers import LINEAR
        >>> LINEAR.params({"in_features": 2, "out_features": 8, "bias": True})
        24
        """
        return trainable_count(self.tensors(a))


def trainable_count(tensors: tuple[TensorSpec, ...]) -> int:
    """The values of the trainable ones among ``tensors`` (a layer's :attr:`Layer.tensors`)."""
    return sum(size(shape) for _, shape, trainable in tensors if trainable)


def count_macs(layer: Layer, t: dict, out: list, ins: list) -> int:
    """``layer.macs`` of one use, 0 for a layer without a rule."""
    return 0 if layer.macs is None else layer.macs(t, out, ins)


def numel(shapes: list) -> int:
    """The values in all of ``shapes``."""
    return sum(size(s) for s in shapes)


def size(shape: tuple[int, ...]) -> int:
    """The number of values in a tensor of ``shape``; ``()`` holds one."""
    n = 1
    for d in shape:
        n *= d
    return n


# --- helpers shared by entries ---------------------------------------------------------------


def _last(shape: Shape) -> object:
    return shape[-1]


def _channels(shape: Shape) -> object:
    return shape[1]


def _no_tensors(a: dict) -> tuple[TensorSpec, ...]:
    return ()


def _weight_bias(weight: tuple, bias: object = None) -> tuple[TensorSpec, ...]:
    """``weight`` of the given dims, then a ``bias`` of ``bias`` values unless it is falsy.

    >>> _weight_bias((8, 2), 8)
    (('weight', (8, 2), True), ('bias', (8,), True))
    """
    out = (("weight", tuple(int(d) for d in weight), True),)
    return out + ((("bias", (int(bias),), True),) if bias else ())


def _same(a: dict, x: Shape) -> Shape:
    return x


def _dim_index(a: dict, name: str, rank: int) -> int:
    """The dim argument ``name`` as a non-negative index into a rank-``rank`` input.

    >>> _dim_index({"end_dim": -1}, "end_dim", 4)
    3
    >>> _dim_index({"dim": 4}, "dim", 4)
    Traceback (most recent call last):
    ...
    nndsl.ir.shapes.ShapeError: dim 4 is out of range for a 4-D tensor
    """
    try:
        return normalize_dim(a[name], rank)
    except ShapeError as e:
        raise ShapeError(e.message.replace("dim", name, 1), help=e.help, arg=name) from None


def _tuple(a: dict, name: str, n: int) -> tuple:
    """The int-or-tuple argument ``name`` expanded to ``n`` values, blaming ``name`` when it
    cannot be."""
    try:
        return ntuple(a[name], n)
    except ShapeError as e:
        raise ShapeError(f"{name}: {e.message}", help=f"give one value or {n}", arg=name) from None


def _window(size: object, kernel: int, stride: int, padding: int, dilation: int = 1) -> object:
    """``conv_out`` with the error pointed at ``kernel_size``."""
    try:
        return conv_out(size, kernel, stride, padding, dilation)
    except ShapeError as e:
        raise ShapeError(e.message, help=e.help, arg="kernel_size") from None


def _check(ok: bool, message: str, arg: str | None = None, help: str | None = None) -> None:
    if not ok:
        raise ShapeError(message, help=help, arg=arg)


def _elementwise(
    name: str,
    doc: str,
    *args: Arg,
    functional: str | None = None,
    positional: int = 0,
    example: str = "",
    **facts,
) -> Layer:
    """An entry for a parameterless layer that keeps the input shape; ``facts`` are further
    fields (``clips``, ``traits``...)."""
    return Layer(
        name=name,
        args=args,
        positional=positional,
        layout="(B, *)",
        shape=_same,
        tensors=_no_tensors,
        functional=functional,
        doc=doc,
        example=example or f"{name}()",
        **facts,
    )
