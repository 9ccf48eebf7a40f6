"""Provisioned concurrency: the four operations, and environments initialized ahead of time.

Shapes and messages come from AWS recordings (LocalStack's parity snapshots of
TestLambdaProvisionedConcurrency and TestLambdaConcurrency::test_reserved_provisioned_overlap,
recorded 2025-11); a test that pins inferred behaviour says so.
"""

from __future__ import annotations

import re
import threading
import time

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, Server, make_zip

NOT_FOUND = "No Provisioned Concurrency Config found for this function"
LATEST_ON_PUT = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
LATEST_ELSEWHERE = "The function resource provided must be an alias or a published version."
OVER_RESERVED = "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
BELOW_MINIMUM = (
    "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
    "below its minimum value of [100]."
)
OVER_UNRESERVED = re.compile(
    r"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency \[(\d+)\]\."
)

#: A handler that tells which INIT made its environment, and when.
PROBE = {
    "app.py": """
import os, time, uuid

INIT_TYPE = os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
INIT_AT = time.time()
ENVIRONMENT = uuid.uuid4().hex
INVOCATIONS = 0

def handler(event, context):
    global INVOCATIONS
    INVOCATIONS += 1
    time.sleep(event.get("sleep", 0))
    return {"init_type": INIT_TYPE, "now_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"], "init_at": INIT_AT,
            "environment": ENVIRONMENT, "invocations": INVOCATIONS, "version": context.function_version}
"""
}


