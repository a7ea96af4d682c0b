"""Hostile and broken input: every input, however malformed, ends within seconds with exit 0 and
correct output, or exit 1 and diagnostics at file:line:col; never a traceback, an internal
error, a hang or code that escapes its strings."""

from __future__ import annotations

import ast
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from pathlib import Path

import pytest
from compiled import ROOT
from fuzzing import check_generated, check_source, name_problems
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.compiler import analyze, generate, generate_train

LIMIT_S = 60  # a run that takes longer is a hang

OK = "model M(x: [2]) {\n    hidden = Linear(8)\n    ReLU()\n    out = Linear(1)\n}\n"
TRAIN = """
data pairs {
    x = [[1, 2], [3, 4], [5, 6], [7, 8]]
    y = [[3], [7], [11], [15]]
    batch 2
}

train M on pairs {
    loss mse
    %s
}
"""


def table(rows: int) -> str:
    """A data section of `rows` rows of 3 inline numbers (the targets generated)."""
    x = ", ".join(["[1.5, -2, 3]"] * rows)
    return (
        f"model T(x: [3]) {{ Linear(1) }}\ndata d {{\n    x = [{x}]\n    y = zeros({rows}, 1)\n}}\n"
        "train T on d { loss mse optimizer sgd(lr=0.1) epochs 1 }\n"
    )


def train(setting: str = "", data: str = "") -> str:
    text = OK + TRAIN % setting
    return text.replace("    batch 2\n", data + "\n    batch 2\n") if data else text


def model(body: str, inputs: str = "x: [2]") -> str:
    return f"model M({inputs}) {{\n    {body}\n}}\n"


def nested(n: int, open_: str, inner: str, close: str) -> str:
    return open_ * n + inner + close * n


