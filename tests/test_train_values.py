"""The training section as structured values (nndsl.ir.training): what the checker builds for
the loss, optimizer and its groups, scheduler, init rules, clipping and predictions, and the
Python the code generator writes for them."""

from __future__ import annotations

import doctest

import pytest
from compiled import NET_AND_PAIRS

import nndsl.codegen.train_values
import nndsl.ir.training
from nndsl.codegen import render as codegen
from nndsl.codegen.train_values import args_code, call_code, feed_code, options_code, value_code
from nndsl.codegen.train_view import train_view
from nndsl.compiler import analyze
from nndsl.ir.expr import BinOp, Lit, Unary
from nndsl.ir.training import (
    Arg,
    Call,
    Clip,
    Feed,
    InitRule,
    Number,
    Optimizer,
    OptimizerGroup,
    Predict,
    Ref,
    Scheduler,
    Seq,
    value_of,
)

W = Arg(None, Ref("w"))


@pytest.mark.parametrize(
    "value, code",
    [
        (3, "3"),
        (-2, "-2"),
        (0.5, "0.5"),
        (-0.0, "-0.0"),
        (1e-8, "1e-08"),
        (float("inf"), 'float("inf")'),
        (True, "True"),
        (None, "None"),
        ("fan_out", '"fan_out"'),
        ("it's", '"it\'s"'),
        (Seq((0.8, 0.9)), "(0.8, 0.9)"),
        (Seq((1,)), "(1,)"),
        (Seq(()), "()"),
        (Seq((1, 2), "list"), "[1, 2]"),
        (
            Seq(
                (
                    Seq((-1, 2), "list"),
                    Seq((3,)),
                ),
                "list",
            ),
            "[[-1, 2], (3,)]",
        ),
        (Number(0.001, Lit(0.001, "1e-3")), "1e-3"),
        (Number(-2, Unary("-", Lit(2, "2"))), "-2"),
        (Number(6, BinOp("*", Lit(2, "2"), Lit(3, "3"))), "2 * 3"),
        (Ref("cfg.lr"), "cfg.lr"),
    ],
)
def test_values_are_written_as_python(value, code):
    assert value_code(value) == code


def test_computed_values_become_sequences():
    assert value_of((0.85, 0.995)) == Seq((0.85, 0.995))
    assert value_of([1, (2,)]) == Seq((1, Seq((2,))), "list")
    assert value_of(-1.5) == -1.5


def test_calls_and_arguments():
    call = Call("nn.init.normal_", (W, Arg(None, 0), Arg(None, 0.01)))
    assert call_code(call) == "nn.init.normal_(w, 0, 0.01)"
    assert call_code(Call("F.mse_loss")) == "F.mse_loss()"
    args = (Arg("lr", Ref("cfg.lr")), Arg("betas", Seq((0.85, 0.995))), Arg("amsgrad", True))
    assert args_code(args) == "lr=cfg.lr, betas=(0.85, 0.995), amsgrad=True"
    assert Call("torch.optim.Adam", args).arg("betas") == Seq((0.85, 0.995))
    assert Call("torch.optim.Adam", args).arg("eps") is None
    options = (Arg("betas", Seq((0.8, 0.9))), Arg("weight_decay", -0.0))
    assert options_code(options) == '"betas": (0.8, 0.9), "weight_decay": -0.0'


SOURCE = NET_AND_PAIRS + """
train Net on pairs {
    loss huber(delta=0.5)
    optimizer adam(lr=0.01, betas=(0.85, 0.995)) {
        hidden.weight: betas=(0.8, 0.9), weight_decay=-0.0
        out.bias: betas=[0.5, 0.6], eps=1e-6
    }
    scheduler multistep(milestones=[1, 2], gamma=0.5)
    init {
        Linear.weight ~ uniform(-0.25, -0.125)
        Linear.bias = -1.5
        out.weight ~ kaiming_normal(mode="fan_out")
        hidden.bias = 0
    }
    clip 2
    predict [[1e-3, -2], [2 * 3, 1.50]]
    epochs 3
}
"""


def trained(source: str):
    result = analyze(source)
    assert result.ok, [d.message for d in result.diagnostics]
    return result.program.trains[0]


