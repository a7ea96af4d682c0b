"""What the escape hatch adds to the model module: the imports of the user's classes, and
``checked_shape``, which checks a declared output shape when the forward runs."""

from __future__ import annotations

import re

from nndsl.codegen.text import string_safe
from nndsl.ir import nodes as ir

CHECK_HELPER = "checked_shape"  # nndsl.check.escape.HELPER: the name the checker calls

_HELPER = '''

def checked_shape(y: torch.Tensor, shape: tuple, line: int, what: str) -> torch.Tensor:
    """``y``, once it is a tensor of ``shape`` (a size of None may be any), the output
    shape the source declares at ``line`` for ``what``."""
    got = tuple(y.shape) if isinstance(y, torch.Tensor) else "no tensor"
    if (
        isinstance(got, str)
        or len(got) != len(shape)
        or any(n is not None and n != d for n, d in zip(shape, got))
    ):
        declared = ", ".join("?" if n is None else str(n) for n in shape)
        where = "{source}"
        raise RuntimeError(
            f"{{where}}:{{line}}: {{what}} returned {{got}}, declared ({{declared}})"
        )
    return y
'''


def checked_shape_source(source_name: str) -> str:
    """The helper's source, naming ``source_name`` in its messages."""
    return _HELPER.format(source=string_safe(source_name))


def user_imports(imports: tuple[ir.Import, ...], init_lines: list[str]) -> list[str]:
    """``from layers import MyNorm``: the imported classes the constructors build."""
    text = "\n".join(init_lines)
    out = []
    for imp in imports:
        used = [n for n in imp.names if re.search(rf"(?<![\w.]){n}\(", text)]
        if used:
            out.append(f"from {imp.module} import {', '.join(used)}\n")
    return out
