"""By-hand benchmark of what the loss plot adds to a run's wall time (not a test):

    python bench/plot_bench.py [--rounds 7] [--epochs 300] [--variants none,plot,pyplot]

Whole runs of examples/add.nn's training script (``python train_addnet.py --quiet --device
cpu``, 300 epochs of 3 steps by default), each a fresh process, in rounds that interleave the
variants (their order rotated, so a busy moment of a shared machine falls on each in turn):

  none     matplotlib made unimportable: no plot, the baseline
  plot     as shipped: loss.png drawn with matplotlib.figure and the Agg canvas (no
           pyplot), by the worker the run forks as it starts (kit.Figures)
  pyplot   the plot as it was drawn before (matplotlib.pyplot, tight_layout), for reference

For each variant it prints the median over the rounds of (its wall time - none's in the same
round) and of (its wall time / none's), the median wall times, and the median CPU time (user +
system) it adds. Target:
plot - none <= 0.2 s of wall time. Exits 0 when the target is met, 1 otherwise. Writes only
under build/plot_bench/ (git-ignored).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "plot_bench"
TARGET = 0.2  # seconds the plot may add to a run
VARIANTS = ("none", "plot", "pyplot")

# Runs the script as `python train_addnet.py ARGS` would, after setting up the variant.
DRIVER = textwrap.dedent("""
    import runpy, sys
    variant, sys.argv = sys.argv[1], ["train_addnet.py", *sys.argv[2:]]
    sys.path.insert(0, ".")
    if variant == "none":
        sys.modules["matplotlib"] = None  # find_spec and import both fail
    import trainkit

    def pyplot_plot(history, path):  # the kit's plot before it used Figure and Agg
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        epochs = [h["epoch"] for h in history]
        for key in ("loss", "val_loss"):
            if key in history[0]:
                ax.plot(epochs, [h[key] for h in history], label=key)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
        fig.tight_layout()
        trainkit.write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
        plt.close(fig)
        return True

    if variant == "pyplot":
        trainkit.Figures.DRAW["loss"] = pyplot_plot
    runpy.run_path("train_addnet.py", run_name="__main__")
""")


def compile_add() -> Path:
    folder = OUT / "src"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cmd = [sys.executable, "-m", "nndsl", "compile", str(REPO / "examples" / "add.nn")]
    subprocess.run([*cmd, "-o", str(folder / "model.py")], check=True, cwd=REPO)
    return folder


def one_run(folder: Path, variant: str, n: int, epochs: int) -> tuple[float, float]:
    """Wall and CPU seconds of one whole run of the script, in a fresh process."""
    out = OUT / "runs" / f"{variant}-{n}"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", DRIVER, variant, "--quiet", "--device", "cpu"]
    cmd += ["--epochs", str(epochs), "--out-dir", str(out)]
    cpu = os.times()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=folder, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    after = os.times()
    used = after.children_user + after.children_system - cpu.children_user - cpu.children_system
    drawn = (out / "loss.png").exists()
    assert drawn == (variant != "none"), f"{variant}: loss.png {'not ' * (not drawn)}written"
    shutil.rmtree(out)
    return seconds, used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=300)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    variants = ["none"] + [v for v in args.variants.split(",") if v in VARIANTS[1:]]
    folder = compile_add()
    times: dict[str, list[float]] = {v: [] for v in variants}
    cpus: dict[str, list[float]] = {v: [] for v in variants}
    one_run(folder, "plot", 0, args.epochs)  # warm the file cache
    for r in range(args.rounds):
        order = variants[r % len(variants) :] + variants[: r % len(variants)]
        for variant in order:
            seconds, cpu = one_run(folder, variant, r, args.epochs)
            times[variant].append(seconds)
            cpus[variant].append(cpu)
        print(f"round {r + 1}: " + ", ".join(f"{v} {times[v][-1]:.2f} s" for v in variants))
    base, base_cpu = times["none"], cpus["none"]
    print(f"\nexamples/add.nn, {args.epochs} epochs, {args.rounds} interleaved rounds; medians:")
    print(f"  none    {statistics.median(base):6.2f} s (cpu {statistics.median(base_cpu):.2f} s)")
    added = {}
    for variant in variants[1:]:
        ts = times[variant]
        diffs = [t - b for t, b in zip(ts, base)]
        added[variant] = statistics.median(diffs)
        ratio = statistics.median(t / b for t, b in zip(ts, base))
        cpu = statistics.median(c - b for c, b in zip(cpus[variant], base_cpu))
        print(
            f"  {variant:7s} {statistics.median(ts):6.2f} s: adds {added[variant]:+.3f} s "
            f"(x{ratio:.3f}; spread {min(diffs):+.2f} to {max(diffs):+.2f} s), "
            f"cpu {cpu:+.2f} s"
        )
    if "plot" not in added:
        return 0
    ok = added["plot"] <= TARGET
    print(f"plot - none {added['plot']:+.3f} s (target <= {TARGET} s: {'ok' if ok else 'MISS'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
