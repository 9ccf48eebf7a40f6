"""Asynchronous invocation: a durable queue, retries, destinations, dead-letter queues, lookups, recursion."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from support import Server, boto3_layer, make_zip, moto_server

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)

#: A function that reports each event it runs to the test's listener, then fails if asked.
REPORTER = """
import json, os, urllib.request
def handler(event, context):
    body = json.dumps({"event": event, "request": context.aws_request_id}).encode()
    urllib.request.urlopen(urllib.request.Request(event["report"], data=body, method="POST"), timeout=10).read()
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"handled": event.get("n")}
"""


#: A function that reports its depth, then invokes itself asynchronously as boto3 would (carrying the
#: trace header, signed with its role's credentials), while its depth is under DEPTH_LIMIT.
SELF_INVOKER = """
import json, os, urllib.request
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

def handler(event, context):
    urllib.request.urlopen(urllib.request.Request(event["report"], data=json.dumps({"depth": event["depth"]}).encode(),
                                                  method="POST"), timeout=10).read()
    if event["depth"] < DEPTH_LIMIT:
        request = AWSRequest(
            method="POST",
            url=os.environ["AWS_ENDPOINT_URL_LAMBDA"] + "/2015-03-31/functions/" + context.function_name + "/invocations",
            data=json.dumps({"report": event["report"], "depth": event["depth"] + 1}).encode(),
            headers={"X-Amz-Invocation-Type": "Event", "X-Amzn-Trace-Id": os.environ["_X_AMZN_TRACE_ID"]})
        credentials = boto3.Session().get_credentials().get_frozen_credentials()
        SigV4Auth(credentials, "lambda", os.environ["AWS_REGION"]).add_auth(request)
        urllib.request.urlopen(urllib.request.Request(request.url, data=request.data, headers=dict(request.headers),
                                                      method="POST"), timeout=10).read()
"""
#: What a function that invokes itself needs its role to allow.
MAY_INVOKE = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]})


#: Server options for functions that must reach a test's Listener on the host's loopback.
HOST_NETWORK = ["--function-network", "host"]


class _Backlogged(ThreadingHTTPServer):
    #: Connections the kernel queues before accept: tens of environments post at once, and http.server's 5
    #: makes a busy host reset some of them (a reset post fails its invocation, which is then retried).
    request_queue_size = 128


class Listener:
    """An HTTP endpoint on loopback that records what functions post to it."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self._lock = threading.Lock()
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with listener._lock:
                    listener.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = _Backlogged(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.posts) >= count:
                    return list(self.posts)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} posts, got {len(self.posts)}")

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def listener():
    running = Listener()
    yield running
    running.close()


@pytest.fixture(scope="module")
def moto():
    """moto's server: the SQS and SNS peer of destinations and dead-letter queues."""
    with moto_server() as url:
        yield url


@pytest.fixture(scope="module")
def async_server(tmp_path_factory, moto):
    data = tmp_path_factory.mktemp("async") / "data"
    # The functions here report to a Listener on the host's loopback, which private networks (rightly) refuse:
    # this server's functions share the host's network.
    running = Server(data, extra_args=["--async-retry-delays", "0.3,0.3", "--sqs-endpoint-url", moto,
                                        "--sns-endpoint-url", moto, *HOST_NETWORK]).start()
    yield running
    running.stop()


