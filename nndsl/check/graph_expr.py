"""The expressions of a graph-style forward: each gets a type from
:mod:`nndsl.registry.operators` and :mod:`nndsl.registry.functions`, and an :mod:`nndsl.ir.expr`
expression. Also the state of a forward under construction (:class:`Graph`) and its names."""

from __future__ import annotations

from dataclasses import dataclass, field

from nndsl.check.bind import eval_diag
from nndsl.check.flow import Scope, Shared
from nndsl.check.forward_types import POISON, Maybe, index_item, op_span
from nndsl.diagnostics.core import Label, Reported
from nndsl.ir import expr as ex
from nndsl.ir.shapes import MissingArgument, ShapeError, fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.registry.functions import FUNCTIONS
from nndsl.registry.layers import REGISTRY
from nndsl.registry.operators import binary, index, unary
from nndsl.util.naming import suggest


@dataclass
class Binding:
    """A name bound in a forward; ``sources`` are the bindings a loop merged into this one."""

    expr: ex.Expr
    type: object
    span: s.Span
    used: bool = False
    sources: list = field(default_factory=list)

    def use(self) -> None:
        if not self.used:
            self.used = True
            for b in self.sources:
                b.use()


@dataclass
class Decl:
    """One declaration of a graph body."""

    name: str
    span: s.Span
    kind: str  # "module", "param" or "buffer"
    shared: Shared | None = None  # a module: built at its first call
    repeat: s.RepeatStmt | None = None
    value: Value | None = None  # a parameter or buffer: its type and expression
    extra: tuple = ()  # a module's first call: the shapes of its inputs after the first
    result: object = None  # a module's first call: what it returned
    called: bool = False
    cond: object = None  # declared under an `if`: its nndsl.check.branches.Chosen


@dataclass
class Graph:
    """A forward under construction."""

    scope: Scope
    decls: dict[str, Decl]
    values: dict[str, Binding] = field(default_factory=dict)
    body: list = field(default_factory=list)  # the statements of the block being checked
    stored: set[str] = field(default_factory=set)  # constructor parameters the forward reads
    returned: object = None
    unused: list[tuple[str, s.Span]] = field(default_factory=list)
    # the sizes its inputs carry as symbols (`T`): each one's input, dim and the input's rank
    symbols: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    sizes: dict[str, None] = field(default_factory=dict)  # the symbols read, in order
    device: ex.Expr | None = None  # where tensors it creates go: its first input's device
    skipped: bool = False  # this use left a branch of an `if` unchecked
    rest: bool = False  # a branch returned: the statements after it do not run at this use


class ExprRules:
    """The expressions of a forward (mixed into :class:`nndsl.check.checker.Checker`)."""

    def _fx(self, e, g: Graph) -> Value:
        """The typed value of a forward expression; reports and raises Reported on errors."""
        value = self._typed(e, g)
        if self.rec.frames:
            self.rec.fx(e, value, g)
        return value

    def _typed(self, e, g: Graph) -> Value:
        try:
            match e:
                case s.Num() | s.Str() | s.Const():
                    return evaluate(e, {})
                case s.Name():
                    return self._fname(e, g)
                case s.BinOp(op=op, left=left, right=right):
                    a, b = self._fx(left, g), self._fx(right, g)
                    self._no_maybe((a, left), (b, right))
                    try:
                        return binary(op, a, b)
                    except ShapeError as err:
                        shown = [
                            (n, v) for n, v in ((left, a), (right, b)) if isinstance(v.py, Tensor)
                        ]
                        labels = tuple(Label(n.span, fmt_shape(v.py.shape)) for n, v in shown)
                        self._op_error(err, e, labels if err.arg is None else ())
                        raise Reported from None
                case s.Unary(op=op, operand=operand):
                    a = self._fx(operand, g)
                    self._no_maybe((a, operand))
                    return unary(op, a)
                case s.TupleLit(items=items) | s.ListLit(items=items):
                    vals = [self._fx(i, g) for i in items]
                    exprs = tuple(v.expr for v in vals)
                    if isinstance(e, s.ListLit):
                        return Value([v.py for v in vals], ex.List(exprs))
                    return Value(tuple(v.py for v in vals), ex.Tuple(exprs))
                case s.Index(value=base, items=items):
                    b = self._fx(base, g)
                    self._no_maybe((b, base))
                    return index(b, tuple(self._index_item(x, g) for x in items))
                case s.CallExpr():
                    return self._fcall(e, g)
        except ShapeError as err:
            self._op_error(err, e)
            raise Reported from None
        except EvalError as err:
            self.diags.append(eval_diag(err))
            raise Reported from None
        raise TypeError(e)

    def _index_item(self, item, g: Graph):
        return index_item(item, lambda node: self._fx(node, g))

    def _op_error(self, err: ShapeError, e, labels: tuple = ()) -> None:
        span = op_span(err, e)
        code = "E0103" if isinstance(err, MissingArgument) else "E0303"
        self._error(code, err.message, span, labels=labels, help=err.help)

    def _fname(self, e: s.Name, g: Graph) -> Value:
        name = e.id
        if "." in name:
            return self._param_ref(e, g)
        b = g.values.get(name)
        if b is not None:
            b.use()
            if b.type is POISON:
                raise Reported
            return Value(b.type, b.expr)
        decl = g.decls.get(name)
        if decl is not None and decl.value is not None:
            decl.called = True
            return decl.value
        if decl is not None:
            self._error(
                "E0120", f"`{name}` is a layer; call it", e.span, help=f"write `{name}(...)`"
            )
            raise Reported
        if name in g.scope.env:
            v = g.scope.env[name]
            if not isinstance(v.expr, ex.Name):  # a model's `in`: a literal
                return v
            g.stored.add(v.expr.id)
            return Value(v.py, ex.self_attr(v.expr.id))
        if name in g.symbols:
            return self._size_value(name, g)
        hint = suggest(name, list(g.values) + list(g.decls) + list(g.scope.env) + list(g.symbols))
        if name in REGISTRY or name in FUNCTIONS:
            hint = f"`{name}` is a {'layer' if name in REGISTRY else 'function'}; call it"
        self._error("E0108", f"`{name}` is not defined", e.span, help=hint)
        raise Reported

    def _no_maybe(self, *pairs) -> None:
        for v, node in pairs:
            if isinstance(v.py, Maybe):
                self._maybe_error(node)

    def _maybe_error(self, node) -> None:
        self._error(
            "E0309",
            "this input may be none here",
            node.span,
            help="an optional input can only be passed on as a recurrent layer's state",
        )
        raise Reported
