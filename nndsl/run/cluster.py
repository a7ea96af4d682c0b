"""Runs over several machines: ``nndsl run --nnodes N --node-rank K --rdzv-endpoint HOST:PORT``
(this machine's share, under torchrun's static rendezvous: node 0 serves it at HOST:PORT and
holds rank 0, which writes the checkpoints) and ``nndsl run --slurm``, which writes the batch
script that starts such a run on the nodes Slurm allocates and requeues it when time runs out.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from nndsl.run.launch import REQUEUE

SLURM_SCRIPT = "slurm.sh"  # the batch script's name in the run folder
WARNING_S = 90  # seconds before the time limit that Slurm warns the job (USR1)
_ENDPOINT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})")


class Invalid(Exception):
    """Flags that do not make a run (the command ends with exit 2)."""


@dataclass(frozen=True)
class Nodes:
    """This machine's share of a run over ``count`` machines."""

    count: int
    rank: int
    endpoint: str  # HOST:PORT of node 0's rendezvous

    def torchrun_flags(self) -> list[str]:
        return [
            f"--nnodes={self.count}",
            f"--node-rank={self.rank}",
            f"--rdzv-endpoint={self.endpoint}",
        ]


def nodes(args) -> Nodes | None:
    """The machines ``args`` asks for (None: this one alone); Invalid with what is wrong."""
    count, rank, endpoint = args.nnodes, args.node_rank, args.rdzv_endpoint
    if args.nproc is not None and args.nproc < 1:
        raise Invalid(f"--nproc must be at least 1, not {args.nproc}")
    if args.slurm is not None:
        if rank is not None or endpoint is not None:
            raise Invalid(
                "--slurm starts every node itself: leave out --node-rank and --rdzv-endpoint"
            )
        if count is not None and count < 1:
            raise Invalid(f"--nnodes must be at least 1, not {count}")
        return None
    if count is None:
        if rank is not None or endpoint is not None:
            raise Invalid("--node-rank and --rdzv-endpoint need --nnodes")
        return None
    if count < 1:
        raise Invalid(f"--nnodes must be at least 1, not {count}")
    if count == 1 and endpoint is None:
        if rank not in (None, 0):
            raise Invalid(f"--node-rank {rank} is not below --nnodes 1")
        return None
    if rank is None or endpoint is None:
        raise Invalid(
            f"--nnodes {count} needs --node-rank (this machine's, 0 to {count - 1}) and "
            "--rdzv-endpoint HOST:PORT (where node 0 can be reached), the same on every node"
        )
    if not args.out:
        raise Invalid(
            f"--nnodes {count} needs --out, a run folder that every node sees (each would "
            "make a runs/<model>/<date-time> of its own)"
        )
    if not 0 <= rank < count:
        raise Invalid(f"--node-rank must be from 0 to {count - 1}, not {rank}")
    match = _ENDPOINT.fullmatch(endpoint)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise Invalid(
            f"--rdzv-endpoint {endpoint!r} is not HOST:PORT (a port from 1 to 65535), "
            "e.g. node0.cluster:29500"
        )
    return Nodes(count, rank, endpoint)


def slurm_path(args, run_dir: Path) -> Path:
    """Where ``--slurm`` writes the batch script: the path it was given, else the run folder's
    ``slurm.sh``."""
    return Path(args.slurm) if args.slurm else run_dir / SLURM_SCRIPT


def slurm_script(script: Path, argv: list[str], model: str, count: int, nproc: int) -> str:
    """The batch script that trains with ``script`` (its flags ``argv``) on ``count`` nodes of
    ``nproc`` processes, requeued when Slurm warns of the time limit."""
    run_dir = script.parent.resolve()
    train = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        '--nnodes="$SLURM_NNODES"',
        '--node-rank="$SLURM_NODEID"',
        '--rdzv-endpoint="$NNDSL_RDZV"',
        f"--nproc-per-node={nproc}",
        str(script.resolve()),
        *argv,
    ]
    node = " ".join(w if '"$' in w else shlex.quote(w) for w in train)
    folder = shlex.quote(str(run_dir))
    return f"""#!/bin/bash
#SBATCH --job-name={model.lower()}
#SBATCH --nodes={count}
#SBATCH --ntasks-per-node=1
#SBATCH --requeue
#SBATCH --signal=B:USR1@{WARNING_S}
#SBATCH --open-mode=append
#SBATCH --output={run_dir}/slurm-%j.out
# Written by `nndsl run --slurm`; submit it with `sbatch {run_dir / SLURM_SCRIPT}` (or
# another path given to --slurm), adding the partition, --time, --gpus-per-node={nproc} and
# the like that the cluster asks for. It trains {model} in {run_dir}, {nproc} processes on
# each of {count} nodes under torchrun, node 0 holding the rendezvous. Every start resumes
# from the newest whole checkpoint there (--resume; the first starts from the beginning).
# {WARNING_S} s before the time limit Slurm sends this shell USR1: it has every training
# process save a checkpoint after its step (SIGTERM), waits for them and requeues the job.
# A training process stopped that way exits {REQUEUE}. Node 0 serves the rendezvous on port
# NNDSL_PORT, by default one from 20000 to 39999 taken from the job's id.
set -u
cd {folder} || exit 1
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export NNDSL_RDZV="$head:${{NNDSL_PORT:-$((20000 + SLURM_JOB_ID % 20000))}}"
requeue=0
warned() {{
    requeue=1
    scancel --signal=TERM "$SLURM_JOB_ID"  # every step's processes, not this shell
}}
trap warned USR1
srun --kill-on-bad-exit=1 bash -c {shlex.quote("exec " + node)} &
pid=$!
wait "$pid"
code=$?
while [ "$requeue" = 1 ] && kill -0 "$pid" 2>/dev/null; do
    wait "$pid"  # the warning interrupted the wait: wait for the checkpoints
    code=$?
done
if [ "$requeue" = 1 ]; then
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
fi
exit "$code"
"""
