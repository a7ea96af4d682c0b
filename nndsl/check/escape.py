"""The escape hatch: a torch module or function the registry lacks, named in full
(``torch.nn.Hardtanh(-2, 2) -> same``, ``torch.flip(x, [1]) -> same``), and a class imported
from a Python file beside the .nn (:mod:`nndsl.check.imports`), each with the output shape its
use declares. The checker knows every shape from the declaration, and the generated forward
checks it when it runs. Nothing here imports torch or the user's file: a torch name is judged
by its spelling."""

from __future__ import annotations

import re
from dataclasses import fields, is_dataclass

from nndsl.check.bind import eval_diag
from nndsl.check.flow import Built, Flow
from nndsl.check.record import recorded
from nndsl.diagnostics.core import Diagnostic, Reported
from nndsl.ir import expr as ex
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import Dim
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s

HELPER = "checked_shape"  # the generated module's function that checks a declared shape
SAME = "same"
SHAPE_FORMS = "`-> same` (the shape of its input) or `-> [64, 8, 8]` (the batch left out)"


def torch_problem(name: str, kind: str) -> str | None:
    """Why ``name`` cannot be a torch ``module`` (``torch.nn.Hardtanh``) or ``function``
    (``torch.nn.functional.elu``, ``torch.flip``), judged by its spelling alone; None if it can.

    >>> torch_problem("torch.nn.Hardtanh", "module") is None
    True
    >>> torch_problem("torch.nn.functional.elu", "module")
    '`torch.nn.functional.elu` is a function: call it in a forward, with its output shape'
    """
    parts = name.split(".")
    if parts[0] != "torch":
        return f"`{name}` is not torch's: only `torch.` names can be used without an import"
    if any(p.startswith("_") for p in parts):
        return f"`{name}` is private to torch"
    last = parts[-1]
    if kind == "module":
        if len(parts) < 3 or parts[1] != "nn" or not last[0].isupper():
            if last[0].islower():
                return f"`{name}` is a function: call it in a forward, with its output shape"
            return f"`{name}` is not a module of `torch.nn`, such as `torch.nn.Hardtanh`"
        return None
    if last[0].isupper():
        return f"`{name}` is a module: declare it above the forward, then call it"
    return None


def emitted(name: str) -> str:
    """A torch name as generated code writes it, with the module's own imports.

    >>> emitted("torch.nn.functional.elu"), emitted("torch.nn.Hardtanh"), emitted("torch.flip")
    ('F.elu', 'nn.Hardtanh', 'torch.flip')
    """
    for prefix, short in (("torch.nn.functional.", "F."), ("torch.nn.", "nn.")):
        if name.startswith(prefix):
            return short + name[len(prefix) :]
    return name


