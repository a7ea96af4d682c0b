"""By-hand benchmark of data-file inspection and of the script's CSV reader (not a test):

    python bench/data_bench.py [--rounds 5] [--quick]

Generates its files deterministically under build/data_bench/ (git-ignored; kept between runs)
and measures, with the variants interleaved in each round (their order rotated) and the ratios
taken per round, then their median, so they hold on a shared machine:

(a) ``nndsl check`` of a CSV file, as the checker reads it: ``inspect_csv`` with a fresh cache,
    then the range of the label column (the targets' range), against ``np.loadtxt`` as the
    training script calls it (its ``read_csv``) and plain ``np.loadtxt(path, delimiter=",",
    skiprows=1)``, on two files of 200,000 x 65: floats (64 columns of ``%.4f`` normal numbers,
    an integer label; about 95 MB) and integers (64 pixel columns 0 .. 16 and a label, like
    examples/data/digits.csv). Target: time <= 1.5x of the script's ``np.loadtxt``. Peak memory
    (the growth of the peak RSS of a fresh process) of the same at 50,000 and 200,000 rows:
    the checker's must not grow with the rows.
(b) the script's ``read_csv`` (rendered from templates/train/data.py.j2) against the former
    one (``csv.reader``, then ``float()`` per cell): equal tensors, and the time ratio.
(c) an ``.npz`` of 500,000 28 x 28 uint8 images, nearly all zeros (about 380 KB compressed,
    392 MB inside), and int64 labels: the checker's inspection and the labels' range, against
    reading every array's range (what inspection did before).
(d) a ``.pt`` of 50,000,000 int64 labels (400 MB): inspection and range, time and peak memory.

Exits 0 when the targets hold, 1 otherwise. ``--quick``: a tenth of the rows, one round.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "data_bench"
sys.path.insert(0, str(REPO))

CSV_RATIO_MAX = 1.5
CHECKER = "from nndsl.datafiles import inspect as datafiles"
NUMPY = "import numpy as np"


def make_csv(path: Path, rows: int, kind: str) -> Path:
    import numpy as np

    if path.exists():
        return path
    rng = np.random.default_rng(0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        f.write(",".join([f"f{i}" for i in range(64)] + ["label"]) + "\n")
        for at in range(0, rows, 10_000):
            n = min(10_000, rows - at)
            labels = rng.integers(0, 10, n)
            if kind == "floats":
                body = [f"{v:.4f}" for v in rng.standard_normal(n * 64)]
            else:
                body = [str(v) for v in rng.integers(0, 17, n * 64)]
            f.writelines(
                ",".join(body[i * 64 : (i + 1) * 64]) + f",{labels[i]}\n" for i in range(n)
            )
    return path


def script_reader():
    """The generated script's read_csv, rendered from its template."""
    import numpy as np
    import torch

    text = (REPO / "templates" / "train" / "data.py.j2").read_text(encoding="utf-8")
    code = text.split("{% if csv %}")[1].split("{% endif %}")[0]
    scope = {"np": np, "torch": torch, "Path": Path, "csv": csv}
    exec(code, scope)
    return scope["read_csv"]


def former_reader(path: Path, skip: int):
    """The script's CSV reader before numpy: csv.reader, then float() per cell."""
    import torch

    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))[skip:]
    return torch.tensor([[float(v) for v in row] for row in rows], dtype=torch.float32)


def check_csv(path: Path):
    from nndsl.datafiles import inspect as datafiles

    datafiles.clear_cache()
    table = datafiles.inspect_csv(path)
    label = table.columns("label")[0]
    return table.shape, label.dtype, label.min, label.max


def rounds(variants: dict, n: int) -> dict[str, list[float]]:
    """Seconds of each variant in each of n rounds, interleaved, the order rotated."""
    names = list(variants)
    times: dict[str, list[float]] = {k: [] for k in names}
    for r in range(n):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t0 = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - t0)
    return times


def ratio(times: dict, a: str, b: str) -> float:
    return statistics.median(x / y for x, y in zip(times[a], times[b]))


