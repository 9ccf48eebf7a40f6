"""Cgroup hierarchies, driven directly with plain processes (needs root).

This host may have v1 controllers and a v2 mount without any: then the v2 tests cover
what v2 does without controllers (joining, freezing, killing, removing, sweeping).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from specs import sh

from lambdabox.sandbox import cgroups
from lambdabox.sandbox.cgroups import HierarchyV1, HierarchyV2
from lambdabox.sandbox.factory import LinuxSandboxFactory

pytestmark = pytest.mark.needs_root


def v2_mount() -> Path | None:
    for fstype, point, _options in cgroups._cgroup_mounts():  # noqa: SLF001
        if fstype == "cgroup2":
            return Path(point)
    return None


def hierarchies() -> list:
    found = []
    v1 = HierarchyV1.detect()
    if v1 is not None:
        found.append(pytest.param(lambda: HierarchyV1.detect(), id="v1"))
    if v2_mount() is not None:
        found.append(pytest.param(lambda: HierarchyV2(v2_mount()), id="v2"))
    return found


@pytest.fixture(params=hierarchies())
def hierarchy(request):
    made = request.param()
    yield made
    made.close()


def sleeper(group) -> subprocess.Popen:
    """A process that joins `group` before it execs sleep."""
    joins = "; ".join(f"echo $$ > {procs}" for procs in group.procs_files)
    return subprocess.Popen(["/bin/sh", "-c", f"{joins}; exec sleep 100"])


def wait_for_members(group, count: int) -> list[int]:
    deadline = time.monotonic() + 5
    while len(pids := group.pids()) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return pids


def freezer_state(group) -> str:
    """FROZEN or THAWED, as the group's freezer reports it: v1's freezer.state, v2's cgroup.events."""
    if hasattr(group, "dirs"):
        return (group.dirs["freezer"] / "freezer.state").read_text().strip()
    events = dict(line.split() for line in (group.path / "cgroup.events").read_text().splitlines())
    return "FROZEN" if events["frozen"] == "1" else "THAWED"


def test_detect_prefers_the_hierarchy_with_the_controllers():
    found = cgroups.detect()
    if HierarchyV1.detect() is not None:
        assert found.version == 1
    else:
        assert found.version == 2 and {"memory", "pids"} <= found.controllers


def test_join_freeze_thaw_kill_remove(hierarchy):
    group = hierarchy.create("unit")
    process = sleeper(group)
    try:
        assert wait_for_members(group, 1) == [process.pid]
        assert freezer_state(group) == "THAWED"
        group.freeze()
        group.freeze()
        # The freezer's own word: a sleeping process looks the same from /proc whether frozen or not.
        assert freezer_state(group) == "FROZEN"
        group.thaw()
        assert freezer_state(group) == "THAWED"
        group.kill_all()
        assert process.wait(5) == -9
        assert group.pids() == []
    finally:
        process.kill()
        process.wait()
    group.remove()
    group.remove()
    assert not any(Path(procs).parent.exists() for procs in group.procs_files)


def test_v1_limits_are_written():
    hierarchy = HierarchyV1.detect()
    if hierarchy is None:
        pytest.skip("no cgroup v1 memory hierarchy on this host")
    group = hierarchy.create("limits")
    try:
        group.set_limits(memory_mb=64, vcpus=0.5, pids_max=17)
        assert int((group.dirs["memory"] / "memory.limit_in_bytes").read_text()) == 64 << 20
        period = int((group.dirs["cpu"] / "cpu.cfs_period_us").read_text())
        assert int((group.dirs["cpu"] / "cpu.cfs_quota_us").read_text()) == period // 2
        assert (group.dirs["pids"] / "pids.max").read_text().strip() == "17"
        group.set_cpu(1.0)
        assert int((group.dirs["cpu"] / "cpu.cfs_quota_us").read_text()) == period
    finally:
        group.remove()
        hierarchy.close()


def test_sweep_kills_and_removes_what_a_dead_server_left(hierarchy):
    dead = hierarchy.__class__.__new__(hierarchy.__class__)
    # A server that is gone: no process has this start time.
    if isinstance(hierarchy, HierarchyV1):
        dead.__init__(hierarchy.mounts, owner=f"{os.getpid()}-1")
    else:
        dead.__init__(hierarchy.mount, owner=f"{os.getpid()}-1")
    group = dead.create("left-behind")
    process = sleeper(group)
    try:
        wait_for_members(group, 1)
        hierarchy.sweep()
        assert process.wait(5) == -9
    finally:
        process.kill()
        process.wait()
    assert not any(Path(procs).parent.parent.exists() for procs in group.procs_files)


def test_a_live_servers_cgroups_survive_a_sweep(hierarchy):
    group = hierarchy.create("mine")
    try:
        hierarchy.sweep()
        assert all(Path(procs).exists() for procs in group.procs_files)
    finally:
        group.remove()


def test_sandboxes_on_v2_freeze_and_die(tmp_path):
    """A whole sandbox in the v2 hierarchy (with whatever controllers it has here)."""
    mount = v2_mount()
    if mount is None:
        pytest.skip("no cgroup v2 mount on this host")
    factory = LinuxSandboxFactory(tmp_path, hierarchy=HierarchyV2(mount))
    try:
        sandbox = factory.create(sh("sleep 100 & sleep 100"))
        group = sandbox._cgroup  # noqa: SLF001
        pids = wait_for_members(group, 2)
        sandbox.freeze()
        assert (group.path / "cgroup.events").read_text().count("frozen 1") == 1
        sandbox.destroy()
        assert not group.path.exists()
        assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    finally:
        factory.close()
