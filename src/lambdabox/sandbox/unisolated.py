"""The fallback when the host allows no isolation: sandboxes are plain child processes.

Paths in a spec are as seen inside a sandbox, where `spec.mounts` put host directories at
their targets. Here nothing is mounted, so the working directory and the program are
mapped back to the host: `/var/task/x` becomes `<source of the /var/task mount>/x`.
Environment variables are passed as they are: a runtime finds its code through
LAMBDA_TASK_ROOT and friends, which the invoke layer must therefore set to host paths
when `isolation` is "none".
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import PurePosixPath

from lambdabox.sandbox.api import Mount, SandboxError, SandboxSpec
from lambdabox.sandbox.cgroups import poll_until
from lambdabox.sandbox.exits import ExitWatch

#: How long destroy() waits for the killed process to be reaped, in seconds.
REAP_TIMEOUT_S = 5.0


def host_path(path: str, mounts: list[Mount]) -> str:
    """Where `path`, as seen inside a sandbox with `mounts`, is on the host."""
    inside = PurePosixPath(path)
    # The deepest mount wins, as inside, where it lies on top of the others.
    for mount in sorted(mounts, key=lambda mount: len(PurePosixPath(mount.target).parts), reverse=True):
        target = PurePosixPath(mount.target)
        if inside == target or target in inside.parents:
            return str(mount.source / inside.relative_to(target))
    return path


class UnisolatedSandbox:
    def __init__(self, spec: SandboxSpec, process: subprocess.Popen[bytes], forget) -> None:
        self.id = spec.id
        self.pid = process.pid
        self._process = process
        self._exit = ExitWatch(process.pid)
        self._forget = forget
        self._lock = threading.Lock()
        self._destroyed = False

    def freeze(self) -> None:
        """No-op: without a cgroup there is nothing to freeze everything with."""

    def thaw(self) -> None:
        """No-op, as freeze()."""

    def limit_cpu(self, vcpus: float) -> None:
        """No-op: there is no cgroup."""

    async def wait_exit(self) -> int:
        return self._reaped(await self._exit.wait())

    def exited(self) -> bool:
        code = self._exit.poll()
        return code is not None and self._reaped(code) is not None

    def oom_killed(self) -> bool:
        return False

    def memory_peak_mb(self) -> int:
        """The process's own peak RSS (its children's are not counted)."""
        if self._exit.rusage is not None:
            return -(-self._exit.rusage.ru_maxrss // 1024)
        try:
            with open(f"/proc/{self.pid}/status") as file:
                for line in file:
                    if line.startswith("VmHWM:"):
                        return -(-int(line.split()[1]) // 1024)
        except OSError:
            pass
        return 0

    def destroy(self) -> None:
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
        members = _group_members(self.pid)
        try:
            # The process started its own session: its process group holds what it forked
            # (unless they left it).
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            poll_until(lambda: self._exit.poll() is not None, REAP_TIMEOUT_S)
            code = self._exit.poll()
            if code is not None:
                self._reaped(code)
            # Orphans are reparented to us if we are a child subreaper (a LinuxSandboxFactory
            # in this process makes us one): reap those of the group.
            poll_until(lambda: all(_reap_if_ours(pid) for pid in members), REAP_TIMEOUT_S)
        finally:
            self._exit.close()
            self._forget(self)

    def _reaped(self, code: int) -> int:
        # Tell Popen the process is gone, so that it never waits for its PID again.
        self._process.returncode = code
        return code


def _group_members(pgid: int) -> list[int]:
    """Processes of a process group, but its leader, found in /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pgid:
            try:
                with open(f"/proc/{entry}/stat") as file:
                    fields = file.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry))
    return members


def _reap_if_ours(pid: int) -> bool:
    """Whether `pid` is reaped or none of our business (not, or no longer, our child)."""
    try:
        reaped, _status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not _is_our_child(pid)
    return reaped == pid


def _is_our_child(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return int(file.read().rpartition(")")[2].split()[1]) == os.getpid()
    except OSError:
        return False


class UnisolatedSandboxFactory:
    isolation = "none"

    def __init__(self, problem: str) -> None:
        self.isolation_problem = problem
        self._lock = threading.Lock()
        self._live: dict[str, UnisolatedSandbox] = {}
        self._closed = False

    def create_template(self, spec: SandboxSpec) -> UnisolatedSandbox:
        raise SandboxError("clones of a template need isolation: namespaces and cgroups")

    def create(self, spec: SandboxSpec) -> UnisolatedSandbox:
        with self._lock:
            if self._closed:
                raise SandboxError("the sandbox factory is closed")
        output = subprocess.DEVNULL if spec.output_fd is None else spec.output_fd
        program = host_path(spec.argv[0], spec.mounts)
        try:
            process = subprocess.Popen(
                [program, *spec.argv[1:]],
                env=spec.env,
                cwd=host_path(spec.cwd, spec.mounts),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )
        except OSError as error:
            raise SandboxError(f"exec {program}: {error}") from None
        sandbox = UnisolatedSandbox(spec, process, self._forget)
        with self._lock:
            self._live[spec.id] = sandbox
        return sandbox

    def close(self) -> None:
        # 1. Stop intake.
        with self._lock:
            self._closed = True
            live = list(self._live.values())
        # 2. End every process still alive.
        for sandbox in live:
            sandbox.destroy()

    def _forget(self, sandbox: UnisolatedSandbox) -> None:
        with self._lock:
            if self._live.get(sandbox.id) is sandbox:
                del self._live[sandbox.id]
