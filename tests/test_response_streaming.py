"""Response streaming, end to end: custom runtimes (provided.al2023) that stream, read through Invoke and
InvokeWithResponseStream (boto3's own event stream reader)."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import aws_error
from test_runtimes import executable_zip

BOOTSTRAP = (Path(__file__).parent / "streaming_bootstrap.py").read_text()


@pytest.fixture
def streaming_function(lam, role, unique):
    """Create a provided.al2023 function whose runtime streams (tests/streaming_bootstrap.py); its name."""

    def create(timeout: int = 10, memory: int = 512) -> str:
        name = unique("stream")
        lam.create_function(
            FunctionName=name, Runtime="provided.al2023", Role=role, Handler="stream.handler", Timeout=timeout,
            MemorySize=memory, Code={"ZipFile": executable_zip({"bootstrap": BOOTSTRAP}, {"bootstrap"})},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        return name

    return create


def test_invoke_collects_a_streamed_response(streaming_function, invoke):
    name = streaming_function()
    answered = invoke(name, {"chunks": ["{\"a\":", "1}"]})
    assert answered.error is None, answered.raw
    assert answered.body == {"a": 1}


def test_invoke_reports_an_error_from_the_trailers(streaming_function, invoke):
    name = streaming_function()
    document = {"errorType": "Error", "errorMessage": "mid-stream", "trace": []}
    answered = invoke(name, {"chunks": ["partial"], "error": ["Error", base64.b64encode(json.dumps(document).encode()).decode()]})
    assert answered.error == "Unhandled"
    assert answered.body == document


def test_invoke_cuts_an_endless_stream_at_the_buffered_limit(streaming_function, invoke):
    name = streaming_function()
    answered = invoke(name, {"forever": True})
    assert answered.error == "Unhandled"
    assert answered.body["errorType"] == "Function.ResponseSizeTooLarge"
    # The server is still healthy: the same function answers again.
    assert invoke(name, {"chunks": ["[1]"]}).body == [1]


def read_stream(lam, name: str, event: dict, **options) -> tuple[dict, list[tuple[float, bytes]], dict]:
    """InvokeWithResponseStream through boto3: (response, [(arrival time, chunk)], InvokeComplete)."""
    response = lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(event).encode(), **options)
    chunks, complete = [], None
    for item in response["EventStream"]:
        if "PayloadChunk" in item:
            chunks.append((time.monotonic(), item["PayloadChunk"]["Payload"]))
        elif "InvokeComplete" in item:
            complete = item["InvokeComplete"]
    assert complete is not None, "no InvokeComplete event"
    return response, chunks, complete


def test_stream_chunks_reach_the_client_while_the_function_runs(streaming_function, lam):
    name = streaming_function()
    began = time.monotonic()
    response, chunks, complete = read_stream(lam, name, {"chunks": ["one ", "two ", "three"], "sleep": 1.0})
    ended = time.monotonic()
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    assert b"".join(chunk for _, chunk in chunks) == b"one two three"
    assert complete == {}
    # The first chunk came before the function produced the last (it sleeps after each).
    first_arrival = chunks[0][0]
    last_arrival = chunks[-1][0]
    assert began < first_arrival < last_arrival <= ended
    assert len(chunks) >= 2


def test_stream_reports_a_mid_stream_error_in_invoke_complete(streaming_function, lam):
    name = streaming_function()
    document = {"errorType": "Error", "errorMessage": "went wrong", "trace": []}
    body = base64.b64encode(json.dumps(document).encode()).decode()
    _, chunks, complete = read_stream(lam, name, {"chunks": ["partial"], "error": ["Error", body]}, LogType="Tail")
    assert b"".join(chunk for _, chunk in chunks) == b"partial"
    assert complete["ErrorCode"] == "Error"
    assert complete["ErrorDetails"] == "went wrong"
    assert "START RequestId" in base64.b64decode(complete["LogResult"]).decode()


def test_stream_of_a_buffered_response_is_one_chunk(streaming_function, lam):
    name = streaming_function()
    _, chunks, complete = read_stream(lam, name, {"buffered": True, "chunks": ["{\"whole\":", "true}"]})
    assert [chunk for _, chunk in chunks] == [b'{"whole":true}']
    assert complete == {}


def test_stream_of_a_python_function_works_as_invoke(lam, deploy):
    name = deploy({"app.py": "def handler(event, context):\n    return {'echo': event}\n"})
    _, chunks, complete = read_stream(lam, name, {"x": 1})
    assert json.loads(b"".join(chunk for _, chunk in chunks)) == {"echo": {"x": 1}}
    assert complete == {}
    failing = deploy({"app.py": "def handler(event, context):\n    raise ValueError('nope')\n"})
    _, chunks, complete = read_stream(lam, failing, {})
    assert chunks == []
    assert complete["ErrorCode"] == "ValueError" and complete["ErrorDetails"] == "nope"


def test_stream_qualifiers_dry_run_and_refusals_are_invoke_s(streaming_function, lam):
    name = streaming_function()
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    response, chunks, _ = read_stream(lam, name, {"chunks": ["v"]}, Qualifier="live")
    assert response["ExecutedVersion"] == version and chunks[0][1] == b"v"
    dry = lam.invoke_with_response_stream(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    status, code, _ = aws_error(lam.invoke_with_response_stream, FunctionName=name + "-missing", Payload=b"{}")
    assert (status, code) == (404, "ResourceNotFoundException")
    status, code, _ = aws_error(lam.invoke_with_response_stream, FunctionName=name, Payload=b"{not json")
    assert (status, code) == (400, "InvalidRequestContentException")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    status, code, _ = aws_error(lam.invoke_with_response_stream, FunctionName=name, Payload=b"{}")
    assert (status, code) == (429, "TooManyRequestsException")


def test_stream_needs_invoke_permission(server, iam, lam, streaming_function, unique):
    name = streaming_function()
    user = unique("user")
    iam.create_user(UserName=user)
    keys = iam.create_access_key(UserName=user)["AccessKey"]
    stranger = server.client("lambda", credentials=(keys["AccessKeyId"], keys["SecretAccessKey"]))
    status, code, _ = aws_error(stranger.invoke_with_response_stream, FunctionName=name, Payload=b"{}")
    assert (status, code) == (403, "AccessDeniedException")
    iam.put_user_policy(UserName=user, PolicyName="invoke", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}],
    }))
    deadline = time.monotonic() + 30
    while True:
        try:
            _, chunks, complete = read_stream(stranger, name, {"chunks": ["ok"]})
            break
        except ClientError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert chunks[0][1] == b"ok" and complete == {}


def test_stream_without_end_is_cut_at_the_limit(streaming_function, lam, invoke):
    name = streaming_function(memory=2048)
    _, chunks, complete = read_stream(lam, name, {"forever": True})
    assert sum(len(chunk) for _, chunk in chunks) == 200 * 1024 * 1024
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert complete["ErrorDetails"] == "Response payload size exceeded maximum allowed payload size (209715200 bytes)."
    assert invoke(name, {"chunks": ["[2]"]}).body == [2]


def test_stream_that_stalls_times_out(streaming_function, lam, invoke):
    name = streaming_function(timeout=2)
    _, chunks, complete = read_stream(lam, name, {"chunks": ["before"], "stall": 600})
    assert b"".join(chunk for _, chunk in chunks) == b"before"
    assert complete["ErrorCode"] == "Sandbox.Timedout"
    assert "Task timed out after 2.00 seconds" in complete["ErrorDetails"]
    assert invoke(name, {"chunks": ["[3]"]}).body == [3]


def test_stream_of_tiny_chunks_arrives_whole(streaming_function, lam, invoke):
    name = streaming_function()
    _, chunks, complete = read_stream(lam, name, {"tiny": 50_000})
    assert b"".join(chunk for _, chunk in chunks) == b"y" * 50_000
    assert complete == {}
    assert len(chunks) < 50_000  # coalesced per read, not one event per byte
    assert invoke(name, {"chunks": ["[4]"]}).body == [4]
