"""``python -m nndsl``: the same as the ``nndsl`` command."""

from nndsl.cli import entry

entry()
