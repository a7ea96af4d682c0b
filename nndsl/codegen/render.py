"""Typed IR to PyTorch source: a small view model, a Jinja template, black, and a header.

The template holds no logic; this module turns IR nodes into the strings it loops over.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

import jinja2

from nndsl.codegen.expr import shown_text, statements, write
from nndsl.codegen.text import PACK_OVER, WIDTH, comment_safe, packed, string_safe  # noqa: F401
from nndsl.codegen.train_view import train_view
from nndsl.ir import nodes as ir
from nndsl.util.cache import cache_folder
from nndsl.util.resources import resource_dir

HASH_PREFIX = "# nndsl-hash: "


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates"))),
        bytecode_cache=_bytecode_cache(),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the user's cache folder: compiling the training template
    takes longer than the rest of a compile. Jinja checks each entry against the template's
    source, so an edited template is compiled again."""
    folder = cache_folder()
    if folder is None:
        return None
    try:
        (folder / "jinja").mkdir(exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(str(folder / "jinja"))


def render(program: ir.ProgramIR) -> str:
    """The module source, before formatting and without the header."""
    classes = [_class_view(c) for c in program.classes]
    uses_functional = any(re.search(r"\bF\.", line) for c in classes for line in c["forward_lines"])
    return (
        _environment()
        .get_template("model.py.j2")
        .render(classes=classes, uses_functional=uses_functional)
    )


def render_train(t: ir.TrainIR, source_name: str, model_module: str, data_dir: str = ".") -> str:
    """The training script's source, before formatting and without the header."""
    view = train_view(t, source_name, model_module, data_dir)
    return _environment().get_template("train.py.j2").render(**view)


def _class_view(c: ir.ClassDef) -> dict:
    params = ["self"]
    for p in c.params:
        params.append(
            f"{p.name}: {p.annotation}"
            + (f" = {write(p.default)}" if p.default is not None else "")
        )
    init_lines = []
    for m in c.members:
        if isinstance(m.module, ir.RepeatNew):
            init_lines += [f"{name} = {write(e)}" for name, e in _lists(m.module)]
        if isinstance(m.module, ir.TensorNew) and m.module.kind == "buffer":
            init_lines.append(f'self.register_buffer("{m.attr}", {_tensor(m.module)})')
        else:
            init_lines.append(f"self.{m.attr} = {module_code(m.module)}")
    inputs = c.inputs or (ir.InputDecl(c.input),)
    forward = ["self"] + [
        f"{i.name}: torch.Tensor | None = None" if i.optional else f"{i.name}: torch.Tensor"
        for i in inputs
    ]
    return {
        "name": c.name,
        "doc": f"{c.doc}: {', '.join(map(shown_text, c.in_shape))} -> {shown_text(c.out_shape)}.",
        "signature": ", ".join(params),
        "init_lines": init_lines,
        "forward_signature": ", ".join(forward),
        "returns": c.returns,
        "forward_lines": statements(c.body) if c.body else _forward(c),
    }


def _tensor(t: ir.TensorNew) -> str:
    """``torch.randn(3, 4)``; a scalar (``param([])``) is ``torch.randn(())``."""
    return f"torch.{t.init}({', '.join(write(d) for d in t.dims) or '()'})"


def _lists(r: ir.RepeatNew) -> list[tuple[str, object]]:
    out = list(r.lists)
    for item in r.items:
        if isinstance(item, ir.RepeatNew):
            out += _lists(item)
    return out


def _args(args: tuple[ir.Arg, ...]) -> str:
    return ", ".join(
        write(a.value) if a.name is None else f"{a.name}={write(a.value)}" for a in args
    )


def module_code(m: ir.ModuleNew) -> str:
    """The constructor expression for one module."""
    match m:
        case ir.LayerNew(ctor=ctor, args=args):
            return f"{ctor}({_args(args)})"
        case ir.BlockNew(class_name=name, args=args):
            return f"{name}({_args(args)})"
        case ir.SharedRef(attr=attr):
            return f"self.{attr}"
        case ir.TensorNew():
            return f"nn.Parameter({_tensor(m)})"
        case ir.Stored(name=name):
            return name
        case ir.RepeatNew(count=None, items=iterations):
            return "nn.Sequential(" + ", ".join(_iteration(it.items) for it in iterations) + ")"
        case ir.RepeatNew(count=count, var=var, items=items):
            return f"nn.Sequential(*[{_iteration(items)} for {var} in range({write(count)})])"
    raise TypeError(m)


def _iteration(items: tuple) -> str:
    if len(items) == 1:
        return module_code(items[0])
    return "nn.Sequential(" + ", ".join(module_code(i) for i in items) + ")"


def _forward(c: ir.ClassDef) -> list[str]:
    if not c.steps:
        return [f"return {c.input}"]
    lines = []
    for i, step in enumerate(c.steps):
        src = c.input if i == 0 else "x"
        last = i == len(c.steps) - 1
        if step.target is None:
            extra = _args(step.args)
            call = f"{step.func}({src}{', ' + extra if extra else ''})"
        else:
            call = f"self.{step.target}({', '.join([src] * step.inputs)}"
            call += f", {_args(step.kwargs)})" if step.kwargs else ")"
        comment = f"  # {shown_text(step.shape)}" if step.changed or last else ""
        if step.call == "tensor":
            lines.append(f"{'return' if last else 'x ='} {call}{comment}")
        else:
            lines.append(f"x, _ = {call}{comment}")
            if last:
                lines.append("return x")
    return lines


def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def with_header(body: str, source_name: str) -> str:
    """Prefix the generated module with its provenance and the hash of its body."""
    return (
        f"# Generated by nndsl from {comment_safe(source_name)}.\n"
        f"# Edit freely: the hash below lets nndsl notice hand edits.\n"
        f"{HASH_PREFIX}{body_hash(body)}\n"
        f"{body}"
    )