class EscapeRules:
    """Torch modules and functions by name, and imported classes (mixed into
    :class:`nndsl.check.checker.Checker`)."""

    @recorded("escape", "after")
    def _escape(self, call: s.Call, flow: Flow, scope, attr: str | None) -> Built | None:
        """A torch module or an imported class where a body uses it."""
        name = call.name
        imported = name in self.imported
        why = None if imported else torch_problem(name, "module")
        if why is not None:
            self._error("E0131", why, call.name_span, help=self._torch_help(name))
            return None
        if call.shape is None:
            self._no_shape(name, call.span)
            return None
        if flow.shape is None:
            return None
        args = self._escape_args(call, scope.env)
        shape = self._declared(call.shape, flow.shape, scope.env)
        if args is None or shape is None:
            return None
        what = f"{attr} ({name})" if attr else name
        sizes = self._stack_sizes(shape, flow.shape, call.shape, scope)
        check = ir.ShapeCheck(sizes, call.span.line, what)
        return Built(
            ir.LayerNew(name if imported else emitted(name), args),
            flow.then(shape, flow.dtype, call.span),
            0,
            name,
            declared=check,
        )

    def _torch_help(self, name: str) -> str | None:
        if name.startswith("torch."):
            return None
        return (
            "for a class of your own, import it from a Python file beside the .nn: "
            '`from "layers.py" import MyLayer`'
        )

    def _no_shape(self, name: str, span: s.Span) -> None:
        self._error(
            "E0132",
            f"`{name}` needs its output shape declared: nndsl does not know it",
            span,
            help=f"write `{self._text(span)} -> same` for a layer that keeps the shape of its "
            "input, or `-> [sizes]` without the batch",
        )

    def _escape_args(self, call: s.Call, env: dict) -> tuple[ir.Arg, ...] | None:
        """The arguments as written, evaluated as a registry layer's are: literals, formulas
        of the block's parameters."""
        out, ok, keyword = [], True, False
        for a in call.args:
            if a.name is None and keyword:
                self._error("E0104", "a positional argument after a keyword argument", a.span)
                return None
            keyword = keyword or a.name is not None
            try:
                out.append(ir.Arg(a.name, evaluate(a.value, env).expr))
            except EvalError as err:
                self.diags.append(eval_diag(err))
                ok = False
        names = [a.name for a in call.args if a.name is not None]
        for i, n in enumerate(names):
            if n in names[:i]:
                span = [a for a in call.args if a.name == n][1].span
                self._error("E0105", f"`{n}` is given twice", span)
                ok = False
        return tuple(out) if ok else None

    def _declared(self, node, shape: tuple, env: dict) -> tuple | None:
        """The shape declared after ``->`` for a layer receiving ``shape``."""
        if isinstance(node, s.Name) and node.id == SAME:
            return shape
        if not isinstance(node, s.ListLit) or not node.items:
            self._bad_shape("a declared shape is `same` or a list of sizes", node.span)
            return None
        symbols = {d for d in shape if isinstance(d, str)} | {"B"}
        dims: list = []
        for item in node.items:
            dim = self._declared_dim(item, symbols, env)
            if dim is None:
                return None
            if dim == "B" and "B" in dims:
                self._bad_shape("`B` (the batch) appears twice", item.span)
                return None
            dims.append(dim)
        if "B" not in dims:
            dims.insert(0, "B")
        return tuple(dims)

    def _declared_dim(self, item, symbols: set, env: dict):
        """One size of a declared shape: a number or formula of parameters (a Dim), or a
        symbol of the input's shape (``B``, ``T``); None after a diagnostic."""
        if isinstance(item, s.Name) and item.id not in env and item.id in symbols:
            return item.id
        try:
            v = evaluate(item, env)
        except EvalError as err:
            if err.code == "E0108":
                sizes = ", ".join(sorted(symbols))
                err.help = f"a size is a number, a parameter, or a size of the input: {sizes}"
            self.diags.append(eval_diag(err))
            return None
        if isinstance(v.py, bool) or not isinstance(v.py, int) or v.py < 1:
            self._bad_shape(f"a declared size is a positive integer, not {v.text}", item.span)
            return None
        text = ex.formula_text(v.expr)
        return Dim(v.py, text if text is not None and not text.isdigit() else None)

    def _bad_shape(self, message: str, span: s.Span) -> None:
        self._error("E0133", message, span, help=f"declare it as {SHAPE_FORMS}")

    # ---- in a forward ---------------------------------------------------------------------

    def _torch_call(self, e: s.CallExpr, g) -> Value:
        """``torch.flip(x, [1]) -> same``: a torch function, with the shape its call declares
        (of its first tensor argument for ``same``) and that tensor's dtype."""
        name = e.func.id
        why = torch_problem(name, "function")
        if why is not None:
            self._error("E0131", why, e.func.span, help=self._torch_help(name))
            raise Reported
        if e.declared is None:
            self._no_shape(name, e.span)
            raise Reported
        named = [a for a in e.args if a.name is not None]
        if named and e.args[-len(named) :] != tuple(named):
            self._error("E0104", "a positional argument after a keyword argument", e.span)
            raise Reported
        args = [self._fx(a.value, g) for a in e.args if a.name is None]
        kwargs = tuple((a.name, self._fx(a.value, g)) for a in named)
        self._no_maybe(*[(v, a.value) for v, a in zip([*args, *(v for _, v in kwargs)], e.args)])
        tensors = [v.py for v in args + [v for _, v in kwargs] if isinstance(v.py, Tensor)]
        if not tensors:
            self._error(
                "E0133",
                f"`{name}` is given no tensor: a declared shape needs one",
                e.span,
                help="its output has the dtype of its first tensor argument (`same`: its shape)",
            )
            raise Reported
        first = tensors[0]
        shape = self._forward_shape(e.declared, first.shape, g)
        call = ex.Call(
            ex.dotted(emitted(name)),
            tuple(v.expr for v in args),
            tuple((k, v.expr) for k, v in kwargs),
        )
        return Value(Tensor(shape, first.dtype), self._checked(call, shape, e.span.line, name, g))

    def _forward_shape(self, node, first: tuple, g) -> tuple:
        """A declared shape in a forward: its sizes are numbers, parameters and the sizes the
        forward reads from its inputs (``B``, ``T``)."""
        if isinstance(node, s.Name) and node.id == SAME:
            return first
        if not isinstance(node, s.ListLit) or not node.items:
            self._bad_shape("a declared shape is `same` or a list of sizes", node.span)
            raise Reported
        dims: list = []
        for item in node.items:
            v = self._fx(item, g)
            if isinstance(v.py, str):  # a size read from an input: `T`
                dim = str(v.py)
            elif isinstance(v.py, bool) or not isinstance(v.py, int) or v.py < 1:
                self._bad_shape(f"a declared size is a positive integer, not {v.text}", item.span)
                raise Reported
            else:
                text = ex.formula_text(v.expr)
                text = None if text is None or text.isdigit() else text.replace("self.", "")
                dim = Dim(v.py, text)
            if dim == "B" and "B" in dims:
                self._bad_shape("`B` (the batch) appears twice", item.span)
                raise Reported
            dims.append(dim)
        if "B" not in dims:
            dims.insert(0, "B")
        return tuple(dims)

    def _checked(self, value: ex.Expr, shape: tuple, line: int, what: str, g) -> ex.Expr:
        """``checked_shape(value, (B, 64), line, what)``: the value, once the forward has found
        it of the declared shape; a size the forward cannot read is None, any size, and one
        computed from the block's parameters reads them from ``self``."""
        sizes = []
        for d in shape:
            if isinstance(d, str) and d in g.symbols:
                sizes.append(self._size_value(d, g).expr)
            elif isinstance(d, int):
                kept = _on_self(d, g.scope.env)
                if kept is not None:
                    g.stored.update(kept[0])
                sizes.append(ex.Lit(int(d)) if kept is None else kept[1])
            else:
                sizes.append(ex.NONE)
        return ex.Call(ex.Name(HELPER), (value, ex.Tuple(tuple(sizes)), ex.Lit(line), ex.Lit(what)))

    def _stack_sizes(self, shape: tuple, given: tuple, node, scope) -> tuple | None:
        """A stack's check of a declared shape: None for ``same`` (the input's own shape), else
        per dim an int, a size formula of the parameters the class keeps, the index of the
        input's dim of that symbol (``B``: 0), or None."""
        if isinstance(node, s.Name):
            return None
        out = []
        kept_names = {m.attr for m in scope.members if m is not None}
        for d in shape:
            if isinstance(d, str):
                out.append(("dim", given.index(d)) if d in given else None)
                continue
            kept = _on_self(d, scope.env)
            if kept is None:
                out.append(int(d))
                continue
            for name in kept[0]:
                if name not in kept_names:
                    kept_names.add(name)
                    scope.members.append(ir.Member(name, ir.Stored(name)))
            out.append(kept[1])
        return tuple(out)


