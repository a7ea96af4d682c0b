"""``nndsl explain CODE``: the long explanation of a diagnostic code.

The codes and their one-line meanings come from the table in :mod:`nndsl.diagnostics.codes`.
Each code has one Markdown file in this package, named after it (``E0301.md``): a title line
``# CODE: meaning`` (the meaning in the table), a few paragraphs, then a wrong and a fixed
example; a retired code's file names its successors instead. The files ship inside the wheel
and are read with :mod:`importlib.resources`; nothing here imports torch.
"""

from __future__ import annotations

import re
import sys
from importlib import resources

from nndsl.diagnostics.codes import CODES
from nndsl.util.naming import suggest

_CODE = re.compile(r"^[EW]\d{4}$")
EXIT_OK, EXIT_USAGE = 0, 2


def _files() -> dict[str, object]:
    folder = resources.files(__name__)
    return {
        f.name[:-3]: f
        for f in folder.iterdir()
        if f.name.endswith(".md") and _CODE.match(f.name[:-3])
    }


def codes() -> dict[str, str]:
    """Every code in the table, in order, with its one-line meaning, retired codes included."""
    return {code: CODES[code].title for code in sorted(CODES)}


def text(code: str) -> str | None:
    """The explanation of ``code`` (upper or lower case), or None for an unknown code."""
    f = _files().get(code.upper()) if code.upper() in CODES else None
    return None if f is None else f.read_text(encoding="utf-8")


def title(code: str) -> str:
    """The one-line meaning: the first line of the file without ``# CODE: ``."""
    first = (text(code) or "").split("\n", 1)[0]
    return first.split(":", 1)[1].strip() if ":" in first else first.lstrip("# ").strip()


def main(args) -> int:
    """The ``explain`` command: one code's explanation, or with no code (or ``--list``) every
    code and its meaning."""
    code = getattr(args, "code", None)
    if code is None or getattr(args, "list", False):
        rows = codes()
        sys.stdout.write("".join(f"{c}  {meaning}\n" for c, meaning in rows.items()))
        return EXIT_OK
    found = text(code)
    if found is None:
        known = list(CODES)
        family = [c for c in known if c[:3] == code.upper()[:3]]  # E0310: E0301 before E0410
        hint = suggest(code.upper(), family) or suggest(code.upper(), known)
        what = "no diagnostic" if _CODE.match(code.upper()) else "not a diagnostic code:"
        print(
            f"nndsl: error: {what} `{code}`{'; ' + hint if hint else ''} "
            "(`nndsl explain --list` lists every code)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    sys.stdout.write(found if found.endswith("\n") else found + "\n")
    return EXIT_OK
