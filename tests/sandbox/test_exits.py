"""Watching sandbox processes end: a SIGKILL that waits for a thaw."""

from __future__ import annotations

import os
import signal
import time

import pytest
from test_cgroups import hierarchy, sleeper, wait_for_members  # noqa: F401 (hierarchy is a fixture)

from lambdabox.sandbox.exits import kill_pending

pytestmark = pytest.mark.needs_root


def test_a_kill_of_a_frozen_process_is_pending_until_thawed(hierarchy):  # noqa: F811
    group = hierarchy.create("pending")
    process = sleeper(group)
    try:
        assert wait_for_members(group, 1) == [process.pid]
        assert not kill_pending(process.pid)
        group.freeze()
        os.kill(process.pid, signal.SIGKILL)
        time.sleep(0.05)
        if process.poll() is None:  # cgroup v1: the frozen process dies only once thawed
            assert kill_pending(process.pid)
        group.thaw()
        assert process.wait(5) == -9
    finally:
        process.kill()
        process.wait()
    group.remove()


def test_no_kill_is_pending_for_a_process_that_is_gone():
    assert not kill_pending(2**22 + 1)  # above the kernel's largest PID
