"""The typed IR the checker produces and the code generator reads.

Everything here is resolved: every constructor argument is known, as an expression
(:mod:`nndsl.ir.expr`), every shape is known, every name is legal and unique; a graph-style
forward is a body of statements. Nodes are frozen and compare by value, which is how
identical block specialisations share one generated class. Only :mod:`nndsl.codegen` writes
any of it as Python.
"""

from __future__ import annotations

from dataclasses import field

from nndsl.ir.expr import UNSEEN, Expr, Shown, ShownType, Stmt, Unseen  # noqa: F401
from nndsl.ir.graph import Dataflow
from nndsl.ir.sequences import CondItems, CondNew, SeqNew, Splice  # noqa: F401
from nndsl.ir.shapes import fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.train_program import ConfigField, DataCode, TrainIR  # noqa: F401
from nndsl.util.frozen import frozen


@frozen
class Arg:
    """One emitted constructor argument; ``name`` is None when emitted positionally."""

    name: str | None
    value: Expr


@frozen
class LayerNew:
    """``nn.Linear(2, 8)``: a registry layer's constructor."""

    ctor: str
    args: tuple[Arg, ...]


@frozen
class BlockNew:
    """``Block1(4, width=8)``: an instance of a generated block class."""

    class_name: str
    args: tuple[Arg, ...]


@frozen
class SharedRef:
    """A shared module used inside a repeat: ``self.tied``."""

    attr: str


@frozen
class RepeatNew:
    """``nn.Sequential(*(... for i in range(n)))``; ``items`` make one iteration. A ``count`` of
    None writes the iterations out, each of ``items`` a RepeatNew of one."""

    count: Expr | None
    var: str
    items: tuple[ModuleNew, ...]
    lists: tuple[tuple[str, Expr], ...] = ()  # hoisted per-iteration values: sizes = [4, 8, 16]


@frozen
class TensorNew:
    """A tensor a custom layer owns: ``nn.Parameter(torch.randn(in_features, units))``, or for a
    buffer the ``torch.rand(20, 20)`` that ``register_buffer`` keeps."""

    kind: str  # "param" or "buffer"
    init: str  # the torch creation function: randn, rand, zeros, ones
    dims: tuple[Expr, ...]


@frozen
class Stored:
    """A constructor parameter the forward reads, kept as ``self.<name> = <name>``."""

    name: str


@frozen
class Tied:
    """Another module's parameter, assigned to this one's (``self.head.weight =
    self.wte.weight``): one parameter, shared."""

    path: str  # the parameter's path under ``self``: ``wte.weight``


IDENTITY = LayerNew("nn.Identity", ())


ModuleNew = (
    LayerNew | BlockNew | SharedRef | RepeatNew | TensorNew | Stored | Tied | SeqNew | CondNew
)


@frozen
class Member:
    """One ``self.<attr> = <module>`` line of ``__init__``."""

    attr: str
    module: ModuleNew


@frozen
class ShapeCheck:
    """The output shape a torch module or an imported class is declared to return (``-> same``,
    ``-> [64, 8, 8]``), which the generated forward checks when it runs. ``sizes``: one per
    dim, an int, a size formula of the parameters the class keeps (``self.planes``),
    ``("dim", i)`` for the size of the input's dim ``i`` (a symbol such as ``B``), or None for
    any size; None for the input's own shape (``same``). ``line``: the source line; ``text``
    names the layer in the message."""

    sizes: tuple | None
    line: int
    text: str


@frozen
class Import:
    """``from layers import MyNorm``: classes of a Python file beside the source."""

    module: str
    names: tuple[str, ...]


@frozen
class Step:
    """One line of a stack-style ``forward``.

    ``target`` is the module attribute called (``fc1``) or None for a functional call ``func``
    (``F.relu``) with ``args``; ``call`` is ``tensor``, ``rnn`` or ``attention``. ``shape`` is the
    output shape its comment shows, ``changed`` says whether it differs from the input.
    A module is called with the input ``inputs`` times (self-attention: query, key and value),
    then the keyword arguments ``kwargs`` (``need_weights=False``).
    """

    target: str | None
    func: str | None
    args: tuple[Arg, ...]
    call: str
    shape: Shown
    changed: bool
    line: int
    inputs: int = 1
    kwargs: tuple[Arg, ...] = ()
    check: ShapeCheck | None = None  # a declared output shape, checked when the forward runs


@frozen
class ParamDecl:
    """A constructor parameter of a generated block class."""

    name: str
    annotation: str
    default: Expr | None


@frozen
class InputDecl:
    """A parameter of a graph-style ``forward``; an optional one defaults to None."""

    name: str
    optional: bool = False