def arn_of(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def failure(call, **arguments) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def body_of(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def wait_ready(lam, name: str, qualifier: str, timeout_s: float = 20) -> dict:
    """The config once READY with every environment allocated."""
    deadline = time.monotonic() + timeout_s
    while True:
        config = body_of(lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier))
        if config["Status"] == "READY":
            return config
        assert config["Status"] != "FAILED", config
        assert time.monotonic() < deadline, f"not READY: {config}"
        time.sleep(0.05)


def run(lam, name: str, qualifier: str | None = None, **payload) -> tuple[dict, str]:
    """Invoke synchronously with LogType=Tail; the handler's answer and the log tail."""
    import base64
    import json

    options = {"Qualifier": qualifier} if qualifier else {}
    response = lam.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail", **options)
    return json.loads(response["Payload"].read()), base64.b64decode(response["LogResult"]).decode()


@pytest.fixture
def raw(server: Server):
    """A client without boto3's own parameter checks, so the server's are what is tested."""
    return server.client("lambda", config=Config(parameter_validation=False))


@pytest.fixture
def published(lam, deploy):
    """A probe function with version 1 published; returns its name."""

    def make(**config) -> str:
        name = deploy(PROBE, **config)
        assert lam.publish_version(FunctionName=name)["Version"] == "1"
        return name

    return make


# -- the API ------------------------------------------------------------------------------


def test_missing_things_and_latest(lam, raw, published):
    name = published()
    get, delete, put = raw.get_provisioned_concurrency_config, raw.delete_provisioned_concurrency_config, raw.put_provisioned_concurrency_config
    cases = [
        (get, dict(FunctionName=name, Qualifier="1"), (404, "ProvisionedConcurrencyConfigNotFoundException", NOT_FOUND)),
        (get, dict(FunctionName="doesnotexist", Qualifier="noalias"),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn_of('doesnotexist', 'noalias')}")),
        (get, dict(FunctionName=name, Qualifier="noalias"),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn_of(name, 'noalias')}")),
        (get, dict(FunctionName=name, Qualifier="10"), (404, "ResourceNotFoundException", f"Function not found: {arn_of(name, '10')}")),
        (get, dict(FunctionName=name, Qualifier="$LATEST"), (400, "InvalidParameterValueException", LATEST_ELSEWHERE)),
        (delete, dict(FunctionName="doesnotexist", Qualifier="1"),
         (404, "ResourceNotFoundException", f"Function not found: {arn_of('doesnotexist', '1')}")),
        (delete, dict(FunctionName=name, Qualifier="noalias"),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn_of(name, 'noalias')}")),
        (delete, dict(FunctionName=name, Qualifier="10"), (404, "ResourceNotFoundException", f"Function not found: {arn_of(name, '10')}")),
        (delete, dict(FunctionName=name, Qualifier="$LATEST"), (400, "InvalidParameterValueException", LATEST_ELSEWHERE)),
        (put, dict(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=0),
         (400, "ValidationException", "1 validation error detected: Value '0' at 'provisionedConcurrentExecutions' "
          "failed to satisfy constraint: Member must have value greater than or equal to 1")),
        (put, dict(FunctionName="doesnotexist", Qualifier="noalias", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn_of('doesnotexist', 'noalias')}")),
        (put, dict(FunctionName="doesnotexist", Qualifier="1", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Function not found: {arn_of('doesnotexist', '1')}")),
        (put, dict(FunctionName=name, Qualifier="doesnotexist", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn_of(name, 'doesnotexist')}")),
        (put, dict(FunctionName=name, Qualifier="10", ProvisionedConcurrentExecutions=1),
         (404, "ResourceNotFoundException", f"Function not found: {arn_of(name, '10')}")),
        (put, dict(FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1),
         (400, "InvalidParameterValueException", LATEST_ON_PUT)),
    ]
    for call, arguments, expected in cases:
        assert failure(call, **arguments) == expected, arguments
    # Deleting a config that does not exist succeeds, as on AWS.
    assert lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body_of(lam.list_provisioned_concurrency_configs(FunctionName=name)) == {"ProvisionedConcurrencyConfigs": []}
    assert failure(lam.list_provisioned_concurrency_configs, FunctionName="doesnotexist") == (
        404, "ResourceNotFoundException", f"Function not found: {arn_of('doesnotexist')}"
    )


def test_lifecycle_on_a_version_and_an_alias(lam, published):
    name = published()
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")["Name"]

    put = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000", put["LastModified"])
    assert {key: value for key, value in body_of(put).items() if key != "LastModified"} == {
        "RequestedProvisionedConcurrentExecutions": 1,
        "AvailableProvisionedConcurrentExecutions": 0,
        "AllocatedProvisionedConcurrentExecutions": 0,
        "Status": "IN_PROGRESS",
    }
    assert failure(lam.put_provisioned_concurrency_config, FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=1) == (
        409, "ResourceConflictException",
        "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version",
    )
    ready = wait_ready(lam, name, "1")
    assert ready["AllocatedProvisionedConcurrentExecutions"] == ready["AvailableProvisionedConcurrentExecutions"] == 1
    assert "StatusReason" not in ready

    assert lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="1")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert failure(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="1")[1] == (
        "ProvisionedConcurrencyConfigNotFoundException"
    )

    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=alias, ProvisionedConcurrentExecutions=1)
    assert failure(lam.put_provisioned_concurrency_config, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1) == (
        409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias"
    )
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [item["FunctionArn"] for item in listed] == [arn_of(name, alias)]
    assert listed[0]["RequestedProvisionedConcurrentExecutions"] == 1

    lam.delete_alias(FunctionName=name, Name=alias)
    assert failure(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier=alias) == (
        404, "ResourceNotFoundException", f"Cannot find alias arn: {arn_of(name, alias)}"
    )
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_limits_against_reserved_and_unreserved_concurrency(lam, published):
    name = published()
    limit = lam.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
    status, code, message = failure(
        lam.put_provisioned_concurrency_config, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=limit + 1
    )
    assert (status, code) == (400, "InvalidParameterValueException")
    unreserved = int(OVER_UNRESERVED.fullmatch(message)[1])
    assert unreserved <= limit
    assert failure(
        lam.put_provisioned_concurrency_config, FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=unreserved
    ) == (400, "InvalidParameterValueException", BELOW_MINIMUM)

    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    assert failure(lam.put_function_concurrency, FunctionName=name, ReservedConcurrentExecutions=1) == (
        400, "InvalidParameterValueException",
        " ReservedConcurrentExecutions  1 should not be lower than function's total provisioned concurrency [2].",
    )
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    lam.update_function_configuration(FunctionName=name, Timeout=15)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    for qualifier, requested in (("2", 1), ("1", 3)):
        assert failure(
            lam.put_provisioned_concurrency_config, FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=requested
        ) == (400, "InvalidParameterValueException", OVER_RESERVED)
    lam.delete_function(FunctionName=name)


def test_account_settings_set_provisioned_concurrency_aside(lam, published):
    """Provisioned concurrency of a function without a reservation comes out of the unreserved pool."""

    def unreserved() -> int:
        return lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]

    name = published()
    before = unreserved()
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    assert unreserved() == before - 2
    # A reservation holds the provisioned environments within it: only the reservation counts.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert unreserved() == before - 5
    lam.delete_function(FunctionName=name)
    assert unreserved() == before


def test_deleting_the_function_or_version_deletes_its_configs(lam, published):
    name = published()
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert failure(lam.get_provisioned_concurrency_config, FunctionName=name, Qualifier="1")[1] == "ResourceNotFoundException"
    # A new version 1 cannot come back (numbers are not reused), so check the whole function too.
    lam.publish_version(FunctionName=name, Description="two")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="2", ProvisionedConcurrentExecutions=1)
    lam.delete_function(FunctionName=name)
    assert failure(lam.list_provisioned_concurrency_configs, FunctionName=name)[1] == "ResourceNotFoundException"


# -- environments -------------------------------------------------------------------------


def test_environments_are_ready_before_the_first_invoke(lam, published):
    name = published()
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=2)
    ready = wait_ready(lam, name, "1")
    assert ready["RequestedProvisionedConcurrentExecutions"] == ready["AllocatedProvisionedConcurrentExecutions"] == 2
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2
    asked = time.time()

    first, log = run(lam, name, "1")
    assert first["init_type"] == first["now_type"] == "provisioned-concurrency"
    assert first["invocations"] == 1 and first["init_at"] < asked and first["version"] == "1"
    assert "Init Duration" not in log and "REPORT RequestId" in log
    # Each provisioned environment ran INIT once, ahead of time: later invokes reuse them.
    for _ in range(3):
        again, log = run(lam, name, "1")
        assert again["init_type"] == "provisioned-concurrency" and again["init_at"] < asked
        assert "Init Duration" not in log
    # $LATEST is never provisioned.
    latest, log = run(lam, name)
    assert latest["init_type"] == "on-demand" and "Init Duration" in log


