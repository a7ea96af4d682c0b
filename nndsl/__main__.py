"""``python -m nndsl``: the same as the ``nndsl`` command."""

from .cli import entry

entry()
