"""Formatting generated code with black, in one pinned mode so output stays byte-stable.

Formatting is most of what a compile costs (importing black alone takes a fifth of a second), so
each result is kept in the user's cache folder (:mod:`nndsl.cache`) under a digest of the input
and of the installed black; compiling the same program again reads it back without black.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from pathlib import Path

from .cache import cache_folder

MODE = "py310-88"  # part of the cache key: change it with the mode below
KEEP = 256  # formatted files kept in the cache; the oldest go first


# A `# fmt: off` ... `# fmt: on` region (an inline data table); black leaves it as it is
_REGION = re.compile(r"^([ \t]*)# fmt: off\n.*?^\1# fmt: on$", re.M | re.S)
_STUB = "{0}# fmt: off\n{0}# nndsl: region {1}\n{0}# fmt: on"


def black_format(code: str, *, cache: bool = True) -> str:
    """Format Python source with black's default style for Python 3.10+.

    ``# fmt: off`` regions are cut out before black runs and put back after: black copies them
    unchanged anyway, but its time grows with every token it reads, and an inline data table
    has many.
    """
    regions: list[str] = []

    def stash(m: re.Match) -> str:
        regions.append(m.group(0))
        return _STUB.format(m.group(1), len(regions) - 1)

    out = _format(_REGION.sub(stash, code), cache)
    for i, region in enumerate(regions):
        stub = re.compile(_STUB.format("[ \t]*", i), re.M)
        out = stub.sub(lambda _: region, out, count=1)
    return out


def without_regions(code: str) -> str:
    """The code with each ``# fmt: off`` region (an inline data table) as a bare ``pass``."""
    return _REGION.sub(lambda m: f"{m.group(1)}pass", code)


def _format(code: str, cache: bool) -> str:
    entry = _entry(code) if cache else None
    if entry is not None:
        try:
            return entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    import black  # imported here, and only on a cache miss

    mode = black.Mode(target_versions={black.TargetVersion.PY310}, line_length=88)
    out = black.format_str(code, mode=mode)
    if entry is not None:
        _store(entry, out)
    return out


def _entry(code: str) -> Path | None:
    """The cache file for ``code``: named by a digest of the code, the mode and the installed
    black (its path, size and modification time, so an upgrade is a new key), or None when
    there is no cache folder or no black."""
    folder = cache_folder()
    spec = importlib.util.find_spec("black")
    if folder is None or spec is None or not spec.origin:
        return None
    try:
        st = os.stat(spec.origin)
    except OSError:
        return None
    key = f"{spec.origin}\0{st.st_size}\0{st.st_mtime_ns}\0{MODE}\0{code}"
    return folder / "black" / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}.py"


def _store(entry: Path, text: str) -> None:
    """Write atomically (a reader sees a whole entry or none), then drop the oldest entries
    beyond KEEP. A cache that cannot be written is simply not used."""
    try:
        entry.parent.mkdir(exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, entry)
        entries = list(entry.parent.glob("*.py"))
        if len(entries) > KEEP:
            entries.sort(key=lambda p: p.stat().st_mtime_ns)
            for old in entries[: len(entries) - KEEP]:
                old.unlink(missing_ok=True)
    except OSError:
        pass
