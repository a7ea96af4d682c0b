"""nndsl: a compact language for neural networks, compiled to readable PyTorch.

The Python API (docs/API.md): ``check``, ``compile``, ``load``, ``loads``, ``train``,
``export`` and ``NNDSLError``, imported from :mod:`nndsl.api` when first used, so that
``import nndsl`` stays as cheap as the command line needs; ``%load_ext nndsl`` loads the
IPython extension.
"""

import types as _types

from nndsl import check as _checker
from nndsl.util.version import VERSION as __version__

__all__ = ["check", "compile", "load", "loads", "train", "export", "NNDSLError", "__version__"]
_API = frozenset(__all__) - {"check", "__version__"}


def __getattr__(name: str):
    if name in _API:
        from nndsl import api

        return getattr(api, name)
    raise AttributeError(f"module 'nndsl' has no attribute {name!r}")


def load_ipython_extension(ipython) -> None:
    """``%load_ext nndsl`` in IPython or Jupyter: registers the ``%%nndsl`` cell magic
    (:mod:`nndsl.api.notebook`, the only module that imports IPython)."""
    from nndsl.api.notebook import load_ipython_extension as load

    load(ipython)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__} - {"_types", "_checker", "_API", "_Checker"})


class _Checker(_types.ModuleType):
    """``nndsl.check`` is the checker's package (``nndsl.check.checker``...), which the import
    system binds to that name; calling it is :func:`nndsl.api.check`."""

    def __call__(self, source, **kwargs):
        from nndsl.api import check

        return check(source, **kwargs)


_checker.__class__ = _Checker
