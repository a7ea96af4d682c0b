"""``from "layers.py" import MyNorm``: the classes of a Python file beside the .nn that bodies may
use as layers. The file is read and parsed as Python (to know what it defines), never imported
or run: only the generated code imports it."""

from __future__ import annotations

import ast
import keyword
import re
import sys
from pathlib import Path

from nndsl.diagnostics.core import Diagnostic, Label
from nndsl.ir import nodes as ir
from nndsl.lang import syntax as s
from nndsl.registry.layers import REGISTRY
from nndsl.util.naming import problem, suggest

MODULE_FILE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.py")
# Modules a file beside the generated code must not hide: torch, nndsl, the generated model
# and the training scripts' support module; the standard library is added below.
TAKEN_MODULES = frozenset({"torch", "nndsl", "numpy", "model", "trainkit"})
MAX_FILE = 1 << 20  # a Python file of layers larger than this is refused, not parsed


def read_imports(items: tuple, base: Path | None, diags: list[Diagnostic]) -> tuple[dict, tuple]:
    """The classes the program imports, each with its module and where it is imported, and
    the imports as the generated module writes them; problems become diagnostics."""
    classes: dict[str, tuple[str, s.Span]] = {}
    out: list[ir.Import] = []
    modules: dict[str, s.Span] = {}
    for item in items:
        if not isinstance(item, s.Import):
            continue
        module = _module(item, base, diags)
        if module is None:
            continue
        name, defined = module
        if name in modules:
            diags.append(
                Diagnostic(
                    "E0134",
                    f"`{item.path}` is imported twice",
                    item.path_span,
                    labels=(Label(modules[name], "first imported here"),),
                    help="import every class of a file in one `from ... import A, B`",
                )
            )
            continue
        modules[name] = item.path_span
        names = [n for n, span in item.names if _class_ok(n, span, item, defined, classes, diags)]
        for n, span in item.names:
            if n in names:
                classes[n] = (name, span)
        if names:
            out.append(ir.Import(name, tuple(names)))
    return classes, tuple(out)


def _module(item: s.Import, base: Path | None, diags) -> tuple[str, set[str]] | None:
    """The module name of the file and the names it defines at its top level, or None."""

    def refuse(message: str, help: str | None = None) -> None:
        diags.append(Diagnostic("E0134", message, item.path_span, help=help))

    path = item.path
    if not MODULE_FILE.fullmatch(path):
        refuse(
            f'"{_shown(path)}" is not a Python file beside the .nn',
            help='name a file of the .nn file\'s folder, such as "layers.py"',
        )
        return None
    name = path[:-3]
    if name.startswith("__"):
        refuse(f"`{path}` is a name Python keeps for itself", help="rename the file")
        return None
    if keyword.iskeyword(name) or name in TAKEN_MODULES or name in sys.stdlib_module_names:
        refuse(
            f"a file named `{path}` would hide the module `{name}`",
            help="rename the file, such as `my_layers.py`",
        )
        return None
    if name.startswith("train_"):
        refuse(
            f"`{path}` is named as a training script", help="rename the file, such as `layers.py`"
        )
        return None
    file = (base if base is not None else Path.cwd()) / path
    try:
        if not file.is_file():
            refuse(f"there is no file `{path}` beside the .nn", help="put the file next to it")
            return None
        if file.stat().st_size > MAX_FILE:
            refuse(f"`{path}` is larger than {MAX_FILE // 1024} KiB")
            return None
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        refuse(f"`{path}` cannot be read: {type(err).__name__}")
        return None
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError) as err:
        where = f" (line {err.lineno})" if getattr(err, "lineno", None) else ""
        refuse(f"`{path}` is not valid Python: {getattr(err, 'msg', err)}{where}")
        return None
    return name, defined_names(tree)


def defined_names(tree: ast.Module) -> set[str]:
    """The names a module binds at its top level: its classes and functions, what it assigns
    and what it imports."""
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _class_ok(name, span, item: s.Import, defined: set[str], classes: dict, diags) -> bool:
    why = problem(name, "class")
    message = None
    if why:
        message = f"cannot import `{name}`: {why}"
    elif name in REGISTRY:
        message = f"`{name}` is a built-in layer"
    elif name in classes:
        message = f"`{name}` is imported twice"
    elif name not in defined:
        classes_there = sorted(defined)
        hint = suggest(name, classes_there) or "define the class there, or import another one"
        diags.append(Diagnostic("E0135", f"`{item.path}` defines no `{name}`", span, help=hint))
        return False
    if message is not None:
        diags.append(
            Diagnostic("E0135", message, span, help="give the class another name in its file")
        )
        return False
    return True


def _shown(path: str) -> str:
    """A path as a message quotes it: printable, and not too long."""
    text = "".join(ch if ch.isprintable() else "?" for ch in path)
    return text if len(text) <= 60 else text[:57] + "..."
