"""Real sandboxes, checked from inside and from the host (needs root)."""

from __future__ import annotations

import asyncio
import glob
import os
import subprocess
import time
from pathlib import Path

import pytest
from specs import python, sh, spec, wait

from lambdabox.sandbox.api import Mount, SandboxError
from lambdabox.sandbox.factory import LinuxSandboxFactory

pytestmark = pytest.mark.needs_root


def host_mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_program_is_pid_1_and_sees_only_its_processes(run):
    code, out = run(sh("echo $$; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '"))
    assert code == 0
    pid, listed = out.splitlines()
    assert pid == "1"
    assert all(int(number) < 10 for number in listed.split())


def test_hostname(run):
    assert run(sh("cat /proc/sys/kernel/hostname", hostname="fn-host")) == (0, "fn-host\n")


def test_host_directories_are_invisible(run, tmp_path):
    (tmp_path / "secret").write_text("x")
    code, out = run(sh(f"ls {tmp_path}/secret || ls /work || ls /root; echo; ls /"))
    assert str(tmp_path) not in out.replace(f"ls: cannot access '{tmp_path}/secret'", "")
    assert "No such file" in out
    assert set(out.split()[-8:]) >= {"dev", "etc", "proc", "tmp", "usr"}
    assert "work" not in out.split() and "root" not in out.split()


def test_nothing_is_writable_but_tmp(run):
    code, out = run(
        python(
            "import errno, os\n"
            "for path in ('/x', '/usr/x', '/etc/x', '/dev/x', '/proc/x'):\n"
            "    try:\n"
            "        open(path, 'w')\n"
            "        print(path, 'written')\n"
            "    except OSError as e:\n"
            "        print(path, errno.errorcode[e.errno])\n"
            "open('/tmp/x', 'w').write('ok'); print('/tmp ok')\n"
        )
    )
    assert code == 0, out
    assert "written" not in out
    assert "/x EROFS" in out and "/usr/x EROFS" in out and "/tmp ok" in out


def test_tmp_is_limited_to_tmp_mb(run):
    code, out = run(sh("dd if=/dev/zero of=/tmp/big bs=1M count=8 2>&1; df -m /tmp | tail -1", tmp_mb=4))
    assert "No space left on device" in out
    assert " 4 " in out  # df's size column, in MiB


def test_runs_as_the_user_without_capabilities(run):
    code, out = run(sh("id -u; id -g; id -G; grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status", uid=4321, gid=4322))
    lines = out.split()
    assert lines[:3] == ["4321", "4322", "4322"]
    status = dict(zip(lines[3::2], lines[4::2]))
    assert status["CapEff:"] == status["CapPrm:"] == status["CapBnd:"] == status["CapInh:"] == "0000000000000000"
    assert status["NoNewPrivs:"] == "1"


