"""Our runtimes stream responses: Node's awslambda.streamifyResponse (Lambda's API) and Python handlers that
return iterators (our extension), through InvokeWithResponseStream, plain Invoke and RESPONSE_STREAM function
URLs of a real server, with hostile handlers that break the stream every way they can."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlparse

import pytest

from support import Server

#: A Node.js handler for every case, chosen by event.mode. Each chunk says when it was made (ms since the epoch).
NODE = r"""
const { pipeline } = require('node:stream/promises');
const { Readable } = require('node:stream');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

exports.stream = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const mode = event.mode || (event.queryStringParameters || {}).mode;
  if (mode === 'pipeline') {
    await pipeline(Readable.from(['piped ', 'through ', context.functionName]), responseStream);
    return;
  }
  if (mode === 'http') {
    responseStream = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201, headers: { 'content-type': 'text/plain', 'x-streamed': 'yes' }, cookies: ['a=1'] });
  }
  if (mode === 'http-empty') {
    awslambda.HttpResponseStream.from(responseStream, { statusCode: 404 }).end();
    return;
  }
  if (mode === 'bigint-prelude') {
    awslambda.HttpResponseStream.from(responseStream, { statusCode: 200n });
  }
  if (mode === 'symbol') {
    responseStream.write('before;');
    throw Symbol('odd');
  }
  if (mode === 'unserializable') {
    responseStream.write('before;');
    const error = new Error('odd');
    error.name = { toJSON() { throw new Error('no'); }, toString() { throw new Error('no'); } };
    throw error;
  }
  if (mode === 'uncaught') {
    responseStream.write('before;');
    setTimeout(() => { throw new RangeError('thrown outside the handler'); }, 100);
    await sleep(60000);
  }
  if (mode !== 'http') responseStream.setContentType('text/plain');
  for (let n = 1; n <= 3; n++) {
    responseStream.write(`chunk-${n}@${Date.now()};`);
    if (n === 2 && mode === 'fail') throw new TypeError('failed mid stream');
    if (n < 3) await sleep(400);
  }
  if (mode === 'late-content-type') responseStream.setContentType('text/html');
  if (mode === 'twice') {
    responseStream.end('end;');
    responseStream.end('again;');
    responseStream.write('after;', () => {});
    return;
  }
  responseStream.end();
});

exports.notAsync = awslambda.streamifyResponse((event, responseStream) => {
  responseStream.write('sync;');
});

exports.plain = async () => ({
  streamify: typeof awslambda.streamifyResponse,
  from: typeof awslambda.HttpResponseStream.from,
});
"""

#: The same for Python: a generator per mode.
PYTHON = r"""
import asyncio
import time


def chunks(mode):
    if mode == "http":
        yield {"statusCode": 201, "headers": {"content-type": "text/plain", "x-streamed": "yes"}, "cookies": ["a=1"]}
    if mode == "bad-prelude":
        yield {"statusCode": object()}
    for n in (1, 2, 3):
        yield "chunk-%d@%d;" % (n, int(time.time() * 1000))
        if n == 2 and mode == "fail":
            raise ValueError("failed mid stream")
        if n == 2 and mode == "not-bytes":
            yield 12345
        if n < 3:
            time.sleep(0.4)
    yield b"end;"


async def async_chunks():
    for word in ("async ", b"generator"):
        await asyncio.sleep(0.05)
        yield word


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message for you")


def unprintable():
    yield b"before;"
    raise Unprintable()


def forever():
    while True:
        yield b"more;"
        time.sleep(0.05)


def handler(event, context):
    mode = event.get("mode") or (event.get("queryStringParameters") or {}).get("mode")
    if mode == "async":
        return async_chunks()
    if mode == "forever":
        return forever()
    if mode == "unprintable":
        return unprintable()
    if mode == "list":
        return ["not", "streamed"]
    return chunks(mode)