def stray_declarations(items: tuple) -> list[Diagnostic]:
    """E0133 for each ``-> shape`` in a data or train section, where no call declares one."""
    out, todo = [], [i for i in items if isinstance(i, (s.Data, s.Train))]
    while todo:
        node = todo.pop()
        if isinstance(node, tuple):
            todo.extend(node)
            continue
        if not is_dataclass(node) or isinstance(node, s.Span):
            continue
        if isinstance(node, s.CallExpr) and node.declared is not None:
            out.append(
                Diagnostic(
                    "E0133",
                    "a declared shape belongs to a torch function called in a forward",
                    node.declared.span,
                    help="remove `-> ...`",
                )
            )
        todo.extend(getattr(node, f.name) for f in fields(node))
    return out


_WORD = re.compile(r"[A-Za-z_]\w*")


def _on_self(d, env: dict) -> tuple[set[str], ex.Formula] | None:
    """A size computed from constructor parameters (``planes * 2``), read from the attributes
    the class keeps of them (``self.planes * 2``), with those parameters; None for another."""
    text = getattr(d, "expr", None)
    if not text or text.isdigit():
        return None
    params = {v.expr.id for v in env.values() if isinstance(v.expr, ex.Name)}
    names = set(_WORD.findall(text))
    if not names or not names <= params:
        return None
    return names, ex.Formula(_WORD.sub(lambda m: f"self.{m.group()}", text))
