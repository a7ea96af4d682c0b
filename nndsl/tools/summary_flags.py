"""The flags of ``nndsl summary``, declared beside the summary itself so that the command line
stays small."""

from __future__ import annotations

HELP = "print each model's layers with parameters, MACs and activation memory"
DESCRIPTION = (
    "Print each model's layer table with the multiply-accumulates of each layer and totals of "
    "parameters, buffers, MACs and activation memory for a batch. With --train, plan the "
    "memory one device needs to train each train section instead: its parameters, gradients, "
    "optimizer state and the activations autograd keeps for the backward, and with "
    "--device-memory the largest batch that fits. Nothing imports torch."
)


TRAIN_ONLY = ("nproc", "strategy", "device_memory", "device")  # flags that go with --train


def add_flags(parser) -> None:
    parser.add_argument("file", help="the .nn source file")
    parser.add_argument(
        "--batch",
        type=int,
        help="the batch size B (default: 64; with --train, the section's batch, over all "
        "processes)",
    )
    parser.add_argument(
        "--model",
        help="summarise only this model (default: every model); with --train, the sections "
        "that train it",
    )
    parser.add_argument(
        "--size",
        action="append",
        metavar="NAME=N",
        help="a size for a symbol such as T; repeatable",
    )
    parser.add_argument(
        "--train",
        action="store_true",
        help="plan each train section's memory per device: parameters, gradients, optimizer "
        "state, saved activations and their total",
    )
    parser.add_argument("--nproc", type=int, help="processes the batch is split over (default: 1)")
    parser.add_argument(
        "--strategy",
        choices=("ddp", "fsdp"),
        help="ddp: each process holds everything; fsdp: parameters, gradients and optimizer "
        "state sharded over the processes, one layer gathered at a time (default: as the train "
        "section's `distributed` says, else ddp)",
    )
    parser.add_argument(
        "--device-memory",
        metavar="SIZE",
        help="a device's memory, such as 80GB or 80GiB: print the largest batch that fits",
    )
    parser.add_argument(
        "--device",
        choices=("cuda", "cpu"),
        help="whose kernels' saved tensors to count: dropout masks are 1 byte a value on cuda, "
        "the input's dtype on the cpu (default: cuda)",
    )