def test_the_checker_builds_structured_values():
    t = trained(SOURCE)
    assert t.loss == Call("F.huber_loss", (Arg("delta", 0.5),))
    assert t.optimizer == Optimizer(
        Call("torch.optim.Adam", (Arg("lr", Ref("cfg.lr")), Arg("betas", Seq((0.85, 0.995))))),
        (
            OptimizerGroup(
                ("hidden.weight",),
                (Arg("betas", Seq((0.8, 0.9))), Arg("weight_decay", -0.0)),
                "hidden.weight: betas=(0.8, 0.9), weight_decay=-0.0  (line 17)",
            ),
            OptimizerGroup(
                ("out.bias",),
                (Arg("betas", Seq((0.5, 0.6))), Arg("eps", 1e-6)),
                "out.bias: betas=[0.5, 0.6], eps=1e-6  (line 18)",
            ),
        ),
    )
    assert t.scheduler == Scheduler(
        Call(
            "torch.optim.lr_scheduler.MultiStepLR",
            (
                Arg(None, Ref("optimizer")),
                Arg("milestones", Seq((1, 2), "list")),
                Arg("gamma", 0.5),
            ),
        ),
        "epoch",
    )
    assert t.init == (
        InitRule(
            ("hidden.weight",),
            Call("nn.init.uniform_", (W, Arg(None, -0.25), Arg(None, -0.125))),
            "Linear.weight ~ uniform(-0.25, -0.125)  (line 22)",
        ),
        InitRule(
            ("out.bias",),
            Call("nn.init.constant_", (W, Arg(None, -1.5))),
            "Linear.bias = -1.5  (line 23)",
        ),
        InitRule(
            ("out.weight",),
            Call("nn.init.kaiming_normal_", (W, Arg("mode", "fan_out"))),
            'out.weight ~ kaiming_normal(mode="fan_out")  (line 24)',
        ),
        InitRule(("hidden.bias",), Call("nn.init.zeros_", (W,)), "hidden.bias = 0  (line 25)"),
    )
    assert t.clip == Clip("norm", 2.0)
    rows = Seq(
        (
            Seq((Number(0.001, Lit(0.001, "1e-3")), Number(-2, Unary("-", Lit(2, "2")))), "list"),
            Seq(
                (Number(6, BinOp("*", Lit(2, "2"), Lit(3, "3"))), Number(1.5, Lit(1.5, "1.50"))),
                "list",
            ),
        ),
        "list",
    )
    assert t.predict == Predict(rows, "float32")
    groups = {name: group.split("  ")[0] for name, _, _, group in t.table}
    assert groups["hidden.weight"].startswith("hidden.weight: betas=(0.8, 0.9)")
    assert groups["hidden.bias"] == "default"
    inits = {name: rule.split("  ")[0] for name, _, rule, _ in t.table}
    assert inits["out.weight"] == 'out.weight ~ kaiming_normal(mode="fan_out")'


def test_the_view_writes_them_as_python():
    view = train_view(trained(SOURCE), "values.nn", "model", ".")
    main = "\n".join(view["main_lines"])
    assert '"loss": F.huber_loss(out, y, delta=0.5)' in view["functions"][0]["lines"][-1]
    assert view["optimizer_ctor"] == "torch.optim.Adam"
    assert view["optimizer_args"] == "lr=cfg.lr, betas=(0.85, 0.995)"
    assert [g["dict_code"] for g in view["groups"]] == [
        '"betas": (0.8, 0.9), "weight_decay": -0.0',
        '"betas": (0.5, 0.6), "eps": 1e-06',
    ]
    assert (
        "scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1, 2], gamma=0.5)"
        in main
    )
    assert [rule["code"] for rule in view["init"]] == [
        "nn.init.uniform_(w, -0.25, -0.125)",
        "nn.init.constant_(w, -1.5)",
        'nn.init.kaiming_normal_(w, mode="fan_out")',
        "nn.init.zeros_(w)",
    ]
    assert "clip=2.0" in main
    assert view["predict_rows"] == "[[1e-3, -2], [2 * 3, 1.50]]"
    assert view["predict_dtype"] == "torch.float32"


BARE = """
model M(x: [4]) { a = Linear(5) ReLU() b = Linear(1) }
data d { x = randn(8, 4) y = randn(8, 1) }
train M on d {
    loss mse
    SETTINGS
}
"""


