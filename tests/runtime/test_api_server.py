"""RuntimeApi, spoken to over raw HTTP/1.1, and by Amazon's own runtime client (awslambdaric)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import STEP_TIMEOUT_S, invocation, running, write_files
from lambdabox.runtime.api import InitFailed, Outcome
from lambdabox.runtime.api_server import RuntimeApi

NEXT = "/2018-06-01/runtime/invocation/next"


class RawClient:
    """One keep-alive HTTP/1.1 connection, requests written by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, api: RuntimeApi) -> "RawClient":
        host, port = api.address.rsplit(":", 1)
        return cls(*await asyncio.open_connection(host, int(port)))

    def send(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        lines = [f"{method} {path} HTTP/1.1", "Host: runtime"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    async def response(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT_S)
        status_line, *header_lines = head.decode().split("\r\n")[:-2]
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return int(status_line.split()[1]), headers, body

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        self.send(method, path, body, headers)
        return await self.response()

    def close(self) -> None:
        self.writer.close()


async def started(**options) -> RuntimeApi:
    api = RuntimeApi(**options)
    await api.start()
    return api


def test_invocation_round_trip_and_headers() -> None:
    async def scenario() -> None:
        api = await started()
        client = await RawClient.connect(api)
        poster = await RawClient.connect(api)  # Results may come on another connection.
        try:
            client.send("GET", NEXT)
            await asyncio.wait_for(api.wait_ready(), STEP_TIMEOUT_S)
            item = invocation(b'{"k": "v"}', client_context='{"custom":{}}', cognito_identity='{"cognitoIdentityId":"i"}')
            invoked = asyncio.ensure_future(api.invoke(item))
            status, headers, body = await client.response()
            assert status == 200 and body == b'{"k": "v"}'
            assert headers["lambda-runtime-aws-request-id"] == item.request_id
            assert headers["lambda-runtime-deadline-ms"] == str(item.deadline_ms)
            assert headers["lambda-runtime-invoked-function-arn"] == item.invoked_function_arn
            assert headers["lambda-runtime-trace-id"] == item.trace_id
            assert headers["lambda-runtime-client-context"] == '{"custom":{}}'
            assert headers["lambda-runtime-cognito-identity"] == '{"cognitoIdentityId":"i"}'

            # A wrong id is refused as Lambda refuses it, and the invocation keeps waiting.
            status, _, body = await poster.request("POST", "/2018-06-01/runtime/invocation/other/response", b"1")
            assert (status, json.loads(body)) == (400, {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"})
            # Asking for more work before answering is a state error.
            status, _, body = await client.request("GET", NEXT)
            assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"

            status, _, body = await poster.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/response", b'"ok"')
            assert (status, json.loads(body)) == (202, {"status": "OK"})
            assert await asyncio.wait_for(invoked, STEP_TIMEOUT_S) == Outcome(b'"ok"')
            # A second answer for the same id is refused.
            status, _, _ = await poster.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/error", b"{}")
            assert status == 400

            # An invocation handed over before the runtime asks waits for it.
            item = invocation(b"2")
            invoked = asyncio.ensure_future(api.invoke(item))
            await asyncio.sleep(0)
            status, headers, body = await client.request("GET", NEXT)
            assert body == b"2" and "lambda-runtime-client-context" not in headers
            document = json.dumps({"errorMessage": "m", "errorType": "BodyType", "stackTrace": []}).encode()
            status, _, _ = await client.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/error", document)
            assert status == 202
            assert await asyncio.wait_for(invoked, STEP_TIMEOUT_S) == Outcome(document, "BodyType")

            item = invocation(b"3")
            invoked = asyncio.ensure_future(api.invoke(item))
            await client.request("GET", NEXT)
            headers = {"Lambda-Runtime-Function-Error-Type": "Runtime.HeaderType"}
            await client.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/error", b"not json", headers)
            assert await asyncio.wait_for(invoked, STEP_TIMEOUT_S) == Outcome(b"not json", "Runtime.HeaderType")
        finally:
            client.close()
            poster.close()
            await api.close()

    asyncio.run(scenario())


def test_init_error() -> None:
    async def scenario() -> None:
        api = await started()
        client = await RawClient.connect(api)
        document = b'{"errorMessage": "x", "errorType": "Runtime.ImportModuleError"}'
        status, _, body = await client.request("POST", "/2018-06-01/runtime/init/error", document)
        assert (status, body) == (202, b'{"status":"OK"}')
        with pytest.raises(InitFailed) as failed:
            await asyncio.wait_for(api.wait_ready(), STEP_TIMEOUT_S)
        assert (failed.value.error_type, failed.value.payload) == ("Runtime.ImportModuleError", document)
        client.close()
        await api.close()

    asyncio.run(scenario())


def test_bad_requests() -> None:
    async def scenario() -> None:
        api = await started()
        try:
            client = await RawClient.connect(api)
            assert (await client.request("GET", "/2018-06-01/runtime/unknown"))[0] == 404
            assert (await client.request("POST", NEXT))[0] == 405
            assert (await client.request("GET", "/2018-06-01/runtime/init/error"))[0] == 405
            assert (await client.request("GET", "/elsewhere"))[0] == 404
            # Malformed HTTP: 400, then the connection is closed.
            client.writer.write(b"NOT HTTP AT ALL\r\n\r\n")
            status, headers, _ = await client.response()
            assert status == 400 and headers["connection"] == "close"
            assert await client.reader.read() == b""
            client.close()
        finally:
            await api.close()

    asyncio.run(scenario())


def test_response_over_the_limit_gets_413() -> None:
    async def scenario() -> None:
        api = await started(max_response_bytes=1000)
        client = await RawClient.connect(api)
        try:
            item = invocation()
            invoked = asyncio.ensure_future(api.invoke(item))
            await client.request("GET", NEXT)
            status, _, body = await client.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/response", b"x" * 1001)
            assert (status, json.loads(body)) == (
                413,
                {"errorMessage": "Exceeded maximum allowed payload size (1000 bytes).", "errorType": "RequestEntityTooLarge"},
            )
            outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
            assert outcome.error_type == "Function.ResponseSizeTooLarge"
            assert json.loads(outcome.payload) == {
                "errorMessage": "Response payload size exceeded maximum allowed payload size (1000 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            # The connection stays usable.
            item = invocation()
            invoked = asyncio.ensure_future(api.invoke(item))
            await client.request("GET", NEXT)
            await client.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/response", b"x" * 1000)
            assert (await asyncio.wait_for(invoked, STEP_TIMEOUT_S)).payload == b"x" * 1000
        finally:
            client.close()
            await api.close()

    asyncio.run(scenario())


def test_contract_misuse() -> None:
    async def scenario() -> None:
        api = await started()
        try:
            bad = invocation()
            with pytest.raises(ValueError):
                await api.invoke(type(bad)(**{**bad.__dict__, "trace_id": "a\r\nb"}))
            first = asyncio.ensure_future(api.invoke(invocation()))
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError):
                await api.invoke(invocation())
            # A cancelled invoke (a timeout) spoils the endpoint for good.
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
            with pytest.raises(RuntimeError):
                await api.invoke(invocation())
        finally:
            await api.close()
            await api.close()

    asyncio.run(scenario())


def test_close_releases_waiters() -> None:
    async def scenario() -> None:
        api = await started()
        client = await RawClient.connect(api)
        ready = asyncio.ensure_future(api.wait_ready())
        await asyncio.sleep(0)
        await api.close()
        with pytest.raises(ConnectionError):
            await ready
        assert await asyncio.wait_for(client.reader.read(), STEP_TIMEOUT_S) == b""
        client.close()

    asyncio.run(scenario())


def test_a_vanished_runtime_does_not_swallow_the_invocation() -> None:
    async def scenario() -> None:
        api = await started()
        try:
            gone = await RawClient.connect(api)
            gone.send("GET", NEXT)
            await asyncio.wait_for(api.wait_ready(), STEP_TIMEOUT_S)
            gone.close()
            await asyncio.sleep(0.05)  # Let the server see the EOF.
            item = invocation(b"7")
            invoked = asyncio.ensure_future(api.invoke(item))
            fresh = await RawClient.connect(api)
            status, _, body = await fresh.request("GET", NEXT)
            assert (status, body) == (200, b"7")
            await fresh.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/response", b"8")
            assert (await asyncio.wait_for(invoked, STEP_TIMEOUT_S)).payload == b"8"
            fresh.close()
        finally:
            await api.close()

    asyncio.run(scenario())


def test_runtime_left_tells_a_dropped_next() -> None:
    async def scenario() -> None:
        api = await started()
        try:
            assert not api.runtime_left  # nothing waits yet
            client = await RawClient.connect(api)
            client.send("GET", NEXT)
            await asyncio.wait_for(api.wait_ready(), STEP_TIMEOUT_S)
            await asyncio.sleep(0.05)
            assert not api.runtime_left  # parked, its connection open
            client.close()
            await asyncio.sleep(0.05)  # Let the server see the EOF.
            assert api.runtime_left
        finally:
            await api.close()

    asyncio.run(scenario())


def test_delivered_once_a_next_takes_the_invocation() -> None:
    async def scenario() -> None:
        api = await started()
        try:
            item = invocation(b"1")
            invoked = asyncio.ensure_future(api.invoke(item))
            await asyncio.sleep(0.01)
            assert not api.delivered  # no /next has asked yet
            client = await RawClient.connect(api)
            status, _, body = await client.request("GET", NEXT)
            assert (status, body, api.delivered) == (200, b"1", True)
            await client.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/response", b"2")
            assert (await asyncio.wait_for(invoked, STEP_TIMEOUT_S)).payload == b"2"
            client.close()
        finally:
            await api.close()

    asyncio.run(scenario())


# -- Amazon's runtime interface client ----------------------------------------------------------


@pytest.fixture(scope="session")
def awslambdaric(request: pytest.FixtureRequest) -> Path:
    """A directory holding awslambdaric from PyPI, installed once and kept in pytest's cache.

    LAMBDABOX_AWSLAMBDARIC may name a ready directory instead. Skipped where it cannot be
    installed (no network), except in CI.
    """
    given = os.environ.get("LAMBDABOX_AWSLAMBDARIC")
    target = Path(given) if given else request.config.cache.mkdir("awslambdaric") / f"py{sys.version_info[0]}{sys.version_info[1]}"
    if not (target / "awslambdaric").is_dir():
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "awslambdaric"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            if os.environ.get("CI"):
                pytest.fail(f"could not install awslambdaric:\n{result.stderr}")
            pytest.skip(f"could not install awslambdaric: {result.stderr.strip()[-300:]}")
    return target


def test_awslambdaric_serves_invocations(awslambdaric: Path, task_root: Path) -> None:
    write_files(
        task_root,
        {
            "app.py": (
                "def handler(event, context):\n"
                "    if event.get('fail'):\n"
                "        raise KeyError('missing')\n"
                "    return {'got': event, 'id': context.aws_request_id, 'left': context.get_remaining_time_in_millis() > 0}\n"
            )
        },
    )
    env = {"PYTHONPATH": f"{task_root}:{awslambdaric}"}

    async def scenario() -> None:
        async with running([sys.executable, "-m", "awslambdaric", "app.handler"], task_root, "app.handler", env) as runtime:
            await runtime.ready()
            for n in range(3):
                item = invocation(json.dumps({"n": n}).encode())
                outcome = await runtime.invoke(item)
                assert outcome.error_type is None, runtime.output()
                assert json.loads(outcome.payload) == {"got": {"n": n}, "id": item.request_id, "left": True}
            item = invocation(b'{"fail": true}')
            outcome = await runtime.invoke(item)
            assert outcome.error_type is not None
            document = json.loads(outcome.payload)
            assert (document["errorType"], document["errorMessage"], document["requestId"]) == (
                "KeyError",
                "'missing'",
                item.request_id,
            )
            # Still serving after an error.
            assert json.loads((await runtime.invoke(invocation(b"{}"))).payload)["got"] == {}

    asyncio.run(scenario())


def test_awslambdaric_init_error(awslambdaric: Path, task_root: Path) -> None:
    env = {"PYTHONPATH": f"{task_root}:{awslambdaric}"}

    async def scenario() -> None:
        async with running([sys.executable, "-m", "awslambdaric", "nothere.handler"], task_root, "nothere.handler", env) as runtime:
            with pytest.raises(InitFailed) as failed:
                await runtime.ready()
        assert failed.value.error_type == "Runtime.ImportModuleError"
        assert json.loads(failed.value.payload)["errorMessage"] == "Unable to import module 'nothere': No module named 'nothere'"

    asyncio.run(scenario())


#: An error document nested far past what Python's json module recurses into (valid JSON, 200 KB).
NESTED = b"[" * 100_000 + b"]" * 100_000


def test_error_documents_nested_past_the_parser_are_read_safely() -> None:
    """A runtime's error bodies are tenant JSON: nesting that would make json recurse past Python's limit is
    read as an untyped document, not a RecursionError in the server."""

    async def scenario() -> None:
        api = await started()
        client = await RawClient.connect(api)
        try:
            item = invocation(b"1")
            invoked = asyncio.ensure_future(api.invoke(item))
            await client.request("GET", NEXT)
            status, _, _ = await client.request("POST", f"/2018-06-01/runtime/invocation/{item.request_id}/error", NESTED)
            assert status == 202
            assert await asyncio.wait_for(invoked, STEP_TIMEOUT_S) == Outcome(NESTED, "Runtime.Unknown")
        finally:
            client.close()
            await api.close()

    asyncio.run(scenario())
    failed = InitFailed("Runtime.Unknown", NESTED)
    assert failed.describe() == "Runtime.Unknown"
