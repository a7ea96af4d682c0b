"""Wheel build hook: ship the parse tables with the package.

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

# Writes the tables of every parser the package builds into the folder named by argv[1].
_BUILD = "import sys; from nndsl.lang.tables import save_tables; save_tables(sys.argv[1])"


class ParseTablesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        folder = Path(tempfile.mkdtemp(prefix="nndsl-tables-"))
        env = dict(os.environ, PYTHONPATH=self.root)
        cmd = [sys.executable, "-c", _BUILD, str(folder)]
        subprocess.run(cmd, cwd=self.root, env=env, check=True)
        for table in sorted(folder.glob("*.lark-cache")):
            build_data["force_include"][str(table)] = f"nndsl/grammar/{table.name}"
