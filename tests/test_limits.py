"""Limits an environment runs under: timeout, memory, processes, /tmp."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from support import sandbox_processes


def test_timeout_kills_runaway_code(deploy, invoke):
    code = {
        "app.py": """
import time
def handler(event, context):
    if event.get("spin"):
        while True:
            pass
    return "alive"
"""
    }
    name = deploy(code, Timeout=1)
    began = time.monotonic()
    result = invoke(name, {"spin": True}, LogType="Tail")
    elapsed = time.monotonic() - began
    assert result.error == "Unhandled"
    assert result.body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in result.body["errorMessage"]
    assert "Task timed out after 1.00 seconds" in result.log
    assert 1.0 <= elapsed < 5
    # A new environment serves the next invoke: INIT runs again.
    after = invoke(name, {}, LogType="Tail")
    assert after.body == "alive"
    assert "Init Duration" in after.log


@pytest.mark.needs_root
def test_out_of_memory_is_killed_and_reported(deploy, invoke, server):
    code = {
        "app.py": """
def handler(event, context):
    if event.get("hog"):
        blocks = []
        while True:
            blocks.append(bytearray(16 * 1024 * 1024))
    return "fine"
"""
    }
    name = deploy(code, MemorySize=128, Timeout=30)
    result = invoke(name, {"hog": True}, LogType="Tail")
    assert result.error == "Unhandled"
    assert result.body["errorType"] == "Runtime.OutOfMemory"
    assert "Error Type: Runtime.OutOfMemory" in result.log
    assert invoke(name, {}).body == "fine"


@pytest.mark.needs_root
def test_fork_bomb_is_contained(deploy, invoke):
    code = {
        "app.py": """
import os, errno
def handler(event, context):
    children, refused = 0, None
    try:
        for _ in range(5000):
            pid = os.fork()
            if pid == 0:
                # A tiny program, so the pids limit bites before the memory limit does.
                os.execv("/bin/sleep", ["sleep", "30"])
            children += 1
    except OSError as error:
        refused = errno.errorcode.get(error.errno)
    return {"children": children, "refused": refused}
"""
    }
    # A whole vCPU and a long timeout: a thousand forks of a Python process take seconds on a busy host.
    name = deploy(code, Timeout=60, MemorySize=1769)
    result = invoke(name, {})
    assert result.body.get("refused") == "EAGAIN", result.body
    assert result.body["children"] < 1024


@pytest.mark.needs_root
def test_tmp_is_capped_at_ephemeral_storage(deploy, invoke):
    code = {
        "app.py": """
import errno
def handler(event, context):
    written = 0
    try:
        with open("/tmp/fill", "wb") as out:
            chunk = b"x" * (1024 * 1024)
            while written < 2048 * 1024 * 1024:
                out.write(chunk)
                out.flush()
                written += len(chunk)
    except OSError as error:
        return {"error": errno.errorcode.get(error.errno), "written_mb": written // (1024 * 1024)}
    return {"error": None, "written_mb": written // (1024 * 1024)}
"""
    }
    name = deploy(code, Timeout=30, MemorySize=1024, EphemeralStorage={"Size": 512})
    result = invoke(name, {}).body
    assert result["error"] == "ENOSPC"
    assert 400 <= result["written_mb"] <= 512


@pytest.mark.needs_root
def test_cpu_is_shared_in_proportion_to_memory(deploy, invoke, server):
    """128 MB gets 0.072 of a vCPU and 1,769 MB a whole one. What a spinning handler gets also depends on
    what else the host runs, so the kernel's own word is asked as well: its CFS throttling counters."""
    code = {
        "app.py": """
import resource, time
def handler(event, context):
    began_wall, began_cpu = time.monotonic(), time.process_time()
    while time.monotonic() - began_wall < 1.0:
        pass
    return {"cpu": time.process_time() - began_cpu, "nofile": list(resource.getrlimit(resource.RLIMIT_NOFILE))}
"""
    }
    small_name, large_name = deploy(code, MemorySize=128, Timeout=10), deploy(code, MemorySize=1769, Timeout=10)
    before = set(sandbox_processes(server.pid))
    small = invoke(small_name, {}).body
    small_pids = set(sandbox_processes(server.pid)) - before
    large = invoke(large_name, {}).body
    large_pids = set(sandbox_processes(server.pid)) - before - small_pids
    # A second of spinning at 0.072 of a vCPU gets well under a fifth of a CPU second, however idle the host.
    assert small["cpu"] < 0.2, small
    assert large["cpu"] > small["cpu"], (small, large)
    # The small one was held back by its quota again and again; the large one, at a whole vCPU on one thread, never.
    assert throttled(small_pids) > 5
    assert throttled(large_pids) == 0
    assert small["nofile"] == [1024, 1024]


def throttled(pids: set[str]) -> int:
    """How many CFS periods the cgroup of these sandbox processes (one environment) was throttled in."""
    assert len(pids) == 1, pids
    pid, stat = pids.pop(), None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpu" in controllers.split(","):
            stat = Path(f"/sys/fs/cgroup/{controllers}{path}/cpu.stat")
            break
        if controllers == "" and Path("/sys/fs/cgroup/cgroup.controllers").exists():
            stat = Path(f"/sys/fs/cgroup{path}/cpu.stat")
    assert stat is not None, "no cpu controller for the sandbox"
    counters = dict(line.split() for line in stat.read_text().splitlines())
    return int(counters["nr_throttled"])
