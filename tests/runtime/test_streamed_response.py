"""Streamed responses on the Runtime API: blocks handed on as they arrive, bounded, cut at the limit, trailers."""

from __future__ import annotations

import asyncio
import base64
import json

from harness import STEP_TIMEOUT_S, invocation
from lambdabox.runtime.api_server import RuntimeApi
from lambdabox.runtime.streamed_response import ERROR_BODY_TRAILER, ERROR_TYPE_TRAILER, StreamedBody, trailer_error

NEXT = "/2018-06-01/runtime/invocation/next"
STREAM_HEADERS = (
    "Lambda-Runtime-Function-Response-Mode: streaming\r\nTransfer-Encoding: chunked\r\n"
    "Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n"
)


class Runtime:
    """A runtime written by hand: one connection for /next, one for the streamed response."""

    def __init__(self, api: RuntimeApi) -> None:
        self.api = api
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self.api.address.rsplit(":", 1)
        return await asyncio.open_connection(host, int(port))

    async def take(self) -> str:
        """GET /next; the request id handed over (call once `invoke` runs)."""
        reader, writer = await self.connect()
        writer.write(f"GET {NEXT} HTTP/1.1\r\nHost: r\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT_S)
        for line in head.decode().split("\r\n"):
            if line.lower().startswith("lambda-runtime-aws-request-id:"):
                writer.close()
                return line.split(":", 1)[1].strip()
        raise AssertionError(head)

    async def open_stream(self, request_id: str, content_type: str = "text/plain") -> None:
        self.reader, self.writer = await self.connect()
        self.writer.write(
            f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: r\r\n"
            f"Content-Type: {content_type}\r\n{STREAM_HEADERS}\r\n".encode()
        )

    def chunk(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n" % len(data) + data + b"\r\n")

    async def end(self, trailers: dict[str, str] | None = None) -> int:
        lines = "".join(f"{name}: {value}\r\n" for name, value in (trailers or {}).items())
        self.writer.write(b"0\r\n" + lines.encode() + b"\r\n")
        return await self.status()

    async def status(self) -> int:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT_S)
        return int(head.split()[1])


async def started(**options) -> tuple[RuntimeApi, Runtime]:
    api = RuntimeApi(**options)
    await api.start()
    return api, Runtime(api)


async def next_block(blocks) -> bytes:
    return await asyncio.wait_for(blocks.__anext__(), STEP_TIMEOUT_S)


def test_blocks_reach_the_reader_before_the_body_ends() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        sink = StreamedBody()
        try:
            item = invocation()
            invoked = asyncio.ensure_future(api.invoke(item, sink))
            request_id = await runtime.take()
            await runtime.open_stream(request_id, "application/x-ndjson")
            runtime.chunk(b"first")
            await asyncio.wait_for(sink.began.wait(), STEP_TIMEOUT_S)
            assert sink.content_type == "application/x-ndjson"
            blocks = sink.blocks()
            assert await next_block(blocks) == b"first"
            assert not invoked.done()  # the body has not ended, yet its first block is out
            runtime.chunk(b"second")
            assert await next_block(blocks) == b"second"
            assert await runtime.end() == 202
            outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
            assert outcome.streamed and outcome.error_type is None and outcome.payload == b""
        finally:
            await api.close()

    asyncio.run(scenario())


def test_an_error_in_the_trailers_is_the_outcome() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        sink = StreamedBody()
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
            await runtime.open_stream(await runtime.take())
            runtime.chunk(b"partial")
            document = {"errorType": "Error", "errorMessage": "boom", "trace": []}
            status = await runtime.end({
                "Lambda-Runtime-Function-Error-Type": "Error",
                "Lambda-Runtime-Function-Error-Body": base64.b64encode(json.dumps(document).encode()).decode(),
            })
            assert status == 202
            outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
            assert outcome.error_type == "Error" and json.loads(outcome.payload) == document
        finally:
            await api.close()

    asyncio.run(scenario())


def test_bogus_trailers_still_make_an_error_and_nothing_more() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        try:
            for trailers in (
                {"Lambda-Runtime-Function-Error-Type": "X" * 5000, "Lambda-Runtime-Function-Error-Body": "%%not base64%%"},
                {"Lambda-Runtime-Function-Error-Type": "Oops", "Lambda-Runtime-Function-Error-Body": base64.b64encode(b"[1]").decode()},
            ):
                sink = StreamedBody()
                invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
                await runtime.open_stream(await runtime.take())
                runtime.chunk(b"x")
                assert await runtime.end(trailers) == 202
                outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
                document = json.loads(outcome.payload)
                assert outcome.error_type == trailers["Lambda-Runtime-Function-Error-Type"][:256]
                assert document["errorType"] == outcome.error_type and "errorMessage" in document
        finally:
            await api.close()

    asyncio.run(scenario())


def test_a_stream_past_the_limit_is_cut_there() -> None:
    async def scenario() -> None:
        api, runtime = await started(max_streamed_bytes=100_000)
        sink = StreamedBody()
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
            await runtime.open_stream(await runtime.take())
            received = bytearray()

            async def read() -> None:
                async for block in sink.blocks():
                    received.extend(block)

            reading = asyncio.ensure_future(read())
            for _ in range(40):
                runtime.chunk(b"z" * 10_000)
            assert await runtime.status() == 413
            outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
            assert outcome.error_type == "Function.ResponseSizeTooLarge"
            assert json.loads(outcome.payload)["errorMessage"] == (
                "Response payload size exceeded maximum allowed payload size (100000 bytes)."
            )
            sink.close()
            await asyncio.wait_for(reading, STEP_TIMEOUT_S)
            assert len(received) == 100_000
        finally:
            await api.close()

    asyncio.run(scenario())


def test_a_runtime_outrunning_its_reader_is_held_back() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        sink = StreamedBody(max_buffered_bytes=64 * 1024)
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
            await runtime.open_stream(await runtime.take())
            block = b"w" * 16 * 1024
            written = 0
            # Nobody reads: the runtime's writes back up once the server stops reading its socket.
            while written < 64 * 1024 * 1024:
                runtime.chunk(block)
                written += len(block)
                if runtime.writer.transport.get_write_buffer_size() > 8 * 1024 * 1024:
                    break
                await asyncio.sleep(0)
            assert runtime.writer.transport.get_write_buffer_size() > 8 * 1024 * 1024
            # The server holds at most its bound plus one socket read's block.
            assert sink.buffered <= 64 * 1024 + 80 * 1024
            assert not invoked.done()
            total = 0
            runtime.writer.write(b"0\r\n\r\n")
            async for got in sink.blocks():
                total += len(got)
                if total == written:
                    break
            assert total == written
            assert (await asyncio.wait_for(invoked, STEP_TIMEOUT_S)).error_type is None
        finally:
            sink.close()
            await api.close()

    asyncio.run(scenario())


def test_tiny_chunks_are_coalesced() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        sink = StreamedBody()
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
            await runtime.open_stream(await runtime.take())
            for _ in range(20_000):
                runtime.chunk(b"t")
            assert await runtime.end() == 202
            await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
            sink.close()
            blocks = [block async for block in sink.blocks()]
            assert b"".join(blocks) == b"t" * 20_000
            assert len(blocks) < 2_000  # one per socket read, not one per chunk
        finally:
            await api.close()

    asyncio.run(scenario())


def test_without_a_reader_a_stream_is_collected_as_a_buffered_response() -> None:
    async def scenario() -> None:
        api, runtime = await started(max_response_bytes=1000)
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation()))
            await runtime.open_stream(await runtime.take())
            runtime.chunk(b"one,")
            runtime.chunk(b"two")
            assert await runtime.end() == 202
            outcome = await asyncio.wait_for(invoked, STEP_TIMEOUT_S)
            assert outcome.payload == b"one,two" and not outcome.streamed and outcome.error_type is None
            invoked = asyncio.ensure_future(api.invoke(invocation()))
            await runtime.open_stream(await runtime.take())
            runtime.chunk(b"a" * 2000)
            assert await runtime.status() == 413
            assert (await asyncio.wait_for(invoked, STEP_TIMEOUT_S)).error_type == "Function.ResponseSizeTooLarge"
        finally:
            await api.close()

    asyncio.run(scenario())