"""


def stream(lam, name: str, payload: dict) -> tuple[list[tuple[float, bytes]], dict]:
    """InvokeWithResponseStream: each payload chunk with its arrival time (ms since the epoch), and InvokeComplete."""
    response = lam.invoke_with_response_stream(FunctionName=name, Payload=json.dumps(payload).encode())
    assert response["StatusCode"] == 200
    chunks, complete = [], None
    for event in response["EventStream"]:
        if "PayloadChunk" in event:
            chunks.append((time.time() * 1000, event["PayloadChunk"]["Payload"]))
        elif "InvokeComplete" in event:
            complete = event["InvokeComplete"]
    assert complete is not None, "the stream ended without InvokeComplete"
    return chunks, complete


def made_at(body: bytes) -> dict[str, int]:
    """chunk name -> when the handler made it, from "chunk-N@<ms>;" marks."""
    marks = [part.split("@") for part in body.decode().split(";") if "@" in part]
    return {label: int(stamp) for label, stamp in marks}


def assert_streamed(chunks: list[tuple[float, bytes]]) -> None:
    """The first chunk reached the client before the handler made the last one: it was not buffered."""
    body = b"".join(data for _, data in chunks)
    made = made_at(body)
    assert list(made) == ["chunk-1", "chunk-2", "chunk-3"], body
    first_arrival = next(arrived for arrived, data in chunks if b"chunk-1@" in data)
    assert first_arrival < made["chunk-3"], (chunks, made)


def url_get(server: Server, url: str, path: str) -> tuple[int, http.client.HTTPMessage, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        connection.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", urlparse(url).netloc)
        connection.endheaders()
        answer = connection.getresponse()
        return answer.status, answer.headers, answer.read()
    finally:
        connection.close()


def public_stream_url(lam, name: str) -> str:
    created = lam.create_function_url_config(FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM")
    url = created["FunctionUrl"]
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    return url


@pytest.fixture(scope="module")
def node_fn(server: Server) -> str:
    from support import lambda_role, make_zip

    lam = server.client("lambda")
    name = f"stream-node-{__import__('os').urandom(4).hex()}"
    lam.create_function(FunctionName=name, Runtime="nodejs20.x", Role=lambda_role(server, name), Handler="index.stream",
                        Code={"ZipFile": make_zip({"index.js": NODE})}, Timeout=10)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


@pytest.fixture(scope="module")
def python_fn(server: Server) -> str:
    from support import lambda_role, make_zip

    lam = server.client("lambda")
    name = f"stream-py-{__import__('os').urandom(4).hex()}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(server, name), Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": PYTHON})}, Timeout=3)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


# -- streamed as it is made ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ["node_fn", "python_fn"])
def test_chunks_arrive_as_they_are_made(lam, request, fn):
    name = request.getfixturevalue(fn)
    chunks, complete = stream(lam, name, {})
    assert_streamed(chunks)
    assert not complete.get("ErrorCode") and not complete.get("ErrorDetails")


def test_node_pipeline(lam, node_fn):
    chunks, complete = stream(lam, node_fn, {"mode": "pipeline"})
    assert b"".join(data for _, data in chunks) == f"piped through {node_fn}".encode()
    assert not complete.get("ErrorCode")


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs22.x", "nodejs24.x"])
def test_every_node_major_streams(lam, deploy, runtime):
    name = deploy({"index.js": NODE}, runtime=runtime, handler="index.stream")
    chunks, complete = stream(lam, name, {"mode": "pipeline"})
    assert b"".join(data for _, data in chunks) == f"piped through {name}".encode() and not complete.get("ErrorCode")


def test_python_async_generator(lam, python_fn):
    chunks, complete = stream(lam, python_fn, {"mode": "async"})
    assert b"".join(data for _, data in chunks) == b"async generator" and not complete.get("ErrorCode")


# -- errors in the middle of a stream -----------------------------------------------------------------------------


@pytest.mark.parametrize("fn, error_type, message", [
    ("node_fn", "TypeError", "failed mid stream"),
    ("python_fn", "ValueError", "failed mid stream"),
])
def test_an_error_mid_stream_completes_the_stream_with_it(lam, request, fn, error_type, message):
    name = request.getfixturevalue(fn)
    chunks, complete = stream(lam, name, {"mode": "fail"})
    body = b"".join(data for _, data in chunks)
    assert list(made_at(body)) == ["chunk-1", "chunk-2"]
    assert complete.get("ErrorCode") and message in complete.get("ErrorDetails", ""), complete
    assert error_type in complete["ErrorCode"] + complete["ErrorDetails"], complete
    # The environment that failed still serves the next invocation whole.
    chunks, complete = stream(lam, name, {})
    assert list(made_at(b"".join(data for _, data in chunks))) == ["chunk-1", "chunk-2", "chunk-3"]
    assert not complete.get("ErrorCode")


# -- plain Invoke of a streaming handler: the chunks joined -------------------------------------------------------


@pytest.mark.parametrize("fn", ["node_fn", "python_fn"])
def test_plain_invoke_gets_the_chunks_joined(invoke, request, fn):
    name = request.getfixturevalue(fn)
    got = invoke(name, {})
    assert got.status == 200 and got.error is None, got
    assert list(made_at(got.raw)) == ["chunk-1", "chunk-2", "chunk-3"]


@pytest.mark.parametrize("fn, error_type", [("node_fn", "TypeError"), ("python_fn", "ValueError")])
def test_plain_invoke_of_a_stream_that_fails(invoke, request, fn, error_type):
    got = invoke(request.getfixturevalue(fn), {"mode": "fail"})
    assert got.error == "Unhandled", got
    assert got.body["errorType"] == error_type and got.body["errorMessage"] == "failed mid stream", got


def test_python_results_that_are_not_iterators_are_not_streamed(invoke, python_fn):
    assert invoke(python_fn, {"mode": "list"}).body == ["not", "streamed"]


def test_awslambda_is_there_for_every_node_handler(lam, deploy, invoke):
    name = deploy({"index.js": NODE}, runtime="nodejs20.x", handler="index.plain")
    assert invoke(name, {}).body == {"streamify": "function", "from": "function"}


# -- RESPONSE_STREAM function URLs: status, headers and cookies from the prelude ----------------------------------


@pytest.mark.parametrize("fn", ["node_fn", "python_fn"])
def test_function_url_takes_status_and_headers_from_the_prelude(server, lam, request, fn):
    name = request.getfixturevalue(fn)
    url = public_stream_url(lam, name)
    status, headers, body = url_get(server, url, "/?mode=http")
    assert status == 201, (status, body)
    assert headers["x-streamed"] == "yes" and headers["content-type"] == "text/plain"
    assert "a=1" in (headers.get_all("set-cookie") or [])
    assert list(made_at(body)) == ["chunk-1", "chunk-2", "chunk-3"] and b"\0" not in body
    if fn == "node_fn":
        # A prelude with no body at all still sets the status.
        status, _, body = url_get(server, url, "/?mode=http-empty")
        assert (status, body) == (404, b"")


# -- hostile handlers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["not-bytes", "bad-prelude"])
def test_python_items_that_cannot_be_sent(lam, python_fn, mode):
    chunks, complete = stream(lam, python_fn, {"mode": mode})
    assert complete.get("ErrorCode") and "Runtime.MarshalError" in complete["ErrorCode"] + complete["ErrorDetails"]
    assert b"12345" not in b"".join(data for _, data in chunks)
    chunks, complete = stream(lam, python_fn, {"mode": "async"})
    assert b"".join(data for _, data in chunks) == b"async generator" and not complete.get("ErrorCode")


def test_python_generator_that_never_ends_runs_into_the_timeout(lam, python_fn):
    chunks, complete = stream(lam, python_fn, {"mode": "forever"})
    assert chunks and b"".join(data for _, data in chunks).startswith(b"more;")
    assert complete.get("ErrorCode") or complete.get("ErrorDetails"), complete
    chunks, complete = stream(lam, python_fn, {"mode": "async"})
    assert b"".join(data for _, data in chunks) == b"async generator" and not complete.get("ErrorCode")


def test_node_writes_after_end_change_nothing(lam, node_fn):
    chunks, complete = stream(lam, node_fn, {"mode": "twice"})
    body = b"".join(data for _, data in chunks)
    assert body.endswith(b"end;") and b"again" not in body and b"after" not in body
    assert not complete.get("ErrorCode"), complete


@pytest.mark.parametrize("mode, error_type", [
    ("late-content-type", "Runtime.InvalidStreamingOperation"),
    ("bigint-prelude", "TypeError"),
])
def test_node_misuse_fails_the_invocation(lam, node_fn, mode, error_type):
    _, complete = stream(lam, node_fn, {"mode": mode})
    assert complete.get("ErrorCode") and error_type in complete["ErrorCode"] + complete["ErrorDetails"], complete
    chunks, complete = stream(lam, node_fn, {"mode": "pipeline"})
    assert b"".join(data for _, data in chunks) == f"piped through {node_fn}".encode()


@pytest.mark.parametrize("fn, mode, error_type", [
    ("node_fn", "symbol", "symbol"),
    ("node_fn", "unserializable", "Error"),
    ("python_fn", "unprintable", "Unprintable"),
])
def test_odd_errors_still_end_the_stream(lam, request, fn, mode, error_type):
    name = request.getfixturevalue(fn)
    chunks, complete = stream(lam, name, {"mode": mode})
    assert b"".join(data for _, data in chunks) == b"before;"
    assert complete.get("ErrorCode") and error_type in complete["ErrorCode"] + complete["ErrorDetails"], complete
    chunks, complete = stream(lam, name, {})
    assert list(made_at(b"".join(data for _, data in chunks))) == ["chunk-1", "chunk-2", "chunk-3"]


def test_node_uncaught_exception_mid_stream(lam, node_fn):
    chunks, complete = stream(lam, node_fn, {"mode": "uncaught"})
    assert b"".join(data for _, data in chunks) == b"before;"
    assert "thrown outside the handler" in complete.get("ErrorDetails", ""), complete
    # That environment is gone (its runtime exited); the next one streams whole.
    chunks, complete = stream(lam, node_fn, {"mode": "pipeline"})
    assert b"".join(data for _, data in chunks) == f"piped through {node_fn}".encode()


def test_node_streaming_handler_must_be_async(lam, deploy):
    name = deploy({"index.js": NODE}, runtime="nodejs20.x", handler="index.notAsync")
    _, complete = stream(lam, name, {})
    assert "Streaming does not support non-async handlers." in complete.get("ErrorDetails", ""), complete
