"""By-hand benchmark of the nndsl compiler (not a test; run it from anywhere):

    python bench/compile_bench.py [--rounds 7] [--sizes 1000,10000,100000]

(a) startup: whole-process time of ``python -m nndsl compile examples/cnn.nn -o build/model.py``
    against ``python -c "import torch"``, interleaved, medians and their ratios: warm (the user
    cache holds the parse tables, compiled templates and formatted code; target <= 0.1) and
    cold (a fresh, empty cache folder each round, as the first compile after installing;
    target <= 0.15);
(b) throughput: parse + check + render of synthetic flat programs, in process, through
    ``nndsl.compiler.compile_source(text, filename, format=False)``: source lines/s per size
    (target >= 10,000) and the per-line cost of the largest size over the smallest (target <= 1.5x);
(c) the whole compile of the 1,000-layer program including black formatting (target <= 2.5 s),
    as a separate process through the CLI and, for reference, in process.

Writes only under build/ (git-ignored). Exits 0 when every measured target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "build"
CNN = REPO / "examples" / "cnn.nn"

WARM_RATIO_MAX = 0.1
COLD_RATIO_MAX = 0.15
LINES_PER_S_MIN = 10_000
PER_LINE_RATIO_MAX = 1.5
FORMAT_1K_MAX_S = 2.5


def flat_program(layers: int) -> str:
    """One ``model Flat(x: [16])`` whose body alternates Linear(16) and ReLU(), one per line."""
    body = "".join("    Linear(16)\n" if i % 2 == 0 else "    ReLU()\n" for i in range(layers))
    return "model Flat(x: [16]) {\n" + body + "}\n"


def timed_process(
    cmd: list[str], cache: Path | None = None
) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``cmd`` from the repository; with ``cache``, as nndsl's user cache folder."""
    env = dict(os.environ, NNDSL_CACHE_DIR=str(cache)) if cache is not None else None
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def row(label: str, value: str, target: str, status: str) -> None:
    print(f"  {label:<34} {value:>14}   {target:<14} {status}")


def bench_startup(rounds: int) -> bool | None:
    print(f"(a) startup, whole process, {rounds} interleaved rounds")
    if not CNN.is_file():
        print(
            f"  skipped: {CNN.relative_to(REPO)} does not exist yet "
            "(the example ships with the compiler)"
        )
        return None
    BUILD.mkdir(exist_ok=True)
    torch_cmd = [sys.executable, "-c", "import torch"]
    nndsl_cmd = [sys.executable, "-m", "nndsl", "compile", str(CNN), "-o", str(BUILD / "model.py")]
    warm_cache, cold_cache = BUILD / "cache-warm", BUILD / "cache-cold"
    shutil.rmtree(warm_cache, ignore_errors=True)
    for cmd in (torch_cmd, nndsl_cmd):  # warm the file cache and nndsl's; not counted
        _, proc = timed_process(cmd, warm_cache)
        if proc.returncode != 0:
            print(f"  skipped: `{' '.join(cmd[1:])}` exited {proc.returncode}:")
            print("    " + (proc.stderr.strip() or proc.stdout.strip()).replace("\n", "\n    "))
            return None
    runs = {"torch": [], "warm": [], "cold": []}
    kinds = [
        ("torch", torch_cmd, None),
        ("warm", nndsl_cmd, warm_cache),
        ("cold", nndsl_cmd, cold_cache),
    ]
    for r in range(rounds):
        # Rotate which goes first so none always runs right after another.
        for name, cmd, cache in kinds[r % 3 :] + kinds[: r % 3]:
            if name == "cold":
                shutil.rmtree(cold_cache, ignore_errors=True)
            seconds, proc = timed_process(cmd, cache)
            if proc.returncode != 0:
                print(
                    f"  failed: `{' '.join(cmd[1:])}` exited {proc.returncode}: "
                    f"{proc.stderr.strip()}"
                )
                return False
            runs[name].append(seconds)
    t = statistics.median(runs["torch"])
    row("python -c 'import torch' (median)", f"{t * 1000:.0f} ms", "", "")
    ok = True
    for name, limit in (("warm", WARM_RATIO_MAX), ("cold", COLD_RATIO_MAX)):
        n = statistics.median(runs[name])
        row(f"nndsl compile cnn.nn, {name} cache", f"{n * 1000:.0f} ms", "", "")
        row(f"ratio {name} / torch", f"{n / t:.3f}", f"<= {limit}", verdict(n / t <= limit))
        ok = ok and n / t <= limit
    return ok


MISSING = "nndsl.compiler.compile_source is not available yet"


def load_compile_source():
    try:
        from nndsl.compiler import compile_source
    except ImportError as exc:
        print(f"note: {MISSING} ({exc})")
        return None
    return compile_source


def bench_throughput(compile_source, sizes: list[int]) -> bool | None:
    print("(b) parse + check + render, in process, format=False")
    if compile_source is None:
        print(f"  skipped: {MISSING}")
        return None
    compile_source(flat_program(10), "warmup.nn", format=False)  # builds the parser once
    results: list[tuple[int, int, float]] = []
    ok = True
    for size in sizes:
        text = flat_program(size)
        lines = text.count("\n")
        reps = 3 if size <= 10_000 else 1
        best = float("inf")
        for _ in range(reps):
            start = time.perf_counter()
            compile_source(text, f"flat_{size}.nn", format=False)
            best = min(best, time.perf_counter() - start)
        rate = lines / best
        ok &= rate >= LINES_PER_S_MIN
        row(
            f"{size:,} layers ({best:.2f} s)",
            f"{rate:,.0f} lines/s",
            f">= {LINES_PER_S_MIN:,}",
            verdict(rate >= LINES_PER_S_MIN),
        )
        results.append((size, lines, best))
    if len(results) >= 2:
        (s0, l0, t0), (s1, l1, t1) = results[0], results[-1]
        ratio = (t1 / l1) / (t0 / l0)
        ok &= ratio <= PER_LINE_RATIO_MAX
        row(
            f"per-line cost {s1:,} / {s0:,}",
            f"{ratio:.2f}x",
            f"<= {PER_LINE_RATIO_MAX}x",
            verdict(ratio <= PER_LINE_RATIO_MAX),
        )
    return ok


def bench_format(compile_source) -> bool | None:
    print("(c) whole compile of the 1,000-layer program, with black formatting")
    BUILD.mkdir(exist_ok=True)
    source = BUILD / "flat_1000.nn"
    source.write_text(flat_program(1000))
    seconds, proc = timed_process(
        [sys.executable, "-m", "nndsl", "compile", str(source), "-o", str(BUILD / "flat_1000.py")]
    )
    result: bool | None = None
    if proc.returncode == 0:
        result = seconds <= FORMAT_1K_MAX_S
        row(
            "nndsl compile, whole process",
            f"{seconds:.2f} s",
            f"<= {FORMAT_1K_MAX_S} s",
            verdict(result),
        )
    else:
        print(
            f"  CLI skipped: `-m nndsl compile` exited {proc.returncode}: "
            f"{proc.stderr.strip()[-300:]}"
        )
    if compile_source is None:
        print(f"  in-process figure skipped: {MISSING}")
    else:
        start = time.perf_counter()
        compile_source(source.read_text(), source.name, format=True)
        seconds = time.perf_counter() - start
        ok = seconds <= FORMAT_1K_MAX_S
        row(
            "compile_source(format=True)",
            f"{seconds:.2f} s",
            f"<= {FORMAT_1K_MAX_S} s",
            verdict(ok),
        )
        result = ok if result is None else result and ok
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved startup rounds (>= 7)")
    parser.add_argument(
        "--sizes",
        default="1000,10000,100000",
        help="comma-separated layer counts for the flat programs (default: 1000,10000,100000)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 7:
        parser.error("--rounds must be at least 7")
    try:
        sizes = sorted({int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not sizes or sizes[0] < 1:
        parser.error("--sizes needs at least one positive layer count")

    sys.path.insert(0, str(REPO))  # the checkout's nndsl, even when it is not installed
    print(f"nndsl compile benchmark, Python {sys.version.split()[0]}, {sys.executable}")
    results = [bench_startup(args.rounds)]
    compile_source = load_compile_source()
    results.append(bench_throughput(compile_source, sizes))
    results.append(bench_format(compile_source))
    measured = [r for r in results if r is not None]
    print(
        f"{sum(measured)}/{len(measured)} measured sections met their targets"
        + (f"; {len(results) - len(measured)} skipped" if len(measured) < len(results) else "")
    )
    return 0 if measured and all(measured) else 1


if __name__ == "__main__":
    sys.exit(main())
