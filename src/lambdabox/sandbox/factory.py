"""Sandboxes with namespaces and cgroups, and the choice between them and none.

`make_factory()` is what the composition root calls. It returns a `LinuxSandboxFactory`
when this host lets it build a sandbox (it tries one), else an `UnisolatedSandboxFactory`
whose `isolation_problem` says why.

How a sandbox starts (see `launcher` for the steps inside):
1. The factory creates the sandbox's cgroup and sets its limits.
2. The spawner forks a launcher, which forks PID 1 into new namespaces and moves it into
   the cgroup (the first move into a cgroup waits for an RCU grace period, several
   milliseconds, which PID 1 spends building its root).
3. PID 1 drops privileges, waits until it is in its cgroup, and execs; `create()` returns.
PID 1 is reparented to the server (a child subreaper, set by the factory), which watches
it through a pidfd and reaps it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import struct
import threading
from pathlib import Path
from typing import Any

from lambdabox.sandbox import cgroups, linux
from lambdabox.sandbox.api import SandboxError, SandboxFactory, SandboxSpec
from lambdabox.sandbox.cgroups import Cgroup, CgroupUnavailable, Hierarchy
from lambdabox.sandbox.exits import ExitWatch, ReportedExit
from lambdabox.sandbox.spawner import SETUP_TIMEOUT_S, Launched, Spawner
from lambdabox.sandbox.unisolated import UnisolatedSandboxFactory

#: What a sandbox id may look like: it names a cgroup directory.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
#: How long destroy() waits for PID 1 to be reaped once its cgroup is empty, in seconds.
REAP_TIMEOUT_S = 5.0
#: Program run by the sandbox that make_factory() tries; first one that exists.
PROBE_PROGRAMS = ("/usr/bin/true", "/bin/true")

MIB = 1024 * 1024
#: struct ucred of SCM_CREDENTIALS: pid, uid, gid.
CREDENTIALS = struct.Struct("iii")


class LinuxSandbox:
    def __init__(self, spec: SandboxSpec, pid: int, cgroup: Cgroup, forget, exit_watch=None) -> None:
        self.id = spec.id
        self.pid = pid
        self._cgroup = cgroup
        self._exit = exit_watch or ExitWatch(pid)
        self._forget = forget
        self._lock = threading.Lock()
        self._destroyed = False
        # What the cgroup said last, for after it is removed.
        self._oom_kills = 0
        self._peak_bytes = 0

    def freeze(self) -> None:
        with self._lock:
            if not self._destroyed:
                self._cgroup.freeze()

    def thaw(self) -> None:
        with self._lock:
            if not self._destroyed:
                self._cgroup.thaw()

    def limit_cpu(self, vcpus: float) -> None:
        with self._lock:
            if not self._destroyed:
                self._cgroup.set_cpu(vcpus)

    async def wait_exit(self) -> int:
        return await self._exit.wait()

    def exited(self) -> bool:
        return self._exit.poll() is not None

    def oom_killed(self) -> bool:
        with self._lock:
            if not self._destroyed:
                self._oom_kills = self._cgroup.oom_kills()
            return self._oom_kills > 0

    def memory_peak_mb(self) -> int:
        with self._lock:
            if not self._destroyed:
                self._peak_bytes = self._cgroup.memory_peak_bytes()
            return -(-self._peak_bytes // MIB)

    def destroy(self) -> None:
        with self._lock:
            if self._destroyed:
                return
            self._destroyed = True
            try:
                self._oom_kills = self._cgroup.oom_kills()
                self._peak_bytes = self._cgroup.memory_peak_bytes()
                # 1. Every process, frozen or not; PID 1 too (its namespace's others die with it),
                #    even if a failed create never moved it into the cgroup.
                self._cgroup.kill_all()
                self._exit.kill()
                # 2. PID 1 is a zombie now, or about to be ours to reap.
                if not cgroups.poll_until(lambda: self._exit.poll() is not None, REAP_TIMEOUT_S):
                    raise OSError(errno.ETIMEDOUT, f"PID 1 ({self.pid}) was not reaped")
                # 3. An empty cgroup can go.
                self._cgroup.remove()
            finally:
                self._exit.close()
                self._forget(self)


class TemplateSandbox(LinuxSandbox):
    """A sandbox whose runtime ran INIT once and now forks clones of itself (see `cloning`)."""

    def __init__(self, spec: SandboxSpec, pid: int, cgroup: Cgroup, forget, channel: socket.socket, factory) -> None:
        super().__init__(spec, pid, cgroup, forget)
        self._channel = channel
        self._factory = factory
        self._asking = threading.Lock()

    def clone(self, spec: SandboxSpec) -> LinuxSandbox:
        """A new sandbox forked from this one, with its own namespaces, cgroup, /tmp and output.

        `spec.argv`, `mounts` and `preload` are the template's; the rest is the clone's own.
        """
        return self._factory.clone(self, spec)

    def ask(self, request: dict[str, Any], fds: list[int]) -> None:
        with self._asking:
            socket.send_fds(self._channel, [json.dumps(request).encode()], fds)

    def destroy(self) -> None:
        super().destroy()
        self._channel.close()


class LinuxSandboxFactory:
    isolation = "full"
    isolation_problem = ""

    def __init__(self, root_dir: Path, hierarchy: Hierarchy | None = None) -> None:
        self._hierarchy = hierarchy or cgroups.detect()
        self._hierarchy.sweep()
        # The mount point of every sandbox's root; each mounts its own tmpfs here, unseen by the host.
        self._new_root = root_dir / "sandbox-root"
        self._new_root.mkdir(parents=True, exist_ok=True)
        # PID 1 of each sandbox is reparented to us when its launcher exits, so we can reap it.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        self._spawner = Spawner.start()
        #: Zygotes, started on first use: (interpreter, preloaded script) -> spawner.
        self._zygotes: dict[tuple[str, Path], Spawner] = {}
        self._lock = threading.Lock()
        self._live: dict[str, LinuxSandbox] = {}
        self._closed = False

    def create(self, spec: SandboxSpec) -> LinuxSandbox:
        return self._start(spec, None, lambda pid, cgroup: LinuxSandbox(spec, pid, cgroup, self._forget))

    def _start(self, spec: SandboxSpec, template_fd: int | None, make) -> LinuxSandbox:
        if not ID_PATTERN.fullmatch(spec.id):
            raise SandboxError(f"sandbox id {spec.id!r} is not a valid name")
        if not spec.argv or not spec.argv[0].startswith("/"):
            raise SandboxError(f"argv[0] must be an absolute path, not {spec.argv[:1]!r}")
        with self._lock:
            if self._closed:
                raise SandboxError("the sandbox factory is closed")
            if spec.id in self._live:
                raise SandboxError(f"sandbox {spec.id} exists already")
        try:
            cgroup = self._hierarchy.create(spec.id)
        except OSError as error:
            raise SandboxError(f"create the cgroup: {error}") from None
        try:
            cgroup.set_limits(spec.memory_mb, spec.init_vcpus or spec.vcpus, spec.pids_max)
            request = self._request(spec, cgroup)
            fds = [spec.output_fd] if spec.output_fd is not None else []
            if template_fd is not None:
                request["template"] = True
                fds.append(template_fd)
            pid = self._spawner_for(spec).spawn(request, fds)
        except Launched as failed:
            self._discard(spec, cgroup, failed.pid)
            raise SandboxError(str(failed)) from None
        except OSError as error:
            self._discard(spec, cgroup, None)
            raise SandboxError(f"set the cgroup's limits: {error}") from None
        sandbox = make(pid, cgroup)
        with self._lock:
            self._live[spec.id] = sandbox
        return sandbox

    def create_template(self, spec: SandboxSpec) -> TemplateSandbox:
        """A sandbox like create()'s whose runtime, given a `snapshot` function, serves clones once INIT is over."""
        if spec.preload is None:
            raise SandboxError("a template needs a preloaded runtime (SandboxSpec.preload)")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            return self._start(spec, theirs.fileno(), lambda pid, cgroup: TemplateSandbox(spec, pid, cgroup, self._forget, ours, self))
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()

    def clone(self, template: TemplateSandbox, spec: SandboxSpec) -> LinuxSandbox:
        """See TemplateSandbox.clone; the protocol is in `cloning`."""
        if not ID_PATTERN.fullmatch(spec.id):
            raise SandboxError(f"sandbox id {spec.id!r} is not a valid name")
        try:
            cgroup = self._hierarchy.create(spec.id)
        except OSError as error:
            raise SandboxError(f"create the cgroup: {error}") from None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(SETUP_TIMEOUT_S)
        pid = None
        try:
            # The kernel attaches the sender's PID, as we see it, to what the keeper sends.
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            cgroup.set_limits(spec.memory_mb, spec.init_vcpus or spec.vcpus, spec.pids_max)
            request = {"env": spec.env, "hostname": spec.hostname, "tmp_mb": spec.tmp_mb}
            template.ask(request, [theirs.fileno()] + ([spec.output_fd] if spec.output_fd is not None else []))
            theirs.close()
            message, ancillary, _flags, _address = ours.recvmsg(4096, socket.CMSG_SPACE(CREDENTIALS.size))
            pid = _sender_pid(ancillary)
            if message != b"forked" or pid is None:
                raise SandboxError(f"the template did not fork a clone: {message.decode(errors='replace')}")
            for procs in cgroup.procs_files:
                with open(procs, "w") as file:
                    file.write(str(pid))
            ours.send(b"go")
            answer = ours.recv(4096).decode(errors="replace")
            if answer != "ready":
                failed_step, _, reason = answer.removeprefix("error ").partition("\t")
                raise SandboxError(f"{failed_step}: {reason}" if answer else "the clone exited during setup")
            ours.settimeout(None)
            sandbox = LinuxSandbox(spec, pid, cgroup, self._forget, ReportedExit(pid, ours))
        except BaseException as error:
            theirs.close()
            if pid is not None:
                LinuxSandbox(spec, pid, cgroup, lambda sandbox: None, ReportedExit(pid, ours)).destroy()
            else:
                ours.close()
                cgroup.kill_all()
                cgroup.remove()
            if isinstance(error, OSError):
                raise SandboxError(f"clone the template: {error}") from None
            raise
        with self._lock:
            self._live[spec.id] = sandbox
        return sandbox

    def close(self) -> None:
        # 1. Stop intake: create() refuses from here on.
        with self._lock:
            self._closed = True
            live = list(self._live.values())
        # 2. End every sandbox still alive.
        for sandbox in live:
            sandbox.destroy()
        # 3. Stop the spawner and the zygotes, then release this server's cgroup directory.
        self._spawner.close()
        for zygote in self._zygotes.values():
            zygote.close()
        self._hierarchy.close()

    def _spawner_for(self, spec: SandboxSpec) -> Spawner:
        """The plain spawner, or the zygote of the spec's interpreter and preloaded script."""
        if spec.preload is None:
            return self._spawner
        key = (spec.argv[0], spec.preload)
        with self._lock:
            zygote = self._zygotes.get(key)
            if zygote is None:
                zygote = self._zygotes[key] = Spawner.start(spec.argv[0], spec.preload)
            return zygote

    def _request(self, spec: SandboxSpec, cgroup: Cgroup) -> dict[str, Any]:
        return {
            "procs": cgroup.procs_files,
            "new_root": str(self._new_root),
            "argv": spec.argv,
            "env": spec.env,
            "cwd": spec.cwd,
            "mounts": [{"source": str(m.source), "target": m.target, "writable": m.writable} for m in spec.mounts],
            "tmp_mb": spec.tmp_mb,
            "nofile": spec.nofile,
            "uid": spec.uid,
            "gid": spec.gid,
            "hostname": spec.hostname,
            "in_process": spec.preload is not None,
        }

    def _discard(self, spec: SandboxSpec, cgroup: Cgroup, pid: int | None) -> None:
        """Undo a failed create: PID 1 (if it was forked), everything in the cgroup, the cgroup."""
        if pid is not None:
            LinuxSandbox(spec, pid, cgroup, lambda sandbox: None).destroy()
        else:
            cgroup.kill_all()
            cgroup.remove()

    def _forget(self, sandbox: LinuxSandbox) -> None:
        with self._lock:
            if self._live.get(sandbox.id) is sandbox:
                del self._live[sandbox.id]


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= CREDENTIALS.size:
            return CREDENTIALS.unpack_from(data)[0]
    return None


def make_factory(root_dir: Path, isolation: str = "auto") -> SandboxFactory:
    """The best factory this host allows ("auto"), or none at all when `isolation` is "none"."""
    if isolation == "none":
        return UnisolatedSandboxFactory("isolation was turned off (--isolation none)")
    if os.geteuid() != 0:
        return UnisolatedSandboxFactory("not running as root: namespaces and cgroups need it")
    try:
        factory = LinuxSandboxFactory(root_dir)
    except (CgroupUnavailable, SandboxError, OSError) as error:
        return UnisolatedSandboxFactory(str(error))
    try:
        _probe(factory)
    except SandboxError as error:
        factory.close()
        return UnisolatedSandboxFactory(f"a test sandbox failed: {error}")
    return factory


def _probe(factory: LinuxSandboxFactory) -> None:
    """Build one sandbox, so that a host that forbids a step (seccomp, AppArmor) is found now."""
    program = next((path for path in PROBE_PROGRAMS if os.path.exists(path)), None)
    if program is None:
        return
    spec = SandboxSpec(id=f"probe-{os.getpid()}", argv=[program], env={}, cwd="/", tmp_mb=1, memory_mb=16)
    factory.create(spec).destroy()
