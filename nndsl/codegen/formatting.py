"""Formatting generated code with black, in one pinned mode so output stays byte-stable.

Formatting is most of what a compile costs (importing black alone takes a fifth of a second), so
black runs only where it would change something. Code that :func:`nndsl.codegen.blackstable.
is_stable` vouches for (most models) is already what black would write and is taken as it is.
For the rest, each formatted piece of a file is kept in the user's cache folder
(:mod:`nndsl.util.cache`) under a digest of the piece and of the installed black: compiling the
same program again reads it back without black, and a new program formats only what it does not
share with earlier ones.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
from pathlib import Path

from nndsl.codegen.blackstable import is_stable
from nndsl.util.cache import cache_folder

MODE = "py310-88"  # part of the cache key: change it with the mode below
KEEP = 4096  # formatted pieces kept in the cache (a few MB); the oldest go first


# A `# fmt: off` ... `# fmt: on` region (an inline data table); black leaves it as it is
_REGION = re.compile(r"^([ \t]*)# fmt: off\n.*?^\1# fmt: on$", re.M | re.S)
_STUB = "{0}# fmt: off\n{0}# nndsl: region {1}\n{0}# fmt: on"


def black_format(code: str, *, cache: bool = True) -> str:
    """Format Python source with black's default style for Python 3.10+.

    ``# fmt: off`` regions are cut out before black runs and put back after: black copies them
    unchanged anyway, but its time grows with every token it reads, and an inline data table
    has many. With the cache on, code black would leave as it is is not given to black at all,
    and the rest is formatted piece by piece (see :func:`pieces`), so a program reformats only
    the pieces no earlier program had; ``cache=False`` always runs black over the whole code.
    """
    if cache and "# fmt: off" not in code and is_stable(code):
        return code
    regions: list[str] = []

    def stash(m: re.Match) -> str:
        regions.append(m.group(0))
        return _STUB.format(m.group(1), len(regions) - 1)

    short = _REGION.sub(stash, code)
    if cache:
        written: list[Path] = []
        out = "\n\n".join(_format(piece, True, written) for piece in pieces(short))
        if written:
            _prune(written[0].parent)
    else:
        out = _format(short, False)
    for i, region in enumerate(regions):
        stub = re.compile(_STUB.format("[ \t]*", i), re.M)
        out = stub.sub(lambda _, region=region: region, out, count=1)
    return out


def pieces(code: str) -> list[str]:
    """The code cut before each top-level ``def``, ``class`` or decorator, with the comments
    right above it. Black formats each such piece alone exactly as it does inside the whole
    file, where it keeps them two blank lines apart; the tests hold every generated file to
    that, and the fuzzing campaign holds every program it compiles."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [code]  # black will say what is wrong
    lines = code.splitlines(keepends=True)
    cuts = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            while start > 0 and lines[start - 1].startswith("#"):
                start -= 1
            cuts.append(start)
    cut = ["".join(lines[a:b]) for a, b in zip([0, *cuts], [*cuts, len(lines)])]
    return [piece for piece in cut if piece.strip()]


def without_regions(code: str) -> str:
    """The code with each ``# fmt: off`` region (an inline data table) as a bare ``pass``."""
    return _REGION.sub(lambda m: f"{m.group(1)}pass", code)


def _format(code: str, cache: bool, written: list[Path] | None = None) -> str:
    entry = _entry(code) if cache else None
    if entry is not None:
        try:
            return entry.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
    import black  # imported here, and only on a cache miss

    mode = black.Mode(target_versions={black.TargetVersion.PY310}, line_length=88)
    out = black.format_str(code, mode=mode)
    if entry is not None and _store(entry, out) and written is not None:
        written.append(entry)
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


def _store(entry: Path, text: str) -> bool:
    """Write atomically (a reader sees a whole entry or none); False when the cache cannot be
    written, which only means it is not used."""
    try:
        entry.parent.mkdir(exist_ok=True)
        tmp = entry.with_name(f"{entry.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, entry)
    except OSError:
        return False
    return True


def _prune(folder: Path) -> None:
    """Past KEEP entries by an eighth, drop the oldest down to KEEP (not on every write: listing
    the folder costs more than a formatted piece)."""
    try:
        entries = list(folder.glob("*.py"))
        if len(entries) <= KEEP + KEEP // 8:
            return
        entries.sort(key=lambda p: p.stat().st_mtime_ns)
        for old in entries[: len(entries) - KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass
