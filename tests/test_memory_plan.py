"""`nndsl summary --train`: the planned training memory, its activations against autograd.

Every example's train section is planned for the CPU's kernels at its own batch and measured
(tests/memory_measure.py: one step of its generated script under ``saved_tensors_hooks``, each
storage once, the parameters' left out); they must agree within 15%, and do within 1.4%. The figures
(``python bench/memory_bench.py`` prints them; bytes):

| section | batch | planned | measured | planned / measured |
|---|---:|---:|---:|---:|
| add:AddNet | 2 | 96 | 96 | 1.000 |
| batchnorm:WithBatchNorm | 64 | 42,632 | 42,632 | 1.000 |
| batchnorm:WithoutBatchNorm | 64 | 21,248 | 21,248 | 1.000 |
| digit_pairs:DigitPairs | 64 | 34,560 | 34,564 | 1.000 |
| digits_cnn:DigitsCNN | 64 | 1,215,488 | 1,215,492 | 1.000 |
| digits_gan:Maker+Critic | 64 | 164,864 | 164,864 | 1.000 |
| digits_lstm:DigitsLSTM | 64 | 1,166,336 | 1,182,724 | 0.986 |
| digits_mlp:DigitsMLP | 64 | 52,224 | 52,228 | 1.000 |
| digits_two_heads:DigitsTwoHeads | 64 | 36,608 | 36,612 | 1.000 |
| digits_vae:DigitsVAE | 64 | 59,392 | 59,392 | 1.000 |
| dropout:Overfitting | 20 | 16,240 | 16,240 | 1.000 |
| dropout:Dropped | 20 | 32,240 | 32,240 | 1.000 |
| iris:IrisMLP | 16 | 1,600 | 1,604 | 0.998 |
| linear_regression:LinearRegression | 20 | 320 | 320 | 1.000 |
| mlp:MLP | 64 | 73,728 | 73,804 | 0.999 |
| nested_blocks:RGNet | 32 | 7,040 | 7,040 | 1.000 |
| tied:Tied | 32 | 6,016 | 6,016 | 1.000 |

The few bytes apart are a cross entropy's 4-byte total weight (and label smoothing's small
tensors); the LSTM's are oneDNN's workspace, whose size is fitted. Each registry layer's rule
is checked on its own too, against the layer run by torch.
"""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import pytest
from compiled import BUILT, EXAMPLES, ROOT, escapes

import nndsl.tools.memory_plan
from nndsl.cli import main
from nndsl.compiler import analyze
from nndsl.registry.layers import REGISTRY
from nndsl.registry.training import OPTIMIZERS
from nndsl.tools.memory_plan import memory_size, plan
from nndsl.tools.memory_saved import Held, Step, call_model
from nndsl.tools.memory_step import saved_bytes

TRAINED = [p for p in EXAMPLES if "\ntrain " in p.read_text(encoding="utf-8")]
# the plan counts nothing for escape layers; the unbuilt examples are planned, not measured
MEASURED = [p for p in TRAINED if not escapes(p) and p in BUILT]
NET = """
model Net(x: [20]) {
    hidden = Linear(64)
    ReLU()
    out = Linear(5)
}

data d {
    x = randn(256, 20)
    y = argmax(x[:, 0:5], 1)
    batch 64
}
"""


def _program(source: str):
    result = analyze(source)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.program


def _train(settings: str, source: str = NET, model: str = "Net"):
    program = _program(f"{source}\ntrain {model} on d {{\n    loss cross_entropy\n{settings}\n}}")
    return program, program.trains[0]


def _row(p, name: str) -> int:
    return next(b for n, b, _ in p.rows if n == name)


# ---- the figures, by hand ---------------------------------------------------------------------

NET_PARAMS = 20 * 64 + 64 + 64 * 5 + 5  # 1,669


@pytest.mark.parametrize(
    "optimizer, tensors",
    [
        ("sgd(lr=0.1)", 0),
        ("sgd(lr=0.1, momentum=0.9)", 1),
        ("adam(lr=0.01)", 2),
        ("adamw(lr=0.01, amsgrad=true)", 3),
        ("rmsprop(lr=0.01)", 1),
        ("rmsprop(lr=0.01, momentum=0.9, centered=true)", 3),
        ("adagrad(lr=0.01)", 1),
    ],
)
def test_optimizer_state_follows_each_optimizers_rule(optimizer, tensors):
    program, t = _train(f"    optimizer {optimizer}")
    p = plan(program, t)
    assert _row(p, "Parameters") == _row(p, "Gradients") == NET_PARAMS * 4
    assert _row(p, "Optimizer state") == tensors * NET_PARAMS * 4


def test_every_optimizer_says_what_state_it_keeps():
    assert all(spec.state or spec.name == "sgd" for spec in OPTIMIZERS.values())


def test_a_group_turning_momentum_on_adds_state_for_its_parameters_only():
    program, t = _train("    optimizer sgd(lr=0.1) {\n        out: momentum=0.9\n    }")
    assert _row(plan(program, t), "Optimizer state") == (64 * 5 + 5) * 4


def test_frozen_parameters_have_no_gradients_state_or_saved_input():
    program, t = _train("    optimizer adam(lr=0.01)\n    freeze hidden")
    frozen, free = plan(program, t), plan(*_train("    optimizer adam(lr=0.01)"))
    head = 64 * 5 + 5
    assert _row(frozen, "Parameters") == NET_PARAMS * 4
    assert _row(frozen, "Gradients") == head * 4
    assert _row(frozen, "Optimizer state") == 2 * head * 4
    # the frozen first layer neither keeps x nor makes ReLU record: only the head's input
    # (the ReLU's output) and the loss's log-softmax and class ids are kept
    assert _row(frozen, "Saved activations") == 64 * (64 * 4 + 5 * 4 + 8)
    assert _row(free, "Saved activations") == 64 * (20 * 4 + 64 * 4 + 5 * 4 + 8)


def test_fsdp_shards_the_weights_and_gathers_the_largest_layer():
    program, t = _train("    optimizer adam(lr=0.01)")
    ddp, fsdp = plan(program, t, 64, 4, "ddp"), plan(program, t, 64, 4, "fsdp")
    for name in ("Parameters", "Gradients", "Optimizer state"):
        assert _row(fsdp, name) == math.ceil(_row(ddp, name) / 4)
    assert _row(fsdp, "Gathered layer") == (20 * 64 + 64) * 4  # `hidden`, the larger
    assert _row(ddp, "Saved activations") == _row(plan(program, t, 16), "Saved activations")
    with pytest.raises(nndsl.tools.memory_plan.PlanError, match="does not split evenly"):
        plan(program, t, 64, 3)


def test_the_largest_batch_is_the_last_that_fits():
    program, t = _train("    optimizer adam(lr=0.01)")
    p = plan(program, t)
    memory = 10**6
    most = p.largest_batch(memory)
    assert plan(program, t, most).total <= memory < plan(program, t, most + 1).total
    assert p.largest_batch(p.fixed) is None  # not even one sample


def test_bf16_keeps_fp32_weights_and_half_activations():
    program, t = _train("    optimizer adam(lr=0.01)\n    precision bf16")
    p, full = plan(program, t), plan(*_train("    optimizer adam(lr=0.01)"))
    assert _row(p, "Parameters") == _row(full, "Parameters")
    # x and the ReLU's output kept in bf16 (x as a copy), the head's output cast to float32
    # for the loss, its weights' bf16 copy (its input needs a gradient; the first layer's
    # input does not, so its copy is not kept)
    half = 64 * (20 * 2 + 64 * 2 + 5 * 4 + 8) + (64 * 5 + 5) * 2
    assert _row(p, "Saved activations") == half


def test_memory_sizes_parse():
    assert doctest.testmod(nndsl.tools.memory_plan).failed == 0
    assert memory_size("80 GB") == 80 * 10**9 and memory_size("2GiB") == 2 * 2**30
    assert memory_size("lots") is None and memory_size("12 parsecs") is None


# ---- the command ------------------------------------------------------------------------------


def test_summary_train_prints_each_figure(capsys):
    path = str(ROOT / "examples" / "digits_mlp.nn")
    assert main(["summary", path, "--train", "--device-memory", "80GB"]) == 0
    out = capsys.readouterr().out
    for figure in ("Parameters", "Gradients", "Optimizer state", "Saved activations", "Total"):
        assert f"  {figure} " in out, out
    assert "38,440 B" in out and "sgd with momentum, 1 tensor a trained parameter" in out
    assert "Largest batch that fits 80GB: 98,039,074 a device" in out, out


