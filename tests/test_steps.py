"""Train sections of several models, trained in steps (a GAN): what the checker accepts and
refuses, with its location, and the script it writes."""

from __future__ import annotations

from pathlib import Path

import pytest

import nndsl

MODELS = """
model Maker(z: [4]) {
    Linear(8) Sigmoid()
}

model Critic(x: [8]) {
    Linear(1)
}

data d {
    x = rand(64, 8)
    batch 16
}
"""

CRITIC = """
    step Critic {
        real = Critic(x)
        fake = Critic(detach(Maker(randn(B, 4))))
        loss bce_with_logits(real, ones_like(real)) + bce_with_logits(fake, zeros_like(fake))
    }"""
MAKER = """
    step Maker {
        score = Critic(Maker(randn(B, 4)))
        loss bce_with_logits(score, ones_like(score))
    }"""


def train(body: str, header: str = "Maker, Critic") -> str:
    return MODELS + f"\ntrain {header} on d {{{body}\n}}\n"


def codes(source: str) -> list[tuple[str, str]]:
    """(code, the text of the line it points at) of each diagnostic."""
    lines = source.splitlines()
    found = nndsl.check(source, filename="gan.nn").diagnostics
    return [(d.code, lines[d.span.line - 1].strip()) for d in found]


def test_a_gan_checks_clean_and_its_script_has_a_function_per_step():
    source = train(CRITIC + MAKER + "\n    samples reshape(Maker(randn(16, 4)), 16, 2, 4)")
    assert codes(source) == []
    script = nndsl.compile(source, filename="gan.nn")["train_maker_critic.py"]
    assert "def critic_step(models: nn.ModuleDict, batch: kit.Batch)" in script
    assert "def maker_step(" in script and "def samples(models: nn.ModuleDict)" in script
    # the critic's step leaves the maker alone: what it makes is detached
    assert "models.maker(torch.randn(len(x), 4, device=x.device)).detach()" in script
    assert 'nn.ModuleDict({"maker": Maker(), "critic": Critic()})' in script
    assert script.index('kit.TrainStep(\n            "critic"') < script.index('"maker",')
    assert "lr=cfg.lr" in script and "lr_critic" not in script  # one rate: --lr


def test_steps_with_their_own_rates_get_a_flag_each():
    body = CRITIC.replace("step Critic {", "step Critic {\n        optimizer sgd(lr=0.1)")
    body += MAKER.replace("step Maker {", "step Maker {\n        optimizer adam(lr=0.002)")
    script = nndsl.compile(train(body), filename="gan.nn")["train_maker_critic.py"]
    assert "lr_critic: float = 0.1" in script and "lr_maker: float = 0.002" in script
    assert "torch.optim.SGD(models.critic.parameters(), lr=cfg.lr_critic)" in script


@pytest.mark.parametrize(
    "body, header, code, line",
    [
        ("\n    loss mse", "Maker, Critic", "E0423", "train Maker, Critic on d {"),
        (CRITIC + MAKER + "\n    loss mse(x, x)", "Maker, Critic", "E0423", "loss mse(x, x)"),
        (CRITIC + MAKER + "\n    metrics accuracy", "Maker, Critic", "E0423", "metrics accuracy"),
        (CRITIC.replace("step Critic", "step Critics"), "Maker, Critic", "E0423", "step Critics {"),
        (CRITIC + CRITIC + MAKER, "Maker, Critic", "E0105", "step Critic {"),
        (MAKER.replace("randn(B, 4)", "randn(B, 5)"), "Maker, Critic", "E0301",
         "score = Critic(Maker(randn(B, 5)))"),
        (CRITIC + MAKER + "\n    samples Maker(randn(B, 4))", "Maker, Critic", "E0108",
         "samples Maker(randn(B, 4))"),
        (CRITIC + MAKER + "\n    samples Maker(randn(16, 4))", "Maker, Critic", "E0420",
         "samples Maker(randn(16, 4))"),
        (MAKER.replace("bce_with_logits(score", "bce(score"), "Maker, Critic", "E0419",
         "loss bce(score, ones_like(score))"),
        (MAKER.replace("        loss bce_with_logits(score, ones_like(score))\n", ""),
         "Maker, Critic", "E0416", "step Maker {"),
        (MAKER.replace("Critic(Maker(", "Critic(Makers("), "Maker, Critic", "E0401",
         "score = Critic(Makers(randn(B, 4)))"),
        (CRITIC + MAKER, "Maker, Critics", "E0401", "train Maker, Critics on d {"),
        (MAKER.replace("score = ", "x = "), "Maker, Critic", "E0105",
         "x = Critic(Maker(randn(B, 4)))"),
    ],
)  # fmt: skip
def test_mistakes_are_located(body, header, code, line):
    found = codes(train(body, header))
    assert (code, line) in found, found


