"""The flags of ``nndsl run``, for the command line (:mod:`nndsl.cli`), which builds its parser
from here: training in process or under torchrun, in a run folder."""

from __future__ import annotations


def add_run_command(sub, fmt: dict) -> None:
    """`run`: training, in process or under torchrun."""
    r = sub.add_parser(
        "run",
        help="compile a .nn file and train it (the same code `compile` writes)",
        description="Compile in memory, write the sources into a run folder and train there. A "
        "folder holds one run (a new run refuses another's): model.py, train_<model>.py, "
        "config.json, metrics.csv, metrics.jsonl, loss.png, the weights, checkpoints with their "
        "SHA-256.",
    )
    r.add_argument("file", help="the .nn source file")
    r.add_argument(
        "--model", help="run only this model's train section (default: every one, in order)"
    )
    r.add_argument(
        "--out",
        help="the run folder (default: runs/<model>/<date-time>/; with several train sections, "
        "one subfolder per model)",
    )
    r.add_argument("--epochs", type=int, help="override the number of epochs")
    r.add_argument("--max-steps", type=int, help="stop after this many optimizer steps")
    r.add_argument("--device", help="override the device: auto, cpu, cuda, cuda:N, mps")
    r.add_argument("--seed", type=int, help="override the seed")
    r.add_argument("--batch-size", type=int, help="override the batch size")
    r.add_argument("--lr", type=float, help="override the learning rate")
    r.add_argument("--eval", metavar="WEIGHTS", help="evaluate saved weights instead of training")
    r.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out (default: the newest run) from its newest whole checkpoint",
    )
    r.add_argument(
        "--checkpoint-every",
        type=int,
        metavar="N",
        help="write a checkpoint every N optimizer steps",
    )
    r.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train with N processes on this machine (torchrun, DistributedDataParallel)",
    )
    r.add_argument(
        "--max-restarts",
        type=int,
        metavar="K",
        help="with --nproc: restart the processes up to K times after a failure, resuming "
        "from the newest checkpoint",
    )
    r.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    r.add_argument("--format", **fmt)
