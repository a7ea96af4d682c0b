"""The training section as structured values (nndsl.ir.training): what the checker builds for
the loss, optimizer and its groups, scheduler, init rules, clipping and predictions, and the
Python the code generator writes for them."""

from __future__ import annotations

import doctest

import pytest

import nndsl.codegen.train_values
import nndsl.ir.training
from nndsl.codegen.train_values import args_code, call_code, options_code, value_code
from nndsl.ir.training import (
    Arg,
    Call,
    Number,
    Ref,
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
        (Number(0.001, "1e-3"), "1e-3"),
        (Number(-2, "-2"), "-2"),
        (Number(6, "2 * 3"), "2 * 3"),
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
    assert call_code(Call("nn.MSELoss")) == "nn.MSELoss()"
    args = (Arg("lr", Ref("cfg.lr")), Arg("betas", Seq((0.85, 0.995))), Arg("amsgrad", True))
    assert args_code(args) == "lr=cfg.lr, betas=(0.85, 0.995), amsgrad=True"
    assert Call("torch.optim.Adam", args).arg("betas") == Seq((0.85, 0.995))
    assert Call("torch.optim.Adam", args).arg("eps") is None
    options = (Arg("betas", Seq((0.8, 0.9))), Arg("weight_decay", -0.0))
    assert options_code(options) == '"betas": (0.8, 0.9), "weight_decay": -0.0'


@pytest.mark.parametrize("module", [nndsl.ir.training, nndsl.codegen.train_values])
def test_doctests(module):
    assert doctest.testmod(module).failed == 0
