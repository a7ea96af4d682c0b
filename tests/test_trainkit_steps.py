"""Several models, each trained by its own optimizer: `Run.train_steps` of the kit
(templates/trainkit.py, imported as a module), on a small GAN written by hand as the generated
code writes one.

The kit's weights must equal, bit for bit, those of a plain loop written here that takes the same
updates from the same seed; a run resumed from its checkpoint must equal one never stopped; two
processes must agree with each other and with one."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import struct
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from compiled import ROOT

EPOCHS, BATCH = 2, 16


@pytest.fixture(scope="module")
def kit():
    """templates/trainkit.py as a module of its own."""
    spec = importlib.util.spec_from_file_location(
        "trainkit_steps", ROOT / "templates" / "trainkit.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


def discriminator_step(models, batch):
    x = batch["x"]
    fake = models.generator(torch.randn(len(x), 4, device=x.device))
    real_score = models.discriminator(x)
    real = F.binary_cross_entropy_with_logits(real_score, torch.ones_like(real_score))
    fake_score = models.discriminator(fake.detach())
    fake_l = F.binary_cross_entropy_with_logits(fake_score, torch.zeros_like(fake_score))
    return {
        "loss/discriminator": real + fake_l,
        "loss/discriminator/real": real,
        "loss/discriminator/fake": fake_l,
    }


def generator_step(models, batch):
    x = batch["x"]
    fake = models.generator(torch.randn(len(x), 4, device=x.device))
    score = models.discriminator(fake)
    return {"loss/generator": F.binary_cross_entropy_with_logits(score, torch.ones_like(score))}


def samples(models):
    return models.generator(torch.randn(10, 4)).view(10, 2, 4)  # 10 images of 2 x 4 pixels


def data() -> dict:
    return {"x": torch.rand(64, 8, generator=torch.Generator().manual_seed(1))}


def gan() -> tuple[nn.ModuleDict, dict[str, torch.optim.Optimizer]]:
    """The models (drawn from torch's seeded generator) and their optimizers."""
    models = nn.ModuleDict(
        {
            "generator": nn.Sequential(nn.Linear(4, 8), nn.Sigmoid()),
            "discriminator": nn.Sequential(nn.Linear(8, 1)),
        }
    )
    optimizers = {
        name: torch.optim.Adam(models[name].parameters(), lr=0.01, betas=(0.5, 0.999))
        for name in ("discriminator", "generator")
    }
    return models, optimizers


def train(kit, out, epochs=EPOCHS, *, names=("discriminator", "generator"), spoil=None, **opts):
    """train_steps in `out`: (models, metrics, what it printed)."""
    flags = {
        f: opts.pop(f)
        for f in ("quiet", "resume", "checkpoint_every", "keep_checkpoints")
        if f in opts
    }
    cfg = kit.Config(**{"epochs": epochs, "batch_size": BATCH, "device": "cpu", "out_dir": str(out),
                        "quiet": True, **flags})  # fmt: skip
    run = kit.Run(cfg, "gan")
    models, optimizers = gan()
    if spoil is not None:
        spoil(models)
    fns = {"discriminator": discriminator_step, "generator": generator_step}
    steps = [kit.TrainStep(name, fns[name], optimizers[name]) for name in names]
    val_data, printed = opts.pop("val_data", None), io.StringIO()
    with contextlib.redirect_stdout(printed):
        metrics = run.train_steps(models, steps, data(), val_data, samples=samples, **opts)
    return models, metrics, printed.getvalue()


def by_hand(epochs: int) -> nn.ModuleDict:
    """The same updates as train_steps, written out: for each batch, the discriminator's step,
    then the generator's, each clearing every model's gradients."""
    torch.manual_seed(0)  # as kit.Run seeds it
    models, optimizers = gan()
    shuffle = torch.Generator().manual_seed(0)
    x = data()["x"]
    for _ in range(epochs):
        for batch in x[torch.randperm(len(x), generator=shuffle)].split(BATCH):
            for name, fn in (("discriminator", discriminator_step), ("generator", generator_step)):
                fn(models, {"x": batch})[f"loss/{name}"].backward()
                optimizers[name].step()
                models.zero_grad(set_to_none=True)
    return models


def same(a: nn.Module, b: nn.Module) -> bool:
    one, two = a.state_dict(), b.state_dict()
    return list(one) == list(two) and all(torch.equal(one[k], two[k]) for k in one)


@pytest.fixture(scope="module")
def trained(kit, tmp_path_factory):
    out = tmp_path_factory.mktemp("gan") / "run"
    models, metrics, printed = train(kit, out, quiet=False)
    return out, models, metrics, printed


def test_the_kit_takes_the_updates_a_plain_loop_takes(trained):
    _, models, _, _ = trained
    torch.manual_seed(0)
    before, _ = gan()
    for name in ("generator", "discriminator"):
        assert not same(models[name], before[name])  # both were trained
    # bit for bit: the generator's step left nothing in the discriminator's next update
    assert same(models, by_hand(EPOCHS))


def test_the_generators_step_leaves_the_discriminator_as_it_was(kit, tmp_path):
    models, _, _ = train(kit, tmp_path / "r", 1, names=("generator",))
    torch.manual_seed(0)
    before, _ = gan()
    assert same(models.discriminator, before.discriminator)
    assert not same(models.generator, before.generator)


def test_metrics_hold_every_steps_terms_and_each_optimizers_rate(trained):
    out, _, metrics, printed = trained
    header = (out / "metrics.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header == ["epoch", "loss/discriminator", "loss/discriminator/real",
                      "loss/discriminator/fake", "loss/generator", "seconds"]  # fmt: skip
    assert list(metrics) == header
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [4, 8]  # one step per batch, all its updates
    for row in rows:
        assert row["lr/discriminator"] == row["lr/generator"] == 0.01 and "lr" not in row
    weights = torch.load(out / "model.pt", weights_only=True)
    assert {"generator.0.weight", "discriminator.0.bias"} <= set(weights)
    assert not (out / "best.pt").exists()  # no one loss to choose the best epoch by
    last = printed.strip().splitlines()[-1]
    assert f"samples: {out}/samples.png" in last and "best" not in last


def test_samples_are_tiled_into_a_png(trained, kit):
    pytest.importorskip("matplotlib")
    png = (trained[0] / "samples.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    # 10 images: 4 columns, 3 rows; each 2 x 4 pixels scaled 8 times, a 1-pixel gap between
    assert (width, height) == (4 * 33 - 1, 3 * 17 - 1)
    # values beyond [0, 1] rescaled from the extremes; images of 32 pixels or more kept so
    rgb = kit.sample_grid(torch.linspace(-1, 3, 2 * 3 * 40 * 40).view(2, 3, 40, 40))
    assert rgb.shape == (3, 40, 2 * 41 - 1) and rgb.min() == 0 and rgb.max() == 1
    assert torch.equal(rgb[:, :, 40], torch.ones(3, 40))  # the gap
    inside = torch.rand(1, 8, 8) * 0.5  # in [0, 1]: as it is, 4 times larger
    scaled = inside.repeat_interleave(4, 1).repeat_interleave(4, 2)
    assert torch.equal(kit.sample_grid(inside), scaled)
    with pytest.raises(SystemExit, match=r"shape \(2, 5, 4, 4\)"):
        kit.sample_grid(torch.rand(2, 5, 4, 4))


def test_a_resumed_run_ends_as_one_never_stopped(kit, trained, tmp_path):
    train(kit, tmp_path / "r", 1)
    models, _, _ = train(kit, tmp_path / "r", EPOCHS, resume=True)
    assert same(models, trained[1])
    checkpoint = sorted((tmp_path / "r").glob("checkpoint-*.pt"))[-1]
    optimizers = torch.load(checkpoint, weights_only=True)["optimizer"]
    assert set(optimizers) == {"discriminator", "generator"}


def test_a_run_resumed_mid_epoch_ends_as_one_never_stopped(kit, trained, tmp_path):
    """As a run killed after step 3 of 8: the newer checkpoints gone, the log trimmed."""
    out = tmp_path / "r"
    train(kit, out, checkpoint_every=3, keep_checkpoints=9)
    for path in sorted(out.glob("checkpoint-*")):
        if not path.name.startswith("checkpoint-000000003."):
            path.unlink()
    assert len(list(out.glob("checkpoint-*"))) == 2  # the checkpoint and its SHA-256
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        models, _, _ = train(kit, out, resume=True)
    assert "(epoch 1, step 3)" in printed.getvalue()
    assert same(models, trained[1])
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [4, 8]


def test_validation_and_eval_run_every_step(kit, trained, tmp_path):
    cfg = kit.Config(
        epochs=1, batch_size=BATCH, device="cpu", quiet=True, eval=str(trained[0] / "model.pt")
    )
    run = kit.Run(cfg, "gan")
    models, optimizers = gan()
    steps = [
        kit.TrainStep("discriminator", discriminator_step, optimizers["discriminator"]),
        kit.TrainStep("generator", generator_step, optimizers["generator"]),
    ]
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        metrics = run.train_steps(models, steps, data(), data(), samples=samples)
    assert list(metrics) == ["loss/discriminator", "loss/discriminator/real",
                             "loss/discriminator/fake", "loss/generator"]  # fmt: skip
    assert printed.getvalue().startswith("loss/discriminator ")
    assert same(models, trained[1])  # the weights evaluated are those saved
    _, trained_again, _ = train(kit, tmp_path / "r", 1, val_data=data())
    assert [k for k in trained_again if k.startswith("val_")] == [f"val_{k}" for k in metrics]


def test_a_nan_names_the_layer_it_comes_from(kit, tmp_path):
    def spoil(models):
        with torch.no_grad():
            models.generator[0].weight[0, 0] = float("nan")

    with pytest.raises(kit.NonFiniteLoss) as caught:
        train(kit, tmp_path / "r", spoil=spoil)
    assert caught.value.layer == "generator.0"
    assert str(caught.value).startswith("error: the loss of discriminator is nan at epoch 1")


@pytest.mark.parametrize(
    "options, refused",
    [
        ({"accumulate": 2}, "accumulate"),
        ({"early_stop": "early"}, "early stopping"),
        ({"scheduler": "scheduler"}, "a scheduler"),
    ],
)
def test_what_several_steps_refuse(kit, tmp_path, options, refused):
    with pytest.raises(SystemExit) as caught:
        train(kit, tmp_path / "r", **options)
    assert str(caught.value) == f"error: {refused} is not supported with several train steps"


def test_fp16_steps_each_optimizer_and_updates_the_scale_once_a_batch(kit, tmp_path, monkeypatch):
    """Each step clips the gradients its own optimizer holds, and steps it through the
    GradScaler; the scale is updated once a batch, after all its steps."""
    calls = []
    scaler, clip = torch.amp.GradScaler, nn.utils.clip_grad_norm_

    def clip_and_note(params, *args, **kwargs):
        params = list(params)
        calls.append(("clip", {id(p) for p in params}))
        return clip(params, *args, **kwargs)

    def note(name):
        method = getattr(scaler, name)
        return lambda self, *args: calls.append((name,)) or method(self, *args)

    monkeypatch.setattr(nn.utils, "clip_grad_norm_", clip_and_note)
    for name in ("step", "update"):
        monkeypatch.setattr(scaler, name, note(name))
    models, metrics, _ = train(kit, tmp_path / "r", 1, precision="fp16", clip=0.01)
    held = {name: {id(p) for p in models[name].parameters()} for name in models}
    one_batch = [("clip", held["discriminator"]), ("step",), ("clip", held["generator"])]
    assert calls == (one_batch + [("step",), ("update",)]) * (64 // BATCH)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())


# Runs train_steps under torchrun on a GAN whose noise comes with the data (the same global
# batches however they are split), then writes each rank's digest of its weights.
DRIVER = textwrap.dedent("""
    import hashlib, importlib.util, sys
    from pathlib import Path
    import torch, torch.nn as nn, torch.nn.functional as F
    spec = importlib.util.spec_from_file_location("trainkit", sys.argv[1])
    kit = importlib.util.module_from_spec(spec)
    sys.modules["trainkit"] = kit
    spec.loader.exec_module(kit)

    def discriminator_step(models, batch):
        real = models.discriminator(batch["x"])
        fake = models.discriminator(models.generator(batch["z"]).detach())
        real_l = F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
        fake_l = F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        return {"loss/discriminator": real_l + fake_l}

    def generator_step(models, batch):
        score = models.discriminator(models.generator(batch["z"]))
        return {"loss/generator": F.binary_cross_entropy_with_logits(score, torch.ones_like(score))}

    cfg = kit.Config(epochs=2, batch_size=16, device="cpu", out_dir=sys.argv[2], quiet=True)
    run = kit.Run(cfg, "gan")
    models = nn.ModuleDict({"generator": nn.Sequential(nn.Linear(4, 8), nn.Sigmoid()),
                            "discriminator": nn.Linear(8, 1)})
    seeded = torch.Generator().manual_seed(1)
    data = {"x": torch.rand(64, 8, generator=seeded), "z": torch.randn(64, 4, generator=seeded)}
    fns = {"discriminator": discriminator_step, "generator": generator_step}
    sgd = {name: torch.optim.SGD(models[name].parameters(), lr=0.1, momentum=0.9) for name in fns}
    steps = [kit.TrainStep(name, fn, sgd[name]) for name, fn in fns.items()]
    run.train_steps(models, steps, data)
    blob = b"".join(p.detach().numpy().tobytes() for p in models.parameters())
    Path(sys.argv[2], f"digest-{run.rank}.txt").write_text(hashlib.sha256(blob).hexdigest())
    """)


def test_two_processes_agree_with_each_other_and_with_one(tmp_path):
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    kit_file = str(ROOT / "templates" / "trainkit.py")
    for nproc, out in ((0, "one"), (2, "two")):
        torchrun = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        cmd = [sys.executable, *(torchrun if nproc else []), "driver.py", kit_file, out]
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    two = [(tmp_path / "two" / f"digest-{r}.txt").read_text() for r in (0, 1)]
    assert two[0] == two[1]
    one = torch.load(tmp_path / "one" / "model.pt", weights_only=True)
    both = torch.load(tmp_path / "two" / "model.pt", weights_only=True)
    assert list(both) == list(one)
    for name, tensor in one.items():
        torch.testing.assert_close(both[name], tensor, rtol=0, atol=1e-6)
