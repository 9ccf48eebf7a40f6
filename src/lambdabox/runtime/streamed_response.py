"""A streamed response (Lambda-Runtime-Function-Response-Mode: streaming) on its way from a runtime to its reader.

`StreamedBody` is the pipe between the Runtime API connection that receives the body and whoever delivers
it (InvokeWithResponseStream, a RESPONSE_STREAM function URL). Its contract:
1. The Runtime API calls `begin(content_type)` once, when a runtime starts a streamed response, then
   `await put(block)` for each block of the body, in order.
2. `put` waits while `max_buffered_bytes` are buffered: a runtime that writes faster than its reader reads
   is slowed down (its socket stops being read), never buffered without bound.
3. The reader iterates `blocks()`: every block in order; the iteration ends once `close()` was called and
   the blocks buffered before it are read.
4. `close()` is called by whoever owns the run when it ends, however it ends (a timeout, a crash, the end of
   the stream). It wakes a waiting `put`, which then drops its block. Idempotent.
5. `abandon()` (the reader went away): buffered blocks are dropped, and every later `put` returns at once,
   dropping its block; the runtime still runs to its end.
6. With a `Bandwidth`, `put` paces the body as Lambda does: the first `uncapped_bytes` as fast as they
   come, the rest at most `bytes_per_second` (a `put` waits until its block is due).

`receive_blocks` reads a streamed request body off an h11 connection, coalescing what one socket read
holds into one block, so that a flood of tiny chunks costs one block per read, not one per chunk.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

import h11

from lambdabox.model import json_text

#: Most bytes of a streamed body held between the runtime and its reader, in bytes: enough to keep both
#: sides busy, small enough that a stalled reader costs the server little.
MAX_BUFFERED_BYTES = 1024 * 1024

#: Largest streamed response, in bytes: Lambda's 200 MB for response streaming (AWS counts MB as 2^20).
MAX_STREAMED_RESPONSE_BYTES = 200 * 1024 * 1024

#: Bytes asked of the socket per read while a body streams.
READ_CHUNK_BYTES = 65_536

#: The content type of a streamed response that names none, as Lambda assumes.
DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: The trailers a runtime reports a mid-stream error in (the body is base64).
ERROR_TYPE_TRAILER = b"lambda-runtime-function-error-type"
ERROR_BODY_TRAILER = b"lambda-runtime-function-error-body"

#: The request header that makes a /response streamed, and its value.
RESPONSE_MODE_HEADER = b"lambda-runtime-function-response-mode"
STREAMING = b"streaming"

#: Longest error type kept from a trailer, in characters; a longer one is cut.
MAX_ERROR_TYPE_CHARS = 256


#: Bytes of a streamed response Lambda sends at full speed before its bandwidth cap applies: 6 MB.
UNCAPPED_STREAM_BYTES = 6 * 1024 * 1024

#: Lambda's bandwidth for a streamed response past its first 6 MB, in bytes a second: 2 MiB/s (16 Mbps).
STREAM_BYTES_PER_SECOND = 2 * 1024 * 1024


@dataclass(frozen=True)
class Bandwidth:
    """How fast a streamed response may go: the first `uncapped_bytes` at once, then `bytes_per_second`."""

    bytes_per_second: float = STREAM_BYTES_PER_SECOND
    uncapped_bytes: int = UNCAPPED_STREAM_BYTES


class StreamedBody:
    """The blocks of one streamed response, bounded in flight (see the module's contract)."""

    def __init__(self, max_buffered_bytes: int = MAX_BUFFERED_BYTES, bandwidth: Bandwidth | None = None) -> None:
        self._max_buffered = max_buffered_bytes
        self._bandwidth = bandwidth
        #: Bytes handed on so far, and when the body passed its uncapped part (monotonic seconds).
        self._sent = 0
        self._capped_since: float | None = None
        self._blocks: deque[bytes] = deque()
        self._buffered = 0
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False
        self._abandoned = False
        #: Set when the runtime begins streaming; `content_type` is valid from then on.
        self.began = asyncio.Event()
        self.content_type = DEFAULT_CONTENT_TYPE

    @property
    def buffered(self) -> int:
        """Bytes handed on and not yet read."""
        return self._buffered

    def begin(self, content_type: str | None) -> None:
        """The runtime started a streamed response of `content_type`."""
        self.content_type = content_type or DEFAULT_CONTENT_TYPE
        self.began.set()

    async def put(self, block: bytes) -> None:
        """Hand `block` on, waiting while the buffer is full; dropped after `close` or `abandon`."""
        while self._buffered >= self._max_buffered and not (self._closed or self._abandoned):
            self._writable.clear()
            await self._writable.wait()
        if self._closed or self._abandoned or not block:
            return
        if self._bandwidth is not None:
            await self._pace(len(block))
            if self._closed or self._abandoned:
                return
        self._blocks.append(block)
        self._buffered += len(block)
        self._readable.set()

    async def _pace(self, size: int) -> None:
        """Wait until a block of `size` bytes is due under the bandwidth cap."""
        bandwidth = self._bandwidth
        self._sent += size
        beyond = self._sent - bandwidth.uncapped_bytes
        if beyond <= 0:
            return
        now = time.monotonic()
        if self._capped_since is None:
            # The uncapped part ends inside this block: its rest is the first capped part.
            self._capped_since = now
        delay = self._capped_since + beyond / bandwidth.bytes_per_second - now
        if delay > 0:
            await asyncio.sleep(delay)

    async def blocks(self) -> AsyncIterator[bytes]:
        """Every block in order, until `close` and the buffer is empty."""
        while True:
            if self._blocks:
                block = self._blocks.popleft()
                self._buffered -= len(block)
                if self._buffered < self._max_buffered:
                    self._writable.set()
                yield block
                continue
            if self._closed or self._abandoned:
                return
            self._readable.clear()
            await self._readable.wait()

    def close(self) -> None:
        """The run is over: end the reader's iteration once it has read what is buffered; wake the writer."""
        self._closed = True
        self._readable.set()
        self._writable.set()

    def abandon(self) -> None:
        """The reader went away: drop what is buffered and what comes."""
        self._abandoned = True
        self._blocks.clear()
        self._buffered = 0
        self._readable.set()
        self._writable.set()


@dataclass(frozen=True)
class Received:
    """How a streamed body ended."""

    #: Bytes of body received (counted to the limit and one block past it).
    size: int
    #: Whether the body went past the limit (and was not read to its end).
    too_large: bool
    #: The trailers of the message (empty when there were none, or the body was too large).
    trailers: dict[bytes, bytes]


async def receive_blocks(conn: h11.Connection, reader: asyncio.StreamReader, sink, limit: int) -> Received:
    """Read a request body off `conn`, `await sink(block)` for each block, stop once past `limit` bytes.

    Raises ConnectionResetError when the peer closes mid-body.
    """
    size = 0
    while True:
        pending: list[bytes] = []
        while True:
            event = conn.next_event()
            kind = type(event)
            if kind is h11.Data:
                pending.append(event.data)
                continue
            break
        if pending:
            block = pending[0] if len(pending) == 1 else b"".join(pending)
            if size + len(block) > limit:
                # Delivered up to the limit, then cut.
                await sink(bytes(block[:limit - size]))
                return Received(size + len(block), True, {})
            size += len(block)
            await sink(bytes(block))
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_CHUNK_BYTES))
            continue
        if kind is h11.EndOfMessage:
            return Received(size, False, {name.lower(): value for name, value in event.headers})
        # ConnectionClosed mid-body.
        raise ConnectionResetError("streamed body cut short")


def trailer_error(trailers: dict[bytes, bytes]) -> tuple[str, bytes] | None:
    """(error type, error document) a runtime reported in its trailers, or None when it reported none.

    The document is the base64-decoded Lambda-Runtime-Function-Error-Body when that is a JSON object;
    anything else (missing, not base64, not JSON) is replaced by a document naming the error type, so a
    bogus trailer can't pass as a well-formed error.
    """
    raw_type = trailers.get(ERROR_TYPE_TRAILER)
    if raw_type is None:
        return None
    error_type = raw_type.decode("utf-8", "replace").strip()[:MAX_ERROR_TYPE_CHARS] or "Runtime.Unknown"
    document = None
    encoded = trailers.get(ERROR_BODY_TRAILER)
    if encoded:
        try:
            document = json_text.loads(base64.b64decode(encoded, validate=True))
        except ValueError:  # binascii.Error and json_text's TooDeep are ValueErrors too
            document = None
    if not isinstance(document, dict):
        document = {"errorType": error_type, "errorMessage": "The function reported an error while streaming its response."}
    return error_type, json.dumps(document, separators=(",", ":")).encode()
