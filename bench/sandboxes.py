"""What the host says about a server's sandboxes: their cgroups, processes, memory and CPU time.

Lambdabox puts each sandbox in its own cgroup, `<mount>/lambdabox/<server pid>-<start time>/<sandbox id>`
(see lambdabox.sandbox.cgroups): on cgroup v1 under the memory hierarchy (among others), on v2
under the unified mount. This module only reads: /proc/mounts, cgroup.procs, /proc/<pid>/stat,
/proc/<pid>/smaps_rollup and /proc/meminfo. With isolation off there are no such cgroups;
`environments()` is then empty and callers report what they cannot measure as missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: The directory under each hierarchy that holds every server's sandboxes.
PARENT = "lambdabox"
#: Clock ticks per second, the unit of utime and stime in /proc/<pid>/stat.
TICKS_PER_S = os.sysconf("SC_CLK_TCK")
KIB = 1024


def _hierarchies() -> list[Path]:
    """Mount points that may hold sandbox cgroups: the v1 memory hierarchy first, then v2."""
    v1, v2 = [], []
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, point, kind, options, *_ = line.split()
            if kind == "cgroup" and "memory" in options.split(","):
                v1.append(Path(point))
            elif kind == "cgroup2":
                v2.append(Path(point))
    return v1 + v2


def environments(server_pid: int, prefix: str = "") -> dict[str, Path]:
    """The sandbox cgroups of the server with this PID whose names start with `prefix`, by name.

    Lambdabox names a sandbox `<function name>-<environment id>`, so a prefix of `NAME-`
    picks one function's environments.
    """
    for mount in _hierarchies():
        owners = list((mount / PARENT).glob(f"{server_pid}-*"))
        if owners:
            return {
                group.name: group
                for owner in owners
                for group in owner.iterdir()
                if group.is_dir() and group.name.startswith(prefix)
            }
    return {}


def pids(group: Path) -> list[int]:
    """Host PIDs of the processes in a sandbox's cgroup (none if it is gone)."""
    try:
        return [int(line) for line in (group / "cgroup.procs").read_text().split()]
    except OSError:  # the sandbox was destroyed meanwhile
        return []


def charged(group: Path) -> int:
    """Memory the kernel charges to a sandbox's cgroup now, page cache and tmpfs included, in bytes."""
    for name in ("memory.usage_in_bytes", "memory.current"):  # v1, v2
        try:
            return int((group / name).read_text())
        except OSError:
            continue
    return 0


@dataclass(frozen=True)
class Footprint:
    """Memory of a set of processes, in bytes: PSS shares each shared page among its users."""

    pss: int
    rss: int


def footprint(pids: list[int]) -> Footprint:
    pss = rss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as rollup:
                for line in rollup:
                    key, _, rest = line.partition(":")
                    if key == "Pss":
                        pss += int(rest.split()[0]) * KIB
                    elif key == "Rss":
                        rss += int(rest.split()[0]) * KIB
        except OSError:  # the process exited meanwhile
            continue
    return Footprint(pss, rss)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process (all its threads) so far, or 0.0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def memory_in_use() -> tuple[int, int]:
    """(MemTotal - MemAvailable, MemAvailable) of the host, in bytes."""
    values = {}
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) * KIB
    return values["MemTotal"] - values["MemAvailable"], values["MemAvailable"]


def busy_cpu_seconds() -> float:
    """CPU time the whole host has spent not idle, summed over CPUs, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle and iowait
    return (sum(fields[:8]) - idle) / TICKS_PER_S