def test_a_model_no_step_trains_is_a_warning():
    found = codes(train(CRITIC))
    assert found == [("W0409", "train Maker, Critic on d {")]


def test_a_model_of_several_outputs_is_refused_in_a_step():
    source = train(MAKER).replace(
        "model Critic(x: [8]) {\n    Linear(1)\n}",
        "model Critic(x: [8]) {\n    h = Linear(1)\n    forward { return h(x), x }\n}",
    )
    found = codes(source)
    assert ("E0420", "score = Critic(Maker(randn(B, 4)))") in found


def test_step_is_still_a_name_outside_a_train_section():
    """`step` is a keyword only where a train section's statement begins."""
    source = """
model Net(x: [4]) { step = Linear(1) }
data d { x = randn(32, 4)  y = sum(x, 1, keepdim=true) }
train Net on d { loss mse  scheduler step(step_size=5) }
"""
    assert [c for c, _ in codes(source) if c.startswith("E")] == []


def test_fmt_keeps_steps_and_a_header_of_several_models():
    from nndsl.tools.fmt import format_source

    source = train(CRITIC + MAKER).lstrip("\n")
    assert format_source(source) == source
    indented = source.replace("\n    step", "\n  step").replace("\n        ", "\n   ")
    assert format_source(indented) == source


def test_the_digits_gan_learns_to_make_digit_like_images(tmp_path):
    """examples/digits_gan.nn trained to the end: the maker's images move from the grey an
    untrained one makes (about 0.5 everywhere) to the digits' ink statistics, and the critic
    cannot tell them apart easily any more (its loss stays near 2 log 2, not near 0)."""
    import csv

    import torch

    example = Path(__file__).resolve().parent.parent / "examples" / "digits_gan.nn"
    run = nndsl.train(example, out=tmp_path / "run", quiet=True, device="cpu")
    assert isinstance(run.model, torch.nn.ModuleDict) and set(run.model) == {"maker", "critic"}
    assert (tmp_path / "run" / "samples.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "run" / "best.pt").exists()
    with open(example.parent / "data" / "digits.csv", newline="") as f:
        rows = [[float(v) / 16 for v in row[:64]] for row in list(csv.reader(f))[1:]]
    real = torch.tensor(rows)
    torch.manual_seed(1)
    with torch.no_grad():
        made = run.model["maker"](torch.randn(512, 16))
    ink = (real > 0.5).float().mean()
    assert abs((made > 0.5).float().mean() - ink) < 0.1  # untrained: about 0.5 vs 0.29
    assert abs(made.mean() - real.mean()) < 0.1
    last = run.history[-1]
    assert 0.8 < last["loss/critic"] < 2.0 and 0.4 < last["loss/maker"] < 2.5


def test_models_named_twice_or_alike_stay_apart():
    """A model named twice is an error; names alike but for case, or a Python keyword once
    lower-cased, get distinct keys that are valid attributes (`models.class2`)."""
    found = codes(train(CRITIC, header="Maker, Critic, Maker"))
    assert ("E0105", "train Maker, Critic, Maker on d {") in found
    source = train(CRITIC + MAKER).replace("Maker", "CLASS").replace("Critic", "Class")
    script = nndsl.compile(source, filename="gan.nn")["train_class2_class3.py"]
    assert 'nn.ModuleDict({"class2": CLASS(), "class3": Class()})' in script
    assert "def class3_step(" in script and "models.class2(" in script
    compile(script, "train.py", "exec")  # valid Python
