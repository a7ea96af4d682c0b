"""Text files for :mod:`nndsl.datafiles.inspect` (``text("data/sonnets.txt")``): the characters
of a UTF-8 file, read whole, and its vocabulary, the sorted distinct characters, whose order
gives each character its id.

The file is read as the training script reads it (``Path.read_text(encoding="utf-8-sig")``):
strict UTF-8, a leading byte-order mark dropped, and ``\\r\\n`` and ``\\r`` read as ``\\n``.
"""

from __future__ import annotations

from pathlib import Path

from nndsl.datafiles.common import Array, DataFileError
from nndsl.util.frozen import frozen

MAX_TEXT = 16 << 20  # bytes: the checker and the script both read the whole file


@frozen
class TextFile:
    """A text file: ``chars`` characters, whose ids index ``vocabulary``, and the first of them."""

    path: str  # as the user wrote it
    chars: int
    vocabulary: str
    first: str

    @property
    def array(self) -> Array:
        """The ids the script reads: int64, one per character, 0 .. vocabulary size - 1."""
        return Array((self.chars,), "int64", 0, len(self.vocabulary) - 1)


def read_text(file: Path, shown: str) -> TextFile:
    """The characters of ``file`` and their vocabulary; raises DataFileError."""
    size = file.stat().st_size
    if size > MAX_TEXT:
        raise DataFileError(
            f"{shown} holds {size:,} bytes, more than the {MAX_TEXT:,} a text file may",
            help="train on a part of it: a text file is read whole",
        )
    raw = file.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataFileError(
            f"{shown} is not UTF-8 text: byte {raw[e.start]:#04x} on line {line}",
            help="save the file as UTF-8",
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as Python reads text files
    if not text:
        raise DataFileError(f"{shown} is empty: it holds no character to train on")
    return TextFile(shown, len(text), "".join(sorted(set(text))), text[0])
