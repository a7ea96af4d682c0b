"""The version of nndsl, written into the files it generates (kept equal to pyproject.toml's)."""

VERSION = "0.1.0"
