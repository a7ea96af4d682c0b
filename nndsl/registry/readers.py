"""The data file readers a data section can call (``csv("t.csv")``, ``npy``, ``npz``, ``pt``,
``text``), one entry each: how the file is inspected at compile time
(:mod:`nndsl.datafiles.inspect`, without torch or numpy), what the training script reads it
with, and whether a streamed section can read it row by row. The checker, the training
script's imports and reserved names, the docs, the highlighter and the language server read
this table."""

from __future__ import annotations

from nndsl.util.frozen import frozen


@frozen
class Reader:
    """One data file reader: ``numpy`` says whether the script reads it with numpy (so it
    imports ``numpy as np``), ``stream`` whether a ``stream true`` section can read it row by
    row, memory-mapped."""

    name: str
    numpy: bool
    stream: bool
    doc: str

    def inspect(self, path: str, base):
        """The file's shape and dtype (a Table, an Array, or a dict of Arrays), read without
        loading it (``nndsl.datafiles.inspect.inspect_<name>``); raises DataFileError."""
        from nndsl.datafiles import inspect as datafiles  # only a program with files needs it

        return getattr(datafiles, f"inspect_{self.name}")(path, base)


READERS: dict[str, Reader] = {
    r.name: r
    for r in (
        Reader("csv", True, False, "a table of numbers, read whole"),
        Reader("npy", True, True, "one numpy array"),
        Reader("npz", True, False, "numpy arrays by name"),
        Reader("pt", False, True, "a tensor, or tensors by name"),
        Reader("text", False, False, "a UTF-8 text file: each character's id in its vocabulary"),
    )
}
STREAM_READERS = tuple(name for name, r in READERS.items() if r.stream)


def uses_numpy(readers) -> bool:
    """Whether a script whose data calls these readers reads with numpy."""
    return any(READERS[name].numpy for name in readers)
