"""Control groups for sandboxes, on cgroup v1 (one hierarchy per controller) or v2 (unified).

Every sandbox gets one cgroup, in a tree that a server owns by its PID:

    <mount>/lambdabox/<server>/<sandbox id>

on v2 under the unified mount, on v1 under each of the memory, cpu, pids and freezer
hierarchies. `<server>` is `<pid>-<start time>`, so that a directory left behind by a server that
died is told apart from a live one even when its PID was reused; the next server's
`Hierarchy.sweep()` kills what is left in such a directory and removes it.

Guarantees:
1. `detect()` returns the hierarchy the host's controllers live in, preferring v1 where a
   v1 memory hierarchy is mounted (a hybrid host keeps its controllers there), or raises
   `CgroupUnavailable` saying what is missing.
2. A process joins a sandbox's cgroup by writing its PID to each of `Cgroup.procs_files`;
   its descendants then stay in it.
3. `Cgroup.kill_all()` returns once the cgroup holds no process; `remove()` then removes
   its directories, and is idempotent.
4. `freeze()` returns once every process of the cgroup is frozen (or after `FREEZE_TIMEOUT_S`).
"""

from __future__ import annotations

import errno
import os
import signal
import time
from pathlib import Path
from collections.abc import Callable
from typing import Protocol

#: Name of the directory that holds every server's sandboxes, in each hierarchy.
PARENT = "lambdabox"
#: Controllers a v1 host must mount for full isolation (cpu is used when present).
V1_REQUIRED = ("memory", "pids", "freezer")
#: Controllers enabled for sandboxes on v2, where the host has them; memory and pids are required.
V2_WANTED = ("memory", "pids", "cpu")
V2_REQUIRED = ("memory", "pids")
#: CFS period, in microseconds (quota = vcpus * period). Shorter than the kernel's 100 ms
#: default so a throttled function is slowed evenly rather than stopped for most of 100 ms;
#: long enough that 128 MB (0.072 vCPU) still gets more than the 1 ms minimum quota.
CPU_PERIOD_US = 20_000
#: Smallest CFS quota the kernel accepts, in microseconds.
CPU_MIN_QUOTA_US = 1_000
#: CFS burst, as a multiple of the quota (the kernel allows at most 1): quota a sandbox left
#: unused in earlier periods, up to this much, it may spend on top of a period's quota. A short
#: invocation after an idle spell then runs unthrottled, while the average stays at the limit.
CPU_BURST_OF_QUOTA = 1
#: How long freezing or emptying a cgroup may take before we give up, in seconds
#: (a task in uninterruptible sleep, e.g. on a hung NFS server, can delay both).
FREEZE_TIMEOUT_S = 5.0
KILL_TIMEOUT_S = 10.0
#: First and largest pause between polls of a cgroup's state, in seconds.
POLL_FIRST_S = 0.0002
POLL_MAX_S = 0.01

MIB = 1024 * 1024


class CgroupUnavailable(Exception):
    """The host has no usable cgroup hierarchy; the message says what is missing."""


class Cgroup(Protocol):
    #: The cgroup.procs files a process writes its PID to, to join.
    procs_files: list[str]

    def set_cpu(self, vcpus: float) -> None:
        """Change the CPU limit, in CPUs."""

    def set_limits(self, memory_mb: int, vcpus: float, pids_max: int) -> None:
        """Cap memory (without swap), CPU time and the number of tasks."""

    def freeze(self) -> None:
        """Stop every process; returns once they are stopped."""

    def thaw(self) -> None:
        """Resume every process."""

    def memory_peak_bytes(self) -> int:
        """Peak memory charged to the cgroup so far (as far as the kernel reports it)."""

    def oom_kills(self) -> int:
        """How many processes the OOM killer has killed in this cgroup."""

    def pids(self) -> list[int]:
        """The processes in the cgroup now."""

    def kill_all(self) -> None:
        """SIGKILL every process, frozen or not, and wait until the cgroup is empty."""

    def remove(self) -> None:
        """Remove the cgroup's directories; the cgroup must be empty. Idempotent."""


class Hierarchy(Protocol):
    version: int

    def create(self, name: str) -> Cgroup:
        """Make the cgroup for one sandbox."""

    def sweep(self) -> None:
        """Kill and remove what servers that are no longer running left behind."""

    def close(self) -> None:
        """Remove this server's directory (its sandboxes must be gone)."""


# --- small file helpers ---------------------------------------------------------------


