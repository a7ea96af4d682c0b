"""``nndsl export net.nn -o model.onnx``: the command line around :func:`artifact.export`."""

from __future__ import annotations

import sys
from pathlib import Path

from nndsl.diagnostics.core import EXIT_DIAGNOSTICS, EXIT_OK
from nndsl.run.export import checks
from nndsl.run.export.errors import ExportError


def command(args, text: str, report) -> int:
    """Check the request, compile, export, check the file; print what was written."""
    try:
        output = Path(args.output)
        weights = Path(args.weights) if args.weights else None
        checks.request(output, weights, args.tolerance)
        fixed = checks.parse_sizes(args.size)
        from nndsl.compiler import analyze

        source = Path(args.file)
        result = analyze(text, source.parent)
        report(result.diagnostics)
        if not result.ok:
            return EXIT_DIAGNOSTICS
        name = checks.pick_model(result.program, args.model, args.file)
        from nndsl.run.export.artifact import Request, export

        request = Request(
            result.program, text, source.name, source.parent, name, output, weights, fixed,
            args.tolerance,
        )  # fmt: skip
        done = export(request)
    except ExportError as err:
        print(f"nndsl: error: {err}", file=sys.stderr)
        return err.code
    print_report(done)
    return EXIT_OK


def print_report(done) -> None:
    size = done.path.stat().st_size
    dynamic = ", ".join(done.dynamic) or "none"
    print(
        f"exported {done.model} to {done.path} ({done.format}, {_bytes(size)}) in "
        f"{done.seconds:.1f} s; dynamic sizes: {dynamic}"
    )
    if done.fresh:
        print(
            f"note: no --weights: this is {done.model}'s fresh initialisation (seed 0)",
            file=sys.stderr,
        )
    if done.skipped:
        print(f"note: {done.skipped}", file=sys.stderr)
        return
    gaps = " and ".join(
        f"{gap:.3g} ({checks.shown(sizes, done.dynamic)})" for sizes, gap in done.differences
    )
    print(
        f"checked against the PyTorch model (eval mode) in {done.check_seconds:.1f} s: largest "
        f"absolute difference {gaps}; tolerance {done.tolerance:g}"
    )


def _bytes(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    return f"{n / 1e3:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"
