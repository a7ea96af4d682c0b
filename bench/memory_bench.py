"""By-hand benchmark: the saved activations ``nndsl summary --train`` plans for each example's
train sections against what autograd keeps, measured in torch (not a test; the test is
tests/test_memory_plan.py, which asks for 15%):

    python bench/memory_bench.py [--batch N]

For each train section of examples/*.nn: the planner's figure for a step at the section's own
batch (or --batch), for the CPU's kernels, which are the ones measured, and the measure
(tests/memory_measure.py): one forward, loss and metrics of the generated script's step on
that many samples of the section's data, under ``saved_tensors_hooks``, each storage once,
the parameters' left out. The last column is the plan for CUDA's kernels, which differ in
dropout masks (1 byte a value there) and unmeasured here.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
from compiled import BUILT  # noqa: E402  (not the examples too large to build)
from memory_measure import example_sections, measure_section  # noqa: E402

from nndsl.tools.memory_step import saved_bytes  # noqa: E402


def rows(batch: int | None) -> list[tuple[str, int, int, int, int]]:
    """(section, batch, planned bytes, measured bytes, planned for cuda) of every example's
    train section."""
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for label, path, program, t, module in example_sections(BUILT, Path(folder)):
            b = batch or next(f.default for f in t.config if f.name == "batch_size")
            planned, cuda = (saved_bytes(program, t, b, device) for device in ("cpu", "cuda"))
            out.append((label, b, planned, measure_section(module, t, path, b), cuda))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, help="the batch (default: each section's own)")
    args = parser.parse_args()
    table = rows(args.batch)
    print("| section | batch | planned, cpu (B) | measured, cpu (B) | ratio | planned, cuda (B) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, b, planned, measured, cuda in table:
        ratio = planned / measured
        print(f"| {label} | {b} | {planned:,} | {measured:,} | {ratio:.3f} | {cuda:,} |")
    worst = max(abs(p / m - 1) for _, _, p, m, _ in table)
    print(f"\nlargest difference: {worst:.1%}")


if __name__ == "__main__":
    main()
