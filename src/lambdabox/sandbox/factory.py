"""Sandboxes with namespaces and cgroups, and the choice between them and none.

`make_factory()` is what the composition root calls. It returns a `LinuxSandboxFactory`
when this host lets it build a sandbox (it tries one), else an `UnisolatedSandboxFactory`
whose `isolation_problem` says why.

How a sandbox starts (see `launcher` for the steps inside):
1. The factory creates the sandbox's cgroup and sets its limits, takes a host identity
   (`identities`) and a prepared network namespace (`network`, unless functions share the
   host's network).
2. The spawner forks a launcher, which forks PID 1 into new namespaces and moves it into
   the cgroup (the first move into a cgroup waits for an RCU grace period, several
   milliseconds, which PID 1 spends building its root).
3. PID 1 makes its user namespace, drops privileges, installs the syscall filter, waits
   until it is in its cgroup, and execs; `create()` returns.
PID 1 is reparented to the server (a child subreaper, set by the factory), which watches
it through a pidfd and reaps it.
"""

from __future__ import annotations

import array
import base64
import errno
import json
import os
import re
import signal
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

from lambdabox.sandbox import cgroups, linux, seccomp
from lambdabox.sandbox.api import SandboxError, SandboxFactory, SandboxSpec, UnknownNetwork
from lambdabox.sandbox.cgroups import Cgroup, CgroupUnavailable, Hierarchy
from lambdabox.sandbox.exits import ExitWatch, ReportedExit
from lambdabox.sandbox.identities import Identities, IdentitiesExhausted
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
#: How long a template stays thawed after its last clone request, in seconds.
REFREEZE_DELAY_S = 0.05
#: Size of a file descriptor in SCM_RIGHTS data, in bytes.
FD_SIZE = array.array("i").itemsize
#: How long a template's runtime may take from asking for its snapshot to serving clones, in seconds.
SEAL_TIMEOUT_S = 10.0


class Held:
    """A sandbox's share of the host: its host uid (and gid) and its network slot, given back once."""

    def __init__(self, host_uid: int | None = None, identities: Identities | None = None) -> None:
        self.host_uid = host_uid
        #: The network slot (see `network.FunctionNetworks`), with private networks.
        self.slot = None
        #: Listening sockets inside the sandbox's network: its Runtime API (127.0.0.1:9001) and
        #: the bridge to Lambdabox's API (127.0.0.1:9000); None on the host's network.
        self.runtime_socket: socket.socket | None = None
        self.api_socket: socket.socket | None = None
        self._identities = identities
        self._network = None
        self._received: list[socket.socket] = []

    def use(self, network, slot) -> None:
        self._network, self.slot = network, slot
        self.runtime_socket = self.runtime_socket or slot.runtime_socket
        self.api_socket = self.api_socket or slot.api_socket

    def received(self, sockets: list[socket.socket]) -> None:
        """Sockets a clone sent: closed with the rest when the sandbox goes, whether or not they are used."""
        self._received = sockets

    def release(self) -> None:
        """Give everything back; only once no process of the sandbox is left. Idempotent."""
        identities, self._identities = self._identities, None
        network, self._network = self._network, None
        if identities is not None and self.host_uid is not None:
            identities.release(self.host_uid)
        if network is not None and self.slot is not None:
            network.release(self.slot)
        for sock in (self.runtime_socket, self.api_socket, *self._received):
            if sock is not None:
                sock.close()


class LinuxSandbox:
    def __init__(self, spec: SandboxSpec, pid: int, cgroup: Cgroup, forget, exit_watch=None, held=None) -> None:
        self.id = spec.id
        self.pid = pid
        #: What the sandbox holds of the host: its identity and its network (see `Held`).
        self.held = held or Held()
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
                # 3. An empty cgroup can go, and with no process left, the identity and network too.
                self._cgroup.remove()
                self.held.release()
            finally:
                self._exit.close()
                self._forget(self)


