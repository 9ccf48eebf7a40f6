"""SnapStart for Python: INIT once per published version, environments cloned from it."""

from __future__ import annotations

import base64
import concurrent.futures
import time

import pytest
from support import aws_error

SNAPPED = {
    "app.py": """
import os, random, socket, time, uuid
from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT = {"token": uuid.uuid4().hex, "pid": os.getpid(), "at": time.time()}
HOOKS = []
print("INIT ran", INIT["token"])

@register_before_snapshot
def first_registered():
    HOOKS.append("before-1")

def second_registered(tag, suffix=""):
    HOOKS.append("before-" + tag + suffix)

register_before_snapshot(second_registered, "2", suffix="!")

@register_after_restore
def restored():
    HOOKS.append("after-1")
    open("/tmp/restored", "w").write(socket.gethostname())

register_after_restore(lambda: HOOKS.append("after-2"))

def handler(event, context):
    time.sleep(event.get("hold", 0))
    status = {line.split(":")[0]: line.split(":")[1].strip() for line in open("/proc/self/status")}
    return {
        "init": INIT["token"], "hooks": HOOKS, "random": random.random(), "uuid": str(uuid.uuid4()),
        "request_id": context.aws_request_id, "stream": context.log_stream_name,
        "stream_env": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"], "type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "hostname": socket.gethostname(), "tmp": sorted(os.listdir("/tmp")), "pid": os.getpid(),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "uid": os.getuid(), "CapEff": status["CapEff"], "CapBnd": status["CapBnd"], "NoNewPrivs": status["NoNewPrivs"],
    }
"""
}

SNAP_START = {"ApplyOn": "PublishedVersions"}


def publish_snapped(lam, name: str) -> str:
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    return version


@pytest.fixture
def snapped(deploy, lam):
    name = deploy(SNAPPED, SnapStart=SNAP_START, Timeout=10)
    return name, publish_snapped(lam, name)


def test_configuration_shows_snapstart_as_aws_does(deploy, lam):
    name = deploy(SNAPPED, SnapStart=SNAP_START)
    latest = lam.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    published = lam.publish_version(FunctionName=name)
    # The version is Pending until INIT has run and the snapshot is taken.
    assert published["State"] == "Pending"
    assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=published["Version"])
    version = lam.get_function_configuration(FunctionName=name, Qualifier=published["Version"])
    assert version["State"] == "Active"
    assert version["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    turned_off = lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "None"})
    assert turned_off["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}


def test_unsupported_runtimes_and_storage_are_refused(create_function, lam, deploy):
    assert aws_error(create_function, Runtime="python3.11", SnapStart=SNAP_START) == (
        400, "InvalidParameterValueException", "python3.11 is not supported for SnapStart enabled functions."
    )
    name = deploy(SNAPPED)
    refused = aws_error(lam.update_function_configuration, FunctionName=name, SnapStart=SNAP_START, EphemeralStorage={"Size": 1024})
    assert refused[:2] == (400, "InvalidParameterValueException")
    assert lam.get_function_configuration(FunctionName=name)["SnapStart"]["ApplyOn"] == "None"


@pytest.mark.needs_root
def test_init_runs_once_and_every_clone_is_its_own(snapped, invoke, lam, server):
    name, version = snapped
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(invoke, f"{name}:{version}", {"hold": 1.0}, LogType="Tail") for _ in range(4)]
        results = [call.result() for call in calls]
    bodies = [result.body for result in results]
    # Four environments, one INIT: the state INIT made is the same in all of them.
    assert len({body["stream"] for body in bodies}) == 4
    assert len({body["init"] for body in bodies}) == 1
    # Before-snapshot hooks ran once, in reverse order of registration; after-restore hooks once per clone, in order.
    for body in bodies:
        assert body["hooks"] == ["before-2!", "before-1", "after-1", "after-2"], body["hooks"]
        assert body["type"] == "snap-start"
        assert body["stream_env"] == body["stream"]
    # What must differ per environment does.
    assert len({body["random"] for body in bodies}) == 4
    assert len({body["uuid"] for body in bodies}) == 4
    assert len({body["request_id"] for body in bodies}) == 4
    assert len({body["hostname"] for body in bodies}) == 4
    for result in results:
        tail = base64.b64decode(result.headers["x-amz-log-result"]).decode()
        assert "Restore Duration:" in tail and "Billed Restore Duration:" in tail and "Init Duration" not in tail
    # INIT's own output went to one log stream, the template's: it ran once.
    printed = server.cli("logs", name, check=True).stdout
    assert printed.count("INIT ran") == 1


@pytest.mark.needs_root
def test_clones_keep_the_isolation_of_a_sandbox(snapped, invoke):
    name, version = snapped
    body = invoke(f"{name}:{version}", {}).body
    assert body["pid"] == 1 and body["procs"][0] == 1 and len(body["procs"]) <= 3
    assert body["uid"] != 0
    assert int(body["CapEff"], 16) == 0 and int(body["CapBnd"], 16) == 0 and body["NoNewPrivs"] == "1"
    # Each clone's /tmp is its own: only what its own after-restore hook wrote.
    assert body["tmp"] == ["restored"]


@pytest.mark.needs_root
def test_a_failing_init_fails_the_version(deploy, lam, invoke):
    name = deploy({"app.py": "raise RuntimeError('no snapshot for you')\ndef handler(e, c):\n    return 1\n"}, SnapStart=SNAP_START)
    version = lam.publish_version(FunctionName=name)["Version"]
    deadline = time.monotonic() + 30
    while (config := lam.get_function_configuration(FunctionName=name, Qualifier=version))["State"] == "Pending":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "FunctionError.RuntimeInitError"
    assert "no snapshot for you" in config["StateReason"]
    assert aws_error(lam.invoke, FunctionName=name, Qualifier=version, Payload=b"{}")[:2] == (409, "ResourceConflictException")


@pytest.mark.needs_root
def test_a_failing_after_restore_hook_is_a_snapstart_exception(deploy, lam):
    code = (
        "from snapshot_restore_py import register_after_restore\n"
        "@register_after_restore\n"
        "def broken():\n    raise ValueError('cannot restore')\n"
        "def handler(e, c):\n    return 1\n"
    )
    name = deploy({"app.py": code}, SnapStart=SNAP_START)
    version = publish_snapped(lam, name)
    status, error_type, message = aws_error(lam.invoke, FunctionName=name, Qualifier=version, Payload=b"{}")
    assert (status, error_type) == (400, "SnapStartException")
    assert "cannot restore" in message
    # $LATEST has no snapshot: it runs INIT and no hooks, as on Lambda.
    assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200
