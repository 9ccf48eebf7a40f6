"""The server's side of the spawner (see `launcher` for the other side and the protocol).

Guarantees:
1. `Spawner.start()` returns once the spawner process is ready to fork, or raises `SandboxError`.
2. `spawn(request, fds)` (the output and a template's channel, if any) returns the host PID of the sandbox's PID 1 once its program
   has been exec'd, or raises `Launched` carrying the PID (None if PID 1 was never forked)
   and the failed step. It is safe to call from several threads at once.
3. `close()` makes the spawner exit and reaps it; sandboxes already started are unaffected.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lambdabox.sandbox.api import SandboxError

#: How long the spawner may take to start (a cold Python), in seconds.
START_TIMEOUT_S = 10.0
#: How long a sandbox's setup may take, mounts included, before create() gives up, in seconds.
SETUP_TIMEOUT_S = 30.0
#: How long the spawner may take to exit when told to, in seconds.
STOP_TIMEOUT_S = 5.0
#: Socket buffer for requests, in bytes; a request is one datagram and must fit.
SEND_BUFFER = 1 << 20

#: The whole environment of spawners and zygotes.
SPAWNER_ENV = {"PATH": "/usr/bin:/bin", "LC_CTYPE": "C.UTF-8"}
#: Runs the launcher module from this source tree, without the environment; a zygote also preloads a script.
_BOOT = (
    "import sys; sys.path.insert(0, sys.argv[1]); from lambdabox.sandbox.launcher import serve; "
    "sys.path.remove(sys.argv[1]); serve(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None, sys.argv[4:])"
)


class Launched(SandboxError):
    """Setup failed; `pid` is PID 1's host PID if it had been forked (and must be reaped)."""

    def __init__(self, message: str, pid: int | None) -> None:
        super().__init__(message)
        self.pid = pid


class Spawner:
    def __init__(self, process: subprocess.Popen[bytes], sock: socket.socket) -> None:
        self._process = process
        self._sock = sock

    @classmethod
    def start(
        cls, interpreter: str = sys.executable, preload: Path | None = None, libraries: tuple[str, str] | None = None
    ) -> Spawner:
        """A spawner running on `interpreter`; with `preload`, a zygote that has imported that script, and
        with `libraries` (a host directory, and where sandboxes see it), the runtime's SDK from there.

        Both run without the site module (-S), as the runtimes' interpreters do (catalog.py):
        none of the host's site-packages or .pth files reaches a zygote's sandboxes.
        """
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        source = str(Path(__file__).resolve().parents[2])
        flags = ["-I", "-S"]
        extra = [str(preload), *(libraries or ())] if preload else []
        try:
            process = subprocess.Popen(
                [interpreter, *flags, "-c", _BOOT, source, str(theirs.fileno()), *extra],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                # Nothing of the server's environment (its secrets among it) reaches a spawner, a
                # zygote or anything forked from them: this is their whole environment.
                env=dict(SPAWNER_ENV),
                # Out of the terminal's process group: Ctrl-C is the server's to handle.
                start_new_session=True,
            )
        finally:
            theirs.close()
        ours.settimeout(START_TIMEOUT_S)
        try:
            hello = ours.recv(16)
        except OSError as error:
            hello = repr(error).encode()
        if hello != b"ready":
            process.kill()
            process.wait()
            ours.close()
            raise SandboxError(f"start the spawner: it said {hello!r}")
        ours.settimeout(None)
        return cls(process, ours)

    def spawn(self, request: dict[str, Any], fds: list[int]) -> int:
        payload = json.dumps(request).encode()
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                socket.send_fds(self._sock, [payload], [write_end, *fds])
            except OSError as error:
                raise Launched(f"send the request to the spawner: {error}", None) from None
            # Ours must go, or we would never see end-of-file.
            os.close(write_end)
            write_end = -1
            report = _read_until_eof(read_end, SETUP_TIMEOUT_S)
        finally:
            os.close(read_end)
            if write_end >= 0:
                os.close(write_end)
        pid = None
        for line in report.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "pid":
                pid = int(rest)
            elif kind == "error":
                failed_step, _, reason = rest.partition("\t")
                raise Launched(f"{failed_step}: {reason}", pid)
            elif kind == "timeout":
                raise Launched(f"setup took longer than {SETUP_TIMEOUT_S:g} s", pid)
        if pid is None:
            raise Launched("the launcher exited without starting PID 1", None)
        return pid

    def close(self) -> None:
        self._sock.close()
        try:
            self._process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def _read_until_eof(fd: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    chunks = []
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not poller.poll(remaining * 1000):
            chunks.append(b"\ntimeout\n")
            break
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