def test_alias_config_serves_its_version(lam, published):
    name = published()
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "live")
    through_alias, log = run(lam, name, "live")
    assert through_alias["init_type"] == "provisioned-concurrency" and "Init Duration" not in log
    # As recorded on AWS, the version the alias points to runs provisioned too.
    direct, _ = run(lam, name, "1")
    assert direct["environment"] == through_alias["environment"]

    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="live")
    deadline = time.monotonic() + 5
    while run(lam, name, "live")[0]["init_type"] != "on-demand":
        assert time.monotonic() < deadline, "provisioned environments outlived their config"
        time.sleep(0.1)


def test_an_alias_move_moves_its_environments(lam, published):
    name = published()
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "live")
    lam.update_function_configuration(FunctionName=name, Description="two")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2")
    deadline = time.monotonic() + 10
    while True:
        answer, log = run(lam, name, "live")
        if answer["init_type"] == "provisioned-concurrency":
            break
        assert time.monotonic() < deadline, "the alias's new version was not provisioned"
        time.sleep(0.1)
    assert answer["version"] == "2" and "Init Duration" not in log
    assert wait_ready(lam, name, "live")["AllocatedProvisionedConcurrentExecutions"] == 1
    # The old version is de-provisioned (recorded on AWS): it runs on demand again.
    assert run(lam, name, "1")[0]["init_type"] == "on-demand"