def test_summary_train_over_processes_and_a_memory_too_small(capsys):
    path = str(ROOT / "examples" / "digits_gan.nn")
    argv = ["summary", path, "--train", "--nproc", "4", "--strategy", "fsdp"]
    assert main([*argv, "--device-memory", "1KB"]) == 0
    out = capsys.readouterr().out
    assert "batch 64 (16 a device, 4 processes, fsdp)" in out and "Gathered layer" in out
    assert "Does not fit 1KB even at a batch of 1 a device" in out, out


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--device-memory", "lots"], "--device-memory takes a size such as 80GB, not 'lots'"),
        (["--nproc", "3"], "the batch of 64 does not split evenly over 3 processes"),
        (["--nproc", "0"], "--nproc must be at least 1"),
        (["--model", "Nobody"], "no train section in"),
    ],
)
def test_summary_train_refuses_bad_flags_in_one_line(flags, words, capsys):
    path = str(ROOT / "examples" / "digits_mlp.nn")
    assert main(["summary", path, "--train", *flags]) == 2
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_train_flags_without_train_are_refused(capsys):
    path = str(ROOT / "examples" / "digits_mlp.nn")
    assert main(["summary", path, "--nproc", "2"]) == 2
    assert "--nproc goes with --train" in capsys.readouterr().err


def test_summary_train_of_a_file_without_a_train_section(capsys):
    assert main(["summary", str(ROOT / "examples" / "cnn.nn"), "--train"]) == 2
    assert "no train section in" in capsys.readouterr().err


def test_help_names_the_train_flags(capsys):
    with pytest.raises(SystemExit):
        main(["summary", "--help"])
    out = capsys.readouterr().out
    for flag in ("--train", "--nproc", "--strategy", "--device-memory", "--device"):
        assert flag in out


