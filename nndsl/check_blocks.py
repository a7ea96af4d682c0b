"""Checking block uses: arguments, recursion, elaboration per use, and class sharing.

A block is elaborated once per use, with that use's arguments and input shape. The input size
the block's code reads becomes a constructor parameter (``in_features`` or ``in_channels``), so
one generated class serves every use whose body reads the same; a use that needs different
code gets its own class.
"""

from __future__ import annotations

import re
from dataclasses import replace

from . import ir
from . import syntax as s
from .bind import eval_diag, match_args
from .flow import (
    Built,
    Flow,
    Scope,
    annotation,
    block_input,
    declared_names,
    export_dim,
    input_dims,
)
from .naming import Namespace, local
from .pyexpr import EvalError, Value, evaluate
from .shapes import expr_of


class BlockRules:
    """The block half of the checker (mixed into :class:`nndsl.check.Checker`)."""

    def _block(self, call: s.Call, block: s.Block, flow: Flow, env) -> Built | None:
        self.used_blocks.add(block.name)
        if block.name in self.stack:
            chain = " -> ".join(self.stack[self.stack.index(block.name) :] + [block.name])
            self._error(
                "E0112",
                f"block `{block.name}` uses itself ({chain})",
                call.name_span,
                help="a block cannot contain itself; use `repeat` for repetition",
            )
            return None
        params = self._block_params(block)
        if params is None:
            return None
        names = [p.name for p in block.params]
        bound = match_args(call, names, [], f"block {block.name}", self.diags)
        if bound is None:
            return None
        values: dict[str, Value] = {}
        for p in block.params:
            if p.name in bound:
                try:
                    values[p.name] = evaluate(bound[p.name].value, env)
                except EvalError as err:
                    self.diags.append(eval_diag(err))
                    return None
            elif params[p.name] is None:
                self._error("E0103", f"block `{block.name}` needs the argument `{p.name}`", call.span,
                            help=f"write `{block.name}({p.name}=...)`")  # fmt: skip
                return None
            else:
                values[p.name] = params[p.name]
        if flow.shape is None:
            return None
        inner_env = {p.name: Value(values[p.name].py, local(p.name)) for p in block.params}
        scope = Scope(env=inner_env, ns=Namespace(declared_names(block.body) | set(inner_env)))
        start = Flow(block_input(flow.shape, set(inner_env)), flow.dtype, block.name_span)
        self.stack.append(block.name)
        try:
            out = self._body(block.body, start, scope)
        finally:
            self.stack.pop()
        if out.shape is None:
            return None
        class_name, inferred = self._specialise(block, scope, params, start, out, values)
        dims = input_dims(len(flow.shape))
        args = [ir.ArgCode(None, expr_of(flow.shape[dims[n]])) for n in inferred]
        for position, a in enumerate(call.args):
            pname = a.name or names[position]
            args.append(ir.ArgCode(a.name and local(a.name), values[pname].code))
        mapping = {n: expr_of(flow.shape[i]) for n, i in dims.items()}
        mapping.update({local(p.name): values[p.name].code for p in block.params})
        return Built(
            ir.BlockNew(class_name, tuple(args)),
            Flow(tuple(export_dim(d, mapping) for d in out.shape), out.dtype, call.span),
            scope.params,
            block.name,
            rows=list(scope.rows),
        )

    def _block_params(self, block: s.Block) -> dict[str, Value | None] | None:
        out: dict[str, Value | None] = {}
        for p in block.params:
            if not self._name_ok(p.name, p.span, "local"):
                return None
            if p.name in out:
                self._error("E0109", f"parameter `{p.name}` is declared twice", p.span)
                return None
            if p.default is None:
                out[p.name] = None
                continue
            try:
                out[p.name] = evaluate(p.default, {})
            except EvalError as err:
                self.diags.append(eval_diag(err))
                return None
        return out

    def _specialise(self, block, scope, params, start, out, values) -> tuple[str, list[str]]:
        body = self._class_def(scope, "x", (), start, out, f"block {block.name}")
        text = repr(body)
        dims = input_dims(len(start.shape))
        inferred = [n for n in dims if re.search(rf"\b{n}\b", text) and n not in params]
        decls = [ir.ParamDecl(n, "int", None) for n in inferred]
        for p in block.params:
            default = params[p.name]
            decls.append(
                ir.ParamDecl(local(p.name), annotation(values[p.name].py), default and default.code)
            )
        body = replace(body, params=tuple(decls))
        if body not in self.block_classes:
            name, n = block.name, 1
            while name in self.block_classes.values() or (
                name != block.name and name in self.class_names
            ):
                n += 1
                name = f"{block.name}_{n}"
            self.block_classes[body] = name
            self.class_names.add(name)
            self.out_classes.append(replace(body, name=name))
        return self.block_classes[body], inferred
