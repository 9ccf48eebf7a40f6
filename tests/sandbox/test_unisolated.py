"""The no-isolation fallback: plain child processes, paths mapped back to the host."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from specs import sh, spec, wait

from lambdabox.sandbox.api import Mount, SandboxError
from lambdabox.sandbox.unisolated import UnisolatedSandboxFactory, host_path


@pytest.fixture
def factory():
    made = UnisolatedSandboxFactory("testing the fallback")
    yield made
    made.close()


def test_host_path_maps_through_the_deepest_mount(tmp_path):
    mounts = [Mount(tmp_path / "task", "/var/task"), Mount(tmp_path / "layer", "/var/task/lib")]
    assert host_path("/var/task", mounts) == str(tmp_path / "task")
    assert host_path("/var/task/a/b", mounts) == str(tmp_path / "task/a/b")
    assert host_path("/var/task/lib/x", mounts) == str(tmp_path / "layer/x")
    assert host_path("/var/tasks", mounts) == "/var/tasks"
    assert host_path("/usr/bin/python3", mounts) == "/usr/bin/python3"


def test_runs_in_the_mapped_directory_with_the_environment(factory, tmp_path):
    (tmp_path / "handler.py").write_text("")
    read_end, write_end = os.pipe()
    template = sh("pwd; ls; echo $ANSWER", env={"ANSWER": "42", "PATH": "/usr/bin:/bin"}, cwd="/var/task")
    sandbox = factory.create(replace(template, mounts=[Mount(tmp_path, "/var/task")], output_fd=write_end))
    os.close(write_end)
    assert factory.isolation == "none" and factory.isolation_problem == "testing the fallback"
    assert wait(sandbox) == 0
    assert os.read(read_end, 1000).decode().split() == [str(tmp_path), "handler.py", "42"]
    assert sandbox.exited() and sandbox.memory_peak_mb() > 0 and not sandbox.oom_killed()
    sandbox.destroy()
    os.close(read_end)


def test_destroy_kills_the_process_group(factory):
    sandbox = factory.create(sh("sleep 100 & echo $! > /dev/null; sleep 100"))
    time.sleep(0.1)
    sandbox.freeze()  # no-ops
    sandbox.thaw()
    sandbox.destroy()
    sandbox.destroy()
    assert sandbox.exited()
    # The killed group's processes are zombies until their new parent (PID 1 here) reaps them, which
    # takes it a second or so on this host: wait for the group to be gone, to a deadline.
    deadline = time.monotonic() + 10
    while True:
        try:
            os.killpg(sandbox.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "the sandbox's process group outlived destroy() by 10 s"
        time.sleep(0.05)


def test_wait_exit_in_two_loops(factory):
    sandbox = factory.create(sh("exit 5"))
    assert asyncio.run(sandbox.wait_exit()) == 5
    assert asyncio.run(sandbox.wait_exit()) == 5
    sandbox.destroy()


def test_a_missing_program_is_a_sandbox_error(factory):
    with pytest.raises(SandboxError, match="nonexistent"):
        factory.create(spec(["/nonexistent"]))


def test_close_destroys_what_is_alive():
    factory = UnisolatedSandboxFactory("")
    sandbox = factory.create(spec(["/bin/sleep", "100"]))
    factory.close()
    assert not Path(f"/proc/{sandbox.pid}").exists()
    with pytest.raises(SandboxError, match="closed"):
        factory.create(spec(["/bin/true"]))
