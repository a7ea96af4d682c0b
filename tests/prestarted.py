"""Training scripts run as processes of their own without importing torch each time.

`python train_net.py` spends seconds importing torch (and matplotlib for the loss plot) before
its first step. A server started once imports them, then forks a child for each run: the child
changes into the script's folder, takes the script's command line and runs it as ``__main__``,
as the interpreter would, with its output on a pipe of the caller's. It is a separate process
with its own pid, so it can be killed (SIGKILL, SIGINT) mid-run, and its exit status is the one
`python train_net.py` would have (0, 1, 130, or minus the signal that killed it).

    with Server(env) as server:
        proc = server.start(folder, ["train_net.py", "--resume"])
        for line in proc.stdout: ...
        proc.wait()
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

_MESSAGE = 1 << 16


class Started:
    """A run in progress: its pid, its output (stdout and stderr together) and how it ends."""

    def __init__(self, server: Server, pid: int, stdout):
        self.server, self.pid, self.stdout = server, pid, stdout

    def send_signal(self, sig: int) -> None:
        os.kill(self.pid, sig)

    def wait(self, timeout: float | None = None) -> int:
        """The exit code, as subprocess gives it: minus the signal when one ended the run."""
        self.server.sock.settimeout(timeout)
        self.server.sock.send(json.dumps({"wait": self.pid}).encode())
        code = json.loads(self.server.sock.recv(_MESSAGE))
        self.stdout.close()
        return code


class Server:
    """The forking server, a child of this process, started with `env` as its environment."""

    def __init__(self, env: dict[str, str]):
        self.sock, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(theirs.fileno())],
            env=env,
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        theirs.close()

    def start(self, cwd, argv: list[str], max_file_size: int | None = None) -> Started:
        """Run ``python *argv`` in `cwd`; with max_file_size, writing a larger file fails as on
        a full disk (EFBIG)."""
        read, write = os.pipe()
        request = {"cwd": str(cwd), "argv": argv, "max_file_size": max_file_size}
        self.sock.settimeout(60)
        socket.send_fds(self.sock, [json.dumps(request).encode()], [write])
        os.close(write)
        pid = json.loads(self.sock.recv(_MESSAGE))
        return Started(self, pid, os.fdopen(read, encoding="utf-8"))

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()  # the server reads end of file and exits
        self.proc.wait(timeout=60)


def _run(request: dict) -> None:
    """In the forked child: run the script as `python` would, then exit with its code."""
    import resource
    import runpy
    import traceback

    code = 1
    try:
        os.chdir(request["cwd"])
        if request["max_file_size"]:
            limit = request["max_file_size"]
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        sys.argv = list(request["argv"])
        sys.path[0] = os.getcwd()  # the script's folder, as for `python train_net.py`
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve(fd: int) -> None:
    import numpy  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401 - what building the first optimizer imports

    try:  # the loss plot's, when matplotlib is installed
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except ImportError:
        pass
    sock = socket.socket(fileno=fd)
    while True:
        message, fds, _, _ = socket.recv_fds(sock, _MESSAGE, 1)
        if not message:
            return
        request = json.loads(message)
        if "wait" in request:
            _, status = os.waitpid(request["wait"], 0)
            sock.send(json.dumps(os.waitstatus_to_exitcode(status)).encode())
            continue
        pid = os.fork()
        if pid == 0:
            sock.close()
            os.dup2(fds[0], 1)
            os.dup2(fds[0], 2)
            os.close(fds[0])
            _run(request)
        os.close(fds[0])
        sock.send(json.dumps(pid).encode())


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