@frozen
class ClassDef:
    """One generated ``nn.Module`` subclass.

    A stack-style class has ``steps``; a graph-style one has ``inputs`` and ``body``: the
    statements of its forward (:mod:`nndsl.ir.expr`), and ``returns``, the return annotation.
    ``in_shape`` holds the shown type of each input, ``out_shape`` that of what it returns.
    """

    name: str
    params: tuple[ParamDecl, ...]
    members: tuple[Member, ...]
    input: str
    steps: tuple[Step, ...]
    doc: str
    in_shape: tuple[ShownType, ...]
    out_shape: ShownType
    inputs: tuple[InputDecl, ...] = ()
    body: tuple[Stmt, ...] = ()
    returns: str = "torch.Tensor"
    # a block that is a sequence (`block Stem = Sequential { ... }`): the class is an
    # nn.Sequential of ``items`` (as :class:`SeqNew` has them), with no forward of its own
    items: tuple | None = None


@frozen
class Row:
    """One line of the summary table: a module path (or a functional call), its type,
    output shape and trainable parameters (0 for a later use of a shared module).

    The rest feeds :mod:`nndsl.check.parameters`. ``tensors``: the module's own parameters and
    buffers as ``(kind, shape, trainable)`` in torch's order, on every use of it (a block's are on
    the rows of its layers); a ``Parameter`` or ``Buffer`` row holds its one tensor, its kind the
    row's last name. ``slot``: where the module is registered among its class's members.
    ``alias``: for a use of a shared module inside a repeat, the attribute torch registers it
    under, in the class that holds the repeat. ``tied``: the kinds of its tensors that are
    another module's (``weight=wte.weight``), counted and listed there. ``line``: the source
    line that declares it.
    ``shape``: the output shape, a tuple of dims (an int, a symbol such as ``"B"``, or None where
    unknown), or for a block or model returning several values a :class:`Results` of those (None
    for a value that is not a tensor); :attr:`shape_text` writes it. ``inputs``: the shapes the
    module receives, for ``nndsl summary``."""

    path: str
    type: str
    shape: tuple
    params: int
    shared: bool = False
    depth: int = 0
    tensors: tuple[tuple[str, tuple[int, ...], bool], ...] = ()
    slot: int = 0
    alias: str = ""
    line: int = 0
    inputs: tuple[tuple, ...] = ()
    tied: tuple[str, ...] = ()  # kinds among ``tensors`` that are another module's parameter
    counted: bool = True  # False: a torch module's or imported class's, not known to nndsl

    @property
    def shape_text(self) -> str:
        """The output shape as the layer table writes it: ``(B, 8)``, ``((B, 1), (B, 8))``."""
        return shape_text(self.shape)


class Results(tuple):
    """The shapes of the values a block or model returns (a :attr:`Row.shape`), told apart from
    one tensor's shape."""


def row_shape(value) -> object:
    """A returned value's shape for a row: a tensor's shape, :class:`Results` for a tuple, None
    for anything else."""
    if isinstance(value, tuple):
        return Results(row_shape(x) for x in value)
    return value.shape if isinstance(value, Tensor) else None


def shape_text(shape) -> str:
    """A row's shape as text; a value that is not a tensor is written as nothing.

    >>> shape_text(("B", 8)), shape_text(Results([("B", 1), (Results([None]))]))
    ('(B, 8)', '((B, 1), ())')
    """
    if isinstance(shape, Results):
        return "(" + ", ".join(shape_text(x) for x in shape) + ")"
    return "" if shape is None else fmt_shape(shape)


@frozen
class TensorInfo:
    """A tensor a model takes or returns: its shape (dims: int, "B" or another symbol) and
    dtype; an optional input may be None."""

    shape: tuple
    dtype: str
    name: str = ""
    optional: bool = False


@frozen
class ModelInfo:
    """What ``nndsl check`` reports about one model; ``returns`` is a TensorInfo or a tuple
    (nested as the forward returns it)."""

    name: str
    inputs: tuple[TensorInfo, ...]
    returns: object
    rows: tuple[Row, ...]
    total_params: int

    @property
    def input_shape(self) -> tuple:
        return self.inputs[0].shape

    @property
    def input_dtype(self) -> str:
        return self.inputs[0].dtype

    @property
    def output_shape(self) -> tuple:
        return self.returns.shape

    @property
    def output_dtype(self) -> str:
        return self.returns.dtype


@frozen
class DataTable:
    """A checked data section as ``nndsl check`` lists it: each tensor with its shape and dtype,
    in the order the section defines them."""

    name: str
    samples: int | None
    tensors: tuple[tuple[str, tuple, str], ...]  # (name, shape, dtype)
    stream: bool = False


@frozen
class ProgramIR:
    classes: tuple[ClassDef, ...]  # dependencies first
    models: tuple[ModelInfo, ...]
    trains: tuple[TrainIR, ...] = ()
    # each model's dataflow by name (nndsl.ir.graph); not part of what compares
    graphs: Dataflow = field(default_factory=Dataflow, compare=False)
    datas: tuple[DataTable, ...] = ()  # every data section, in the order of the file
    imports: tuple[Import, ...] = ()  # classes of Python files beside the source
