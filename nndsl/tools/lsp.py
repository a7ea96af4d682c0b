"""``nndsl lsp``: a language server over stdio, with pygls (the ``lsp`` extra).

Diagnostics as you type (the checker of ``nndsl check``, with its codes and ranges), hover with
the inferred shape, dtype, parameters and MACs of a layer or value, completion of layers,
arguments, losses, optimizers, schedulers, init functions and data readers from the registries,
go to definition for layers, blocks, models and data sections, formatting by ``nndsl fmt``, and
quick fixes: the fix a diagnostic carries where its help names a replacement.
:mod:`nndsl.tools.lsp_features` computes each answer and :mod:`nndsl.tools.lsp_server` speaks
the protocol.
"""

from __future__ import annotations

import sys

from nndsl.diagnostics.core import EXIT_OK, EXIT_USAGE


def main(args) -> int:
    try:
        from nndsl.tools.lsp_server import make_server
    except ImportError as err:
        print(
            f"nndsl: error: `nndsl lsp` needs pygls ({err}); install it with "
            "`pip install 'nndsl[lsp]'`",
            file=sys.stderr,
        )
        return EXIT_USAGE
    make_server().start_io()
    return EXIT_OK
