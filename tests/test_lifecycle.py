"""Environment lifecycle: reuse, idle shutdown, updates, deletes, and a clean stop."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from support import Server, make_zip, sandbox_processes

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)

COUNTER = {
    "app.py": """
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "stream": context.log_stream_name}
"""
}


def until(check, timeout_s: float = 15.0, what: str = "the condition"):
    """Poll `check()` until it is truthy (and return it), or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout_s} s"
        time.sleep(0.05)
    return result


def freezer_states(server_pid: int) -> list[str]:
    """FROZEN or THAWED for each environment of the server, from its freezer (v1) or cgroup.events (v2)."""
    if Path("/sys/fs/cgroup/freezer").is_dir():
        return [
            (path / "freezer.state").read_text().strip()
            for path in Path("/sys/fs/cgroup/freezer/lambdabox").glob(f"{server_pid}-*/*")
            if path.is_dir()
        ]
    return [
        "FROZEN" if "frozen 1" in (path / "cgroup.events").read_text() else "THAWED"
        for path in Path("/sys/fs/cgroup/lambdabox").glob(f"{server_pid}-*/*")
        if path.is_dir()
    ]


def lambdabox_cgroups() -> list[str]:
    """Every cgroup directory below a `lambdabox` parent, in every hierarchy."""
    found = []
    for base in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        for controller in [base, *base.iterdir()] if base.is_dir() else []:
            parent = controller / "lambdabox"
            if parent.is_dir():
                found += [str(path) for path in parent.rglob("*") if path.is_dir()]
    return found


@pytest.fixture
def private(tmp_path):
    started = Server(tmp_path / "data", extra_args=["--idle-timeout", "2"]).start()
    yield started
    started.stop()


def test_idle_environments_are_shut_down(private, role_in, invoke_on):
    lam = private.client("lambda")
    name = role_in(private, COUNTER)
    assert invoke_on(lam, name)["count"] == 1
    assert invoke_on(lam, name)["count"] == 2
    # --idle-timeout 2: the idle environment goes, and the next invoke starts afresh.
    until(lambda: sandbox_processes(private.pid) == [], what="the idle environment's shutdown")
    assert invoke_on(lam, name)["count"] == 1


def test_an_environment_killed_while_frozen_is_not_handed_an_invoke(private, role_in, invoke_on):
    lam = private.client("lambda")
    name = role_in(private, COUNTER)
    assert invoke_on(lam, name)["count"] == 1
    assert invoke_on(lam, name)["count"] == 2
    until(lambda: freezer_states(private.pid) == ["FROZEN"], what="freezing the idle environment")
    for pid in sandbox_processes(private.pid):
        os.kill(int(pid), signal.SIGKILL)
    answer = invoke_on(lam, name)
    assert answer.get("count") == 1, answer  # a new environment, not Runtime.ExitError


def test_delete_shuts_environments_down(private, role_in, invoke_on):
    lam = private.client("lambda")
    name = role_in(private, COUNTER)
    invoke_on(lam, name)
    assert len(sandbox_processes(private.pid)) == 1
    lam.delete_function(FunctionName=name)
    until(lambda: sandbox_processes(private.pid) == [], what="the deleted function's environments' shutdown")


def test_stopping_the_server_leaves_nothing_behind(tmp_path, role_in, invoke_on):
    server = Server(tmp_path / "data").start()
    lam = server.client("lambda")
    names = [role_in(server, COUNTER) for _ in range(3)]
    for name in names:
        invoke_on(lam, name)
    pid = server.pid
    assert len(sandbox_processes(pid)) == 3
    server.stop()
    assert sandbox_processes(pid) == []
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(tmp_path) not in mounts
    assert [path for path in lambdabox_cgroups() if f"/{pid}-" in path] == []


def test_environments_are_frozen_between_invocations(private, role_in, invoke_on):
    lam = private.client("lambda")
    invoke_on(lam, role_in(private, COUNTER))
    # An environment is frozen shortly after its invocation, not at once.
    until(lambda: freezer_states(private.pid) == ["FROZEN"], what="freezing the environment")


def test_update_lets_the_running_invocation_finish_on_the_old_code(private, role_in, invoke_on):
    import concurrent.futures
    import json

    lam = private.client("lambda")
    # It marks its start in its /tmp, which the host sees through the sandbox's root.
    slow = {"app.py": "import time\ndef handler(e, c):\n    open('/tmp/started', 'w').close()\n"
                      "    time.sleep(e.get('sleep', 0))\n    return 'old'\n"}
    name = role_in(private, slow)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(lambda: json.loads(lam.invoke(FunctionName=name, Payload=b'{"sleep": 2}')["Payload"].read()))
        until(lambda: any(Path(f"/proc/{pid}/root/tmp/started").exists() for pid in sandbox_processes(private.pid)),
              what="the invocation's start")
        lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'new'\n"}))
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
        assert invoke_on(lam, name) == "new"
        assert running.result() == "old"
    # The old environment is shut down once its invocation ended: only the new one is left.
    until(lambda: len(sandbox_processes(private.pid)) == 1, what="the old environment's shutdown")


@pytest.fixture
def role_in(unique):
    def create(server: Server, files) -> str:
        iam = server.client("iam")
        role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam = server.client("lambda")
        name = unique("fn")
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip(files)})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        return name

    return create


@pytest.fixture
def invoke_on():
    import json

    def call(lam, name):
        return json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())

    return call
