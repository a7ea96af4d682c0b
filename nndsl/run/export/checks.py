"""What an export refuses before anything is compiled or torch imported: an output suffix of no
known format, ONNX without its packages, a weights file that is missing; and a model the
program does not hold; the sizes ``--size`` fixes."""

from __future__ import annotations

from pathlib import Path

from nndsl.ir import nodes as ir
from nndsl.run.export.errors import missing, usage

FORMATS = {".onnx": "ONNX", ".pt2": "torch.export"}
WEIGHTS = (".pt", ".pth", ".safetensors")


def request(output: Path, weights: Path | None, tolerance: float | None) -> str:
    """Everything about a request that can be refused before compiling; its format."""
    fmt = export_format(output)
    if fmt == "ONNX":
        require_onnx()
    if weights is not None:
        weights_file(weights)
    if tolerance is not None and not tolerance >= 0:  # NaN too
        raise usage(f"--tolerance {tolerance:g}: expected a difference of 0 or more")
    return fmt


def export_format(output: Path) -> str:
    """The format the suffix of ``output`` picks: ``ONNX`` or ``torch.export``."""
    fmt = FORMATS.get(output.suffix.lower())
    if fmt is None:
        raise usage(
            f"-o {output}: the suffix picks the format: .onnx (ONNX) or .pt2 (torch.export)"
        )
    return fmt


def require_onnx() -> None:
    """onnx and onnxscript, which torch.onnx's dynamo exporter needs, are installed."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise missing("exporting to ONNX", "onnx and onnxscript") from None


def weights_file(path: Path) -> None:
    """A weights file that exists, of a kind that can be read."""
    if path.suffix.lower() not in WEIGHTS:
        raise usage(f"--weights {path}: expected a .pt, .pth or .safetensors file")
    if not path.is_file():
        raise usage(f"--weights {path}: no such file")


def pick_model(program: ir.ProgramIR, name: str | None, shown: str) -> str:
    """The model to export: ``name``, or the program's only model."""
    names = [m.name for m in program.models]
    if name is not None and name not in names:
        raise usage(f"{shown} has no model {name} (models: {', '.join(names) or 'none'})")
    if name is None and len(names) != 1:
        if not names:
            raise usage(f"{shown} has no model to export")
        raise usage(f"{shown} has several models ({', '.join(names)}): choose one with --model")
    return name or names[0]


def parse_sizes(given: list[str] | None) -> dict[str, int]:
    """``--size T=16`` (repeatable) as ``{"T": 16}``; ExportError for a malformed one."""
    sizes: dict[str, int] = {}
    for item in given or ():
        name, eq, value = item.partition("=")
        if not (eq and name.strip().isidentifier() and value.strip().isdigit()):
            raise usage(f"--size {item}: expected NAME=N, such as T=16")
        if int(value) < 1:
            raise usage(f"--size {item}: a size is at least 1")
        sizes[name.strip()] = int(value)
    return sizes


def shown(sizes: dict[str, int], dynamic: tuple[str, ...]) -> str:
    """``B=1, T=16``: the dynamic sizes of a set."""
    return ", ".join(f"{n}={sizes[n]}" for n in dynamic) or "the fixed sizes"
