"""INIT's time limits, and a SnapStart template's life: through a real server.

On-demand INIT gets 10 seconds; a SnapStart restore (the clone's start and its after-restore hooks)
gets 10 seconds too, past which the invoke fails with SnapStartTimeoutException. A version's
template lives as long as the version, and is made again by a restarted server.
"""

from __future__ import annotations

import base64
import time

import pytest
from support import Server, aws_error, make_zip, sandbox_processes

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


def _function(server: Server, name: str) -> None:
    role = server.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = server.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip(COUNTED)}, SnapStart=SNAP_START)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def test_a_versions_template_goes_when_the_version_does(own_server):
    lam = own_server.client("lambda")
    _function(own_server, "snapped")
    version = publish_snapped(lam, "snapped")
    assert lam.invoke(FunctionName="snapped", Qualifier=version)["StatusCode"] == 200
    # The template and the environment cloned from it.
    assert len(sandbox_processes(own_server.pid)) >= 2
    lam.delete_function(FunctionName="snapped", Qualifier=version)
    until(lambda: sandbox_processes(own_server.pid) == [], what="the template's shutdown")


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
