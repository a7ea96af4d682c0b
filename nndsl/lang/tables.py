"""Parse tables for the grammar. lark's: loaded from those a wheel ships, else built and kept
in the user cache, so that only the first compile on a machine (or none) derives them. The fast
path's (:mod:`nndsl.lang.fastparse`): plain data beside the grammar, so that a compile of a
correct program imports no lark at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nndsl.lang import fastparse
from nndsl.lang.lexical import grammar_text
from nndsl.util.cache import cache_folder
from nndsl.util.resources import resource_dir

if TYPE_CHECKING:
    from lark import Lark, Transformer

FAST_TABLES = "nndsl.tables.json"  # the fast path's tables, beside the grammar

# lark's options for each kind of parser of the grammar: the compiler's builds syntax nodes as
# it parses; the formatter's (nndsl fmt) keeps lark's tree with positions
PARSERS = {
    "grammar": {"parser": "lalr", "maybe_placeholders": True},
    "tree": {"parser": "lalr", "maybe_placeholders": True, "propagate_positions": True},
}


def lark_parser(kind: str, transformer: Transformer | None = None) -> Lark:
    """lark's parser of the grammar with the options ``PARSERS[kind]``: from the tables a wheel
    ships (:func:`save_tables`) when they were made from this grammar under this lark and this
    Python, else built, with the tables kept in the user cache (:func:`table_cache`)."""
    from lark import Lark

    grammar = grammar_text()
    shipped = resource_dir("grammar") / table_file(grammar, kind)
    if shipped.is_file():
        try:
            with shipped.open("rb") as f:
                # lark's own loader, which its cache uses: it accepts the run-time transformer
                return Lark.__new__(Lark)._load(f, transformer=transformer)
        except Exception:  # damaged, or laid out by another lark: build them as below
            pass
    options = PARSERS[kind]
    return Lark(grammar, **options, transformer=transformer, cache=table_cache(grammar, kind))


def save_tables(folder: Path) -> list[Path]:
    """Write the tables of every kind of parser into ``folder``, named as :func:`lark_parser`
    looks for them beside the grammar (a wheel's build hook ships them there)."""
    from lark import Lark

    grammar = grammar_text()
    written = []
    for kind, options in PARSERS.items():
        path = Path(folder) / table_file(grammar, kind)
        with path.open("wb") as f:
            Lark(grammar, **options).save(f)
        written.append(path)
    return written


def table_cache(grammar: str, kind: str = "grammar") -> str | bool:
    """Where lark keeps the parse tables it derived from this grammar, so later processes skip
    the analysis (a tenth of the time of building them): a file in the user's cache folder named
    by :func:`table_file`, or False (no cache) when there is no writable folder. lark checks a
    digest again on load and rebuilds on any mismatch or damage.

    ``NNDSL_CACHE_DIR`` chooses the folder; set it empty to turn the cache off.
    """
    folder = cache_folder()
    return False if folder is None else str(folder / table_file(grammar, kind))


def table_file(grammar: str, kind: str = "grammar") -> str:
    """The name of the file of lark's tables for ``grammar`` parsed by one ``kind`` of parser,
    under this lark and this Python."""
    import lark

    key = f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}"
    return f"{kind}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:16]}.lark-cache"


def fast_tables() -> dict:
    """The fast path's tables for the grammar: those beside it (:func:`write_fast_tables`) when
    they were made from this very grammar, else those in the user cache, else read off lark's
    parser (:func:`nndsl.lang.fastparse.tables_from_lark`) and kept in the user cache."""
    grammar = grammar_text()
    digest = grammar_digest(grammar)
    folder = cache_folder()
    cached = None if folder is None else folder / f"fast-{digest}.json"
    for path in (resource_dir("grammar") / FAST_TABLES, cached):
        try:
            data = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("grammar") == digest:
            if data.get("format") == fastparse.FORMAT:
                return data
    data = {"grammar": digest, **fastparse.tables_from_lark(lark_parser("grammar"))}
    if cached is not None:
        try:
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            os.replace(tmp, cached)
        except OSError:
            pass  # no cache: the next process reads them off lark again
    return data


def write_fast_tables(path: Path | None = None) -> Path:
    """Write the fast path's tables for the grammar beside it (or to ``path``): run after any
    change to grammar/nndsl.lark, ``python -c "from nndsl.lang.tables import write_fast_tables;
    write_fast_tables()"``; tests/test_fastparse.py checks that they are current."""
    tables = fastparse.tables_from_lark(lark_parser("grammar"))
    data = {"grammar": grammar_digest(grammar_text()), **tables}
    path = path or resource_dir("grammar") / FAST_TABLES
    path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    return path


def grammar_digest(grammar: str) -> str:
    return hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
