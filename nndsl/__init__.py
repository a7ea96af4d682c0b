"""nndsl: a compact language for neural networks, compiled to readable PyTorch."""

__version__ = "0.1.0"
