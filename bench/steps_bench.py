"""By-hand benchmark: the generated loops of examples/digits_gan.nn and examples/digits_vae.nn
against hand-written loops doing the same steps (not a test):

    python bench/steps_bench.py [--rounds 15]

The GAN: one epoch of the kit's ``Loop`` as ``Run.train_steps`` builds it (the script's own
models, steps and options, recorded from its ``main``), against a loop written as the DCGAN
tutorial writes one: for each batch, the critic's step (zero_grad, its loss on real and
detached made images, backward, step), then the maker's, on the same models and data in the
same order. The VAE: the kit's ``Loop`` of ``Run.train`` against forward, the two terms,
backward, step, zero_grad per batch. Both hand loops log what the kit logs (each term, kept
detached and reduced once per epoch), so the comparison is of the loop, not of the logging.

Rounds interleave the two loops (their order alternates); the ratio is the median over rounds
of hand time / runner time (1.0: as fast; the target is at least 0.97, the runner within 3%),
with the machine-busy filter of bench/train_bench.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_bench import BUSY_CORES, MIN_CLEAN, compile_case, timed, wait_quiet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.97


def record(module, method: str) -> tuple:
    """Call the script's ``main`` with ``Run.<method>`` replaced by a recorder: the run and
    the arguments the script passes it."""
    kit = module.kit
    got = []

    class Recording(kit.Run):
        pass

    setattr(Recording, method, lambda self, *a, **kw: got.append((self, a, kw)) or {})
    original, kit.Run = kit.Run, Recording
    try:
        module.main(module.kit.parse_args(module.Config, None, ["--quiet", "--device", "cpu"]))
    finally:
        kit.Run = original
    return got[0]


def gan_loops(module):
    import torch
    import torch.nn.functional as F

    run, (models, steps, data, _val), kw = record(module, "train_steps")
    kw.pop("samples", None)
    kw.pop("save", None)
    optimizers = module.kit.Optimizers({s.name: s.optimizer for s in steps})
    loop = module.kit.Loop(run, models, optimizers, steps, **kw)
    placed = loop.place(data)

    def runner():
        loop.train_one_epoch(placed)
        loop.state.epoch, loop.state.batch = loop.state.epoch + 1, 0

    x_all, bs = placed["x"], run.cfg.batch_size
    maker, critic = models["maker"], models["critic"]
    opt_c, opt_m = steps[0].optimizer, steps[1].optimizer
    generator = torch.Generator().manual_seed(0)

    def hand():
        pending = []
        order = torch.randperm(len(x_all), generator=generator)
        for i in range(0, len(x_all), bs):
            x = x_all[order[i : i + bs]]
            real_score = critic(x)
            fake_score = critic(maker(torch.randn(len(x), 16)).detach())
            real = F.binary_cross_entropy_with_logits(real_score, torch.ones_like(real_score))
            fake = F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score))
            (real + fake).backward()
            opt_c.step()
            models.zero_grad(set_to_none=True)
            score = critic(maker(torch.randn(len(x), 16)))
            loss = F.binary_cross_entropy_with_logits(score, torch.ones_like(score))
            loss.backward()
            opt_m.step()
            models.zero_grad(set_to_none=True)
            pending.append(torch.stack([real + fake, real, fake, loss]).detach())
        return torch.stack(pending).mean(0).tolist()

    return runner, hand


def vae_loops(module):
    import torch
    import torch.nn.functional as F

    run, (model, optimizer, step, data, _val), kw = record(module, "train")
    kw.pop("save", None)
    loop = module.kit.Loop(run, model, optimizer, step, **kw)
    placed = loop.place(data)

    def runner():
        loop.train_one_epoch(placed)
        loop.state.epoch, loop.state.batch = loop.state.epoch + 1, 0

    x_all, bs = placed["x"], run.cfg.batch_size
    generator = torch.Generator().manual_seed(0)

    def hand():
        pending = []
        order = torch.randperm(len(x_all), generator=generator)
        for i in range(0, len(x_all), bs):
            x = x_all[order[i : i + bs]]
            recon, kl = model(x)
            mse = F.mse_loss(recon, x)
            loss = mse + 0.01 * kl
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            pending.append(torch.stack([loss, mse, kl]).detach())
        return torch.stack(pending).mean(0).tolist()

    return runner, hand


def compare(name: str, runner, hand, rounds: int) -> float:
    runner()
    hand()  # a warm-up epoch each
    pairs = []
    for r in range(rounds):
        wait_quiet(3.0)
        order = [("runner", runner), ("hand", hand)]
        if r % 2:
            order.reverse()
        got = {label: timed(f)[:2] for label, f in order}
        pairs.append((got["runner"], got["hand"]))
    clean = [(a, b) for a, b in pairs if max(a[1], b[1]) <= BUSY_CORES]
    busy = len(clean) < MIN_CLEAN
    used = pairs if busy else clean
    ratio = statistics.median(b[0] / a[0] for a, b in used)
    epoch = statistics.median(a[0] for a, _ in used)
    status = "ok" if ratio >= TARGET else "MISS"
    note = " (machine busy: few undisturbed rounds)" if busy else ""
    print(
        f"{name:4} runner epoch {epoch * 1000:7.1f} ms  hand/runner {ratio:.3f}  "
        f"target >= {TARGET}  {status}{note}  ({len(used)} rounds)"
    )
    return ratio


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args(argv)
    import torch

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, example, loops in (
            ("gan", "digits_gan.nn", gan_loops),
            ("vae", "digits_vae.nn", vae_loops),
        ):
            folder = Path(tmp) / name
            (folder / "data").mkdir(parents=True)
            for f in (ROOT / "examples" / "data").iterdir():
                (folder / "data" / f.name).write_bytes(f.read_bytes())
            source = (ROOT / "examples" / example).read_text(encoding="utf-8")
            module, _ = compile_case(source, example, folder)
            compare(name, *loops(module), args.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
