"""What a forward reads besides its values: the sizes of its inputs known only at run time
(``T``, ``B``), which the generated forward reads once at its top (``B, T = idx.shape``); and
the parameters of the layers a body declares (``wte.weight``), which a forward reads and a
layer may tie to (``head = Linear(65, bias=false, weight=wte.weight)``: one parameter, counted
once, registered by the layer declared first)."""

from __future__ import annotations

from dataclasses import replace

from nndsl.check.flow import Built, Scope
from nndsl.check.graph_expr import Graph
from nndsl.check.parameters import TENSOR_ROWS
from nndsl.diagnostics.core import Fix, Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim, Size, fmt_shape
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import Value
from nndsl.lang import syntax as s
from nndsl.registry.layer_base import size
from nndsl.util.naming import local, suggest


def split_ties(call: s.Call) -> tuple[s.Call, tuple[s.Arg, ...]]:
    """A layer's call without its ties (``weight=wte.weight``: a keyword whose value is a dotted
    name), and the ties."""
    ties = tuple(a for a in call.args if a.name is not None and _dotted(a.value))
    if not ties:
        return call, ()
    return replace(call, args=tuple(a for a in call.args if a not in ties)), ties


def _dotted(e) -> bool:
    return isinstance(e, s.Name) and "." in e.id


def tensors_in(scope: Scope) -> dict[str, tuple[tuple, bool, int]]:
    """Every parameter and buffer of the modules built in ``scope`` so far, by its path
    (``wte.weight``, ``block.fc.bias``): its shape, whether it is trained, and the registration
    slot of the top-level module holding it. A later use of a shared module lists nothing new."""
    found: dict[str, tuple[tuple, bool, int]] = {}
    tops: dict[str, int] = {}
    for row in scope.rows:
        if not row.path:
            continue
        if row.depth == 0:
            tops.setdefault(row.path, row.slot)
        slot = tops.get(row.path.partition(".")[0], row.slot)
        for kind, shape, trainable in row.tensors:
            path = row.path if row.type in TENSOR_ROWS else f"{row.path}.{kind}"
            found.setdefault(path, (tuple(shape), trainable, slot))
    return found


