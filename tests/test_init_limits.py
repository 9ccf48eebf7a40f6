"""INIT's time limits, and a SnapStart template's life: through a real server.

On-demand INIT gets 10 seconds; a SnapStart version's INIT, at publish, gets 130 seconds or the
function's timeout if longer (--snapstart-init-timeout shortens it here), past which the version
fails with FunctionError.InitTimeout; a SnapStart restore (the clone's start and its after-restore
hooks) gets 10 seconds, past which the invoke fails with SnapStartTimeoutException. A version's
template lives as long as the version, counts against the memory cap, and is made again by a
restarted server.
"""

from __future__ import annotations

import base64
import time

import pytest
from botocore.exceptions import ClientError
from support import Server, aws_error, error_of, make_zip, sandbox_processes

from test_snapstart import SNAP_START, publish_snapped

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)


def until(check, timeout_s: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout_s} s"
        time.sleep(0.1)
    return result


def test_an_init_over_10_seconds_times_out(deploy, invoke):
    name = deploy({"app.py": "import time\ntime.sleep(60)\n\ndef handler(e, c):\n    return 1\n"}, Timeout=30)
    failed = invoke(name, {}, LogType="Tail")
    assert failed.error == "Unhandled"
    assert failed.body["errorType"] == "Runtime.InitTimeout"
    assert failed.body["errorMessage"] == "INIT phase timed out after 10.00 seconds"
    init_report = next(line for line in failed.log.splitlines() if line.startswith("INIT_REPORT "))
    assert init_report.endswith("Phase: init\tStatus: timeout"), init_report
    seconds = float(init_report.split("Init Duration: ")[1].split(" ms")[0]) / 1000
    assert 10.0 <= seconds < 12.0


@pytest.mark.needs_root
def test_a_restore_over_10_seconds_is_a_snapstart_timeout(deploy, lam):
    code = (
        "import time\n"
        "from snapshot_restore_py import register_after_restore\n"
        "@register_after_restore\n"
        "def slow():\n    time.sleep(60)\n"
        "def handler(e, c):\n    return 1\n"
    )
    name = deploy({"app.py": code}, SnapStart=SNAP_START, Timeout=30)
    version = publish_snapped(lam, name)
    began = time.monotonic()
    status, error_type, message = aws_error(lam.invoke, FunctionName=name, Qualifier=version, Payload=b"{}")
    assert (status, error_type, message) == (
        408, "SnapStartTimeoutException", "Lambda couldn't restore the snapshot within the timeout limit."
    )
    assert 10.0 <= time.monotonic() - began < 20.0


SLOW_INIT = {"app.py": "import time\ntime.sleep(float(open('seconds').read()))\n\ndef handler(e, c):\n    return 1\n"}


def _settled(lam, name: str, version: str, timeout_s: float = 60.0) -> dict:
    """The version's configuration once it has left Pending."""
    return until(
        lambda: (config := lam.get_function_configuration(FunctionName=name, Qualifier=version))["State"] != "Pending"
        and config,
        timeout_s, f"{name}:{version} leaving Pending",
    )


@pytest.mark.needs_root
def test_a_snapstart_init_gets_longer_than_10_seconds(deploy, lam):
    # Lambda's limit for a SnapStart version's INIT is 130 s, not on-demand's 10 s: a 12 s INIT makes its snapshot.
    name = deploy({**SLOW_INIT, "seconds": "12"}, SnapStart=SNAP_START, Timeout=3)
    version = lam.publish_version(FunctionName=name)["Version"]
    config = _settled(lam, name, version)
    assert (config["State"], config["SnapStart"]["OptimizationStatus"]) == ("Active", "On"), config.get("StateReason")
    # Restored from the snapshot that INIT made, not initialized on demand (which would time out at 10 s).
    answer = lam.invoke(FunctionName=name, Qualifier=version, LogType="Tail")
    assert answer["StatusCode"] == 200 and "FunctionError" not in answer
    assert "Restore Duration: " in base64.b64decode(answer["LogResult"]).decode()


@pytest.fixture
def short_snapshot_init(tmp_path):
    running = Server(tmp_path / "data", extra_args=["--snapstart-init-timeout", "2"]).start()
    yield running
    running.stop()