@pytest.mark.parametrize(
    "settings, code",
    [
        ("", "optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)"),
        ("scheduler cosine", "CosineAnnealingLR(optimizer, T_max=cfg.epochs)"),
        (
            "scheduler cosine(t_max=4, eta_min=0.001)",
            "CosineAnnealingLR(optimizer, T_max=4, eta_min=0.001)",
        ),
        (
            "scheduler onecycle(max_lr=0.1)\n steps 100",
            "OneCycleLR(optimizer, max_lr=0.1, total_steps=total_steps)",
        ),
        ("scheduler onecycle(max_lr=0.1)\n steps 100", "total_steps = run.total_steps(data)"),
        ("optimizer sgd(lr=0.1, momentum=0.9)", "(model.parameters(), lr=cfg.lr, momentum=0.9)"),
        ("init { Linear.weight ~ normal(0, 0.01) }", "nn.init.normal_(w, 0, 0.01)"),
        ("init { Linear.weight = 2 }", "nn.init.constant_(w, 2.0)"),
        ("init { Linear.weight ~ xavier_uniform }", "nn.init.xavier_uniform_(w)"),
        ("clip 0.25", "clip=0.25"),
        ("predict [[1, 2, 3, 4]]", "rows = [[1, 2, 3, 4]]"),
    ],
)
def test_settings_as_python(settings, code):
    t = trained(BARE.replace("SETTINGS", settings))
    assert code in codegen.render_train(t, "m.nn", "model")


def test_settings_left_out_leave_no_code():
    code = codegen.render_train(trained(BARE.replace("SETTINGS", "clip 0")), "m.nn", "model")
    assert "clip" not in code and "scheduler" not in code and "predict" not in code


def test_scheduler_step_kind():
    t = trained(BARE.replace("SETTINGS", "scheduler reduce_on_plateau(factor=0.5)"))
    assert t.scheduler.step == "plateau"
    assert t.scheduler.call.arg("factor") == 0.5
    assert trained(BARE.replace("SETTINGS", "")).scheduler is None


def test_config_defaults_are_values():
    t = trained(BARE.replace("SETTINGS", "optimizer sgd(lr=1)"))
    defaults = {f.name: f.default for f in t.config}
    assert defaults["lr"] == 1.0 and isinstance(defaults["lr"], float)
    assert defaults["epochs"] == 10 and defaults["resume"] is False and defaults["out_dir"] == ""
    lines = train_view(t, "m.nn", "model", ".")["config_lines"]
    assert "lr: float = 1.0" in lines
    assert not any(line.startswith(("out_dir", "epochs")) for line in lines)  # trainkit's


@pytest.mark.parametrize(
    "feed, code",
    [
        (Feed("x"), "x"),
        (Feed("x", "float32"), "x.float()"),
        (Feed("y", "int64"), "y.long()"),
        (Feed("x", "bfloat16"), "x.to(torch.bfloat16)"),
        (Feed("tokens", "int32"), "tokens.to(torch.int32)"),
    ],
)
def test_feeds_are_written_as_conversions(feed, code):
    assert feed_code(feed) == code


FEEDS = """
model M(x: [2] DTYPE) { Linear(UNITS) }
data d { x = XS y = YS }
train M on d { loss LOSS }
"""


@pytest.mark.parametrize(
    "dtype, xs, ys, loss, returns",
    [
        ("", "[[1, 2], [3, 4]]", "[[1], [0]]", "mse", "x.float(), y.float()"),
        ("", "[[1.5, 2], [3, 4]]", "[0, 2]", "cross_entropy", "x, y"),
        # the weights are bfloat16 too, so the targets follow (float32 targets: y.to(...))
        (
            "bfloat16",
            "[[1.5, 2], [3, 4]]",
            "[[0.5], [1.5]]",
            "mse",
            "x.to(torch.bfloat16), y.to(torch.bfloat16)",
        ),
        ("", "[[true, false], [false, true]]", "[[true], [false]]", "mse", "x.float(), y.float()"),
    ],
)
def test_data_feeds_convert_to_what_the_model_and_loss_take(dtype, xs, ys, loss, returns):
    units = "1" if loss == "mse" else "3"
    source = FEEDS.replace("DTYPE", dtype).replace("XS", xs).replace("YS", ys)
    t = trained(source.replace("LOSS", loss).replace("UNITS", units))
    x, y = returns.split(", ")
    dtypes = {"x": None, "y": None, "x.float()": "float32", "y.float()": "float32"}
    dtypes["x.to(torch.bfloat16)"] = dtypes["y.to(torch.bfloat16)"] = "bfloat16"
    assert t.data.returns == (("x", Feed("x", dtypes[x])), ("y", Feed("y", dtypes[y])))
    view = train_view(t, "m.nn", "model", ".")
    assert view["datas"][0]["returns"] == f'"x": {x}, "y": {y}'


@pytest.mark.parametrize("module", [nndsl.ir.training, nndsl.codegen.train_values])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0