class TemplateSandbox(LinuxSandbox):
    """A sandbox whose runtime ran INIT once and now forks clones of itself (see `cloning`)."""

    def __init__(self, spec: SandboxSpec, pid: int, cgroup: Cgroup, forget, channel: socket.socket, factory, held) -> None:
        super().__init__(spec, pid, cgroup, forget, held=held)
        self._channel = channel
        self._factory = factory
        self._asking = threading.Lock()
        #: Clone requests under way: the template runs while there is one, and is frozen otherwise.
        self._working = 0
        self._frozen = False
        self.spec = spec

    def seal(self) -> None:
        """Once the runtime asked for its snapshot: keep only what clones are made from, frozen.

        The runtime's `snapshot()` forks a *forker* (a copy of the one thread that called it)
        and announces it. What INIT left besides (its other threads, in PID 1, and any process
        it started) must never run again, nor see a clone: PID 1 is stopped for good (it stays,
        as its PID namespace ends with it), every other process but the forker is killed, and
        the template is frozen until a clone is asked for.
        """
        self._channel.settimeout(SEAL_TIMEOUT_S)
        try:
            message, ancillary, _flags, _address = self._channel.recvmsg(64, socket.CMSG_SPACE(CREDENTIALS.size))
        except OSError as error:
            raise SandboxError(f"the template did not start serving clones: {error}") from None
        finally:
            self._channel.settimeout(None)
        forker = _sender_pid(ancillary)
        if message != b"serving" or forker is None:
            raise SandboxError(f"the template did not start serving clones: {message!r}")
        with self._lock:
            if self._destroyed:
                raise SandboxError("the template is gone")
            # SIGSTOP reaches a PID namespace's init from outside it, and no thread of it runs again.
            os.kill(self.pid, signal.SIGSTOP)
            if not cgroups.poll_until(lambda: _stopped(self.pid), REAP_TIMEOUT_S):
                raise SandboxError("the template's PID 1 did not stop")
            keep = {self.pid, forker}
            deadline = time.monotonic() + SEAL_TIMEOUT_S
            # Until none is left: a stray may fork while it is being killed.
            while strays := [pid for pid in self._cgroup.pids() if pid not in keep]:
                if time.monotonic() > deadline:
                    raise SandboxError("the template's INIT left processes that would not die")
                for pid in strays:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                cgroups.poll_until(lambda: all(pid in keep for pid in self._cgroup.pids()), 0.1)
            self._cgroup.freeze()
            self._frozen = True

    def clone(self, spec: SandboxSpec) -> LinuxSandbox:
        """A new sandbox forked from this one, with its own namespaces, cgroup, /tmp and output.

        `spec.argv`, `mounts` and `preload` are the template's; the rest is the clone's own.
        """
        return self._factory.clone(self, spec)

    def ask(self, request: dict[str, Any], fds: list[int]) -> None:
        with self._asking:
            socket.send_fds(self._channel, [json.dumps(request).encode()], fds)

    def working(self, busy: bool) -> None:
        """Thaw the template for a clone request (`busy`); freeze it again shortly after none is left.

        The freeze waits REFREEZE_DELAY_S, off the caller's path: a burst of clones thaws it once,
        and a restore does not wait for the freezer.
        """
        with self._lock:
            if self._destroyed:
                return
            self._working += 1 if busy else -1
            if busy and self._working == 1 and self._frozen:
                self._cgroup.thaw()
                self._frozen = False
            elif not busy and self._working == 0:
                timer = threading.Timer(REFREEZE_DELAY_S, self._refreeze)
                timer.daemon = True
                timer.start()

    def _refreeze(self) -> None:
        with self._lock:
            if not self._destroyed and self._working == 0 and not self._frozen:
                self._cgroup.freeze()
                self._frozen = True

    def destroy(self) -> None:
        super().destroy()
        self._channel.close()


