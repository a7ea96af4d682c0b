"""By-hand benchmark of ``nndsl export`` (not a test; run it from anywhere):

    python bench/export_bench.py [--formats pt2,onnx]

Exports every model of examples/*.nn to each format through ``nndsl.export``, and prints one
row per model and format: the seconds spent exporting and writing, the seconds spent checking
the written file, and the largest absolute difference from the PyTorch model at each set of
sizes checked (or why the model was refused). Writes only under build/export/ (git-ignored).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "export"
FIXED = {"RNNRegressor": {"T": 16}}  # nn.RNN's export unrolls its steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", default="pt2,onnx", help="comma-separated: pt2, onnx")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import nndsl

    OUT.mkdir(parents=True, exist_ok=True)
    print(f"{'model':<18} {'format':<6} {'export s':>8} {'check s':>8}  largest differences")
    for path in sorted((REPO / "examples").glob("*.nn")):
        if path.name == "sharded_gpt.nn":  # 6.4 billion parameters: not built here
            continue
        for model in nndsl.check(path).models:
            for fmt in args.formats.split(","):
                target = OUT / f"{model.name}.{fmt}"
                try:
                    done = nndsl.export(path, target, model=model.name, sizes=FIXED.get(model.name))
                except nndsl.NNDSLError as err:
                    print(f"{model.name:<18} {fmt:<6} {'-':>8} {'-':>8}  refused: {err}")
                    continue
                gaps = ", ".join(f"{gap:.2g}" for _, gap in done.differences) or done.skipped
                print(
                    f"{model.name:<18} {fmt:<6} {done.seconds:>8.2f} "
                    f"{done.check_seconds:>8.2f}  {gaps}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
