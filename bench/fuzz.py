"""By-hand fuzzing campaign of the nndsl compiler (not a test; run it from anywhere):

    python bench/fuzz.py [--n 100000] [--seed 0] [--jobs 2] [--no-run] [--train]

Draws N inputs, a third from the grammar (hypothesis' ``from_lark`` over grammar/nndsl.lark), a
third mutations of examples/*.nn (tests/fuzzing.py has both generators) and a third random
forwards of shape-changing tensor code (tests/forward_fuzz.py, each accepted one run at three
batch and symbolic sizes, every tensor it computes against its predicted shape and dtype),
and holds each one to
the promise of ``tests/fuzzing.check_source``: ``analyze`` raises nothing; a refused program has
errors at places in the file; an accepted one compiles to model and training code that parses,
compiles, is black-stable and keeps to the allowed names, and each small enough model, run on
random inputs of the predicted shapes, returns the predicted shapes and dtypes (``--no-run``
skips running them); with ``--train``, each train section of an accepted program also trains
one optimizer step through its generated script, which must end normally or with a one-line
error (``tests/fuzzing.check_training``).

Reports the inputs tried (per generator), how many were accepted and how many models ran, the
crashes (each input saved under build/fuzz/ beside a .txt with what went wrong) and the slowest
input with its time: the compiler's own CPU time (the wall time beside it), analysis and
generation with black, which is what ``nndsl compile`` spends; checking and running the models
are not counted, nor is the warm-up of each worker. Exits 0 when there is
no crash and no input took longer than --slow seconds (default 1), 1 otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "fuzz"
CHUNK = 250  # inputs per task handed to a worker
KINDS = ("grammar", "mutation", "forward")  # the generators, taking turns by chunk
HANG_S = 60.0  # an input the compiler has not finished after this long is a crash (a hang)


def _setup() -> None:
    for p in (REPO, REPO / "tests"):
        if str(p) not in sys.path:
            sys.path.insert(0, str(p))


def _save(kind: str, text: str, error: str) -> str:
    digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{kind}-{digest}.nn"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    path.with_suffix(".txt").write_text(error, encoding="utf-8")
    return str(path.relative_to(REPO))


class _Stats:
    def __init__(self, kind: str):
        self.kind = kind
        self.tried = self.accepted = self.models = self.trained = 0
        self.train_dir: Path | None = None  # where --train writes the scripts it runs
        self.crashes: list[tuple[str, str]] = []  # (summary, saved path)
        self.slowest = (0.0, "", 0.0)  # (CPU seconds, input, wall seconds)
        self.over = 0  # inputs slower than the limit

    def one(self, text: str, base: Path | None, run_models: bool, slow: float) -> None:
        import forward_fuzz
        import fuzzing

        self.tried += 1
        files: dict = {}
        try:
            with fuzzing.time_limit(HANG_S):
                result = fuzzing.check_source(text, base, run_models=False, sources=files)
            if result.ok:
                self.accepted += 1
                if run_models and self.kind == "forward":
                    self.models += forward_fuzz.run_forward(files["model.py"], result.program)
                elif run_models:
                    self.models += fuzzing.check_models(files["model.py"], result.program)
                if self.train_dir is not None and result.program.trains:
                    folder = self.train_dir / f"{self.tried}"
                    self.trained += fuzzing.check_training(result, folder, base)
        except Exception as err:  # noqa: BLE001 - every failure is a finding to keep
            if isinstance(err, fuzzing._Timeout):
                err = TimeoutError(f"no result after {HANG_S:.0f} s")
            summary = f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
            path = _save(
                self.kind, text, summary + "\n\n" + "".join(traceback.format_exception(err))
            )
            self.crashes.append((summary, path))
            return
        seconds = files["cpu"]
        if seconds > slow:  # time it again: a busy machine makes single timings noisy
            again = fuzzing.timed_compile(text, base)
            seconds, files["seconds"] = min(seconds, again[0]), min(files["seconds"], again[1])
        if seconds > slow:
            self.over += 1
        if seconds > self.slowest[0]:
            self.slowest = (seconds, text, files["seconds"])


def _work(task: tuple[str, int, int, bool, float]) -> dict:
    """Run ``count`` inputs of one generator from ``seed``; returns the stats as a dict."""
    kind, seed, count, run_models, slow, train = task
    _setup()
    import random
    import tempfile

    import fuzzing
    import torch

    torch.set_num_threads(1)  # idle threads spinning after a model ran would count as CPU time
    stats = _Stats(kind)
    _, example = fuzzing.example_texts()[0]  # warm up: imports and caches are not counted
    if kind == "forward":
        import forward_fuzz

        example = forward_fuzz.forward_program(0)
    stats.one(example, fuzzing.EXAMPLES_DIR, run_models, slow)
    stats.tried, stats.accepted, stats.models, stats.slowest, stats.over = (
        0,
        0,
        0,
        (0.0, "", 0.0),
        0,
    )
    if train:
        stats.train_dir = Path(tempfile.mkdtemp(prefix="nndsl-fuzz-train-"))
    if kind == "forward":
        import forward_fuzz

        for i in range(count):
            stats.one(forward_fuzz.forward_program(seed * CHUNK + i), None, run_models, slow)
    elif kind == "mutation":
        rng = random.Random(seed)
        examples = fuzzing.example_texts()
        for _ in range(count):
            _, text = rng.choice(examples)
            stats.one(fuzzing.mutate(text, rng), fuzzing.EXAMPLES_DIR, run_models, slow)
    else:
        from hypothesis import HealthCheck, Phase, given, settings
        from hypothesis import seed as hypothesis_seed

        @hypothesis_seed(seed)
        @settings(
            max_examples=count,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(fuzzing.grammar_programs())
        def draw(text):
            stats.one(text, fuzzing.EXAMPLES_DIR, run_models, slow)

        draw()
    return {
        "kind": kind,
        "tried": stats.tried,
        "accepted": stats.accepted,
        "models": stats.models,
        "trained": stats.trained,
        "crashes": stats.crashes,
        "slowest": stats.slowest + (kind,),
        "over": stats.over,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="inputs to try (default 100,000)")
    parser.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--jobs", type=int, default=max(1, (multiprocessing.cpu_count() or 1)))
    parser.add_argument("--slow", type=float, default=1.0, help="seconds an input may take")
    parser.add_argument("--no-run", action="store_true", help="do not build and run the models")
    parser.add_argument("--train", action="store_true", help="train accepted programs one step")
    args = parser.parse_args(argv)

    tasks = []
    for i, start in enumerate(range(0, args.n, CHUNK)):
        count = min(CHUNK, args.n - start)
        kind = KINDS[i % len(KINDS)]
        tasks.append((kind, args.seed + i, count, not args.no_run, args.slow, args.train))
    keys = ("tried", "accepted", "models", "trained", "over")
    totals = {k: dict.fromkeys(keys, 0) for k in KINDS}
    crashes: list[tuple[str, str]] = []
    slowest = (0.0, "", 0.0, "")  # CPU seconds, input, wall seconds, generator
    began = time.perf_counter()
    print(
        f"fuzzing {args.n:,} inputs with {args.jobs} worker(s); "
        f"crashes go to {OUT.relative_to(REPO)}/"
    )
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for r in pool.imap_unordered(_work, tasks):
            t = totals[r["kind"]]
            for key in keys:
                t[key] += r[key]
            crashes += r["crashes"]
            slowest = max(slowest, r["slowest"])
            done = sum(t["tried"] for t in totals.values())
            print(
                f"  {done:>7,} tried  {len(crashes)} crashes  slowest {slowest[0]:.3f} s CPU  "
                f"({time.perf_counter() - began:,.0f} s)",
                flush=True,
            )

    print()
    for kind, t in totals.items():
        print(
            f"{kind:>9}: {t['tried']:,} tried, {t['accepted']:,} accepted, "
            f"{t['models']:,} models run, {t['trained']:,} sections trained one step, "
            f"{t['over']:,} slower than {args.slow} s"
        )
    tried = sum(t["tried"] for t in totals.values())
    print(f"    total: {tried:,} inputs in {time.perf_counter() - began:,.0f} s")
    print(f"  crashes: {len(crashes)}")
    kinds: dict[str, list[str]] = {}
    for summary, path in crashes:
        kinds.setdefault(summary, []).append(path)
    for summary, paths in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        print(f"    {len(paths)} x {summary}\n      e.g. {paths[0]}")
    seconds, text, wall, kind = slowest
    where = (
        _save(f"slowest-{kind}", text, f"{seconds:.3f} s CPU, {wall:.3f} s\n") if text else "none"
    )
    print(f"  slowest: {seconds:.3f} s of CPU, {wall:.3f} s wall ({where})")
    return 0 if not crashes and slowest[0] <= args.slow else 1


if __name__ == "__main__":
    sys.exit(main())
