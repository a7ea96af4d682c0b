"""``nndsl new NAME``: write a starter ``NAME.nn`` that trains as it is.

The starter is ``templates/new.nn.tmpl`` with the name filled in: a model, a data section made
by the language's own seeded generators, and a train section, each commented.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from string import Template

from nndsl.util.resources import resource_dir

EXIT_OK, EXIT_EXISTS, EXIT_USAGE = 0, 1, 2
TEMPLATE = "new.nn.tmpl"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def starter(name: str) -> str:
    """The text of the starter file for a model called ``name``."""
    text = (resource_dir("templates") / TEMPLATE).read_text(encoding="utf-8")
    return Template(text).substitute(name=name, lower=name.lower())


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name the starter's model, or None."""
    if not _NAME.fullmatch(name):
        return "a model name is an ASCII letter or `_`, then letters, digits and `_`"
    from nndsl.compiler import analyze

    result = analyze(starter(name), Path("."))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    return errors[0].message if errors else None


def new(args) -> int:
    name: str = args.name
    why = name_problem(name)
    if why:
        print(f"nndsl: error: `{name}` is not a valid model name: {why}", file=sys.stderr)
        return EXIT_USAGE
    path = Path(args.dir) / f"{name}.nn"
    if path.exists():
        print(f"nndsl: error: {path} already exists; nothing written", file=sys.stderr)
        return EXIT_EXISTS
    from nndsl.codegen.outputs import write_atomic

    try:
        write_atomic(path, starter(name))
    except OSError as err:
        print(f"nndsl: error: cannot write {path}: {err.strerror or err}", file=sys.stderr)
        return EXIT_EXISTS
    print(f"wrote {path}; try `nndsl run {path}`")
    return EXIT_OK
