"""What running a program needs beyond the compiler: torch and the rest of the ``run`` extra.

``pip install nndsl`` installs the compiler alone (check, compile, fmt, graph, summary...);
training, loading and exporting import torch, which ``pip install "nndsl[run]"`` adds.
"""

from __future__ import annotations

INSTALL = 'pip install "nndsl[run]"'


def torch_missing() -> str | None:
    """None when torch imports, else the one line that says how to get it."""
    try:
        import torch  # noqa: F401  (the runs import it next anyway)
    except ImportError:
        return f"error: running a program needs torch, which is not installed: {INSTALL}"
    return None