def test_init_that_keeps_failing_is_failed(lam, deploy):
    name = deploy({
        "app.py": "import os\n"
        "if os.environ['AWS_LAMBDA_INITIALIZATION_TYPE'] == 'provisioned-concurrency':\n"
        "    raise Exception('Intentional failure upon provisioned concurrency initialization')\n"
        "def handler(event, context):\n    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"
    }, Publish=True)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    # Invokes meanwhile are served on demand (recorded on AWS).
    assert lam.invoke(FunctionName=name, Qualifier="1")["Payload"].read() == b'"on-demand"'
    deadline = time.monotonic() + 20
    while (config := body_of(lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")))["Status"] != "FAILED":
        assert config["Status"] == "IN_PROGRESS", config
        assert time.monotonic() < deadline, config
        time.sleep(0.2)
    assert {key: value for key, value in config.items() if key != "LastModified"} == {
        "RequestedProvisionedConcurrentExecutions": 1,
        "AvailableProvisionedConcurrentExecutions": 0,
        "AllocatedProvisionedConcurrentExecutions": 0,
        "Status": "FAILED",
        "StatusReason": "FUNCTION_ERROR_INIT_FAILURE",
    }
    assert lam.invoke(FunctionName=name, Qualifier="1")["Payload"].read() == b'"on-demand"'


def test_spill_over_to_on_demand(server: Server, lam, published):
    name = published()
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "1")
    answers: list[dict] = []

    def call() -> None:
        answers.append(run(server.client("lambda"), name, "1", sleep=1.5)[0])

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer["init_type"] for answer in answers) == ["on-demand", "provisioned-concurrency"]


def test_a_provisioned_environment_that_dies_is_replaced(lam, published):
    name = published(Timeout=1)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
    wait_ready(lam, name, "1")
    before, _ = run(lam, name, "1")
    assert before["init_type"] == "provisioned-concurrency"

    response = lam.invoke(FunctionName=name, Qualifier="1", Payload=b'{"sleep": 3}')
    assert response["FunctionError"] == "Unhandled"
    assert b"Task timed out after 1.00 seconds" in response["Payload"].read()

    ready = wait_ready(lam, name, "1", timeout_s=10)
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 1
    after, log = run(lam, name, "1")
    assert after["init_type"] == "provisioned-concurrency" and "Init Duration" not in log
    assert after["environment"] != before["environment"] and after["invocations"] == 1


def test_configs_are_provisioned_again_after_a_restart(tmp_path, role_arn_for):
    server = Server(tmp_path / "data").start()
    try:
        lam = server.client("lambda")
        name = "restarted"
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role_arn_for(server), Handler="app.handler",
            Code={"ZipFile": make_zip(PROBE)}, Publish=True,
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1)
        wait_ready(lam, name, "1")
    finally:
        server.stop()
    server = Server(tmp_path / "data").start()
    try:
        lam = server.client("lambda")
        ready = wait_ready(lam, name, "1")
        assert ready["AllocatedProvisionedConcurrentExecutions"] == 1
        answer, log = run(lam, name, "1")
        assert answer["init_type"] == "provisioned-concurrency" and "Init Duration" not in log
    finally:
        server.stop()


@pytest.fixture
def role_arn_for():
    def create(server: Server) -> str:
        return server.client("iam").create_role(
            RoleName="provisioned-role",
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        )["Role"]["Arn"]

    return create


def test_a_config_that_cannot_fit_under_the_memory_cap_backs_off_quietly(tmp_path, role_arn_for):
    """Five 512 MB environments under a 256 MB cap never fit: the provisioner backs off
    (1, 2, 4 s...) and warns once, rather than five times a second; the config stays IN_PROGRESS."""
    server = Server(tmp_path / "data", extra_args=["--memory-cap", "256"]).start()
    try:
        lam = server.client("lambda")
        name = "too-big"
        lam.create_function(
            FunctionName=name, Runtime="python3.12", Role=role_arn_for(server), Handler="app.handler",
            Code={"ZipFile": make_zip(PROBE)}, Publish=True, MemorySize=512,
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        assert server.log is not None
        start = server.log.stat().st_size
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=5)
        time.sleep(5)
        with server.log.open("rb") as log:
            log.seek(start)
            grown = log.read().decode("utf-8", "replace").splitlines()
        warnings = [line for line in grown if "WARNING" in line or "ERROR" in line]
        assert len(warnings) <= 2, "\n".join(warnings)
        assert any("no room under the memory cap" in line for line in warnings)
        config = body_of(lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1"))
        assert config["Status"] == "IN_PROGRESS"
        assert config["AllocatedProvisionedConcurrentExecutions"] == 0
    finally:
        server.stop()
