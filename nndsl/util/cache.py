"""The user's cache folder: derived data that later processes reuse (parse tables, formatted
code). Everything in it is named by a digest of what it was made from, so a stale entry is never
found; deleting the folder at any time is safe."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path | None:
    """``NNDSL_CACHE_DIR``, else ``$XDG_CACHE_HOME/nndsl`` (``~/.cache/nndsl``), created when
    missing; None when the variable is set empty or no folder can be made."""
    folder = os.environ.get("NNDSL_CACHE_DIR")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.environ.get("LOCALAPPDATA")
        try:
            folder = str(Path(base or Path.home() / ".cache") / "nndsl")
        except RuntimeError:  # no home folder to be found
            return None
    if not folder:
        return None
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return Path(folder)