def _write(path: Path | str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value.encode())
    except OSError as error:
        raise OSError(error.errno, f"writing {value!r} to {path}: {os.strerror(error.errno)}") from None
    finally:
        os.close(fd)


def _read(path: Path | str) -> str:
    with open(path) as file:
        return file.read()


def _keyed(path: Path | str) -> dict[str, int]:
    """Parse a flat keyed file ("key value" per line), as memory.events or oom_control."""
    values = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def _pids(procs: Path) -> list[int]:
    try:
        return [int(line) for line in _read(procs).split()]
    except FileNotFoundError:
        return []


def _quota(vcpus: float) -> int:
    return max(CPU_MIN_QUOTA_US, round(vcpus * CPU_PERIOD_US))


def _set_quota(burst: Path, quota: int, write_quota: Callable[[], None]) -> None:
    """Write the quota (`write_quota`) and, where the kernel has CFS burst, a burst of CPU_BURST_OF_QUOTA of it.

    The burst may not exceed the quota: it is lowered before the quota changes and raised after.
    """
    has_burst = burst.exists()
    if has_burst:
        _write(burst, "0")
    write_quota()
    if has_burst:
        _write(burst, str(quota * CPU_BURST_OF_QUOTA))


def poll_until(done, timeout: float) -> bool:
    """Call `done()` with growing pauses until it is true or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    pause = POLL_FIRST_S
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, POLL_MAX_S)
    return True


def _kill(pids: list[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _rmdir(path: Path) -> None:
    """Remove a cgroup directory; a cgroup whose last task is still exiting is briefly busy."""

    def removed() -> bool:
        try:
            path.rmdir()
        except FileNotFoundError:
            return True
        except OSError as error:
            if error.errno != errno.EBUSY:
                raise
            return False
        return True

    if not poll_until(removed, KILL_TIMEOUT_S):
        raise OSError(errno.EBUSY, f"cgroup {path} is still busy")


def _cgroup_mounts() -> list[tuple[str, str, set[str]]]:
    """(fstype, mount point, super options) of each cgroup mount in /proc/self/mountinfo."""
    mounts = []
    with open("/proc/self/mountinfo") as file:
        for line in file:
            before, _, after = line.partition(" - ")
            fstype, _source, options = after.split()[:3]
            if fstype in ("cgroup", "cgroup2"):
                point = before.split()[4].replace("\\040", " ")
                mounts.append((fstype, point, set(options.split(","))))
    return mounts


# --- cgroup v1 ------------------------------------------------------------------------


class CgroupV1:
    """One sandbox's directory in each v1 hierarchy."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        # controller -> directory; controllers that share a hierarchy share a directory.
        self.dirs = dirs
        self.procs_files = sorted({str(path / "cgroup.procs") for path in dirs.values()})

    def set_limits(self, memory_mb: int, vcpus: float, pids_max: int) -> None:
        memory = self.dirs["memory"]
        _write(memory / "memory.limit_in_bytes", str(memory_mb * MIB))
        # Without this the limit covers RAM only and the sandbox swaps instead of being killed.
        if (memory / "memory.memsw.limit_in_bytes").exists():
            _write(memory / "memory.memsw.limit_in_bytes", str(memory_mb * MIB))
        if "cpu" in self.dirs:
            _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        self.set_cpu(vcpus)
        _write(self.dirs["pids"] / "pids.max", str(pids_max))

    def set_cpu(self, vcpus: float) -> None:
        if "cpu" in self.dirs:
            cpu = self.dirs["cpu"]
            _set_quota(cpu / "cpu.cfs_burst_us", _quota(vcpus), lambda: _write(cpu / "cpu.cfs_quota_us", str(_quota(vcpus))))

    def freeze(self) -> None:
        state = self.dirs["freezer"] / "freezer.state"
        _write(state, "FROZEN")

        def frozen() -> bool:
            if _read(state).strip() == "FROZEN":
                return True
            # v1 gives up on a task it cannot freeze and reports FREEZING; asking again retries.
            _write(state, "FROZEN")
            return False

        poll_until(frozen, FREEZE_TIMEOUT_S)

    def thaw(self) -> None:
        _write(self.dirs["freezer"] / "freezer.state", "THAWED")

    def memory_peak_bytes(self) -> int:
        return int(_read(self.dirs["memory"] / "memory.max_usage_in_bytes"))

    def oom_kills(self) -> int:
        control = _keyed(self.dirs["memory"] / "memory.oom_control")
        if "oom_kill" in control:
            return control["oom_kill"]
        # Kernels before 4.13 do not count kills; hitting the limit is the best hint there.
        return int(_read(self.dirs["memory"] / "memory.failcnt")) and 1

    def pids(self) -> list[int]:
        return _pids(self.dirs["freezer"] / "cgroup.procs")

    def kill_all(self) -> None:
        # Frozen processes cannot fork, so the list we kill from is complete; the SIGKILLs
        # are delivered when they thaw.
        if not self.dirs["freezer"].exists():
            return
        self.freeze()
        _kill(self.pids())
        self.thaw()
        if not poll_until(lambda: not self.pids() or _kill(self.pids()), KILL_TIMEOUT_S):
            raise OSError(errno.EBUSY, f"processes of {self.dirs['freezer']} did not die")

    def remove(self) -> None:
        for path in set(self.dirs.values()):
            _rmdir(path)