def test_mounts_are_read_only_unless_writable(run, tmp_path):
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "handler.py").write_text("print('hi')\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out_dir.chmod(0o777)
    mounts = [Mount(code_dir, "/var/task"), Mount(out_dir, "/mnt/out", writable=True)]
    code, out = run(sh("cat handler.py; touch handler2.py; touch /mnt/out/made && echo made", cwd="/var/task", mounts=mounts))
    assert "print('hi')" in out
    assert "Read-only file system" in out
    assert "made" in out and (out_dir / "made").exists()


def test_memory_limit_kills_and_is_reported(factory):
    sandbox = factory.create(python("x = b'a' * (200 << 20)", memory_mb=48))
    try:
        assert wait(sandbox) == -9
        assert sandbox.oom_killed()
        assert 40 <= sandbox.memory_peak_mb() <= 49
    finally:
        sandbox.destroy()
    assert sandbox.oom_killed()  # still known after destroy


def test_pids_max_contains_a_fork_bomb(factory):
    sandbox = factory.create(sh("b() { b | b & }; b; sleep 100", pids_max=64))
    try:
        time.sleep(0.5)
        tasks = sandbox._cgroup.pids()  # noqa: SLF001 - the host's view of the cgroup
        assert 1 <= len(tasks) <= 64
        assert subprocess.run(["true"]).returncode == 0  # the host can still fork
    finally:
        sandbox.destroy()
    assert all(gone(pid) for pid in tasks)


def test_freeze_stops_progress_and_thaw_resumes(factory, tmp_path):
    log = tmp_path / "ticks"
    with log.open("wb") as output:
        sandbox = factory.create(sh("while :; do echo tick; sleep 0.01; done", output_fd=output.fileno()))
    try:
        time.sleep(0.2)
        sandbox.freeze()
        sandbox.freeze()  # idempotent
        frozen_at = log.stat().st_size
        time.sleep(0.3)
        assert log.stat().st_size == frozen_at > 0
        sandbox.thaw()
        sandbox.thaw()
        time.sleep(0.2)
        assert log.stat().st_size > frozen_at
    finally:
        sandbox.destroy()


def test_destroy_leaves_nothing(factory):
    sandbox = factory.create(sh("sleep 100 & sleep 100"))
    cgroup_dirs = [Path(procs).parent for procs in sandbox._cgroup.procs_files]  # noqa: SLF001
    deadline = time.monotonic() + 5
    while len(tasks := sandbox._cgroup.pids()) < 2 and time.monotonic() < deadline:  # noqa: SLF001
        time.sleep(0.01)
    assert all(path.is_dir() for path in cgroup_dirs) and len(tasks) >= 2
    sandbox.freeze()  # destroy must work on a frozen sandbox too
    sandbox.destroy()
    sandbox.destroy()  # idempotent
    assert not any(path.exists() for path in cgroup_dirs)
    assert all(gone(pid) for pid in tasks)
    assert "sandbox-root" not in host_mounts()
    assert sandbox.exited()


def test_exit_status_and_destroy_after_exit(factory):
    sandbox = factory.create(sh("exit 3"))
    assert wait(sandbox) == 3
    assert sandbox.exited()
    assert wait(sandbox) == 3  # again, from another event loop
    sandbox.destroy()


def test_two_waiters_in_one_loop(factory):
    sandbox = factory.create(sh("sleep 0.1; exit 4"))

    async def both():
        return await asyncio.gather(sandbox.wait_exit(), sandbox.wait_exit())

    try:
        assert asyncio.run(both()) == [4, 4]
    finally:
        sandbox.destroy()


def test_sandboxes_have_separate_tmp(factory, run):
    first = factory.create(sh("echo mine > /tmp/a; sleep 100"))
    try:
        # The first sandbox has really written its file (seen through its own root) before the second looks.
        written = Path(f"/proc/{first.pid}/root/tmp/a")
        deadline = time.monotonic() + 10
        while not (written.exists() and written.read_text() == "mine\n") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert written.read_text() == "mine\n"
        assert run(sh("ls -A /tmp")) == (0, "")
    finally:
        first.destroy()


def test_failed_create_names_the_step_and_leaves_nothing(factory, tmp_path):
    before = host_mounts()
    with pytest.raises(SandboxError, match="exec /nonexistent"):
        factory.create(spec(["/nonexistent"]))
    with pytest.raises(SandboxError, match="bind .*missing"):
        factory.create(spec(["/bin/true"], mounts=[Mount(tmp_path / "missing", "/var/task")]))
    assert host_mounts().count("sandbox-root") == before.count("sandbox-root") == 0
    assert not factory._live  # noqa: SLF001


def test_pyenv_python_runs_with_its_prefix_mounted(run):
    prefixes = sorted(glob.glob("/root/.pyenv/versions/3.12.*"))
    if not prefixes:
        pytest.skip("no pyenv Python 3.12 on this host")
    prefix = prefixes[-1]
    argv = [f"{prefix}/bin/python3", "-c", "import ssl, sqlite3, ctypes; print(1)"]
    assert run(spec(argv, mounts=[Mount(Path(prefix), prefix)])) == (0, "1\n")


def test_close_destroys_what_is_alive(tmp_path):
    factory = LinuxSandboxFactory(tmp_path)
    sandbox = factory.create(spec(["/bin/sleep", "100"]))
    factory.close()
    assert gone(sandbox.pid)
    with pytest.raises(SandboxError, match="closed"):
        factory.create(spec(["/bin/true"]))
