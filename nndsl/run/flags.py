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
        "SHA-256. Ctrl-C saves a checkpoint after the current step and exits 130; SIGTERM and "
        "SIGUSR1 do the same and exit 75, for a scheduler to requeue the run (--resume "
        "continues it).",
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
    _add_cluster_flags(r)
    r.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    r.add_argument("--format", **fmt)


def _add_cluster_flags(r) -> None:
    """Several machines: torchrun's rendezvous, or a Slurm batch script."""
    r.add_argument(
        "--nnodes",
        type=int,
        metavar="N",
        help="train on N machines, --nproc processes each (torchrun): run the same command on "
        "every one, with its --node-rank and node 0's --rdzv-endpoint",
    )
    r.add_argument(
        "--node-rank",
        type=int,
        metavar="K",
        help="with --nnodes: this machine's number, 0 to N-1; node 0 holds rank 0, which writes "
        "the checkpoints (the run folder must be one that every node sees)",
    )
    r.add_argument(
        "--rdzv-endpoint",
        metavar="HOST:PORT",
        help="with --nnodes: where node 0 can be reached, the same on every node",
    )
    r.add_argument(
        "--slurm",
        nargs="?",
        const="",
        metavar="PATH",
        help="write a Slurm batch script (to PATH, default <run folder>/slurm.sh) that trains "
        "on --nnodes nodes of --nproc processes, resuming from the newest checkpoint each time "
        "it starts and requeued when Slurm warns of the time limit; it is not submitted",
    )