class HierarchyV1:
    version = 1

    def __init__(self, mounts: dict[str, Path], owner: str = "") -> None:
        #: controller -> mount point of its hierarchy.
        self.mounts = mounts
        self.owner = owner or owner_name(os.getpid())
        self._base = {name: mount / PARENT / self.owner for name, mount in mounts.items()}

    @classmethod
    def detect(cls) -> HierarchyV1 | None:
        mounts = {}
        for fstype, point, options in _cgroup_mounts():
            if fstype == "cgroup":
                for controller in ("memory", "cpu", "pids", "freezer"):
                    if controller in options:
                        mounts.setdefault(controller, Path(point))
        if "memory" not in mounts:
            return None
        missing = [name for name in V1_REQUIRED if name not in mounts]
        if missing:
            raise CgroupUnavailable(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
        return cls(mounts)

    def create(self, name: str) -> CgroupV1:
        dirs = {}
        try:
            for controller, base in self._base.items():
                path = base / name
                if path not in dirs.values():
                    base.mkdir(parents=True, exist_ok=True)
                    path.mkdir()
                dirs[controller] = path
        except OSError:
            for path in set(dirs.values()):
                _rmdir(path)
            raise
        return CgroupV1(dirs)

    def sweep(self) -> None:
        owners = {owner.name for mount in set(self.mounts.values()) for owner in _stale_owners(mount / PARENT)}
        for owner in owners:
            bases = {controller: mount / PARENT / owner for controller, mount in self.mounts.items()}
            names = {child.name for base in set(bases.values()) for child in _subdirs(base)}
            for name in names:
                group = CgroupV1({controller: base / name for controller, base in bases.items()})
                group.kill_all()
                group.remove()
            for base in set(bases.values()):
                _rmdir(base)

    def close(self) -> None:
        for base in set(self._base.values()):
            _rmdir_if_empty(base)


# --- cgroup v2 ------------------------------------------------------------------------


class CgroupV2:
    """One sandbox's directory in the unified hierarchy."""

    def __init__(self, path: Path, controllers: frozenset[str]) -> None:
        self.path = path
        self.controllers = controllers
        self.procs_files = [str(path / "cgroup.procs")]
        self._peak = 0

    def set_limits(self, memory_mb: int, vcpus: float, pids_max: int) -> None:
        if "memory" in self.controllers:
            _write(self.path / "memory.max", str(memory_mb * MIB))
            # Swap would let the sandbox exceed its memory instead of being killed.
            if (self.path / "memory.swap.max").exists():
                _write(self.path / "memory.swap.max", "0")
        self.set_cpu(vcpus)
        if "pids" in self.controllers:
            _write(self.path / "pids.max", str(pids_max))

    def set_cpu(self, vcpus: float) -> None:
        if "cpu" in self.controllers:
            quota = _quota(vcpus)
            _set_quota(self.path / "cpu.max.burst", quota, lambda: _write(self.path / "cpu.max", f"{quota} {CPU_PERIOD_US}"))

    def freeze(self) -> None:
        _write(self.path / "cgroup.freeze", "1")
        poll_until(lambda: _keyed(self.path / "cgroup.events").get("frozen") == 1, FREEZE_TIMEOUT_S)

    def thaw(self) -> None:
        _write(self.path / "cgroup.freeze", "0")

    def memory_peak_bytes(self) -> int:
        if "memory" not in self.controllers:
            return 0
        peak = self.path / "memory.peak"
        if peak.exists():
            return int(_read(peak))
        # Before 5.19 there is no peak: remember the largest use we have seen.
        self._peak = max(self._peak, int(_read(self.path / "memory.current")))
        return self._peak

    def oom_kills(self) -> int:
        if "memory" not in self.controllers:
            return 0
        return _keyed(self.path / "memory.events").get("oom_kill", 0)

    def pids(self) -> list[int]:
        return _pids(self.path / "cgroup.procs")

    def kill_all(self) -> None:
        if not self.path.exists():
            return
        kill = self.path / "cgroup.kill"
        if kill.exists():
            # 5.14+: the kernel kills every process, frozen or not, and new forks fail.
            _write(kill, "1")
        else:
            # Frozen processes cannot fork, so the list we kill from is complete.
            self.freeze()
            _kill(self.pids())
            self.thaw()
        if not poll_until(lambda: not self.pids() or _kill(self.pids()), KILL_TIMEOUT_S):
            raise OSError(errno.EBUSY, f"processes of {self.path} did not die")

    def remove(self) -> None:
        _rmdir(self.path)


class HierarchyV2:
    version = 2

    def __init__(self, mount: Path, owner: str = "") -> None:
        self.mount = mount
        self.owner = owner or owner_name(os.getpid())
        self.base = mount / PARENT / self.owner
        available = set(_read(mount / "cgroup.controllers").split())
        self.controllers = frozenset(name for name in V2_WANTED if name in available)
        self._ready = False

    @classmethod
    def detect(cls) -> HierarchyV2 | None:
        for fstype, point, _options in _cgroup_mounts():
            if fstype == "cgroup2":
                hierarchy = cls(Path(point))
                missing = [name for name in V2_REQUIRED if name not in hierarchy.controllers]
                if not missing:
                    return hierarchy
        return None

    def _enable_controllers(self) -> None:
        """Hand the controllers down from the mount to this server's directory.

        v2 lets a cgroup enable controllers for its children only if it holds no processes
        itself; the mount's root is exempt, the root of a container's cgroup namespace is not.
        """
        if not self.controllers:
            return
        wanted = " ".join(f"+{name}" for name in sorted(self.controllers))
        for path in (self.mount, self.mount / PARENT, self.base):
            enabled = set(_read(path / "cgroup.subtree_control").split())
            if not self.controllers <= enabled:
                try:
                    _write(path / "cgroup.subtree_control", wanted)
                except OSError as error:
                    hint = " (it holds processes: move them to a child cgroup)" if error.errno == errno.EBUSY else ""
                    raise CgroupUnavailable(f"cannot enable {wanted} in {path}{hint}: {error}") from None

    def prepare(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self._enable_controllers()
        self._ready = True

    def create(self, name: str) -> CgroupV2:
        if not self._ready:
            self.prepare()
        path = self.base / name
        path.mkdir()
        return CgroupV2(path, self.controllers)

    def sweep(self) -> None:
        for owner in _stale_owners(self.mount / PARENT):
            for child in _subdirs(owner):
                group = CgroupV2(child, self.controllers)
                group.kill_all()
                group.remove()
            _rmdir(owner)

    def close(self) -> None:
        _rmdir_if_empty(self.base)


def _subdirs(path: Path) -> list[Path]:
    try:
        return [entry for entry in path.iterdir() if entry.is_dir()]
    except FileNotFoundError:
        return []


def owner_name(pid: int) -> str:
    """`<pid>-<start time>`: names a process uniquely, even after its PID is reused."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            # Field 22 is the start time; the command name (field 2) may contain spaces.
            start = file.read().rpartition(")")[2].split()[19]
    except FileNotFoundError:
        return ""
    return f"{pid}-{start}"


def _stale_owners(parent: Path) -> list[Path]:
    """Owner directories of servers that are no longer running (other names are not ours)."""
    stale = []
    for owner in _subdirs(parent):
        pid, _, start = owner.name.partition("-")
        if pid.isdigit() and start.isdigit() and owner_name(int(pid)) != owner.name:
            stale.append(owner)
    return stale


def _rmdir_if_empty(path: Path) -> None:
    """Remove a server's directory unless another factory of the same process still uses it."""
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            raise


def detect() -> Hierarchy:
    """The hierarchy to put sandboxes in; see guarantee 1."""
    hierarchy: Hierarchy | None = HierarchyV1.detect() or HierarchyV2.detect()
    if hierarchy is None:
        raise CgroupUnavailable("no cgroup v1 memory hierarchy and no cgroup v2 mount with memory and pids")
    return hierarchy
