"""Leaf helpers every stage may use: the user cache folder, packaged resources, the naming
service, ``@frozen`` (the frozen dataclasses of the syntax tree and the IR)."""
