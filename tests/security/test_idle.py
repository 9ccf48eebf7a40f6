"""Idle means frozen: code an INIT starts never runs while no invocation does.

Provisioned environments and SnapStart templates were never frozen after INIT, so a thread
or process started in INIT burned CPU forever, unbilled and unlimited by any timeout.
"""

from __future__ import annotations

import json
import time

import pytest

from hostile import deploy, processes_of
from support import wait_provisioned

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root

#: INIT starts a spinning thread and a spinning child process, and records the child's PID.
BURNER = """
import os, subprocess, sys, threading

def spin():
    while True:
        pass

threading.Thread(target=spin, daemon=True).start()
child = subprocess.Popen([sys.executable, "-c", "while True: pass"])

def handler(event, context):
    return {"threads": threading.active_count(), "child_alive": child.poll() is None}
"""
CLOCK_TICKS = 100  # USER_HZ: /proc/<pid>/stat counts CPU time in these.


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def cpu_used_over(pids: list[int], seconds: float) -> float:
    before = cpu_seconds(pids)
    time.sleep(seconds)
    return cpu_seconds(pids) - before


def test_provisioned_environments_are_frozen_once_init_is_done(slam, srole, secret_server):
    name = deploy(slam, srole, {"app.py": BURNER})
    version = slam.publish_version(FunctionName=name)["Version"]
    slam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    wait_provisioned(slam, name, version)
    time.sleep(0.3)
    pids = processes_of(secret_server, name)
    assert len(pids) >= 2  # the runtime and INIT's child
    # Two spinners would burn 2 s of CPU in a second; frozen, they burn none.
    assert cpu_used_over(pids, 1.0) < 0.05
    # Thawed to work: the invocation sees INIT's thread and child still there, as on Lambda.
    body = json.loads(slam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")["Payload"].read())
    assert body == {"threads": 2, "child_alive": True}
    time.sleep(0.3)
    assert cpu_used_over(processes_of(secret_server, name), 1.0) < 0.05


def test_snapstart_templates_keep_nothing_init_started(slam, srole, secret_server):
    name = deploy(slam, srole, {"app.py": BURNER}, SnapStart={"ApplyOn": "PublishedVersions"})
    version = slam.publish_version(FunctionName=name)["Version"]
    slam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    template = processes_of(secret_server, name)
    # PID 1 (stopped, with INIT's thread) and the forker of clones; INIT's child process was killed.
    assert len(template) == 2, template
    assert cpu_used_over(template, 1.0) < 0.05
    # A clone has neither INIT's thread nor its child: fork copies only the thread that forks.
    body = json.loads(slam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")["Payload"].read())
    assert body["threads"] == 1
    time.sleep(0.3)
    assert cpu_used_over(processes_of(secret_server, name), 1.0) < 0.05
