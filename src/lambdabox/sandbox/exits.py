"""Watching a child process exit, from threads and from any asyncio event loop.

Guarantees:
1. `poll()` reaps the process if it has exited and returns its exit code (as
   `os.waitstatus_to_exitcode` gives it), else None. It is safe from any thread; the
   process is reaped once, and the code is remembered.
2. A process that is not (yet) our child counts as running: a sandbox's PID 1 becomes
   ours only once its launcher has exited and the kernel has reparented it to us.
3. `wait()` resolves with the exit code; it works in any running event loop, and several
   waiters may wait at once.
4. `close()` releases the pidfd; `poll()` then only returns what it already knew.
"""

from __future__ import annotations

import asyncio
import os
import resource
import select
import signal
import socket
import threading

#: Pause before asking again when the pidfd says "exited" but the process is not ours yet, in seconds.
REPARENT_RETRY_S = 0.001


class ExitWatch:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        # A pidfd refers to this process even after its PID is reused, and polls readable on exit.
        self._pidfd = os.pidfd_open(pid)
        self._lock = threading.Lock()
        self._code: int | None = None
        self.rusage: resource.struct_rusage | None = None

    def poll(self) -> int | None:
        with self._lock:
            if self._code is None and self._pidfd >= 0:
                try:
                    pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
                except ChildProcessError:
                    return None
                if pid == self.pid:
                    self._code = os.waitstatus_to_exitcode(status)
                    self.rusage = rusage
            return self._code

    async def wait(self) -> int:
        code = self.poll()
        if code is not None:
            return code
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        # Our own descriptor: a loop allows one reader per descriptor, and close() may run meanwhile.
        with self._lock:
            if self._pidfd < 0:
                raise ProcessLookupError(f"process {self.pid} is no longer watched")
            fd = os.dup(self._pidfd)

        def readable() -> None:
            code = self.poll()
            if code is not None:
                if not done.done():
                    done.set_result(code)
                return
            # Exited, but still its launcher's child for a moment: ask again shortly.
            loop.remove_reader(fd)
            loop.call_later(REPARENT_RETRY_S, lambda: done.done() or loop.add_reader(fd, readable))

        loop.add_reader(fd, readable)
        try:
            return await done
        finally:
            loop.remove_reader(fd)
            os.close(fd)

    def kill(self) -> None:
        """SIGKILL the process, unless it is reaped already (its PID may be someone else's then)."""
        with self._lock:
            if self._code is None and self._pidfd >= 0:
                try:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                except ProcessLookupError:
                    pass  # reaped by someone else already (a clone's keeper, by the kernel)

    def close(self) -> None:
        with self._lock:
            if self._pidfd >= 0:
                os.close(self._pidfd)
                self._pidfd = -1


class ReportedExit(ExitWatch):
    """The exit of a process that is not our child (a SnapStart clone's keeper), as it reported it.

    The keeper sends "exit <code>" on `channel` just before it exits; its pidfd tells when it
    is gone. A keeper that was killed reports nothing: its code is then -SIGKILL. Same
    interface as `ExitWatch`; the kernel reaps it, as its parent (the template) ignores SIGCHLD.
    """

    def __init__(self, pid: int, channel: socket.socket) -> None:
        super().__init__(pid)
        self._channel = channel

    def poll(self) -> int | None:
        with self._lock:
            if self._code is None and self._pidfd >= 0 and _readable(self._pidfd):
                self._code = self._reported()
            return self._code

    def _reported(self) -> int:
        try:
            while message := self._channel.recv(256, socket.MSG_DONTWAIT):
                kind, _, code = message.decode(errors="replace").partition(" ")
                if kind == "exit":
                    return int(code)
        except (OSError, ValueError):
            pass
        return -signal.SIGKILL

    def close(self) -> None:
        super().close()
        self._channel.close()


def kill_pending(pid: int) -> bool:
    """Whether a SIGKILL waits to be delivered to `pid`: under the cgroup v1 freezer, a frozen process that
    was killed dies only once thawed, and until then its exit cannot be seen. False if it cannot be read."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            text = status.read()
    except OSError:
        return False
    mask = 1 << (signal.SIGKILL - 1)
    for line in text.splitlines():
        # SigPnd: signals pending for the thread; ShdPnd: for the whole process (hexadecimal masks).
        if line.startswith((b"SigPnd:", b"ShdPnd:")) and int(line.split()[1], 16) & mask:
            return True
    return False


def _readable(fd: int) -> bool:
    """Whether `fd` is readable now (a pidfd: its process has exited); poll, as descriptors go past FD_SETSIZE."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))