def test_the_planner_never_imports_torch():
    code = (
        "import sys\nfrom nndsl.cli import main\n"
        f"main(['summary', {str(ROOT / 'examples' / 'digits_lstm.nn')!r}, '--train'])\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and "Saved activations" in done.stdout, done.stderr


# ---- against autograd -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def example_sections(tmp_path_factory):
    pytest.importorskip("torch")
    from memory_measure import example_sections as sections

    return {label: rest for label, *rest in sections(MEASURED, tmp_path_factory.mktemp("mem"))}


def _labels() -> list[str]:
    labels = []
    for path in MEASURED:
        for t in analyze(path.read_text(encoding="utf-8"), path.parent).program.trains:
            labels.append(f"{path.stem}:{'+'.join(c for _, c in t.models) or t.model}")
    return labels


@pytest.mark.parametrize("label", _labels())
def test_planned_activations_match_what_autograd_keeps(label, example_sections):
    from memory_measure import measure_section

    path, program, t, module = example_sections[label]
    batch = next(f.default for f in t.config if f.name == "batch_size")
    measured = measure_section(module, t, path, batch)
    planned = saved_bytes(program, t, batch, "cpu")
    assert abs(planned - measured) <= 0.15 * measured, (label, planned, measured)


SEQUENCE = """
model Seq(x: [T, 3]) {
    rnn = GRU(16)
    head = Linear(1)
    forward {
        r, _ = rnn(x)
        return head(r[:, -1, :])
    }
}

data waves {
    x = randn(128, 12, 3)
    y = randn(128, 1)
    batch 32
}

train Seq on waves {
    loss mse
    optimizer adam(lr=0.01)
}
"""


def test_a_size_the_model_names_is_the_datas(tmp_path):
    pytest.importorskip("torch")
    from memory_measure import example_sections as sections
    from memory_measure import measure_section

    source = tmp_path / "seq.nn"
    source.write_text(SEQUENCE, encoding="utf-8")
    [(_, path, program, t, module)] = sections([source], tmp_path)
    planned, measured = saved_bytes(program, t, 32, "cpu"), measure_section(module, t, path, 32)
    assert abs(planned - measured) <= 0.15 * measured, (planned, measured)


BF16 = """
model Net(x: [20]) { Linear(64) ReLU() Dropout(0.1) Linear(64) GELU() out = Linear(5) }

model Conv(x: [3, 16, 16]) {
    Conv2d(8, 3, padding=1) BatchNorm2d() ReLU() MaxPool2d(2) Flatten() LayerNorm()
    out = Linear(5)
}

data d {
    x = randn(256, 20)
    y = argmax(x[:, 0:5], 1)
    batch 64
}

data img {
    x = randn(256, 3, 16, 16)
    y = argmax(reshape(x, -1, 768)[:, 0:5], 1)
    batch 64
}

train Net on d {
    loss cross_entropy
    optimizer adam(lr=0.01)
    precision bf16
}

train Conv on img {
    loss cross_entropy
    optimizer adam(lr=0.01)
    precision bf16
}
"""


# attention in a stack and a hand-written forward, and convolutions, norms and pooling of
# every kind the examples do not use
LAYERS = """
model Enc(tokens: [16] long) {
    embed = Embedding(100, 32)
    encoder = repeat 2 { TransformerEncoderLayer(4, dim_feedforward=64) }
    norm = LayerNorm()
    head = Linear(5)
    forward {
        h = norm(encoder(embed(tokens)))
        return head(mean(h, 1))
    }
}

model Attn(x: [10, 24]) {
    attn = MultiheadAttention(4, dropout=0.1)
    head = Linear(3)
    forward {
        a, _ = attn(x, x, x)
        return head(a[:, 0, :])
    }
}

model Pool(x: [3, 20, 20]) {
    Conv2d(8, 3, padding=1, padding_mode="reflect") GroupNorm(2) SiLU()
    AvgPool2d(2) Conv2d(16, 3) InstanceNorm2d(affine=true) ReLU()
    AdaptiveAvgPool2d(1) Flatten() Dropout(0.2)
    out = Linear(3)
}

data toks {
    tokens = randint(0, 100, 256, 16)
    y = randint(0, 5, 256)
    batch 64
}

data seqs {
    x = randn(256, 10, 24)
    y = randint(0, 3, 256)
    batch 64
}

data imgs {
    x = randn(256, 3, 20, 20)
    y = randint(0, 3, 256)
    batch 32
}

train Enc on toks {
    loss cross_entropy
    optimizer adamw(lr=0.001)
}

train Attn on seqs {
    loss cross_entropy
    optimizer adam(lr=0.001)
}

train Pool on imgs {
    loss cross_entropy
    optimizer sgd(lr=0.1, momentum=0.9)
}
"""


@pytest.mark.parametrize("source", [BF16, LAYERS], ids=["bf16", "layers"])
def test_other_programs_activations_match_autograd(source, tmp_path):
    pytest.importorskip("torch")
    from memory_measure import example_sections as sections
    from memory_measure import measure_section

    file = tmp_path / "program.nn"
    file.write_text(source, encoding="utf-8")
    for label, path, program, t, module in sections([file], tmp_path):
        batch = next(f.default for f in t.config if f.name == "batch_size")
        measured = measure_section(module, t, path, batch)
        planned = saved_bytes(program, t, batch, "cpu")
        assert abs(planned - measured) <= 0.15 * measured, (label, planned, measured)


# ---- each layer's rule against the layer run by torch -----------------------------------------


def _literal(v) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def _layer_source(name: str, given: dict, shape: tuple) -> str:
    layer = REGISTRY[name]
    args = ", ".join(f"{k}={_literal(v)}" for k, v in given.items())
    dims = ", ".join(str(d) for d in shape[1:])
    if layer.inputs == 2:
        from test_layers import apply_rules, second_shape

        other = ", ".join(
            str(d) for d in second_shape(layer, apply_rules(layer, given, shape)[0], shape)[1:]
        )
        return (
            f"model M(x: [{dims}], x2: [{other}]) {{\n    b = {name}({args})\n"
            "    forward { return b(x, x2) }\n}"
        )
    return f"model M(x: [{dims}]{' long' if layer.in_dtype == 'long' else ''}) {{ {name}({args}) }}"


def _layer_cases() -> list:
    from test_layers import CASES

    out = []
    for name, cases in CASES.items():
        for i, (given, shape) in enumerate(cases):
            # the language cannot write every case (a None inside a tuple, a normalized_shape
            # of two dims against the one inferred); an LSTM is checked at real sizes below
            if name != "LSTM" and analyze(_layer_source(name, given, shape)).ok:
                for grad in (True, False):
                    if not (grad and given.get("inplace")):
                        out.append(pytest.param(name, given, shape, grad, id=f"{name}-{i}-{grad}"))
    return out


def _measure_layer(name: str, given: dict, shape: tuple, grad: bool, batch: int):
    """(bytes autograd keeps, the layer's inputs as Held) of one call of a registry layer."""
    torch = pytest.importorskip("torch")
    from memory_measure import saved_bytes as measured_bytes
    from test_layers import NAMESPACE, apply_rules, emitted_call, make_input, second_shape

    layer = REGISTRY[name]
    a, _, _ = apply_rules(layer, given, shape)
    pos, kw = emitted_call(layer, a)
    m = eval(layer.ctor, NAMESPACE)(*pos, **kw).train()
    x = make_input(layer, a, tuple(batch if d == "B" else d for d in shape))
    ins = [x.requires_grad_(grad) if x.is_floating_point() else x]
    if layer.inputs == 2:
        ins.append(torch.randn(second_shape(layer, a, tuple(x.shape)), requires_grad=grad))
    if layer.call == "rnn":
        got = measured_bytes(lambda: m(x), m)
    elif layer.call == "attention":
        got = measured_bytes(lambda: m(x, x, x, need_weights=False), m)
    else:
        got = measured_bytes(lambda: m(*ins), m)
    held = [
        Held(
            ("in", i),
            t.numel() * t.element_size(),
            tuple(t.shape),
            str(t.dtype)[6:],
            t.requires_grad,
        )
        for i, t in enumerate(ins)
    ]
    return got[0], held


def _planned_layer(name: str, given: dict, shape: tuple, held: list, batch: int) -> int:
    step = Step(_program(_layer_source(name, given, shape)), {"B": batch}, device="cpu")
    call_model(step, "M", held)
    return step.total


@pytest.mark.parametrize("name, given, shape, grad", _layer_cases())
def test_each_layers_rule_matches_autograd(name, given, shape, grad):
    measured, held = _measure_layer(name, given, shape, grad, batch=4)
    planned = _planned_layer(name, given, shape, held, batch=4)
    assert abs(planned - measured) <= max(4, 0.02 * measured), (planned, measured)


@pytest.mark.parametrize(
    "given, shape",
    [
        ({"hidden_size": 32}, ("B", 8, 8)),
        ({"hidden_size": 64, "num_layers": 2}, ("B", 16, 32)),
        ({"hidden_size": 128, "bidirectional": True}, ("B", 10, 16)),
    ],
)
def test_lstm_rule_matches_onednn_at_real_sizes(given, shape):
    measured, held = _measure_layer("LSTM", given, shape, False, batch=64)
    planned = _planned_layer("LSTM", given, shape, held, batch=64)
    assert abs(planned - measured) <= 0.1 * measured, (planned, measured)


def test_every_layer_with_a_backward_says_what_it_keeps():
    keeps_nothing = {"Identity", "Flatten", "Unflatten", "Upsample", "PixelShuffle"}
    keeps_nothing |= {"PixelUnshuffle", "ZeroPad1d", "ZeroPad2d", "ConstantPad1d"}
    keeps_nothing |= {"ConstantPad2d"}
    assert {n for n, layer in REGISTRY.items() if not layer.saves} == keeps_nothing


def test_the_docs_show_what_summary_train_prints(monkeypatch, capsys):
    text = (ROOT / "docs" / "LANGUAGE.md").read_text(encoding="utf-8")
    shown = text.split("```\n$ nndsl summary digits_mlp.nn --train", 1)[1].split("```", 1)[0]
    flags, printed = shown.split("\n", 1)
    monkeypatch.chdir(ROOT / "examples")
    assert main(["summary", "digits_mlp.nn", "--train", *flags.split()]) == 0
    assert capsys.readouterr().out == printed


def test_each_step_of_a_gan_and_a_detached_maker_keeping_nothing(example_sections):
    from memory_measure import measure_section

    from nndsl.tools.memory_step import step_bytes

    path, program, t, module = example_sections["digits_gan:Maker+Critic"]
    measured = measure_section(module, t, path, 64, each=True)
    planned = [step_bytes(program, t, {"B": 64}, "cpu", s) for s in t.steps]
    # the critic's step keeps its two calls' activations, not the detached maker's
    assert planned == measured, (planned, measured)
