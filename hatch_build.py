"""Wheel build hook: ship the grammar, the templates and the parse tables with the package.

A wheel holds the checkout's top-level ``grammar/`` and ``templates/`` as ``nndsl/grammar/``
and ``nndsl/templates/``. An editable install maps nothing: the package then reads the
checkout's own folders.

lark derives its LALR tables from grammar/nndsl.lark on first use, which is most of the time
of the first compile after installing. This hook builds them once, when the wheel is made, and
puts them beside the grammar (``nndsl/grammar/*.lark-cache``), where ``nndsl.lang.tables`` loads
them instead of building them. They are named by a digest of the grammar, lark's
version and Python's, so a wheel installed under another lark or Python simply builds its own.
Editable installs read the checkout and build the tables in the user's cache as before.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# The checkout's folders that a wheel ships inside the package.
_PACKAGE_DATA = {"grammar": "nndsl/grammar", "templates": "nndsl/templates"}

# Writes the tables of every parser the package builds into the folder named by argv[1].
_BUILD = "import sys; from nndsl.lang.tables import save_tables; save_tables(sys.argv[1])"


class ParseTablesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        for source, target in _PACKAGE_DATA.items():
            build_data["force_include"][str(Path(self.root) / source)] = target
        folder = Path(tempfile.mkdtemp(prefix="nndsl-tables-"))
        # Keep the build environment's own path (an isolated build finds lark through it).
        path = [self.root, os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
        cmd = [sys.executable, "-c", _BUILD, str(folder)]
        subprocess.run(cmd, cwd=self.root, env=env, check=True)
        for table in sorted(folder.glob("*.lark-cache")):
            build_data["force_include"][str(table)] = f"nndsl/grammar/{table.name}"