@pytest.fixture
def sqs(moto):
    import boto3

    return boto3.client("sqs", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test")


def queue_arn(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive(sqs, url: str, count: int = 1, timeout: float = 30) -> list[dict]:
    found: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(found) < count and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        found += answer.get("Messages", [])
    assert len(found) >= count, f"expected {count} messages, got {len(found)}"
    return found


@pytest.fixture
def make(async_server, unique):
    lam, iam = async_server.client("lambda"), async_server.client("iam")
    role_name = unique("role")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_name, PolicyName="may-invoke", PolicyDocument=MAY_INVOKE)

    def create(source: str = REPORTER, **config) -> str:
        name = config.pop("FunctionName", None) or unique("async")
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": source})}, Timeout=10, **config)
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
        return name

    return create


def lookup(server: Server, request_id: str, until: str | None = None, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = server.get_json(f"/_lambdabox/invocations/{request_id}")
        if until is None or record["status"] == until or time.monotonic() > deadline:
            return record
        time.sleep(0.1)


def test_event_invocations_run_and_can_be_looked_up(async_server, make, listener):
    lam = async_server.client("lambda")
    name = make()
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"report": listener.url, "n": 1}))
    assert response["StatusCode"] == 202
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    posts = listener.wait_for(1)
    assert posts[0]["event"]["n"] == 1
    assert posts[0]["request"] == request_id
    record = lookup(async_server, request_id, until="succeeded")
    assert record["status"] == "succeeded"
    assert record["attempts"] == 1
    assert record["history"][0]["result"] == "Success"
    legacy = lam.invoke_async(FunctionName=name, InvokeArgs=json.dumps({"report": listener.url, "n": 2}))
    assert legacy["Status"] == 202
    assert sorted(post["event"]["n"] for post in listener.wait_for(2)) == [1, 2]

    done = async_server.cli("invocations", "get", request_id)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout and "attempt 1: Success" in done.stdout
    listed = async_server.cli("invocations", "list", name)
    assert request_id in listed.stdout


def test_async_payload_limit(async_server, make, listener):
    lam = async_server.client("lambda")
    name = make()
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"x": "y" * 1_100_000}))
    assert caught.value.response["Error"]["Code"] == "RequestTooLargeException"
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name + "-missing", InvocationType="Event", Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_failures_are_retried_then_sent_to_on_failure_and_the_dlq(async_server, make, listener, sqs, unique):
    lam = async_server.client("lambda")
    failure_url, failure_arn = queue_arn(sqs, unique("on-failure"))
    dlq_url, dlq_arn = queue_arn(sqs, unique("dlq"))
    name = make(DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=2, DestinationConfig={"OnFailure": {"Destination": failure_arn}}
    )
    payload = {"report": listener.url, "fail": True, "n": 7}
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(payload))
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert len(listener.wait_for(3)) == 3
    record = json.loads(receive(sqs, failure_url)[0]["Body"])
    assert set(record) == {"version", "timestamp", "requestContext", "requestPayload", "responseContext", "responsePayload"}
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == payload
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "asked to fail"
    dead = receive(sqs, dlq_url)[0]
    assert json.loads(dead["Body"]) == payload
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == request_id
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "asked to fail"
    assert dead["MessageAttributes"]["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    looked = lookup(async_server, request_id, until="failed")
    assert looked["status"] == "failed"
    assert [entry["result"] for entry in looked["history"]] == ["FunctionError"] * 3
    assert looked["history"][-1]["condition"] == "RetriesExhausted"
    deliveries = {delivery["target"]: delivery for delivery in lookup(async_server, request_id)["deliveries"]}
    assert set(deliveries) == {failure_arn, dlq_arn}
    time.sleep(1.5)
    assert len(listener.posts) == 3, "no more attempts after MaximumRetryAttempts"


def test_success_records_reach_a_function_and_a_queue(async_server, make, listener, sqs, unique):
    lam = async_server.client("lambda")
    success_url, success_arn = queue_arn(sqs, unique("on-success"))
    receiver = make("import json, urllib.request\ndef handler(event, context):\n"
                    "    urllib.request.urlopen(urllib.request.Request(event['requestPayload']['report'], "
                    "data=json.dumps({'record': event}).encode(), method='POST'), timeout=10).read()\n")
    receiver_arn = lam.get_function_configuration(FunctionName=receiver)["FunctionArn"]
    to_function, to_queue = make(), make()
    lam.put_function_event_invoke_config(FunctionName=to_function,
                                         DestinationConfig={"OnSuccess": {"Destination": receiver_arn}})
    lam.put_function_event_invoke_config(FunctionName=to_queue,
                                         DestinationConfig={"OnSuccess": {"Destination": success_arn}})
    lam.invoke(FunctionName=to_function, InvocationType="Event", Payload=json.dumps({"report": listener.url, "n": 1}))
    lam.invoke(FunctionName=to_queue, InvocationType="Event", Payload=json.dumps({"report": listener.url, "n": 2}))
    records = [post["record"] for post in listener.wait_for(3) if "record" in post]
    assert len(records) == 1
    assert records[0]["requestContext"]["condition"] == "Success"
    assert records[0]["responsePayload"] == {"handled": 1}
    assert records[0]["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    queued = json.loads(receive(sqs, success_url)[0]["Body"])
    assert queued["requestContext"]["condition"] == "Success"
    assert queued["requestContext"]["approximateInvokeCount"] == 1
    assert queued["responsePayload"] == {"handled": 2}


def test_unreachable_destinations_are_retried_and_logged(async_server, make, listener):
    lam = async_server.client("lambda")
    name = make()
    missing = "arn:aws:sqs:us-east-1:000000000000:no-such-queue"
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": missing}})
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"report": listener.url}))
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        deliveries = lookup(async_server, request_id)["deliveries"]
        if deliveries and deliveries[0]["attempts"] >= 2:
            break
        time.sleep(0.2)
    assert deliveries[0]["attempts"] >= 2, deliveries  # retried, not given up after one try
    assert deliveries[0]["status"] == "retrying"
    assert [entry["result"] for entry in deliveries[0]["history"][:2]] == ["DeliveryFailed", "DeliveryFailed"]
    done = async_server.cli("logs", name)
    assert f"could not deliver the record of {request_id} to {missing}" in done.stdout