class LinuxSandboxFactory:
    isolation = "full"
    isolation_problem = ""

    def __init__(
        self,
        root_dir: Path,
        hierarchy: Hierarchy | None = None,
        identities: Identities | None = None,
        network=None,
        filters: dict[str, bytes] | None = None,
    ) -> None:
        """`network`: a `network.FunctionNetworks` (None: sandboxes share the host's network);
        `filters`: the syscall filter programs by variant ("function", "template"; none: no filter)."""
        self._identities = identities or Identities()
        self._network = network
        self._filters = {variant: base64.b64encode(program).decode() for variant, program in (filters or {}).items()}
        #: Whether sandboxes have networks of their own, with the Runtime API at 127.0.0.1:9001 inside.
        self.private_network = network is not None and network.mode != "host"
        self._hierarchy = hierarchy or cgroups.detect()
        self._hierarchy.sweep()
        # The mount point of every sandbox's root; each mounts its own tmpfs here, unseen by the host.
        self._new_root = root_dir / "sandbox-root"
        self._new_root.mkdir(parents=True, exist_ok=True)
        # PID 1 of each sandbox is reparented to us when its launcher exits, so we can reap it.
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        self._spawner = Spawner.start()
        #: Zygotes, started on first use: (interpreter, preloaded script, preimported libraries) -> spawner.
        self._zygotes: dict[tuple[str, Path], Spawner] = {}
        self._lock = threading.Lock()
        self._live: dict[str, LinuxSandbox] = {}
        self._closed = False

    def create(self, spec: SandboxSpec) -> LinuxSandbox:
        return self._start(spec, None, lambda pid, cgroup, held: LinuxSandbox(spec, pid, cgroup, self._forget, held=held))

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
        held = self._hold(spec)
        try:
            cgroup = self._hierarchy.create(spec.id)
        except OSError as error:
            held.release()
            raise SandboxError(f"create the cgroup: {error}") from None
        try:
            cgroup.set_limits(spec.memory_mb, spec.init_vcpus or spec.vcpus, spec.pids_max)
            request = self._request(spec, cgroup, held.host_uid, "template" if template_fd is not None else "function")
            named = {"output": spec.output_fd, "netns": getattr(held.slot, "netns_fd", None), "template": template_fd}
            named = {role: fd for role, fd in named.items() if fd is not None}
            request["fds"] = list(named)
            pid = self._spawner_for(spec).spawn(request, list(named.values()))
        except Launched as failed:
            self._discard(spec, cgroup, failed.pid, held)
            raise SandboxError(str(failed)) from None
        except OSError as error:
            self._discard(spec, cgroup, None, held)
            raise SandboxError(f"set the cgroup's limits: {error}") from None
        sandbox = make(pid, cgroup, held)
        with self._lock:
            self._live[spec.id] = sandbox
        return sandbox

    def create_template(self, spec: SandboxSpec) -> TemplateSandbox:
        """A sandbox like create()'s whose runtime, given a `snapshot` function, serves clones once INIT is over."""
        if spec.preload is None:
            raise SandboxError("a template needs a preloaded runtime (SandboxSpec.preload)")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # The kernel attaches the sender's PID to what the template's forker announces (see `seal`).
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            return self._start(
                spec, theirs.fileno(), lambda pid, cgroup, held: TemplateSandbox(spec, pid, cgroup, self._forget, ours, self, held)
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()

    def clone(self, template: TemplateSandbox, spec: SandboxSpec) -> LinuxSandbox:
        """See TemplateSandbox.clone; the protocol is in `cloning`.

        A clone runs as its template's host identity (a process forked in the template's user
        namespace can map no other id): clones of one version share it, no one else does.
        """
        if not ID_PATTERN.fullmatch(spec.id):
            raise SandboxError(f"sandbox id {spec.id!r} is not a valid name")
        try:
            cgroup = self._hierarchy.create(spec.id)
        except OSError as error:
            raise SandboxError(f"create the cgroup: {error}") from None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(SETUP_TIMEOUT_S)
        pid = None
        held = Held(template.held.host_uid)
        try:
            template.working(True)
            # The kernel attaches the sender's PID, as we see it, to what the keeper and the clone send.
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            cgroup.set_limits(spec.memory_mb, spec.init_vcpus or spec.vcpus, spec.pids_max)
            request = {
                "env": spec.env, "hostname": spec.hostname, "tmp_mb": spec.tmp_mb, "argv": template.spec.argv,
                "seccomp": self._filters.get("function"), "private_network": self.private_network,
            }
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
            answer, sockets, clone_pid = _receive_ready(ours)
            held.received(sockets)
            if answer != "ready":
                failed_step, _, reason = answer.removeprefix("error ").partition("\t")
                raise SandboxError(f"{failed_step}: {reason}" if answer else "the clone exited during setup")
            if self.private_network:
                if len(sockets) != 2 or clone_pid is None:
                    raise SandboxError("the clone did not send its Runtime API and API sockets")
                held.runtime_socket, held.api_socket = sockets
                held.use(self._network, self._network.attach_pid(clone_pid, tuple(spec.networks)))
            ours.settimeout(None)
            sandbox = LinuxSandbox(spec, pid, cgroup, self._forget, ReportedExit(pid, ours), held=held)
        except BaseException as error:
            theirs.close()
            if pid is not None:
                LinuxSandbox(spec, pid, cgroup, lambda sandbox: None, ReportedExit(pid, ours), held=held).destroy()
            else:
                ours.close()
                cgroup.kill_all()
                cgroup.remove()
                held.release()
            if isinstance(error, OSError):
                raise SandboxError(f"clone the template: {error}") from None
            raise
        finally:
            template.working(False)
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
        self._identities.close()

    def _spawner_for(self, spec: SandboxSpec) -> Spawner:
        """The plain spawner, or the zygote of the spec's interpreter and preloaded script."""
        if spec.preload is None:
            return self._spawner
        key = (spec.argv[0], spec.preload, spec.preimport)
        with self._lock:
            zygote = self._zygotes.get(key)
            if zygote is None:
                zygote = self._zygotes[key] = Spawner.start(spec.argv[0], spec.preload, spec.preimport)
            return zygote

    def _hold(self, spec: SandboxSpec) -> Held:
        """A host identity and, with private networks, a prepared network namespace for a new sandbox."""
        try:
            host_uid = self._identities.allocate()
        except IdentitiesExhausted as error:
            raise SandboxError(str(error)) from None
        held = Held(host_uid, self._identities)
        if self.private_network:
            missing = self._network.unknown(tuple(spec.networks))
            if missing:
                held.release()
                raise UnknownNetwork(f"no network named {', '.join(missing)} is defined on this host")
            try:
                held.use(self._network, self._network.take(tuple(spec.networks)))
            except Exception as error:
                held.release()
                raise SandboxError(f"prepare the network: {error}") from None
        return held

    def _request(self, spec: SandboxSpec, cgroup: Cgroup, host_uid: int | None, variant: str) -> dict[str, Any]:
        return {
            "host_uid": host_uid,
            "host_gid": host_uid,
            "seccomp": self._filters.get(variant),
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

    def _discard(self, spec: SandboxSpec, cgroup: Cgroup, pid: int | None, held: Held) -> None:
        """Undo a failed create: PID 1 (if it was forked), everything in the cgroup, the cgroup, what it held."""
        if pid is not None:
            LinuxSandbox(spec, pid, cgroup, lambda sandbox: None, held=held).destroy()
        else:
            cgroup.kill_all()
            cgroup.remove()
            held.release()

    def _forget(self, sandbox: LinuxSandbox) -> None:
        with self._lock:
            if self._live.get(sandbox.id) is sandbox:
                del self._live[sandbox.id]


def _receive_ready(channel: socket.socket) -> tuple[str, list[socket.socket], int | None]:
    """The clone's answer, the sockets it sends (its Runtime API's and the API bridge's), and its PID."""
    room = socket.CMSG_SPACE(CREDENTIALS.size) + socket.CMSG_SPACE(2 * FD_SIZE)
    message, ancillary, _flags, _address = channel.recvmsg(4096, room)
    fds = array.array("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % FD_SIZE])
    sockets = [socket.socket(fileno=fd) for fd in fds]
    return message.decode(errors="replace"), sockets, _sender_pid(ancillary)


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            return file.read().rpartition(b")")[2].split()[0] in (b"T", b"t")
    except (FileNotFoundError, IndexError):
        return False


def _sender_pid(ancillary: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(data) >= CREDENTIALS.size:
            return CREDENTIALS.unpack_from(data)[0]
    return None


def make_factory(
    root_dir: Path, isolation: str = "auto", network=None, identities: Identities | None = None
) -> SandboxFactory:
    """The best factory this host allows ("auto"), or none at all when `isolation` is "none".

    `network` (a `network.FunctionNetworks`, already started) gives sandboxes networks of their
    own; `identities` the range their host uids come from.
    """
    if isolation == "none":
        return UnisolatedSandboxFactory("isolation was turned off (--isolation none)")
    if os.geteuid() != 0:
        return UnisolatedSandboxFactory("not running as root: namespaces and cgroups need it")
    try:
        filters = {variant: seccomp.compile_program(variant) for variant in seccomp.VARIANTS}
        factory = LinuxSandboxFactory(root_dir, identities=identities, network=network, filters=filters)
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