LONG = 100_000
# (id, source text or bytes, expected: exit 0, or the code of an error it must report)
CASES = [
    ("empty", "", 0),
    ("only_comments", "# nothing here\n# at all\n", 0),
    ("only_white_space", " \t\n\f\r\n" * 100, 0),
    ("binary_garbage", bytes(range(256)) * 4, "E0004"),
    ("random_bytes", bytes((i * 7919 + 13) % 256 for i in range(4096)), "E0004"),
    ("nul_in_program", "model M(x: [2]) {\0 Linear(3) }\n", "E0002"),
    ("only_nul_bytes", b"\0" * 100, "E0002"),
    ("invalid_utf8", b"model M(x: [2]) {\n    Linear(4)  # caf\xe9\n}\n", "E0004"),
    ("utf8_surrogate_bytes", b'model M(x: [2]) { Linear(3, name="\xed\xa0\x80") }', "E0004"),
    ("utf16_file", OK.encode("utf-16"), "E0004"),
    ("utf8_bom", b"\xef\xbb\xbf" + OK.encode(), 0),
    ("crlf", OK.replace("\n", "\r\n"), 0),
    ("crlf_with_error", model("Linear(3, 4)").replace("\n", "\r\n"), "E0301"),
    ("cr_only", OK.replace("\n", "\r"), 0),
    ("cr_only_with_error", model("Linear(3, 4)").replace("\n", "\r"), "E0301"),
    ("form_feeds_and_separators", "\f# a\u2028b\x85c\x1c\n" + OK + "\f\n", 0),
    ("long_comment_line", "# " + "x" * LONG + "\n" + OK, 0),
    ("long_name", model("a" * LONG + " = Linear(3)"), 0),
    ("long_model_name", "model " + "A" * LONG + "(x: [2]) { Linear(3) }\n", 0),
    ("long_garbage_line", "@" * LONG, "E0001"),
    (
        "long_line_of_odd_characters",
        "model M(x: [2]) { " + "\u00e9\u2028$?" * (LONG // 4) + "}",
        "E0002",
    ),
    ("long_argument_list", model("ReLU(" + "1, " * (LONG // 3) + ")"), "E0104"),
    ("long_sum", "layer L(x) = x" + " + x" * (LONG // 4) + "\n" + model("L()"), "E0005"),
    ("long_save_name", train('save "' + "a" * LONG + '.pt"'), "E0411"),
    ("save_as_the_best_weights", train('save "best.pt"'), "E0411"),
    ("save_as_the_best_weights_in_capitals", train('save "Best.pt"'), "E0411"),
    ("save_as_a_checkpoint", train('save "checkpoint-999999999.pt"'), "E0411"),
    (
        "nested_parentheses",
        "layer L(x) = " + nested(5000, "(", "x", ")") + "\n" + model("L()"),
        "E0005",
    ),
    (
        "nested_calls",
        "layer L(x) = " + nested(5000, "relu(", "x", ")") + "\n" + model("L()"),
        "E0005",
    ),
    ("nested_repeats", model(nested(5000, "repeat 1 { ", "ReLU()", " }")), "E0005"),
    ("nested_lists", train(data="    z = " + nested(5000, "[", "1", "]")), "E0005"),
    ("nested_braces", nested(5000, "{", "", "}"), "E0001"),
    (
        "nested_while",
        model(
            "f = Linear(2) forward { h = x "
            + nested(25, "while sum(h) > 1 { ", "h = f(h)", " }")
            + " return h }"
        ),
        "E0005",
    ),
    (
        "block_chain",
        "block B0 { ReLU() }\n"
        + "".join(f"block B{i} {{ B{i - 1}() }}\n" for i in range(1, 2000))
        + model("B1999()"),
        "E0005",
    ),
    (
        "repeat_explosion",
        model("repeat 10000 { repeat 10000 { repeat 10000 { ReLU() } } }"),
        "E0128",
    ),
    (
        "block_explosion",
        "block B0 { ReLU() }\n"
        + "".join(f"block B{i} {{ B{i - 1}() B{i - 1}() }}\n" for i in range(1, 40))
        + model("B39()"),
        "E0128",
    ),
    ("unary_chain", "layer L(x) = " + "-" * 5000 + "x\n" + model("L()"), "E0005"),
    ("digits_400_size", model("Linear(" + "9" * 400 + ")"), "E0127"),
    ("digits_5000_size", model("Linear(" + "9" * 5000 + ")"), "E0127"),
    ("digits_400_shape", model("Linear(3)", "x: [" + "9" * 400 + "]"), "E0127"),
    ("digits_400_float", model("Dropout(0." + "9" * 400 + ")"), 0),
    ("digits_400_exponent", model("Dropout(1e" + "9" * 400 + ")"), "E0125"),
    ("digits_400_data", train(data="    z = [" + "9" * 400 + "]"), "E0127"),
    ("inline_data_at_limit", table(3333), 0),
    ("inline_data_over_limit", table(3334), "E0412"),
    ("zero_size", model("Linear(0)"), "E0125"),
    ("negative_size", model("Linear(-3)"), "E0125"),
    ("zero_input_size", model("Linear(3)", "x: [0]"), "E0125"),
    ("negative_input_size", model("Linear(3)", "x: [-2]"), "E0001"),
    ("zero_repeat", model("repeat 0 { ReLU() }"), 0),
    ("negative_repeat", model("repeat 2 - 3 { ReLU() }"), "E0111"),
    ("negative_conv", model("Conv2d(-1, 3)", "x: [1, 8, 8]"), "E0125"),
    ("unknown_layer", model("Foo(3)"), "E0101"),
    ("unknown_argument", model("Linear(3, bogus=1)"), "E0102"),
    ("python_keyword_names", "model class(x: [2]) { def = Linear(3) }\n", "E0110"),
    ("dunder_names", "model __init__(__call__: [2]) { __dict__ = Linear(3) }\n", "E0110"),
    (
        "generated_code_names",
        model("self = Linear(3) torch = ReLU() nn = ReLU() F = ReLU()"),
        "E0110",
    ),
    ("builtin_model_name", "model print(x: [2]) { Linear(3) }\n", "E0110"),
    ("builtin_layer_names", model("print = Linear(3) input = ReLU() len = ReLU()"), 0),
    (
        "training_script_model_name",
        train().replace("M(", "Config(").replace("train M", "train Config"),
        "E0110",
    ),
    (
        "string_holding_code",
        model('Linear(3, bias="); import os; os.system(\\"touch PWNED\\")#")'),
        "E0106",
    ),
    ("string_holding_newline", model('Linear(3, bias="a\\nb")'), "E0106"),
    ("raw_newline_in_string", model('Linear(3, bias="a\nb")'), "E0002"),
    ("invalid_escape", model('Linear(3, bias="\\N{no such name}")'), "E0002"),
    (
        "save_with_quotes",
        train('save "a\\"); import os; os.system(\\"touch PWNED\\")#.pt"'),
        "E0411",
    ),
    ("save_with_line_break", train('save "a\\u2028b.pt"'), "E0411"),
    ("save_with_nul", train('save "a\\0b.pt"'), "E0411"),
    ("save_with_triple_quotes", train("save \"'''.pt\""), 0),
    ("huge_epochs", train("epochs " + "9" * 50), "E0125"),  # at most 2**63 - 1
    ("negative_epochs", train("epochs -1"), "E0125"),
    ("negative_batch", train().replace("batch 2", "batch -1"), "E0125"),
    ("zero_batch", train().replace("batch 2", "batch 0"), "E0125"),
    ("huge_batch", train().replace("batch 2", "batch " + "9" * 50), "E0125"),
    ("infinite_lr", train("optimizer sgd(lr=1e999)"), "E0125"),  # its loss was nan at once
    ("infinite_min_delta", train("early_stop loss, min_delta=1e999"), "E0125"),
    ("unicode_digit_device", train('device "cuda:\u0661"'), "E0126"),
    ("path_outside_folder", train(data='    t = csv("../outside.csv")'), 0),
    ("path_to_passwd", train(data='    t = csv("../../../../../../../../etc/passwd")'), "E0402"),
    ("absolute_path", train(data='    t = csv("/etc/passwd")'), "E0402"),
    ("path_with_nul", train(data='    t = csv("a\\0b.csv")'), "E0402"),
    ("path_to_device", train(data='    t = npy("/dev/zero")'), "E0402"),
    ("path_to_folder", train(data='    t = csv("")'), "E0402"),
    ("infinite_linspace", train(data="    t = linspace(0, 1e999, 10)"), "E0414"),
    ("huge_arange", train(data="    t = arange(0, 10 ** 50)"), "E0412"),
    ("arange_one_argument", train(data="    t = arange(4)"), 0),
]

SHORT = re.compile(
    r"^(?P<file>[^\n:]+):(?P<line>[1-9]\d*):(?P<col>[1-9]\d*): (error|warning)\[[EW]\d{4}\]: ", re.M
)


def _run(args: list[str], cwd: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("NNDSL_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "nndsl", *args], cwd=cwd, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finish(proc: subprocess.Popen) -> tuple[int | None, str, str]:
    """Exit code (None for a run that did not end), stdout and stderr."""
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None, "", f"{proc.args[3:]} did not end within {LIMIT_S} s"
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def _check_outcome(rc: int, err: str, expected, path: str) -> None:
    """Exit 0, or exit 1 with diagnostics at path:line:col; ``expected``: 0, an error code that
    must be among the errors, or None for either outcome."""
    assert rc in (0, 1), f"exit {rc}: {err[-2000:]}"
    assert "Traceback" not in err and "internal error" not in err and "bug in nndsl" not in err, err
    if rc == 1:
        places = [m for m in SHORT.finditer(err) if m["file"] == path]
        assert places, f"no {path}:line:col diagnostic in: {err[:2000]}"
    if expected == 0:
        assert rc == 0, err[:2000]
    elif expected is not None:
        assert rc == 1 and f": error[{expected}]: " in err, f"expected {expected}: {err[:2000]}"


def _write_case(folder: Path, source) -> None:
    """src/input.nn holding the case, and a CSV file outside src/ for paths to reach for."""
    (folder / "src").mkdir(parents=True)
    (folder / "outside.csv").write_text("a,b\n1,2\n3,4\n5,6\n7,8\n", encoding="utf-8")
    data = source if isinstance(source, bytes) else source.encode("utf-8")
    (folder / "src" / "input.nn").write_bytes(data)


COMMANDS = (
    ["compile", "src/input.nn", "--format", "short", "-o", "out/model.py"],
    ["check", "src/input.nn", "--format", "short"],
)

# Runs `nndsl compile` and `nndsl check` in each folder named on stdin, one after another in
# this one process, through the command line's own entry (exit code, stdout and stderr as a
# fresh process would give them); prints the results as JSON.
_DRIVER = """
import contextlib, io, json, os, sys
from nndsl.cli import main
commands, folders = json.load(sys.stdin)
results = []
for folder in folders:
    os.chdir(folder)
    for args in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(args)
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
        results.append((rc, out.getvalue(), err.getvalue()))
json.dump(results, sys.__stdout__)
"""


def _drive(folders: list[Path]) -> list[list[tuple[int, str, str]]]:
    """The results of COMMANDS in each folder, from one driver process."""
    env = dict(os.environ)
    env.pop("NNDSL_DEBUG", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    request = json.dumps([list(COMMANDS), [str(f) for f in folders]])
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER], input=request, env=env, capture_output=True, text=True,
        timeout=LIMIT_S * len(folders),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    flat = json.loads(proc.stdout)
    n = len(COMMANDS)
    return [[tuple(r) for r in flat[i * n : (i + 1) * n]] for i in range(len(folders))]


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory):
    """Every case run through the command line's entry: `compile` and `check`, in two driver
    processes (one for each core) instead of a fresh process each, which cost a minute."""
    root = tmp_path_factory.mktemp("hostile")
    for name, source, _ in CASES:
        _write_case(root / name, source)
    names = [name for name, _, _ in CASES]
    halves = [names[0::2], names[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda part: _drive([root / n for n in part]), halves))
    return {n: (root / n, r) for part, rs in zip(halves, done) for n, r in zip(part, rs)}


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_numbers_lines_alike(cli_results, ending):
    """A lone CR ends a line as in Python, so old Mac files get the right line numbers."""
    name = {"\n": None, "\r\n": "crlf_with_error", "\r": "cr_only_with_error"}[ending]
    text = model("Linear(3, 4)").replace("\n", ending)
    if name is None:
        from nndsl.compiler import analyze

        [d] = analyze(text).diagnostics
        assert (d.code, d.span.line, d.span.column) == ("E0301", 2, 12)
        return
    _, results = cli_results[name]
    for _, _, err in results:
        assert "src/input.nn:2:12: error[E0301]" in err, err


@pytest.mark.parametrize("name, source, expected", CASES, ids=[c[0] for c in CASES])
def test_hostile_input(cli_results, name, source, expected):
    folder, results = cli_results[name]
    for rc, _, err in results:
        _check_outcome(rc, err, expected, "src/input.nn")
    if expected == 0:
        written = sorted((folder / "out").glob("*.py"))
        assert written and written[0].name == "model.py"
        for f in written:
            check_generated(f.read_text(encoding="utf-8"), f.name)
    assert not list(folder.rglob("PWNED"))


# ---- regressions found by fuzzing (in process: analyze, generate, run) ----------------------------

REGRESSIONS = [
    # a repeat after a failed statement met unknown sizes: TypeError in strip_var
    ("repeat_after_error", "model M(tokens: [32] long) {\n    embed\n    Embedding(1000, 64)\n"
     "    encoder = repeat 2 { TransformerEncoderLayer(4) }\n}\n", "E0108"),  # fmt: skip
    # `arange(end)`: ValueError (unpacking two values into three)
    ("arange_end", train(data="    t = arange(4)"), None),
    # non-finite numbers in generators: OverflowError/ValueError, or `inf` written into code
    ("arange_nan", train(data="    t = arange(0.5, 1e999, 1e999)"), "E0414"),
    ("linspace_nan", train(data="    t = linspace(0, 1e999 - 1e999, 10)"), "E0414"),
    ("randint_overflow", train(data="    t = randint(0, 10 ** 50, 10)"), "E0414"),
    # Python refuses int() of 4,300 digits: ValueError in the parser
    ("int_5000_digits", model("Linear(" + "9" * 5000 + ")"), "E0127"),
    ("selector_5000_digits", train("init { hidden[" + "9" * 5000 + "].weight = 0 }"), "E0127"),
    # invalid string escapes: SyntaxError from literal_eval in the parser
    ("escape_x", model('Linear(3, bias="\\x")'), "E0002"),
    ("escape_surrogate", model('Linear(3, bias="\\ud800")'), "E0002"),
    # NUL in a data path: ValueError from os.stat
    ("nul_path", train(data='    t = csv("a\\0b.csv")'), "E0402"),
    # the save name was written into the script between quotes: code injection
    ("save_injection", train('save "a\\"); import os #.pt"'), "E0411"),
    # generated code nested beyond Python's limits: SyntaxError on import
    ("while_21_deep", model("f = Linear(2) forward { h = x " + nested(21, "while sum(h) > 1 { ", "h = f(h)", " }") + " return h }"), "E0005"),
    ("while_20_deep", model("f = Linear(2) forward { h = x " + nested(20, "while sum(h) > 1 { ", "h = f(h)", " }") + " return h }"), None),
    ("calls_60_deep", "layer L(x) = " + nested(60, "relu(", "x", ")") + "\n" + model("L()"), "E0005"),
    ("calls_48_deep", "layer L(x) = " + nested(48, "relu(", "x", ")") + "\n" + model("L()"), None),
    ("repeats_48_deep", model(nested(48, "repeat 1 { ReLU() ", "ReLU()", " }")), None),
    # leading zeros were copied into the code, where Python refuses them: SyntaxError on import
    ("leading_zeros", "block B(w=08) { Linear(w * 0_2) }\n" + model("B(w=009) Linear(007)"), None),
    # a model named like the training script's own names: the script broke at run time
    ("model_named_config", train().replace("M(", "Config(").replace("train M", "train Config"), "E0110"),
    ("model_named_loader", train().replace("M(", "load_pairs(").replace("train M", "train load_pairs"), "E0110"),
    # values torch refuses passed check, then died in the run with a traceback
    ("betas_above_one", train("optimizer adam(betas=(1.5, 0.9))"), "E0125"),
    ("beta_of_one_in_group", train("optimizer adam { hidden.weight: betas=(0.9, 1.0) }"), "E0125"),
    ("three_betas", train("optimizer adamw(betas=(0.9, 0.9, 0.9))"), "E0106"),
    ("plateau_factor_2", train("scheduler reduce_on_plateau(factor=2)"), "E0125"),
    ("plateau_factor_1", train("scheduler reduce_on_plateau(factor=1)"), "E0125"),
    ("uniform_reversed", train("init { hidden.weight ~ uniform(1, 0) }"), "E0125"),
    ("trunc_normal_a_above_default_b", train("init { out.weight ~ trunc_normal(a=3) }"), "E0125"),
    # past float32: torch's update refused it ("cannot be converted to type float")
    ("lr_past_float32", train("optimizer sgd(lr=1e39)"), "E0125"),
    ("weight_decay_past_float32", train("optimizer adamw(weight_decay=10 ** 40)"), "E0125"),
    ("lr_just_within_float32", train("optimizer sgd(lr=3e38)"), None),
    ("seed_2_63", train("seed 9223372036854775808"), "E0125"),
    ("epochs_2_64", train("epochs 18446744073709551616"), "E0125"),
    ("batch_2_63", train().replace("batch 2", "batch 9223372036854775808"), "E0125"),
    ("no_parameters", model("ReLU()", "x: [1]") + TRAIN.replace("[[1, 2], [3, 4], [5, 6], [7, 8]]", "[[1], [3], [5], [7]]") % "", "E0417"),
    # the weights take the one floating dtype of the inputs: a second failed at the first step
    ("mixed_floating_inputs", "model M(x: [2] double, y: [2]) {\n    a = Linear(1)\n    forward { return a(x) + a(y) }\n}\n", "E0106"),
    ("double_with_ids", "model M(x: [2] double, t: [2] long) {\n    e = Embedding(10, 2)\n    a = Linear(1)\n    forward { return a(x) + a(e(t)[:, 0]) }\n}\n", None),
    # no training batch: every epoch's loss was nan, reported as "try a smaller learning rate"
    ("split_holds_out_all", train(data="    split 0.9"), "E0418"),
    ("split_leaves_one", train(data="    split 0.75"), None),
    # a split that rounds to no sample: early stopping on val_accuracy raised a KeyError
    ("split_holds_out_none", train(data="    split 0.1"), "E0125"),
    ("split_of_two_holds_out_both", train(data="    split 0.8").replace("[[1, 2], [3, 4], [5, 6], [7, 8]]", "[[1, 2], [3, 4]]").replace("[[3], [7], [11], [15]]", "[[3], [7]]"), "E0418"),
    ("drop_last_drops_the_only_batch", train(data="    drop_last true").replace("batch 2", "batch 8"), "E0418"),
    ("drop_last_keeps_a_full_batch", train(data="    drop_last true").replace("batch 2", "batch 4"), None),
    # a stacked recurrent layer is that many layers: 10**6 took 843 MB and 18 s to list
    ("lstm_million_layers", model("LSTM(8, num_layers=1000000)", "x: [5, 8]"), "E0128"),
    ("lstm_2_63_layers", model("LSTM(8, num_layers=2 ** 63)", "x: [5, 8]"), "E0128"),
    # sizes past what torch counts: accepted, then OverflowError or exit 3
    ("linear_10_48", model("Linear(10 ** 48)"), "E0127"),
    ("param_10_40", model("w = param([10 ** 20, 10 ** 20]) forward { return x @ w[0:2, 0:2] }"), "E0127"),
    ("upconvolutions_760", model("ConvTranspose2d(1, 2, stride=2) " * 760, "x: [1, 2, 2]"), "E0127"),
    # infinite numbers (1e400 is inf) passed check: the loss was nan from the first step
    ("beta_inf", train("optimizer adam(betas=(0.9, 1e400 - 1e400))"), "E0125"),
    ("init_std_inf", train("init { hidden.weight ~ normal(0, 1e400) }"), "E0125"),
    ("init_set_to_inf", train("init { hidden.weight = -1e400 }"), "E0125"),
    ("clip_inf", train("clip 1e400"), "E0125"),
    ("edges_of_the_ranges", train("seed 9223372036854775807 init { hidden.weight ~ uniform(1, 1) }"), None),
]  # fmt: skip


@pytest.mark.parametrize("name, source, expected", REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_regression(tmp_path, name, source, expected):
    result = check_source(source, tmp_path)
    errors = [d.code for d in result.diagnostics if d.severity == "error"]
    if expected is None:
        assert result.ok, errors
    else:
        assert errors and errors[0] == expected, errors


def test_diagnostics_show_the_line_the_parser_counts():
    """Form feeds and Unicode line separators in comments do not shift the lines shown."""
    from nndsl.diagnostics.core import render_text

    text = "# a\u2028b\x0cc\x1dd\x85e\n" + model("Linear(3, 4)")
    result = analyze(text)
    shown = render_text(result.diagnostics, text, "f.nn")
    assert "f.nn:3:12" in shown and "3 |     Linear(3, 4)" in shown, shown
    assert "write `Linear(4)`" in shown, shown


PYTHON_NAMES = ["class", "print", "__init__", "self", "torch", "nn", "F", "np", "math", "super",
                "input", "__import__", "eval", "os", "Config", "main", "None", "match"]  # fmt: skip
ROLES = {
    "model": "model {n}(x: [2]) {{ Linear(3) }}",
    "layer": "model M(x: [2]) {{ {n} = Linear(3) }}",
    "input": "model M({n}: [2]) {{ Linear(3) }}",
    "block": "block {n} {{ Linear(3) }}\nmodel M(x: [2]) {{ {n}() }}",
    "parameter": "block B({n}=3) {{ Linear({n}) }}\nmodel M(x: [2]) {{ B({n}=4) }}",
    "local": "model M(x: [2]) {{ f = Linear(2) forward {{ {n} = f(x) return {n} }} }}",
    "loop": "model M(x: [2]) {{ body = repeat 2 as {n} {{ Linear(2 + {n}) }} }}",
    "data": "model M(x: [2]) {{ Linear(1) }}\ndata {n} {{ x = [[1, 2]] y = [[3]] }}\ntrain M on {n} {{ loss mse }}",
    "tensor": "model M(x: [2]) {{ Linear(1) }}\ndata d {{ {n} = [[1, 2]] x = {n} y = [[3]] }}\ntrain M on d {{ loss mse }}",
}


@pytest.mark.parametrize("role", ROLES)
def test_python_names_in_every_role(tmp_path, role):
    """Keywords, builtins, dunders and the generated code's own names, as every kind of name:
    refused with a place, or compiled to code that works (the models are run)."""
    trained = role in ("data", "tensor")  # a training script each: a shorter list
    for name in PYTHON_NAMES[::3] if trained else PYTHON_NAMES:
        result = check_source(ROLES[role].format(n=name), tmp_path)
        reserved = name in ("class", "__init__", "self", "torch", "nn", "F", "None", "__import__")
        if reserved and role != "data":  # a data section's name only ever follows `load_`
            assert not result.ok, (role, name)


def test_many_errors_on_a_long_line_render_briefly():
    """12,500 errors on one 100,000-character line: each shows the part of the line around it
    (the whole line each time was 2 GB of text and minutes of work)."""
    from nndsl.diagnostics.core import render_text

    text = model("ReLU(" + ", ".join(f"a{i}=1" for i in range(LONG // 8)) + ")")
    result = analyze(text)
    shown = render_text(result.diagnostics, text, "f.nn")
    assert len(result.diagnostics) == LONG // 8 and len(shown) < 1000 * len(result.diagnostics)
    last = shown.rsplit("error[E0102]", 1)[1].splitlines()
    assert last[3].startswith("2 | ...") and len(last[3]) < 300
    assert last[4].index("^") == last[3].index(f"a{LONG // 8 - 1}=")


# ---- names the training script relies on -----------------------------------------------------


@pytest.mark.parametrize(
    "name, clash",
    [("Config", True), ("State", False), ("main", True), ("os", False), ("Path", True),
     ("cfg", True), ("model", True), ("device", False), ("load_pairs", True), ("x", False),
     ("step", True), ("kit", True), ("SOURCE", True), ("split", False),
     ("y", False), ("g", False), ("np", False), ("Pairs", False), ("fit_model", False)],
)  # fmt: skip
def test_model_named_like_the_training_script(name, clash):
    """A trained model cannot take a name its training script binds where the model is built
    (the import would be hidden: the script broke at run time); other names are fine."""
    source = train().replace("model M(", f"model {name}(").replace("train M ", f"train {name} ")
    result = check_source(source, None, run_models=False)
    errors = [(d.code, d.span.line) for d in result.diagnostics if d.severity == "error"]
    assert errors == (
        [("E0110", source[: source.index("train ")].count("\n") + 1)] if clash else []
    )


# ---- injection: names, strings and comments built to escape into Python ------------------------

INJECTIONS = [
    '"); import os; os.system("touch PWNED")#',
    "'); import os; os.system('touch PWNED')#",
    '"""; import os; os.system("touch PWNED"); """',
    "'''; import os; os.system('touch PWNED'); '''",
    "\\",
    "\\\\",
    "\\'",
    "a\\nimport os",
    "{{ t.model }}{% if true %}",
    "__import__('os').system('touch PWNED')",
    "nan",
    "inf",
    "ﬁlter",
] + [
    f"a{ch}import os; os.system('touch PWNED')" for ch in "\n\r\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85"
]


def dsl_string(text: str) -> str:
    """``text`` as a DSL string literal."""
    return (
        '"'
        + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
        + '"'
    )


def hostile_program(
    model="M", layer="hidden", data="d", path="t.csv", column="c", save="s.pt", comment="c"
):
    """A program that trains on a CSV file; every name, string and comment can be replaced."""
    return f"""# {comment}
model {model}(x: [2]) {{    # {comment}
    {layer} = Linear(4)
    ReLU()
    out = Linear(1)
}}
data {data} {{
    table = csv({dsl_string(path)})    # {comment}
    x = table[:, 0:2]
    y = table[:, [{dsl_string(column)}]]
    batch 2
}}
train {model} on {data} {{
    loss mse
    optimizer adam(lr=0.01) {{ {layer}.weight: weight_decay=0 }}
    init {{
        {layer}.weight ~ normal(0, 0.01)    # {comment}
    }}
    save {dsl_string(save)}
    predict [[1, 2]]
}}
"""


def write_csv(folder: Path, path: str, column: str) -> bool:
    """A small CSV file named ``path`` with columns a, b and ``column``; False if the system
    refuses the name."""
    try:
        file = folder / path
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(file, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["a", "b", column])
            w.writerows([[1, 2, 3], [4, 5, 9], [2, 2, 4], [0, 1, 1]])
        return True
    except (OSError, ValueError, UnicodeError):
        return False


def skeleton(code: str) -> str:
    """The structure of Python code with every name, attribute and string made the same."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, str):
                setattr(node, field, "_")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = "_"
    return ast.dump(tree)


def compiled_files(source: str, folder: Path) -> dict[str, str] | None:
    result = analyze(source, folder)
    if not result.ok:
        return None
    files = {"model.py": generate(result.program, "hostile.nn")}
    for t in result.program.trains:
        files["train.py"] = generate_train(t, "hostile.nn", "model")
    return files


@lru_cache(maxsize=1)
def benign_skeletons() -> dict[str, str]:
    with tempfile.TemporaryDirectory() as d:
        write_csv(Path(d), "t.csv", "c")
        files = compiled_files(hostile_program(), Path(d))
    assert files is not None
    return {k: skeleton(v) for k, v in files.items()}


def check_hostile(folder: Path, **parts) -> bool:
    """Compile the program with ``parts`` replaced. A refused program must say where; an
    accepted one must compile to code that names only what is allowed and has exactly the
    structure of the benign program: no statement comes from DSL text. True if accepted."""
    folder.mkdir(parents=True, exist_ok=True)
    if not write_csv(folder, parts.get("path", "t.csv"), parts.get("column", "c")):
        return False
    source = hostile_program(**parts)
    result = analyze(source, folder)
    if not result.ok:
        assert result.diagnostics and all(d.span is not None for d in result.diagnostics)
        return False
    files = compiled_files(source, folder)
    for name, code in files.items():
        compile(code, name, "exec")
        assert not name_problems(ast.parse(code)), (name, name_problems(ast.parse(code)), parts)
        assert skeleton(code) == benign_skeletons()[name], f"{name} changed shape for {parts}"
    assert not list(folder.rglob("PWNED"))
    return True


def corpus_parts(text: str) -> dict[str, str]:
    """The corpus entry in every string and the comments of the program (a line break would end
    a comment and make the rest DSL text, so there it becomes a space)."""
    return {"path": text + ".csv", "column": text, "save": text + ".pt",
            "comment": text.replace("\n", " ").replace("\r", " ")}  # fmt: skip


@pytest.mark.parametrize("text", INJECTIONS, ids=range(len(INJECTIONS)))
def test_injection_corpus(tmp_path, text):
    """Each entry everywhere at once; where that is refused, without the save name; then in
    the comments alone, which never reach the code and so are always accepted."""
    parts = corpus_parts(text)
    attempts = [
        parts,
        {k: v for k, v in parts.items() if k != "save"},
        {"comment": parts["comment"]},
    ]
    accepted = [i for i, p in enumerate(attempts) if check_hostile(tmp_path / str(i), **p)]
    assert accepted, "the program with only a hostile comment must compile"


def test_injection_corpus_through_the_cli(tmp_path):
    """Compile the corpus for real, then import every generated module and training script (their
    module-level code) in one fresh interpreter: nothing may run, no PWNED file appears."""
    jobs = []
    for i, text in enumerate(INJECTIONS):
        parts = {k: v for k, v in corpus_parts(text).items() if k != "save"}
        folder = tmp_path / str(i)
        folder.mkdir()
        if not write_csv(folder, parts["path"], parts["column"]):
            parts, _ = {"comment": parts["comment"]}, write_csv(folder, "t.csv", "c")
        (folder / "hostile.nn").write_text(hostile_program(**parts), encoding="utf-8")
        jobs.append(folder)

    def compile_one(folder: Path):
        rc, _, err = _finish(
            _run(["compile", "hostile.nn", "-o", "model.py", "--format", "short"], folder)
        )
        _check_outcome(rc, err, None, "hostile.nn")
        return folder if rc == 0 else None

    with ThreadPoolExecutor(max_workers=4) as pool:
        folders = [str(f) for f in pool.map(compile_one, jobs) if f is not None]
    assert len(folders) >= len(INJECTIONS) // 2
    import_in_fresh_interpreter(folders, "train_m", tmp_path)
    assert not list(tmp_path.rglob("PWNED")) and not Path("PWNED").exists()


def import_in_fresh_interpreter(folders: list[str], script: str, cwd) -> None:
    """Import each folder's model.py and training script in a new Python: nothing may fail or
    run on import."""
    probe = (
        "import importlib, sys\n"
        "for d in sys.argv[2:]:\n"
        "    sys.path.insert(0, d)\n"
        "    for name in ('model', sys.argv[1]):\n"
        "        sys.modules.pop(name, None)\n"
        "        importlib.import_module(name)\n"
        "    sys.path.remove(d)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe, script, *folders], cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]


FILE_NAMES = [
    'x", "y": __import__("os").system("touch PWNED"), "z": "',
    "a\"); import os; os.system('touch PWNED')#",
    'b"""c',
    "a\\N",
    "back\\slash\\",
    "line\nbreak\u2028and\x85more\x0c",
    "{{ source }}{% raw %}",
    "ﬁlter é",
]


def test_hostile_file_names(tmp_path):
    """The .nn file's own name reaches comments, docstrings and strings of the training script:
    whatever it holds, the scripts compile, keep to the allowed names and run nothing on import."""
    source = (ROOT / "examples" / "add.nn").read_text(encoding="utf-8")
    folders = []
    for i, name in enumerate(FILE_NAMES):
        folder = tmp_path / str(i)
        folder.mkdir()
        try:
            (folder / f"{name}.nn").write_text(source, encoding="utf-8")
        except (OSError, UnicodeError):  # a file system that refuses the name
            continue
        rc, _, err = _finish(_run(["compile", f"{name}.nn", "-o", "model.py"], folder))
        assert rc == 0, err
        for f in sorted(folder.glob("*.py")):
            check_generated(f.read_text(encoding="utf-8"), f.name)
        folders.append(str(folder))
    import_in_fresh_interpreter(folders, "train_addnet", tmp_path)
    assert not list(tmp_path.rglob("PWNED"))


HOSTILE_TEXT = st.one_of(
    st.sampled_from(INJECTIONS),
    st.text(max_size=20),
    st.text(
        alphabet=st.sampled_from("\"'\\\n\r\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85#{}()%;:=a_ \t"),
        max_size=20,
    ),
)
HOSTILE_NAME = st.one_of(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    st.sampled_from(["class", "print", "__init__", "self", "torch", "nn", "F", "np", "Config", "main",
                     "ﬁlter", "x", "y", "cfg", "model", "State", "load_d", "os", "eval", "exec"]),
    st.text(min_size=1, max_size=8),
)  # fmt: skip


@settings(derandomize=True, database=None, max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
@given(
    model=HOSTILE_NAME, layer=HOSTILE_NAME, data=HOSTILE_NAME, path=HOSTILE_TEXT,
    column=HOSTILE_TEXT, save=HOSTILE_TEXT, comment=HOSTILE_TEXT,
)  # fmt: skip
def test_no_statement_comes_from_dsl_text(model, layer, data, path, column, save, comment):
    """Arbitrary Unicode in names, strings and comments: the program is refused with a place, or
    its code has the structure of the benign program and names only what is allowed."""
    with tempfile.TemporaryDirectory() as d:
        check_hostile(Path(d), model=model, layer=layer, data=data, path=path + ".csv",
                      column=column, save=save + ".pt", comment=comment)  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        "repeat 10000 { repeat 10000 { repeat 10000 { ReLU() } } }",
        "repeat 3 { repeat 10000 { repeat 10000 { ReLU() } } }",
        "repeat 1000 as i { repeat 100 { Linear(4) } repeat 300 { ReLU() } }",
    ],
)
def test_an_explosion_is_refused_before_it_is_built(monkeypatch, body):
    """The size a repeat would build is computed before building it: the refusal costs a few
    layers of work, not the 200,000 of the limit."""
    from nndsl.check.checker import Checker

    calls = []
    grow = Checker._grow
    monkeypatch.setattr(Checker, "_grow", lambda self, *a: calls.append(1) or grow(self, *a))
    [d] = analyze(model(body)).diagnostics
    assert d.code == "E0128" and d.span.line == 2
    assert len(calls) < 10_000, len(calls)
