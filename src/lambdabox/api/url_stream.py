"""A RESPONSE_STREAM function URL's answer, sent as the function streams it.

1. A runtime that streams `application/vnd.awslambda.http-integration-response` (what
   awslambda.HttpResponseStream.from writes) begins with a prelude: a JSON object {statusCode, headers,
   cookies}, then 8 NUL bytes, then the body (its framing headers, Content-Length, Transfer-Encoding,
   Connection and the like, are dropped). Any other content type is a 200 with that content type,
   and the whole stream is the body.
2. The head is sent once the first byte of the body comes (or the stream ends): until then a failure
   is AWS's 502 {"Message":"Internal Server Error"}: an error before any byte, a prelude that is not
   JSON, not an object of the right types, or not ended by its 8 NUL bytes within MAX_PRELUDE_BYTES.
3. Then each block goes to the client as it arrives. A function that fails mid-stream (an error in
   its trailers, a timeout, the size limit) has its answer cut: the connection is closed without the
   chunked body's last chunk, so the client sees a truncated body, not a complete one.
4. A client that leaves stops the delivery, not the function.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response

from lambdabox.api.chunked import ChunkedResponse, Cut
from lambdabox.invoke.streaming import StreamedRun
from lambdabox.model import url_events

log = logging.getLogger(__name__)

#: The content type of a streamed answer that begins with a prelude.
PRELUDE_CONTENT_TYPE = "application/vnd.awslambda.http-integration-response"
#: What ends a prelude.
PRELUDE_END = b"\0" * 8
#: Longest prelude read, in bytes, its 8 NUL bytes included (API Gateway's bound for the same format: the
#: metadata must come within the first 16 KB); a longer one is a 502, and is never buffered past this.
MAX_PRELUDE_BYTES = 16 * 1024
#: Headers of a prelude that are dropped: they frame the connection, which is the server's to frame.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive", "upgrade", "trailer"})


async def respond(
    streamed: StreamedRun, finish_headers: Callable[[list[tuple[str, str]]], list[tuple[str, str]]],
    bad_gateway: Callable[[], Response],
) -> Response:
    """The answer of a run that began to stream. `finish_headers` adds the front's own headers (CORS, the
    request id) to the function's; `bad_gateway` is the 502 answer."""
    blocks = streamed.blocks().__aiter__()
    held = bytearray()
    if streamed.content_type == PRELUDE_CONTENT_TYPE:
        head = await _prelude(blocks, held)
        try:
            answer = url_events.prelude(bytes(head)) if head is not None else None
        except url_events.Malformed as malformed:
            log.info("a streamed function URL answer has a malformed prelude: %s", malformed)
            answer = None
        if answer is None:
            streamed.abandon()
            return bad_gateway()
        # How the answer is framed is the server's to say: a function's Content-Length would not hold.
        status, headers = answer.status, [(n, v) for n, v in answer.headers if n not in _FRAMING_HEADERS]
    else:
        status, headers = 200, [("content-type", streamed.content_type)]
    if not held:
        first = await _next(blocks)
        if first is None and (await streamed.finish()).outcome.error_type is not None:
            return bad_gateway()
        held += first or b""
    response = ChunkedResponse(_body(streamed, blocks, bytes(held)), status_code=status)
    response.raw_headers = encoded(finish_headers(headers))
    return response


def encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    """A function URL answer's headers as the server sends them (values it cannot carry replaced)."""
    return [(name.encode("latin-1"), value.encode("latin-1", "replace")) for name, value in headers]


async def _prelude(blocks: AsyncIterator[bytes], rest: bytearray) -> bytearray | None:
    """The prelude (its JSON text), read off `blocks` up to its 8 NUL bytes; what follows them is left in
    `rest`. None when the stream ends first or the prelude (its NUL bytes included) passes MAX_PRELUDE_BYTES."""
    data = bytearray()
    searched = 0  # Where the search for the end goes on from: each byte is looked at about once.
    while True:
        end = data.find(PRELUDE_END, searched)
        if end >= 0:
            if end + len(PRELUDE_END) > MAX_PRELUDE_BYTES:
                return None
            rest += data[end + len(PRELUDE_END):]
            return data[:end]
        if len(data) >= MAX_PRELUDE_BYTES:
            return None
        searched = max(0, len(data) - len(PRELUDE_END) + 1)
        block = await _next(blocks)
        if block is None:
            return None
        data += block


async def _next(blocks: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await blocks.__anext__()
    except StopAsyncIteration:
        return None


async def _body(streamed: StreamedRun, blocks: AsyncIterator[bytes], first: bytes) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for block in blocks:
            yield block
        run = await streamed.finish()
        if run.outcome.error_type is not None:
            raise Cut(f"the function failed mid-stream: {run.outcome.error_type}")
    finally:
        streamed.abandon()
