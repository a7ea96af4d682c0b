"""Where the grammar and templates live: inside the installed package, or beside it in a
checkout."""

from __future__ import annotations

from pathlib import Path


def resource_dir(name: str) -> Path:
    """The ``grammar`` or ``templates`` folder.

    A wheel ships them inside the package (``nndsl/grammar``); a source checkout or editable
    install keeps them at the top of the repository.
    """
    package = Path(__file__).resolve().parent.parent  # nndsl/, above util/
    inside = package / name
    if inside.is_dir():
        return inside
    beside = package.parent / name
    if beside.is_dir():
        return beside
    raise FileNotFoundError(f"nndsl is installed without its {name}/ folder (looked in {package})")
