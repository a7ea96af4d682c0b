"""``nndsl run --nproc N``: the training script as N processes under torchrun, and what to say
when torchrun itself is killed.

torchrun starts each worker in a session of its own, so a torchrun killed outright (``kill
-9``, the out-of-memory killer) leaves its workers training. They carry a mark in their
environment by which they are found and stopped. torchrun runs in a process group of its own
too, and the signals ``nndsl run`` gets while it waits (Ctrl-C, a hangup, a kill, SIGUSR1) are
passed on to it once, as torchrun passes them on to its workers: SIGUSR1 as SIGTERM, which every
torchrun passes on and the workers take alike. After SIGTERM or SIGUSR1 the workers save a
checkpoint and exit with ``REQUEUE``, and so does ``nndsl run``, saying so in one line: torchrun
runs inside a few lines of Python (``_AGENT``) that end it without its traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

MARK = "NNDSL_LAUNCH"  # the environment variable that marks one launch's processes
REQUEUE = 75  # the training script's exit code after SIGTERM or SIGUSR1 (trainkit.REQUEUE)
_STOPS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1") if hasattr(signal, name))
_PASSED_ON = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")
    if hasattr(signal, name)
)
# torchrun's own main, ended by a signal, by workers that stopped to be requeued, or by a worker
# that failed, with an exit code instead of torchrun's traceback (its log lines still say what
# it did). A worker that exits with a code of its own has said why (the kit's one-line error,
# or a traceback of its own): the run exits with that code. A worker killed by a signal says
# nothing, so its rank and the signal are said here. A worker that exits first has torchrun
# SIGTERM the others, which may be leaving too: their checkpoint is written before any of them
# leaves.
_AGENT = f"""import signal, sys
from torch.distributed.elastic.multiprocessing.api import SignalException
from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.run import main
try:
    main()
except SignalException as err:
    sys.exit(128 + int(err.sigval))
except ChildFailedError as err:
    codes = {{f.exitcode for f in err.failures.values()}}
    if {REQUEUE} in codes and codes <= {{{REQUEUE}, -signal.SIGTERM}}:
        sys.exit({REQUEUE})
    rank, first = err.get_first_failure()
    if first.exitcode > 0:
        sys.exit(first.exitcode)
    try:
        how = signal.Signals(-first.exitcode).name
    except ValueError:
        how = f"signal {{-first.exitcode}}"
    print(f"nndsl: error: training process {{rank}} was killed by {{how}}", file=sys.stderr)
    sys.exit(1)
"""


def torchrun(script: Path, argv: list[str], nproc: int, restarts: int, nodes=None) -> int:
    """Run the script as ``nproc`` processes on this machine under torchrun (with ``nodes``, a
    ``cluster.Nodes``: this machine's share of a run over several); the exit code (130 after
    Ctrl-C, ``REQUEUE`` after SIGTERM or SIGUSR1, 1 when torchrun was killed)."""
    where = ["--standalone"] if nodes is None else nodes.torchrun_flags()
    flags = [*where, f"--nproc_per_node={nproc}", f"--max-restarts={restarts}"]
    cmd = [sys.executable, "-c", _AGENT, *flags, str(script.resolve()), *argv]
    print("running: torchrun " + " ".join(cmd[3:]), file=sys.stderr)
    token = uuid.uuid4().hex
    env = dict(os.environ, **{MARK: token})
    proc = subprocess.Popen(cmd, cwd=script.parent, env=env, start_new_session=True)
    with _passing_on(proc.pid) as passed:
        code = proc.wait()
    left = stop_marked(token) if code < 0 else None
    if signal.SIGINT in passed:
        return 130  # Ctrl-C: the workers have said where they stopped
    stop = next((s for s in passed if s in _STOPS), None)
    if code >= 0 and (stop is not None or (not passed and code == REQUEUE)):
        print(requeued(stop, script.parent), file=sys.stderr)
        return REQUEUE
    if not passed and code >= 0:
        return code
    signum = passed[0] if passed else -code
    print(killed(signum, bool(passed), left, script.parent), file=sys.stderr)
    return 1


def requeued(signum: int | None, folder: Path) -> str:
    """What ``nndsl run`` says when the run stopped at SIGTERM or SIGUSR1 (``signum``, None when
    a worker was sent it)."""
    how = f"stopped by {signal.Signals(signum).name}" if signum else "stopped by a signal"
    return (
        f"nndsl: training {how}, after a checkpoint of its last step in {folder}; exit "
        f"{REQUEUE}, to requeue: `nndsl run` with --resume continues from the newest"
    )


def killed(signum: int, passed: bool, left: int | None, folder: Path) -> str:
    """What ``nndsl run`` says when torchrun died of signal ``signum``; ``left`` is how many of
    its workers were stopped after it (None: they could not be looked for)."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    how = "stopped" if passed else "killed"
    if left is None:
        workers = "; its worker processes may still be running"
    elif left:
        workers = f"; the {left} worker processes it left were stopped"
    else:
        workers = ""
    return (
        f"nndsl: error: torchrun was {how} by {name}{workers}. The checkpoints in {folder} are "
        "whole: `nndsl run` with --resume continues from the newest"
    )


def stop_marked(token: str) -> int | None:
    """SIGTERM the processes that carry ``token`` in their environment; how many (None where
    processes cannot be listed, without /proc)."""
    proc = Path("/proc")
    if not (proc / "self" / "environ").exists():
        return None
    mark = f"{MARK}={token}".encode()
    stopped = 0
    for entry in proc.glob("[0-9]*"):
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                os.kill(int(entry.name), signal.SIGTERM)
                stopped += 1
        except (OSError, ValueError):  # gone, or another user's
            continue
    return stopped


@contextlib.contextmanager
def _passing_on(group: int):
    """While torchrun runs, the signals this process gets are sent on to ``group``; yields the
    list of those passed on."""
    passed: list[int] = []

    def handler(signum, frame):
        passed.append(signum)
        sent = signal.SIGTERM if signum in _STOPS else signum  # torchrun passes SIGTERM on
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sent)

    try:
        previous = {sig: signal.signal(sig, handler) for sig in _PASSED_ON}
    except ValueError:  # not the main thread: signals stay as they are
        yield passed
        return
    try:
        yield passed
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