def test_other_results_are_refused_while_a_stream_is_open() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        sink = StreamedBody()
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
            request_id = await runtime.take()
            await runtime.open_stream(request_id)
            runtime.chunk(b"a")
            await asyncio.wait_for(sink.began.wait(), STEP_TIMEOUT_S)
            other = Runtime(api)
            reader, writer = await other.connect()
            writer.write(
                f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: r\r\n"
                "Content-Length: 2\r\n\r\n{}".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT_S)
            assert int(head.split()[1]) == 400
            second = Runtime(api)
            await second.open_stream(request_id)
            assert await second.status() == 400
            assert await runtime.end() == 202
            assert (await asyncio.wait_for(invoked, STEP_TIMEOUT_S)).error_type is None
            writer.close()
        finally:
            await api.close()

    asyncio.run(scenario())


def test_malformed_chunk_framing_closes_the_stream_and_refuses_other_results() -> None:
    async def scenario() -> None:
        api, runtime = await started()
        sink = StreamedBody()
        try:
            invoked = asyncio.ensure_future(api.invoke(invocation(), sink))
            request_id = await runtime.take()
            await runtime.open_stream(request_id)
            runtime.chunk(b"ok")
            runtime.writer.write(b"zz-not-hex\r\nxx\r\n")
            assert await runtime.status() == 400
            # The invocation is not settled by a broken stream; the caller's timeout ends it.
            await asyncio.sleep(0.1)
            assert not invoked.done()
            reader, writer = await runtime.connect()
            writer.write(
                f"POST /2018-06-01/runtime/invocation/{request_id}/error HTTP/1.1\r\nHost: r\r\n"
                "Content-Length: 2\r\n\r\n{}".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), STEP_TIMEOUT_S)
            assert int(head.split()[1]) == 400
            writer.close()
            invoked.cancel()
        finally:
            await api.close()

    asyncio.run(scenario())


def test_a_trailer_body_nested_past_the_parser_is_replaced_by_a_document_of_its_own() -> None:
    """The error body is tenant JSON: nested past what json recurses into, it is read as no document."""
    nested = base64.b64encode(b"[" * 6000 + b"]" * 6000)
    error_type, document = trailer_error({ERROR_TYPE_TRAILER: b"Deep", ERROR_BODY_TRAILER: nested})
    assert error_type == "Deep" and json.loads(document)["errorType"] == "Deep"
