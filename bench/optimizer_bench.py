"""By-hand benchmark of PyTorch's optimizer implementations on the models bench/train_bench.py
trains (not a test; run it from anywhere):

    python bench/optimizer_bench.py [--rounds 15]

For the MLP (mlp-b64) and the CNN (examples/digits_cnn.nn) of bench/train_bench.py, with SGD
(momentum 0.9) and Adam: the time of one ``optimizer.step()`` of the default implementation (on
the CPU, one tensor at a time), ``foreach=True`` and ``fused=True``, interleaved, best of the
rounds of 200 steps each; then, after 50 whole training steps from the same weights on the same
batch, whether each one's weights equal the default's bit for bit, and the largest difference.
The figures behind `fused=true` in docs/LANGUAGE.md; nndsl keeps the default implementation
unless a program asks for `fused`, since the fused updates differ from it by float rounding.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_bench  # noqa: E402 - the bench's cases, compiled from the examples

IMPLEMENTATIONS = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def optimizers():
    import torch

    return {
        "SGD": lambda p, **k: torch.optim.SGD(p, lr=0.01, momentum=0.9, **k),
        "Adam": lambda p, **k: torch.optim.Adam(p, lr=0.003, **k),
    }


def compare(base, x, y, make, rounds: int) -> dict[str, tuple[float, bool, float]]:
    """Per implementation: (microseconds a step, equal to the default's weights, largest
    difference) for one model and optimizer."""
    import torch
    import torch.nn.functional as F

    runs = {}
    for name, options in IMPLEMENTATIONS.items():
        model = copy.deepcopy(base)
        runs[name] = (model, make(model.parameters(), **options))
    for model, optimizer in runs.values():  # 50 steps of training from the same weights
        for _ in range(50):
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()  # gradients for the timed steps
    # copies: the timed steps below go on updating the models
    weights = {
        name: {k: v.clone() for k, v in model.state_dict().items()}
        for name, (model, _) in runs.items()
    }
    reference = weights["default"]
    best = dict.fromkeys(runs, float("inf"))
    for r in range(rounds):
        names = list(runs)
        for name in names[r % len(names) :] + names[: r % len(names)]:
            optimizer = runs[name][1]
            start = time.perf_counter()
            for _ in range(200):
                optimizer.step()
            best[name] = min(best[name], (time.perf_counter() - start) / 200)
    out = {}
    for name, state in weights.items():
        equal = all(torch.equal(reference[k], state[k]) for k in reference)
        diff = max((reference[k] - state[k]).abs().max().item() for k in reference)
        out[name] = (best[name] * 1e6, equal, diff)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    args = parser.parse_args(argv)
    import torch

    print(f"optimizer steps, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for lp in train_bench.prepare(None, ("mlp-b64", "cnn")):
        bs = lp.case.batch_size
        x, y = lp.x[:bs].clone(), lp.y[:bs].clone()
        for label, make in optimizers().items():
            got = compare(lp.base, x, y, make, args.rounds)
            default_us = got["default"][0]
            print(f"  {lp.case.name} {label}:")
            for name, (us, equal, diff) in got.items():
                same = "bit for bit" if equal else f"differs by up to {diff:.1e}"
                print(f"    {name:<8} {us:7.1f} us  {default_us / us:5.2f}x  {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
