"""Isolation probes: each is a function that tries to break out, and fails."""

from __future__ import annotations

import concurrent.futures
import os

import pytest

from support import wait_provisioned

#: These check sandboxes (namespaces, cgroups, host uids), which only root can make.
pytestmark = pytest.mark.needs_root

PROBE = {
    "app.py": """
import os, errno

def attempt(action):
    try:
        return {"ok": True, "value": action()}
    except OSError as error:
        return {"ok": False, "errno": errno.errorcode.get(error.errno, str(error.errno))}

def handler(event, context):
    kind = event["probe"]
    if kind == "read":
        return attempt(lambda: os.listdir(event["path"]))
    if kind == "read_file":
        return attempt(lambda: open(event["path"], "rb").read(64).hex())
    if kind == "proc":
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if kind == "write":
        def write():
            with open(event["path"], "w") as out:
                out.write("x")
            return event["path"]
        return attempt(write)
    if kind == "root":
        def become_root():
            os.setuid(0)
            return os.getuid()
        status = {line.split(":")[0]: line.split(":")[1].strip() for line in open("/proc/self/status")}
        return {"uid": os.getuid(), "euid": os.geteuid(), "setuid": attempt(become_root),
                "CapEff": status["CapEff"], "CapBnd": status["CapBnd"], "NoNewPrivs": status["NoNewPrivs"]}
    if kind == "unique":
        import random, time, uuid
        time.sleep(event.get("hold", 0))
        return {"random": random.random(), "uuid": str(uuid.uuid4()), "pid_ns_init": os.getpid(),
                "stream": context.log_stream_name}
    if kind == "tmp":
        import time
        mine = "/tmp/mark-" + event["mark"]
        open(mine, "w").write("x")
        time.sleep(event.get("hold", 0))
        return sorted(os.listdir("/tmp"))
"""
}


@pytest.fixture(params=["forked", "provisioned", "snapstart"])
def probe(request, deploy, lam):
    """The probe function, run in environments forked from a zygote, provisioned ahead of time (two, so that two
    concurrent invokes both land in one), or cloned from a SnapStart snapshot."""
    if request.param == "forked":
        return deploy(PROBE, Timeout=10)
    if request.param == "provisioned":
        name = deploy(PROBE, Timeout=10)
        version = lam.publish_version(FunctionName=name)["Version"]
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=2)
        wait_provisioned(lam, name, version)
        return f"{name}:{version}"
    name = deploy(PROBE, Timeout=10, SnapStart={"ApplyOn": "PublishedVersions"})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    return f"{name}:{version}"


def test_cannot_read_the_data_dir_or_the_sources(probe, invoke, server):
    for path in (str(server.data_dir), str(server.data_dir / "archives"), os.path.dirname(os.path.abspath(__file__))):
        result = invoke(probe, {"probe": "read", "path": path}).body
        assert result["ok"] is False, (path, result)
        assert result["errno"] == "ENOENT"
    # Of the host's home, only the path to a pyenv interpreter may show, and only when one is bound in.
    home = invoke(probe, {"probe": "read", "path": "/root"}).body
    assert home in ({"ok": False, "errno": "ENOENT"}, {"ok": True, "value": [".pyenv"]})


def test_cannot_read_another_functions_code(deploy, invoke, probe, server):
    other = deploy({"app.py": "SECRET = 'other function code'\ndef handler(e, c):\n    return 1\n"})
    assert invoke(other, {}).body == 1
    unpacked = server.data_dir / "unpacked"
    for tree in unpacked.iterdir():
        result = invoke(probe, {"probe": "read", "path": str(tree)}).body
        assert result["ok"] is False
    # Its own /var/task holds only its own code.
    assert invoke(probe, {"probe": "read", "path": "/var/task"}).body == {"ok": True, "value": ["app.py"]}


def test_cannot_see_host_processes(probe, invoke):
    pids = invoke(probe, {"probe": "proc"}).body
    assert pids[0] == 1
    assert len(pids) <= 3, pids
    assert os.getpid() not in pids or len(pids) <= 3


def test_cannot_write_outside_tmp(probe, invoke):
    for path in ("/var/task/new.py", "/etc/passwd-x", "/opt/x", "/x", "/usr/lib/x", "/var/runtime/x"):
        result = invoke(probe, {"probe": "write", "path": path}).body
        assert result["ok"] is False, (path, result)
        assert result["errno"] in ("EROFS", "EACCES", "ENOENT", "EPERM")
    assert invoke(probe, {"probe": "write", "path": "/tmp/ok"}).body == {"ok": True, "value": "/tmp/ok"}


def test_cannot_become_root(probe, invoke):
    result = invoke(probe, {"probe": "root"}).body
    assert result["uid"] != 0 and result["euid"] != 0
    # Every environment runs in a user namespace that maps only its own uid: there, uid 0 does not even exist.
    assert result["setuid"] == {"ok": False, "errno": "EINVAL"}
    assert int(result["CapEff"], 16) == 0
    assert int(result["CapBnd"], 16) == 0
    assert result["NoNewPrivs"] == "1"


def test_environments_do_not_share_tmp(probe, invoke):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(invoke, probe, {"probe": "tmp", "mark": "a", "hold": 1.5})
        second = pool.submit(invoke, probe, {"probe": "tmp", "mark": "b", "hold": 1.5})
        seen = [first.result().body, second.result().body]
    assert sorted(seen) == [["mark-a"], ["mark-b"]]


def test_environments_forked_from_a_zygote_differ_in_their_randomness(probe, invoke):
    """Python environments are forked from a pre-imported interpreter: each must still get its own state."""
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = [pool.submit(invoke, probe, {"probe": "unique", "hold": 1.0}) for _ in range(3)]
        seen = [result.result().body for result in results]
    assert len({body["stream"] for body in seen}) == 3, "three environments"
    assert len({body["random"] for body in seen}) == 3
    assert len({body["uuid"] for body in seen}) == 3
    assert {body["pid_ns_init"] for body in seen} == {1}
