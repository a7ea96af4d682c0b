"""What running a program needs beyond the compiler: torch and the rest of the ``run`` extra.

``pip install nndsl`` installs the compiler alone (check, compile, fmt, graph, summary...);
training, loading and exporting import torch, which ``pip install "nndsl[run]"`` adds.
"""

from __future__ import annotations

import re

INSTALL = 'pip install "nndsl[run]"'


def torch_missing() -> str | None:
    """None when torch imports, else the one line that says how to get it."""
    try:
        import torch  # noqa: F401  (the runs import it next anyway)
    except ImportError:
        return f"error: running a program needs torch, which is not installed: {INSTALL}"
    return None


def out_of_memory(err: BaseException) -> str | None:
    """The one line for a run that asked for more memory than the machine has (torch's
    OutOfMemoryError on a GPU, or the CPU allocator's refusal), else None."""
    text = str(err)
    if isinstance(err, MemoryError) or (
        isinstance(err, RuntimeError)
        and ("out of memory" in text.lower() or "can't allocate memory" in text)
    ):
        asked = re.search(r"allocate ([0-9.]+ ?[KMGT]?i?B|\d+ bytes)", text)
        what = f" (it asked for {asked.group(1)})" if asked else ""
        return (
            f"error: out of memory{what}: the model or a batch is larger than this machine can "
            "hold; try a smaller --batch-size or a smaller model"
        )
    return None
