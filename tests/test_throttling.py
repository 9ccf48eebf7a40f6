"""Concurrency limits, enforced: reserved concurrency and the account's unreserved pool answer 429."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import REGION, Server, make_zip

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)
SLOW = {
    "app.py": """
import time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"stream": context.log_stream_name}
"""
}


@dataclass
class Outcome:
    """One invoke of a burst: its HTTP status, its parsed response or error, and how long it took."""

    status: int
    response: dict
    seconds: float

    @property
    def reason(self) -> str | None:
        return self.response.get("Reason")


def client_of(server: Server):
    """A Lambda client that never retries: a throttle reaches the test, not botocore's retry handler.

    (`support.Server.client` sets legacy `max_attempts: 1`, which is one retry.)
    """
    return server.client("lambda", config=Config(retries={"mode": "standard", "total_max_attempts": 1}, read_timeout=60))


def burst(server: Server, calls: list[tuple[str, dict, float]]) -> list[Outcome]:
    """Invoke (name, payload, delay) concurrently, each on its own boto3 client, all released at once."""
    clients = [client_of(server) for _ in calls]
    start = threading.Barrier(len(calls))

    def one(client, name: str, payload: dict, delay: float) -> Outcome:
        start.wait()
        time.sleep(delay)
        began = time.monotonic()
        try:
            response = client.invoke(FunctionName=name, Payload=json.dumps(payload).encode(), LogType="Tail")
            response["Payload"] = json.loads(response["Payload"].read())
        except ClientError as error:
            response = error.response
        return Outcome(response["ResponseMetadata"]["HTTPStatusCode"], response, time.monotonic() - began)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda args: one(*args), zip(clients, *zip(*calls))))


def assert_throttled(outcome: Outcome, reason: str) -> None:
    response = outcome.response
    assert outcome.status == 429
    assert response["Error"] == {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."}
    assert response["Type"] == "User"
    assert response["message"] == "Rate Exceeded."
    assert response["Reason"] == reason
    # AWS's recorded throttles carry no Retry-After (botocore would parse it as retryAfterSeconds).
    assert "retryAfterSeconds" not in response
    assert "retry-after" not in response["ResponseMetadata"]["HTTPHeaders"]


def deploy_on(server: Server, name: str, files=SLOW, **config) -> str:
    """Create function `name` (and a role for it) on `server` and wait until it is Active."""
    role = server.client("iam").create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    lam = server.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip(files)}, **config)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return name


@pytest.fixture
def function_on(unique):
    return lambda server, **config: deploy_on(server, unique("fn"), **config)


def test_reserved_concurrency_caps_invocations_in_flight(server, function_on):
    name = function_on(server)
    server.client("lambda").put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)

    outcomes = burst(server, [(name, {"sleep": 2}, 0.0)] * 4)

    ran = [outcome for outcome in outcomes if outcome.status == 200]
    refused = [outcome for outcome in outcomes if outcome.status != 200]
    assert len(ran) == 2 and len(refused) == 2
    assert len({outcome.response["Payload"]["stream"] for outcome in ran}) == 2
    for outcome in refused:
        assert_throttled(outcome, "ReservedFunctionConcurrentInvocationLimitExceeded")
        # Refused at once, while the other two were still running.
        assert outcome.seconds < 1.5
    # After the burst the function runs again.
    assert [outcome.status for outcome in burst(server, [(name, {}, 0.0)] * 2)] == [200, 200]


def test_reserved_concurrency_zero_throttles_every_invoke(server, function_on):
    name = function_on(server)
    lam = server.client("lambda")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)

    for outcome in burst(server, [(name, {}, 0.0)] * 3):
        assert_throttled(outcome, "ReservedFunctionConcurrentInvocationLimitExceeded")

    # The wire form, as AWS sends it: error type in the header, Type/message/Reason in the body.
    path = f"/2015-03-31/functions/{name}/invocations"
    request = urllib.request.Request(f"{server.url}{path}", data=b"{}", method="POST",
                                     headers=server.signed("POST", path, b"{}"))
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 429
    assert raised.value.headers["x-amzn-ErrorType"] == "TooManyRequestsException"
    assert raised.value.headers["Retry-After"] is None
    assert json.loads(raised.value.read()) == {
        "Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"
    }

    lam.delete_function_concurrency(FunctionName=name)
    assert lam.invoke(FunctionName=name)["StatusCode"] == 200


@pytest.fixture
def small_account(tmp_path):
    started = Server(tmp_path / "data", extra_args=["--account-concurrency", "3"]).start()
    yield started
    started.stop()


def test_account_concurrency_caps_every_function_together(small_account, function_on):
    first, second = function_on(small_account), function_on(small_account)

    outcomes = burst(small_account, [(first, {"sleep": 2}, 0.0)] * 2 + [(second, {"sleep": 2}, 0.0)] * 2)

    assert sorted(outcome.status for outcome in outcomes) == [200, 200, 200, 429]
    [refused] = [outcome for outcome in outcomes if outcome.status == 429]
    assert_throttled(refused, "ConcurrentInvocationLimitExceeded")
    assert refused.seconds < 1.5
    # The pool is free again once the burst is over.
    assert sorted(outcome.status for outcome in burst(small_account, [(first, {}, 0.0), (second, {}, 0.0)])) == [200, 200]