def peak_mb(imports: str, snippet: str) -> float:
    """MB the peak RSS of a fresh process rises above its RSS after the imports while it runs
    ``snippet``; it imports only what the snippet needs (the checker neither numpy nor torch).
    Linux only: the peak is reset through /proc/self/clear_refs once the imports are done."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        {imports}
        def status(key):
            with open("/proc/self/status") as f:
                return next(int(x.split()[1]) for x in f if x.startswith(key))
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        base = status("VmRSS:")
        {snippet}
        print((status("VmHWM:") - base) / 1024)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1])


def bench_csv(n_rounds: int, rows: int) -> bool:
    import numpy as np
    import torch

    read_csv, ok = script_reader(), True
    print(f"(a) check of a CSV file, {rows:,} x 65, against np.loadtxt ({n_rounds} rounds)")
    for kind in ("floats", "ints"):
        path = make_csv(OUT / f"{kind}-{rows}.csv", rows, kind)
        variants = {
            "check": lambda path=path: check_csv(path),
            "script": lambda path=path: read_csv(path, 1),
            "loadtxt": lambda path=path: np.loadtxt(path, delimiter=",", skiprows=1),
        }
        times = rounds(variants, n_rounds)
        r = ratio(times, "check", "script")
        ok &= r <= CSV_RATIO_MAX
        mb = path.stat().st_size / 1e6
        print(
            f"    {kind:6s} {mb:5.1f} MB: check {statistics.median(times['check']):.2f} s, "
            f"script's np.loadtxt {statistics.median(times['script']):.2f} s, "
            f"np.loadtxt {statistics.median(times['loadtxt']):.2f} s; check / script "
            f"{r:.2f}x, check / np.loadtxt {ratio(times, 'check', 'loadtxt'):.2f}x "
            f"(target <= {CSV_RATIO_MAX}x: {'ok' if r <= CSV_RATIO_MAX else 'MISS'})"
        )
    print("    peak memory (MB), rows: 1/4 and all")
    for kind in ("floats", "ints"):
        sizes = (rows // 4, rows)
        paths = [make_csv(OUT / f"{kind}-{n}.csv", n, kind) for n in sizes]
        check = [
            peak_mb(CHECKER, f"datafiles.inspect_csv({str(p)!r}).columns(-1)[0].max") for p in paths
        ]
        loadtxt = [
            peak_mb(NUMPY, f"np.loadtxt({str(p)!r}, delimiter=',', skiprows=1)") for p in paths
        ]
        grows = check[1] > check[0] * 1.5 + 8
        ok &= not grows
        print(
            f"    {kind:6s} check {check[0]:6.1f} {check[1]:6.1f}   np.loadtxt {loadtxt[0]:6.1f} "
            f"{loadtxt[1]:6.1f}   check / np.loadtxt {check[1] / max(loadtxt[1], 0.1):.2f}x "
            f"({'grows with the rows: MISS' if grows else 'independent of the rows: ok'})"
        )
    print(f"(b) the script's read_csv against the former csv.reader one ({n_rounds} rounds)")
    for kind in ("floats", "ints"):
        path = OUT / f"{kind}-{rows}.csv"
        same = torch.equal(read_csv(path, 1), former_reader(path, 1))
        ok &= same
        times = rounds(
            {
                "numpy": lambda path=path: read_csv(path, 1),
                "former": lambda path=path: former_reader(path, 1),
            },
            n_rounds,
        )
        print(
            f"    {kind:6s} equal tensors: {same}; "
            f"former / numpy {ratio(times, 'former', 'numpy'):.2f}x"
        )
    return ok


def bench_npz(n_rounds: int, images: int) -> None:
    import numpy as np

    from nndsl.datafiles import inspect as datafiles

    path = OUT / f"images-{images}.npz"
    if not path.exists():
        x = np.zeros((images, 28, 28), dtype=np.uint8)
        x[::1000, 14, 14] = 255
        np.savez_compressed(path, x=x, y=np.arange(images, dtype=np.int64) % 10)

    def check():
        datafiles.clear_cache()
        return datafiles.inspect_npz(path)["y"].max

    def every():
        datafiles.clear_cache()
        return [a.max for a in datafiles.inspect_npz(path).values()]

    times = rounds({"check": check, "every": every}, n_rounds)
    print(
        f"(c) .npz of {images:,} images, {path.stat().st_size / 1e3:.0f} KB: check (the labels' "
        f"range) {statistics.median(times['check']):.2f} s; every array's range (as before) "
        f"{statistics.median(times['every']):.2f} s"
    )


def bench_pt(labels: int) -> None:
    import torch

    from nndsl.datafiles import inspect as datafiles

    path = OUT / f"labels-{labels}.pt"
    if not path.exists():
        torch.save(torch.arange(labels, dtype=torch.int64) % 10, path)
    datafiles.clear_cache()
    t0 = time.perf_counter()
    found = datafiles.inspect_pt(path)
    t1 = time.perf_counter()
    lo, hi = found.min, found.max
    t2 = time.perf_counter()
    mb = peak_mb(CHECKER, f"datafiles.inspect_pt({str(path)!r}).min")
    load = peak_mb("import torch", f"torch.load({str(path)!r}, weights_only=True)")
    print(
        f"(d) .pt of {labels:,} int64 labels ({path.stat().st_size / 1e6:.0f} MB): inspection "
        f"{t1 - t0:.3f} s, range {lo} .. {hi} {t2 - t1:.2f} s; peak memory {mb:.0f} MB "
        f"(torch.load {load:.0f} MB)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the rows, one round")
    args = parser.parse_args()
    scale, n = (10, 1) if args.quick else (1, args.rounds)
    ok = bench_csv(n, 200_000 // scale)
    bench_npz(n, 500_000 // scale)
    bench_pt(50_000_000 // scale)
    print("all targets met" if ok else "some targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
