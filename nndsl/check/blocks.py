"""Checking block uses: arguments, recursion, elaboration per use, and class sharing.

A block is elaborated once per use, with that use's arguments and input shape. The input size
the block's code reads becomes a constructor parameter (``in_features`` or ``in_channels``), so
one generated class serves every use whose body reads the same; a use that needs different
code gets its own class.
"""

from __future__ import annotations

import re
from dataclasses import replace

from nndsl.check.bind import eval_diag, match_args
from nndsl.check.fixes import name_forward_input
from nndsl.check.flow import (
    Built,
    Flow,
    Scope,
    annotation,
    block_input,
    declared_names,
    export_dim,
    feature_value,
    input_dims,
    plain,
)
from nndsl.check.record import recorded
from nndsl.ir import expr as x
from nndsl.ir import nodes as ir
from nndsl.ir.shapes import expr_of, known
from nndsl.ir.tensors import Tensor
from nndsl.ir.values import EvalError, Value, evaluate
from nndsl.lang import syntax as s
from nndsl.util.naming import Namespace, local


class BlockRules:
    """The block half of the checker (mixed into :class:`nndsl.check.checker.Checker`)."""

    @recorded("block")
    def _block(self, call: s.Call, block: s.Block, flow: Flow, env, extra=()) -> Built | None:
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
        values = self._block_args(call, block, params, env)
        if values is None or flow.shape is None:
            return None
        if block.forward is not None:
            return self._graph_block(call, block, params, values, [flow, *extra])
        if extra:
            self._error(
                "E0118", f"{block.keyword} `{block.name}` is a stack and takes one input", call.span
            )
            return None
        if block.container is not None:
            return self._seq_block(call, block, params, values, flow)
        inner_env = {p.name: Value(values[p.name].py, x.Name(local(p.name))) for p in block.params}
        scope = Scope(env=inner_env, ns=Namespace(declared_names(block.body) | set(inner_env)))
        start = Flow(block_input(flow.shape, set(inner_env)), flow.dtype, block.name_span)
        feature = feature_value(start.shape)
        if feature is not None and "in" not in inner_env:
            scope.env["in"] = feature  # the input size, for conditions and arguments
        self.stack.append(block.name)
        try:
            out = self._body(block.body, start, scope)
        finally:
            self.stack.pop()
        if out.shape is None:
            return None
        body = self._class_def(scope, "x", (), start, out, f"{block.keyword} {block.name}")
        class_name, inferred = self._specialise(block, body, params, values, flow.shape)
        new, mapping = self._instance(call, block, class_name, inferred, values, flow.shape)
        return Built(
            new,
            Flow(tuple(export_dim(d, mapping) for d in out.shape), out.dtype, call.span),
            scope.params,
            block.name,
            rows=list(scope.rows),
        )

    def _block_args(self, call: s.Call, block: s.Block, params: dict, env) -> dict | None:
        """Each parameter's value at this use: the argument given, or the default."""
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
                self._error(
                    "E0103",
                    f"block `{block.name}` needs the argument `{p.name}`",
                    call.span,
                    help=f"write `{block.name}({p.name}=...)`",
                )
                return None
            else:
                values[p.name] = params[p.name]
        return values

    def _instance(self, call, block, class_name, inferred, values, shape) -> tuple:
        """The constructor call of a block class, and how its parameters read in the caller."""
        names = [p.name for p in block.params]
        dims = input_dims(len(shape))
        args = [ir.Arg(None, x.of_dim(shape[dims[n]])) for n in inferred]
        for position, a in enumerate(call.args):
            pname = a.name or names[position]
            args.append(ir.Arg(a.name and local(a.name), values[pname].expr))
        mapping = {n: expr_of(shape[i]) for n, i in dims.items()}
        mapping.update({local(p.name): values[p.name].text for p in block.params})
        return ir.BlockNew(class_name, tuple(args)), mapping

    def _graph_block(self, call, block: s.Block, params, values, flows: list) -> Built | None:
        fparams = block.forward.params
        if fparams is None:
            self._error(
                "E0117",
                f"the forward of {block.keyword} `{block.name}` must name its inputs",
                block.forward.span,
                help="write `forward(x) { ... }`",
                fix=name_forward_input(block.forward),
            )
            return None
        required = [p for p in fparams if p.default is None]
        if not len(required) <= len(flows) <= len(fparams):
            count = f"{len(required)}" + (
                f" to {len(fparams)}" if len(fparams) > len(required) else ""
            )
            self._error(
                "E0118",
                f"{block.keyword} `{block.name}` takes {count} input(s) but receives {len(flows)}",
                call.span,
            )
            return None
        for p in fparams:
            if p.default is not None and not (
                isinstance(p.default, s.Const) and p.default.value is None
            ):
                self._error("E0106", "an input's default can only be `none`", p.default.span)
                return None
        if any(f.shape is None for f in flows):
            return None
        inner_env = {p.name: Value(values[p.name].py, x.Name(local(p.name))) for p in block.params}
        scope = Scope(env=inner_env, ns=Namespace(declared_names(block.body) | set(inner_env)))
        first = block_input(flows[0].shape, set(inner_env))
        feature = None
        for name, i in input_dims(len(first)).items():
            if getattr(first[i], "expr", None) == name:
                feature = Value(first[i], x.Name(name))
        shapes = [first] + [tuple(plain(d) for d in f.shape) for f in flows[1:]]
        inputs = [
            ir.TensorInfo(sh, f.dtype, p.name, p.default is not None)
            for sh, f, p in zip(shapes, flows, fparams)
        ]
        given = [(i.name, Tensor(i.shape, i.dtype), p.span, False) for i, p in zip(inputs, fparams)]
        self.stack.append(block.name)
        try:
            g = self._graph(block.body, block.forward, given, scope, feature)
        finally:
            self.stack.pop()
        if g.returned is None:
            return None
        missing = [ir.InputDecl(local(p.name), True) for p in fparams[len(flows) :]]
        body = self._graph_class("", f"{block.keyword} {block.name}", (), inputs, g)
        body = replace(body, inputs=body.inputs + tuple(missing))
        class_name, inferred = self._specialise(block, body, params, values, flows[0].shape)
        new, mapping = self._instance(call, block, class_name, inferred, values, flows[0].shape)
        result = _export(g.returned, mapping, call.span)
        if isinstance(result, Flow):
            return Built(new, result, scope.params, block.name, rows=list(scope.rows))
        out = Flow((), "float32", call.span)
        return Built(new, out, scope.params, block.name, rows=list(scope.rows), result=result)

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

    def _specialise(self, block, body, params, values, shape) -> tuple[str, list[str]]:
        """The class serving this use (whose input has ``shape``): one whose body this use's
        fits, or a new one (:class:`nndsl.check.unify.ClassBook`). A class takes the input
        sizes its code reads; a use that leaves part of the code unbuilt (a ``repeat`` 0
        times) takes them all, as the uses that build it do, or may share a class that
        does."""
        text = repr((body.members, body.steps, body.body, body.items))
        dims = input_dims(len(shape))
        fuller = [n for n in dims if n not in params and known(shape[dims[n]])]
        if "Unseen()" in text:
            return self._class_for(block, body, params, values, shape, fuller, True), fuller
        inferred = [n for n in dims if re.search(rf"\b{n}\b", text) and n not in params]
        if fuller != inferred:
            name = self._class_for(block, body, params, values, shape, fuller, False)
            if name is not None:
                return name, fuller
        return self._class_for(block, body, params, values, shape, inferred, True), inferred

    def _class_for(self, block, body, params, values, shape, inferred, create: bool):
        dims = input_dims(len(shape))
        decls = [ir.ParamDecl(n, "int", None) for n in inferred]
        for p in block.params:
            default = params[p.name]
            decls.append(
                ir.ParamDecl(local(p.name), annotation(values[p.name].py), default and default.expr)
            )
        body = replace(body, params=tuple(decls))
        given = {n: int(shape[dims[n]]) for n in inferred}
        given.update({local(p.name): values[p.name].py for p in block.params})
        key = (body, repr(sorted(given.items())))
        name = self.block_classes.get(key)
        if name is None:
            name, new = self.class_book.add(block.name, body, given, self.class_names, create)
            if name is None:
                return None
            if new:
                self.class_names.add(name)
                self.out_classes.append(name)  # written out once every use is known
            self.block_classes[key] = name
        return name


def _export(t, mapping: dict, span):
    """A block's return type in the caller's terms: a Flow for one tensor, else types."""
    if isinstance(t, tuple):
        return tuple(_export_type(x, mapping) for x in t)
    return Flow(tuple(export_dim(d, mapping) for d in t.shape), t.dtype, span)


def _export_type(t, mapping: dict):
    if isinstance(t, tuple):
        return tuple(_export_type(x, mapping) for x in t)
    return Tensor(tuple(export_dim(d, mapping) for d in t.shape), t.dtype)