class RefRules:
    """Sizes, parameter references and ties (mixed into :class:`nndsl.check.checker.Checker`)."""

    # ---- sizes read from the inputs -------------------------------------------------------

    def _input_sizes(self, g: Graph, inputs: list) -> None:
        """The symbols of the inputs' shapes a forward may read, and where it creates tensors:
        from the inputs that are always given (an optional one may be None)."""
        for name, t, _span, optional in inputs:
            if optional or name not in g.values:
                continue
            here = g.values[name].expr
            if g.device is None:
                g.device = ex.Attr(here, "device")
            for i, d in enumerate(t.shape):
                if isinstance(d, str) and d.isidentifier():
                    g.symbols.setdefault(d, (here.id, i, len(t.shape)))

    def _size_value(self, name: str, g: Graph) -> Value:
        g.sizes[name] = None
        return Value(Size(name), ex.Name(local(name)))

    def _size_reads(self, g: Graph) -> list[ex.Assign]:
        """The statements that read the sizes a forward uses, at its top: ``T = idx.shape[1]``,
        or ``B, T = idx.shape`` (``x.shape[:2]``) for leading dims read together."""
        by_input: dict[str, list[tuple[int, str]]] = {}
        for name in g.sizes:
            source, i, _ = g.symbols[name]
            by_input.setdefault(source, []).append((i, name))
        out: list[ex.Assign] = []
        for source, used in by_input.items():
            used.sort()
            shape = ex.Attr(ex.Name(source), "shape")
            rank = next(r for n, (src, _, r) in g.symbols.items() if src == source)
            if len(used) > 1 and [i for i, _ in used] == list(range(len(used))):
                whole = len(used) == rank
                value = shape if whole else ex.Index(shape, (ex.Slice(None, ex.Lit(len(used))),))
                names = tuple(ex.Name(local(n)) for _, n in used)
                out.append(ex.Assign(ex.Tuple(names), value, (None,) * len(names)))
            else:
                out += [
                    ex.Assign(ex.Name(local(n)), ex.Index(shape, (ex.Lit(i),))) for i, n in used
                ]
        return out

    # ---- parameters of declared layers ----------------------------------------------------

    def _param_ref(self, e: s.Name, g: Graph) -> Value:
        """``wte.weight``: a declared layer's parameter (or buffer), once the layer is built."""
        head, _, rest = e.id.partition(".")
        decl = g.decls.get(head)
        if decl is None:
            hint = suggest(head, [n for n, d in g.decls.items() if d.kind == "module"])
            self._error("E0108", f"`{head}` is not a declared layer", e.span, help=hint)
            raise Reported
        if decl.kind != "module":
            what = "parameter" if decl.kind == "param" else "constant"
            self._error(
                "E0120",
                f"`{head}` is a {what} itself",
                e.span,
                help=f"write `{head}`",
                fix=Fix(e.span, head),
            )
            raise Reported
        if decl.shared.module is None:
            self._error(
                "E0120",
                f"`{e.id}` is read before `{head}` is built",
                e.span,
                help=f"a layer is built, with its sizes, at its first call: "
                f"call `{head}(...)` before reading its parameters",
            )
            raise Reported
        found = tensors_in(g.scope).get(e.id)
        if found is None:
            self._no_tensor(head, rest, e.span, g.scope)
        shape, _, _ = found
        dtype = "int64" if rest.endswith("num_batches_tracked") else "float32"
        return Value(Tensor(tuple(Dim(d) for d in shape), dtype), ex.dotted(f"self.{e.id}"))

    def _no_tensor(self, head: str, rest: str, span: s.Span, scope: Scope) -> None:
        prefix = f"{head}."
        inside = [p.removeprefix(prefix) for p in tensors_in(scope) if p.startswith(prefix)]
        # those a dotted name can write: not `body.0.weight`, inside a repeat
        names = [p for p in inside if all(part.isidentifier() for part in p.split("."))]
        hint = suggest(rest, names) or (
            f"its parameters: {', '.join(names)}"
            if names
            else (
                "a repeat's copies have parameters that cannot be named this way"
                if inside
                else f"`{head}` has no parameters"
            )
        )
        self._error("E0108", f"`{head}` has no parameter `{rest}`", span, help=hint)
        raise Reported

    # ---- ties -----------------------------------------------------------------------------

    def _tie(self, built: Built, ties: tuple, call: s.Call, scope: Scope, attr, slot) -> Built:
        """A layer whose parameters are others' (``weight=wte.weight``): each checked for
        shape, left out of its count, and assigned after every module is built. ``slot``: where
        the layer is registered (None: after every module built so far). Reports and raises
        Reported on a mistake."""
        if built.entry is None:
            self._error(
                "E0102",
                f"`{ties[0].name}=` ties a parameter of a built-in layer, and `{call.name}` "
                "is not one",
                ties[0].span,
            )
            raise Reported
        if attr is None:
            self._error(
                "E0119",
                "a layer that ties a parameter needs a name",
                call.span,
                help=f"write `name = {call.name}(...)`",
            )
            raise Reported
        own = {kind: shape for kind, shape, trainable in built.tensors if trainable}
        tied, count = [], 0
        for arg in ties:
            kind, source = arg.name, arg.value.id
            if kind not in own:
                hint = suggest(kind, own) or (
                    f"its parameters: {', '.join(own)}" if own else "it has no parameters"
                )
                self._error(
                    "E0102", f"{call.name} has no parameter `{kind}` to tie", arg.span, help=hint
                )
                raise Reported
            shape = self._tie_source(arg, scope, attr, slot)
            if shape != tuple(own[kind]):
                self._tie_shapes(arg, f"{attr}.{kind}", tuple(own[kind]), shape)
            tied.append(kind)
            count += size(tuple(own[kind]))
            scope.ties.append(ir.Member(f"{attr}.{kind}", ir.Tied(source)))
        return replace(built, params=built.params - count, tied=tuple(tied))

    def _tie_source(self, arg: s.Arg, scope: Scope, attr: str, slot) -> tuple:
        source = arg.value.id
        found = tensors_in(scope).get(source)
        head = source.partition(".")[0]
        if found is None:
            self._error(
                "E0108",
                f"`{source}` is not a parameter of a layer built before `{attr}`",
                arg.value.span,
                help=f"tie to a parameter of a layer declared, and built (called), before "
                f"`{attr}`",
            )
            raise Reported
        shape, trainable, top = found
        if not trainable:
            self._error("E0306", f"`{source}` is a buffer, not a parameter", arg.value.span)
            raise Reported
        if slot is not None and top > slot:
            self._error(
                "E0108",
                f"`{head}` is declared after `{attr}`",
                arg.value.span,
                help=f"declare `{head}` first: the tied parameter keeps the name "
                f"`{source}`, where it is registered first",
            )
            raise Reported
        return shape

    def _tie_shapes(self, arg: s.Arg, target: str, want: tuple, have: tuple) -> None:
        fix = "a tied parameter must have the same shape as the one it ties to"
        if want == have[::-1]:
            fix = "the shapes are transposed: swap the layer's sizes, or read the parameter in "
            fix += f"the forward, `transpose({arg.value.id}, 0, 1)`"
        self._error(
            "E0303",
            f"`{target}` is {fmt_shape(want)} but `{arg.value.id}` is {fmt_shape(have)}",
            arg.span,
            help=fix,
        )
        raise Reported
