"""The Python files a program imports its own classes from (``from "layers.py" import
MyNorm``), made importable while generated code runs in this process: their folder first on
``sys.path``, and the modules imported fresh, then forgotten, so that each run reads the files
as they are now."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def importable(folder: Path, modules: tuple[str, ...] | list[str]) -> Iterator[None]:
    """Within the block, ``import <module>`` finds each of ``modules`` in ``folder``; after
    it, ``sys.path`` and ``sys.modules`` are as they were."""
    if not modules:
        yield
        return
    entry = str(folder)
    saved = {name: sys.modules.pop(name, None) for name in modules}
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)
        for name, module in saved.items():
            sys.modules.pop(name, None)
            if module is not None:
                sys.modules[name] = module
