"""What a sandbox is, and what the invoke layer may rely on.

A sandbox is one process tree, started from a `SandboxSpec`, isolated from the host and
from every other sandbox as far as the host allows.

Guarantees, in order of the lifecycle:
1. `SandboxFactory.create(spec)` returns only once the program named by `spec.argv` has
   been exec'd inside the sandbox (or, with `spec.preload`, its preloaded script started),
   or raises `SandboxError`; a failed create leaves no process, mount or cgroup behind.
2. Inside, the program sees: its own mount, PID, IPC and UTS namespaces (it is PID 1);
   the host's runtime directories read-only; `spec.mounts` at their targets (read-only
   unless `writable`); a private tmpfs /tmp of `spec.tmp_mb` MiB; a fresh /proc; a
   minimal /dev; and nothing else of the host's filesystem. It runs as `spec.uid`/`gid`
   inside a user namespace of its own, which maps them to a host uid and gid no other live
   sandbox has; with no capabilities, no_new_privs, a syscall filter (`seccomp`), default
   signal actions, Linux's default resource limits and RLIMIT_NOFILE = `spec.nofile`. Its
   /proc/self/environ and cmdline show its own environment and argv, nothing of the
   server's. Its network is a namespace of its own where the factory has `private_network`
   (then `held.runtime_socket` listens on its 127.0.0.1:9001 and `held.api_socket` on its
   127.0.0.1:9000), else the host's.
3. Its cgroup caps memory at `spec.memory_mb` MiB (the OOM killer acts inside the
   sandbox only), CPU at `spec.init_vcpus` (else `spec.vcpus`) CPUs until `limit_cpu`
   changes it, and processes at `spec.pids_max`.
4. `freeze()` stops every process of the sandbox; `thaw()` resumes them. Both are
   idempotent. A frozen sandbox uses no CPU.
5. `wait_exit()` resolves when the sandbox's PID 1 has exited, with its exit status;
   after that `oom_killed()` tells whether the memory limit ended it.
6. `destroy()` kills every process of the sandbox (frozen or not), waits for them, and
   removes its cgroup; the mount namespace dies with its last process. It is
   idempotent and safe to call at any point, including after the sandbox exited.
7. When the host allows no namespaces or cgroups (not root), `isolation` is "none" and
   sandboxes are plain child processes with the same environment, argv and working
   directory, but none of 2-4; `freeze`/`thaw` are then no-ops and `memory_peak_mb`
   reports the process's own peak RSS where known.
8. `create_template(spec)` (isolated factories, preloaded Python runtimes only) starts a
   sandbox whose runtime's main() is given a `snapshot` function. Once its INIT is over,
   the runtime calls it; from then on `Template.clone(spec)` forks a new sandbox from that
   initialized process, and `snapshot()` returns in it. A clone has its own user, mount,
   PID, IPC and UTS namespaces, cgroup (limits from `spec`), /tmp, /proc, hostname,
   environment and output, no capabilities, and 2-6 hold for it; its argv, mounts and
   memory up to the snapshot are the template's. Clones die with their template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class SandboxError(Exception):
    """A sandbox could not be created; the message says which step failed and why."""


class UnknownNetwork(SandboxError):
    """A spec names a private network this host does not define (`SandboxSpec.networks`)."""


@dataclass(frozen=True)
class Mount:
    """A host directory bound into the sandbox."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class SandboxSpec:
    #: Unique id; names the cgroup and appears in the hostname.
    id: str
    #: Program and arguments to exec inside the sandbox (absolute path as seen inside).
    argv: list[str]
    #: The complete environment of the program.
    env: dict[str, str]
    #: Working directory inside the sandbox.
    cwd: str = "/var/task"
    #: Host directories to bind in: /var/task, /opt, /var/runtime, interpreter prefixes.
    mounts: list[Mount] = field(default_factory=list)
    #: Size of the private /tmp, in MiB (EphemeralStorage).
    tmp_mb: int = 512
    #: Memory limit, in MiB (MemorySize).
    memory_mb: int = 128
    #: CPU limit in CPUs (Lambda: MemorySize / 1769).
    vcpus: float = 128 / 1769
    #: CPU limit until `limit_cpu` is called, if different: Lambda lets INIT use a full vCPU.
    init_vcpus: float | None = None
    #: Most processes and threads the sandbox may hold.
    pids_max: int = 1024
    #: RLIMIT_NOFILE inside the sandbox.
    nofile: int = 1024
    #: Unprivileged user and group the program runs as.
    uid: int = 993
    gid: int = 990
    hostname: str = "localhost"
    #: A host file descriptor that receives the program's stdout and stderr; None for /dev/null.
    output_fd: int | None = None
    #: Private networks (names the operator defined) the sandbox may reach: a function's VpcConfig subnets.
    networks: tuple[str, ...] = ()
    #: Host path of a Python script that argv[0] (a Python interpreter) would run. When set, the
    #: sandbox is forked from a zygote: a process of that interpreter that has already imported
    #: the script, which then runs its main() in the sandbox instead of exec'ing (a fast cold start).
    preload: Path | None = None
    #: With `preload`: the runtime's libraries (host directory, and where the sandbox sees them), which
    #: the zygote imports its SDK from ahead of time (sandbox/preimport.py).
    preimport: tuple[str, str] | None = None


class Sandbox(Protocol):
    id: str
    #: Host PID of the sandbox's PID 1.
    pid: int

    def freeze(self) -> None:
        """Stop every process of the sandbox (cgroup freezer)."""

    def thaw(self) -> None:
        """Resume a frozen sandbox."""

    def limit_cpu(self, vcpus: float) -> None:
        """Set the CPU limit, in CPUs (after INIT, which may run with `init_vcpus`)."""

    async def wait_exit(self) -> int:
        """Wait until PID 1 exits; return its wait status as os.waitstatus_to_exitcode gives it."""

    def exited(self) -> bool:
        """Whether PID 1 has exited."""

    def oom_killed(self) -> bool:
        """Whether the memory limit's OOM killer has killed a process of the sandbox."""

    def memory_peak_mb(self) -> int:
        """Peak memory use of the sandbox so far, in MiB (from the cgroup)."""

    def destroy(self) -> None:
        """Kill everything, reap it, remove the cgroup. Idempotent."""


class Template(Sandbox, Protocol):
    def seal(self) -> None:
        """Once its runtime asked for the snapshot: stop what INIT left running, keep the forker, freeze."""

    def clone(self, spec: SandboxSpec) -> Sandbox:
        """A new sandbox forked from the template's initialized runtime (guarantee 8)."""


class SandboxFactory(Protocol):
    #: "full" when sandboxes get namespaces and cgroups, "none" when the host allows neither.
    isolation: str
    #: Why isolation is off, for the loud warning; empty when it is on.
    isolation_problem: str

    def create(self, spec: SandboxSpec) -> Sandbox:
        """Start a sandbox; see the module docstring for what holds afterwards."""

    def create_template(self, spec: SandboxSpec) -> Template:
        """Start a template sandbox (guarantee 8); SandboxError where the factory cannot."""

    def close(self) -> None:
        """Destroy every sandbox still alive and release what the factory holds."""