@pytest.mark.parametrize("timeout, limit", [(1, "2.00"), (4, "4.00")])
@pytest.mark.needs_root
def test_a_snapstart_init_past_its_limit_fails_the_version(short_snapshot_init, timeout, limit):
    # The limit is the server's (2 s here, Lambda's 130 s by default) or the function's timeout if that is longer.
    lam = short_snapshot_init.client("lambda")
    _function(short_snapshot_init, "slow", {**SLOW_INIT, "seconds": "60"}, Timeout=timeout)
    lam.get_waiter("function_active_v2").wait(FunctionName="slow")
    version = lam.publish_version(FunctionName="slow")["Version"]
    config = _settled(lam, "slow", version)
    assert (config["State"], config["StateReasonCode"]) == ("Failed", "FunctionError.InitTimeout")
    assert config["StateReason"] == f"Runtime.InitTimeout: INIT phase timed out after {limit} seconds"
    status, error_type, message = aws_error(lam.invoke, FunctionName="slow", Qualifier=version, Payload=b"{}")
    assert (status, error_type) == (409, "ResourceConflictException"), message
    # The template's INIT was stopped: nothing of it is left running.
    until(lambda: sandbox_processes(short_snapshot_init.pid) == [], what="the timed-out template's end")
    # $LATEST is unaffected: on demand, its INIT has Lambda's 10 s (and times out, as its own error).
    assert lam.get_function_configuration(FunctionName="slow")["State"] == "Active"


def test_bad_snapstart_init_timeouts_are_refused(tmp_path):
    import subprocess
    import sys

    for value in ("0", "-5", "soon", "nan"):
        done = subprocess.run(
            [sys.executable, "-m", "lambdabox", "server", "--data-dir", str(tmp_path), "--port", "1",
             "--snapstart-init-timeout", value], capture_output=True, text=True, timeout=30,
        )
        assert done.returncode != 0 and "--snapstart-init-timeout" in done.stderr, (value, done.stderr)


COUNTED = {
    "app.py": """
import time, uuid
INIT = uuid.uuid4().hex

def handler(event, context):
    return INIT
"""
}


@pytest.fixture
def own_server(tmp_path):
    running = Server(tmp_path / "data").start()
    yield running
    running.stop()


def _function(server: Server, name: str, files: dict[str, str] = COUNTED, **config) -> None:
    role = server.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = server.client("lambda")
    config.setdefault("SnapStart", SNAP_START)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip(files)}, **config)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


@pytest.mark.needs_root
def test_a_versions_template_goes_when_the_version_does(own_server):
    lam = own_server.client("lambda")
    _function(own_server, "snapped")
    version = publish_snapped(lam, "snapped")
    assert lam.invoke(FunctionName="snapped", Qualifier=version)["StatusCode"] == 200
    # The template and the environment cloned from it.
    assert len(sandbox_processes(own_server.pid)) >= 2
    lam.delete_function(FunctionName="snapped", Qualifier=version)
    until(lambda: sandbox_processes(own_server.pid) == [], what="the template's shutdown")


@pytest.fixture
def capped(tmp_path):
    running = Server(tmp_path / "data", extra_args=["--memory-cap", "256"]).start()
    yield running
    running.stop()


@pytest.mark.needs_root
def test_a_template_counts_against_the_memory_cap_until_its_version_goes(capped):
    lam = capped.client("lambda")
    _function(capped, "snapped", MemorySize=256)
    _function(capped, "plain", MemorySize=128, SnapStart={"ApplyOn": "None"})
    lam.get_waiter("function_active_v2").wait(FunctionName="plain")
    version = publish_snapped(lam, "snapped")
    # The template holds all 256 MB of the cap, and a template is never shut down to make room:
    # a new environment of 128 MB is throttled.
    with pytest.raises(ClientError) as throttled:
        lam.invoke(FunctionName="plain", Payload=b"{}")
    assert error_of(throttled)[:2] == (429, "TooManyRequestsException")
    assert throttled.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
    lam.delete_function(FunctionName="snapped", Qualifier=version)
    until(lambda: sandbox_processes(capped.pid) == [], what="the template's shutdown")
    assert lam.invoke(FunctionName="plain", Payload=b"{}")["StatusCode"] == 200


@pytest.mark.needs_root
def test_a_restarted_server_makes_the_template_again(tmp_path):
    data = tmp_path / "data"
    first = Server(data).start()
    try:
        _function(first, "snapped")
        lam = first.client("lambda")
        version = publish_snapped(lam, "snapped")
        before = lam.invoke(FunctionName="snapped", Qualifier=version)["Payload"].read()
    finally:
        first.stop()
    second = Server(data).start()
    try:
        lam = second.client("lambda")
        # The version is still Active with SnapStart on, and its first invoke restores from a new template:
        # INIT ran again (a new token), and the clone says it was restored.
        config = lam.get_function_configuration(FunctionName="snapped", Qualifier=version)
        assert config["State"] == "Active" and config["SnapStart"]["OptimizationStatus"] == "On"
        answer = lam.invoke(FunctionName="snapped", Qualifier=version, LogType="Tail")
        assert answer["Payload"].read() != before
        assert "Restore Duration: " in base64.b64decode(answer["LogResult"]).decode()
    finally:
        second.stop()