@pytest.fixture(scope="module")
def boto3_layer_arn(async_server) -> str:
    content = {"ZipFile": boto3_layer("lambda")}
    return async_server.client("lambda").publish_layer_version(LayerName="boto3", Content=content)["LayerVersionArn"]


def test_recursion_is_stopped_at_16(async_server, make, listener, sqs, unique, boto3_layer_arn):
    failure_url, failure_arn = queue_arn(sqs, unique("loop-failure"))
    dlq_url, dlq_arn = queue_arn(sqs, unique("loop-dlq"))
    lam = async_server.client("lambda")
    name = make(SELF_INVOKER.replace("DEPTH_LIMIT", "1000"), Layers=[boto3_layer_arn], MemorySize=256,
                DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig={"OnFailure": {"Destination": failure_arn}})
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"report": listener.url, "depth": 0}))
    stopped = json.loads(receive(sqs, failure_url, timeout=60)[0]["Body"])
    assert stopped["requestContext"]["condition"] == "RecursiveInvocationException"
    assert sorted(post["depth"] for post in listener.posts) == list(range(16))
    # The stopped event goes to the dead-letter queue too, with its error's attributes.
    dead = receive(sqs, dlq_url, timeout=30)[0]
    assert json.loads(dead["Body"])["depth"] == 16
    assert dead["MessageAttributes"]["ErrorCode"] == {"StringValue": "200", "DataType": "Number"}
    assert dead["MessageAttributes"]["RequestID"]["StringValue"] == stopped["requestContext"]["requestId"]
    assert "recursive loop" in dead["MessageAttributes"]["ErrorMessage"]["StringValue"]
    done = async_server.cli("logs", name)
    assert "recursive loop" in done.stdout


def test_recursion_allowed_when_configured(async_server, make, listener, boto3_layer_arn):
    lam = async_server.client("lambda")
    name = make(SELF_INVOKER.replace("DEPTH_LIMIT", "20"), Layers=[boto3_layer_arn], MemorySize=256)
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"report": listener.url, "depth": 0}))
    assert sorted(post["depth"] for post in listener.wait_for(21, timeout=60)) == list(range(21))


def test_throttled_events_expire_after_their_maximum_age(async_server, make, listener, sqs, unique):
    failure_url, failure_arn = queue_arn(sqs, unique("expired"))
    lam = async_server.client("lambda")
    name = make()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60, DestinationConfig={"OnFailure": {"Destination": failure_arn}}
    )
    response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"report": listener.url}))
    request_id = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    time.sleep(3)
    throttled = lookup(async_server, request_id)
    assert throttled["status"] == "retrying"
    assert {entry["result"] for entry in throttled["history"]} == {"Throttled"}
    record = json.loads(receive(sqs, failure_url, timeout=120)[0]["Body"])
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert listener.posts == []
    assert lookup(async_server, request_id)["status"] == "failed"
