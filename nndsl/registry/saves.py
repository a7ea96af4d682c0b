"""What autograd keeps of a call for its backward, as data: the ``saves`` of a layer, function,
operator or loss entry, which ``nndsl summary --train`` sums (:mod:`nndsl.tools.memory_saved`).

A :class:`Saved` names one tensor (or several alike) that the call's backward needs: one of its
inputs or its output (the same tensor another call may keep too, counted once), or a fresh
tensor whose size is given in units of the call's sizes. The units (``size``):

- ``input``, ``output``: the values of the (first) input, of the output;
- ``channels``: C, the input's dim 1; ``instances``: B * C; ``groups``: B * num_groups;
  ``rows``: the input's values over those of ``normalized_shape`` (a layer norm's rows);
- ``padded``: the input padded as a convolution with a ``padding_mode`` other than zeros pads it;
- ``weights``: the layer's own parameters (under autocast, the half-precision copies it keeps);
- recurrent layers (input (B, T, I), H = hidden_size, summed over layers and directions):
  ``steps`` B * T * H, ``states`` B * (T + 1) * H, ``wide`` B * (T + 1) * max(I, H) with I a
  layer's input width, ``hidden`` B * H, ``layer inputs`` the input once per direction and each
  later layer's input, ``layer outputs`` the outputs of every layer but the last;
- attention (query (B, L, E), keys S long, h heads, F = dim_feedforward): ``scores``
  B * h * L * S, ``self scores`` B * h * L * L, ``keys`` the values of the second input (a
  decoder's memory), ``head rows`` B * h * L, ``ff`` B * L * F, ``tokens`` B * L.

``dtype`` is the fresh tensor's: "" the call's own (the input's, or what autocast computes it
in), ``float32``, ``int64``, ``bool``, or ``mask``: a dropout mask, bool on CUDA and in the
input's dtype on the CPU. ``when`` says when it is kept (empty: whenever autograd records the
call, that is when an input or a parameter of it needs a gradient): ``trained`` its parameters
train; ``input grad`` its input needs a gradient; ``other grad`` (an operator's operand) the
other operand needs one; ``dropping`` its dropout probability is above 0, ``no dropout`` it is
0; ``undropped gelu`` a Transformer block's activation is gelu (which keeps its input) and its
dropout 0; ``affine`` it has parameters; ``tracking`` it tracks running statistics; ``zero
padded``, ``padded``: its padding_mode is zeros, is not; ``reflected`` it is reflect or replicate
and its input needs a gradient; ``partial`` an adaptive pooling to more than one value a
channel. ``device`` is ``cpu`` or ``cuda`` for what only that device's kernels keep. ``index``
picks one input (-1: each).
"""

from __future__ import annotations

from nndsl.util.frozen import frozen


@frozen
class Saved:
    """One tensor, or ``count`` alike, that autograd keeps of a call for its backward."""

    what: str  # input, output, new
    size: str = ""  # for a new tensor: its unit, see the module's docstring
    count: float = 1
    dtype: str = ""
    when: str = ""
    device: str = ""
    index: int = -1


INPUT = (Saved("input"),)
OUTPUT = (Saved("output"),)
TRAINED_INPUT = (Saved("input", when="trained"),)  # a matmul keeps its input for the weights
INPUT_AND_COPY = (Saved("input"), Saved("new", "input"))
NORM_STATS = (Saved("new", "channels", 2, "float32"),)  # a batch norm's mean and inverse std
MAX_INDICES = (Saved("input"), Saved("new", "output", dtype="int64"))
HALF_WEIGHTS = Saved("new", "weights", when="input grad")  # under autocast only

# An optimizer's state (its Spec's ``state``): (argument, tensors a trainable parameter), ""
# always, else when that argument is true or above 0: Adam's exp_avg and exp_avg_sq, and
# max_exp_avg_sq with amsgrad. A loss's ``saves`` name each operand "input"; every loss runs in
# float32 under autocast.
ADAM_STATE = (("", 2), ("amsgrad", 1))
