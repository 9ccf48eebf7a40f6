"""Response streaming, end to end: custom runtimes (provided.al2023) that stream, read through Invoke and
InvokeWithResponseStream (boto3's own event stream reader)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError

from support import aws_error
from test_runtimes import executable_zip
from test_url_front import make_public

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
            chunks.append((time.time(), item["PayloadChunk"]["Payload"]))
        elif "InvokeComplete" in item:
            complete = item["InvokeComplete"]
    assert complete is not None, "no InvokeComplete event"
    return response, chunks, complete


def sent_times(body: bytes) -> list[float]:
    """When the bootstrap sent each of its "stamped" lines (wall clock)."""
    return [json.loads(line)["at"] for line in body.splitlines()]


def test_stream_chunks_reach_the_client_while_the_function_runs(streaming_function, lam):
    name = streaming_function()
    response, chunks, complete = read_stream(lam, name, {"stamped": 3, "sleep": 0.5})
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    assert complete == {}
    sent = sent_times(b"".join(chunk for _, chunk in chunks))
    assert len(sent) == 3
    # The first chunk reached the client before the function produced the last one.
    first_arrival = chunks[0][0]
    assert first_arrival < sent[-1]


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
    status, code, _ = aws_error(lam.invoke_with_response_stream, FunctionName=name,
                                Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert (status, code) == (413, "RequestTooLargeException")
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


@pytest.fixture
def stream_url(lam, streaming_function):
    """A streaming function with a public RESPONSE_STREAM URL (CORS for https://a.example): (name, URL host)."""

    def create(timeout: int = 10) -> tuple[str, str]:
        name = streaming_function(timeout=timeout)
        url = lam.create_function_url_config(
            FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM",
            Cors={"AllowOrigins": ["https://a.example"]},
        )["FunctionUrl"]
        make_public(lam, name)
        return name, urlparse(url).netloc

    return create


def open_url(server, host: str, event: dict) -> http.client.HTTPResponse:
    """POST `event` to the URL at `host`; the response, its body not read yet."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    body = json.dumps(event).encode()
    connection.request("POST", "/", body=body, headers={"Host": host, "Origin": "https://a.example",
                                                        "Content-Type": "application/json"})
    return connection.getresponse()


def read_url(answer: http.client.HTTPResponse) -> tuple[list[tuple[float, bytes]], bool]:
    """The body's pieces with their arrival times, and whether the body was complete."""
    pieces = []
    try:
        while True:
            piece = answer.read1(65536)
            if not piece:
                return pieces, True
            pieces.append((time.time(), piece))
    except http.client.IncompleteRead as cut:
        if cut.partial:
            pieces.append((time.time(), cut.partial))
        return pieces, False


def body_of(pieces) -> bytes:
    return b"".join(piece for _, piece in pieces)


def test_url_streams_with_the_prelude_s_status_headers_and_cookies(server, stream_url):
    _, host = stream_url()
    prelude = {"statusCode": 201, "headers": {"Content-Type": "text/plain", "X-Kind": "streamed"},
               "cookies": ["a=1", "b=2; Path=/"]}
    answer = open_url(server, host, {"prelude": prelude, "stamped": 3, "sleep": 0.5})
    assert answer.status == 201
    assert answer.getheader("content-type") == "text/plain"
    assert answer.getheader("x-kind") == "streamed"
    assert answer.headers.get_all("set-cookie") == ["a=1", "b=2; Path=/"]
    assert answer.getheader("access-control-allow-origin") == "https://a.example"
    assert answer.getheader("transfer-encoding") == "chunked"
    pieces, complete = read_url(answer)
    sent = sent_times(body_of(pieces))
    assert complete and len(sent) == 3
    # The client had the first line before the function produced the last.
    assert pieces[0][0] < sent[-1]


def test_url_drops_framing_headers_a_prelude_sets(server, stream_url):
    _, host = stream_url()
    prelude = {"statusCode": 200, "headers": {"Content-Length": "1", "Transfer-Encoding": "gzip", "Connection": "close",
                                              "X-Kept": "yes"}}
    answer = open_url(server, host, {"prelude": prelude, "chunks": ["longer than one byte"]})
    assert answer.status == 200 and answer.getheader("content-length") is None
    assert answer.getheader("transfer-encoding") == "chunked" and answer.getheader("x-kept") == "yes"
    pieces, complete = read_url(answer)
    assert complete and body_of(pieces) == b"longer than one byte"


def test_url_streams_a_stream_without_prelude_as_its_content_type(server, stream_url):
    _, host = stream_url()
    answer = open_url(server, host, {"content_type": "text/event-stream", "chunks": ["data: 1\n\n", "data: 2\n\n"]})
    assert answer.status == 200 and answer.getheader("content-type") == "text/event-stream"
    pieces, complete = read_url(answer)
    assert complete and body_of(pieces) == b"data: 1\n\ndata: 2\n\n"


def test_url_answers_502_for_an_error_before_the_first_byte(server, stream_url):
    _, host = stream_url()
    body = base64.b64encode(b'{"errorType":"Error","errorMessage":"early"}').decode()
    for event in ({"error": ["Error", body]}, {"prelude": {"statusCode": 200}, "error": ["Error", body]}):
        answer = open_url(server, host, event)
        assert answer.status == 502
        assert json.loads(answer.read()) == {"Message": "Internal Server Error"}


def test_url_cuts_the_body_of_a_mid_stream_error(server, stream_url):
    _, host = stream_url()
    body = base64.b64encode(b'{"errorType":"Error","errorMessage":"late"}').decode()
    answer = open_url(server, host, {"prelude": {"statusCode": 200}, "chunks": ["partial"], "error": ["Error", body]})
    assert answer.status == 200
    pieces, complete = read_url(answer)
    assert not complete and body_of(pieces) == b"partial"


def test_url_refuses_a_huge_or_malformed_prelude(server, stream_url):
    _, host = stream_url()
    for event in ({"raw_prelude": "{" + "x" * 200_000}, {"raw_prelude": "not json" + "\0" * 8 + "body"},
                  {"raw_prelude": '{"statusCode": 99}' + "\0" * 8}, {"raw_prelude": '{"headers": {"a b": "c"}}' + "\0" * 8},
                  {"raw_prelude": '{"headers": {"x": "line\\r\\nbreak"}}' + "\0" * 8},
                  {"raw_prelude": '{"statusCode": 200, "x": "' + "y" * 20_000 + '"}' + "\0" * 8}):
        answer = open_url(server, host, event)
        assert answer.status == 502, event
        assert json.loads(answer.read()) == {"Message": "Internal Server Error"}
    answer = open_url(server, host, {"prelude": {"statusCode": 202}, "chunks": ["still fine"]})
    assert answer.status == 202 and answer.read() == b"still fine"


def test_url_stream_that_stalls_is_cut_at_the_timeout(server, stream_url):
    _, host = stream_url(timeout=2)
    answer = open_url(server, host, {"prelude": {"statusCode": 200}, "chunks": ["before"], "stall": 600})
    pieces, complete = read_url(answer)
    assert not complete and body_of(pieces) == b"before"
    answer = open_url(server, host, {"chunks": ["after"]})
    assert answer.status == 200 and answer.read() == b"after"


def test_url_client_that_leaves_does_not_stop_the_server(server, lam, stream_url):
    name, host = stream_url()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    answer = open_url(server, host, {"chunks": ["first"] + ["more"] * 5, "sleep": 0.3})
    assert answer.read1(65536).startswith(b"first")
    answer.close()
    # The function runs to its end and gives its lease back: a later request is served, not throttled.
    deadline = time.monotonic() + 30
    while True:
        answer = open_url(server, host, {"chunks": ["next"]})
        if answer.status != 429 or time.monotonic() > deadline:
            break
        answer.read()
        time.sleep(0.2)
    assert answer.status == 200 and answer.read() == b"next"


def test_url_is_served_by_curl_as_it_streams(server, stream_url):
    curl = shutil.which("curl")
    if curl is None:
        if os.environ.get("CI"):
            pytest.fail("curl is required in CI")
        pytest.skip("curl not found")
    _, host = stream_url()
    done = subprocess.run(
        [curl, "-sS", "-N", "-i", "-H", f"Host: {host}", "-H", "Content-Type: application/json",
         "--data", json.dumps({"prelude": {"statusCode": 200, "headers": {"x-by": "curl"}}, "chunks": ["a", "b"]}),
         f"http://127.0.0.1:{server.port}/"],
        capture_output=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    head, _, body = done.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"x-by: curl" in head.lower()
    assert body == b"ab"


def test_stream_caller_that_leaves_does_not_stop_the_server(server, lam, streaming_function):
    name = streaming_function()
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    path = f"/2021-11-15/functions/{name}/response-streaming-invocations"
    body = json.dumps({"chunks": ["first"] + ["more"] * 5, "sleep": 0.3}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request("POST", path, body=body, headers=server.signed("POST", path, body))
    answer = connection.getresponse()
    assert answer.status == 200 and b"first" in answer.read1(65536)
    connection.close()
    # The function runs to its end and gives its lease back: a later call streams, not throttled.
    deadline = time.monotonic() + 30
    while True:
        try:
            _, chunks, complete = read_stream(lam, name, {"chunks": ["again"]})
            break
        except ClientError as error:
            if error.response["Error"]["Code"] != "TooManyRequestsException" or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    assert chunks[0][1] == b"again" and complete == {}


def test_stream_with_bogus_trailers_ends_in_an_error_named_by_its_type(streaming_function, lam):
    name = streaming_function()
    _, chunks, complete = read_stream(lam, name, {"chunks": ["some"], "error": ["Bogus.Type", "%%% not base64 %%%"]})
    assert b"".join(chunk for _, chunk in chunks) == b"some"
    assert complete["ErrorCode"] == "Bogus.Type"
    assert complete["ErrorDetails"] == "The function reported an error while streaming its response."
    _, chunks, complete = read_stream(lam, name, {"chunks": ["fine"]})
    assert chunks[0][1] == b"fine" and complete == {}


def test_stream_of_a_large_buffered_response_is_one_chunk(streaming_function, lam):
    name = streaming_function()
    _, chunks, complete = read_stream(lam, name, {"buffered": True, "chunks": ["b" * 5_000_000]})
    assert [len(chunk) for _, chunk in chunks] == [5_000_000]
    assert complete == {}


def test_url_stream_without_end_is_cut_at_the_limit(server, stream_url):
    _, host = stream_url()
    answer = open_url(server, host, {"prelude": {"statusCode": 200}, "forever": True})
    assert answer.status == 200
    received, complete = 0, True
    try:
        while piece := answer.read1(1 << 20):
            received += len(piece)
    except http.client.IncompleteRead as cut:
        received += len(cut.partial)
        complete = False
    assert not complete and received == 200 * 1024 * 1024 - len('{"statusCode": 200}') - 8
    answer = open_url(server, host, {"chunks": ["after"]})
    assert answer.status == 200 and answer.read() == b"after"


def test_url_answers_a_buffered_answer_nested_past_the_parser_as_it_is(server, stream_url):
    """A function's answer is tenant JSON: one nested past what json recurses into is a bare JSON value, answered
    200 as it came, and the server serves on."""
    _, host = stream_url()
    nested = "[" * 100_000 + "]" * 100_000
    answer = open_url(server, host, {"buffered": True, "chunks": [nested]})
    assert answer.status == 200 and answer.read() == nested.encode()
    answer = open_url(server, host, {"prelude": {"statusCode": 202}, "chunks": ["still fine"]})
    assert answer.status == 202 and answer.read() == b"still fine"
