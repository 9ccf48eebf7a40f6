"""One environment's Runtime API endpoint: HTTP/1.1 on loopback, asyncio streams and h11.

`RuntimeApi` implements the contract in `lambdabox.runtime.api`. Each accepted connection
runs one task that parses requests with h11 and answers them in place: no thread hops, no
per-request tasks. A GET .../invocation/next parks its connection task on a future until
`invoke` hands it an invocation.

Beyond the contract:
1. Only one /next may be parked at a time. A second one (another connection) while the
   first still waits gets 403 InvalidStateTransition, unless the first connection's peer
   has gone away, in which case the new one replaces it.
2. A /next while an invocation awaits its result gets 403 InvalidStateTransition; the
   invocation keeps waiting (for its /response, /error, or the caller's timeout).
3. /response or /error for any id but the one in flight gets 400 InvalidRequestID, as
   does a second result for the same id.
4. POST .../init/error after INIT is over gets 403 InvalidStateTransition.
4a. SnapStart: GET .../restore/next ends INIT as the first /next does (the runtime is ready
   for its snapshot) and is answered at once; POST .../restore/error (an after-restore hook
   failed) fails `wait_ready` as init/error does. Both get 403 once INIT is over.
5. Malformed HTTP gets 400 and the connection is closed; an unknown path 404; a known path
   with the wrong method 405.
6. Only the environment reaches it. In a network namespace of the environment's own, the
   listening socket (`start(sock=...)`) lives there, at 127.0.0.1:9001, and nothing else can
   connect. On the host's shared loopback, `restrict_to(uid, owner_of)` makes every
   connection prove it comes from the environment's host uid (`owner_of` tells who owns the
   peer's socket); any other is closed before a byte of it is read.
7a. A streamed /response (runtime/streamed_response.py) is read block by block as it arrives; while it
   streams, any other result for the invocation gets 400 InvalidRequestID. A second streamed /response,
   or one for the wrong id, gets 400 and its connection is closed (its body is not read).
7. `delivered` tells whether the invocation in flight has been handed to the runtime (a
   GET .../next answered with it); until then, a runtime that ends has not seen it.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote

import h11

from lambdabox.model import json_text
from lambdabox.runtime.api import MAX_RESPONSE_BYTES, InitFailed, Invocation, Outcome
from lambdabox.runtime.streamed_response import (
    MAX_STREAMED_RESPONSE_BYTES,
    RESPONSE_MODE_HEADER,
    STREAMING,
    StreamedBody,
    receive_blocks,
    trailer_error,
)

#: Bytes asked of the socket per read; one read holds a typical request whole.
READ_CHUNK_BYTES = 65_536

#: Largest request head (request line and headers) we buffer, in bytes. Runtimes send
#: a handful of short headers; this bounds memory against a misbehaving client.
MAX_HEAD_BYTES = 64 * 1024

#: How long a connection may wait for `restrict_to` before it is closed, in seconds.
ADMIT_TIMEOUT_S = 30.0

_PREFIX = b"/2018-06-01/runtime/"
_NEXT = b"invocation/next"
_INIT_ERROR = b"init/error"
_RESTORE_NEXT = b"restore/next"
_RESTORE_ERROR = b"restore/error"
_INVOCATION = b"invocation/"

_ERROR_TYPE_HEADER = b"lambda-runtime-function-error-type"

_JSON = (b"Content-Type", b"application/json")

#: A reply ready to send: the h11 response head and its body.
Reply = tuple[h11.Response, bytes]


def _reply(status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None, close: bool = False) -> Reply:
    fields = headers if headers is not None else [_JSON]
    fields.append((b"Content-Length", str(len(body)).encode()))
    if close:
        fields.append((b"Connection", b"close"))
    return h11.Response(status_code=status, headers=fields), body


#: The answer to every accepted post; built once, as h11 validates headers on each build.
_ACCEPTED = _reply(202, b'{"status":"OK"}')
_END = h11.EndOfMessage()

#: What Lambda reports to the caller when a response is over the limit (errorType and
#: errorMessage exactly as Invoke returns them).
TOO_LARGE_ERROR_TYPE = "Function.ResponseSizeTooLarge"


def _error_reply(status: int, error_type: str, message: str, close: bool = False) -> Reply:
    """Lambda's Runtime API error body: {"errorMessage": ..., "errorType": ...}."""
    body = json.dumps({"errorMessage": message, "errorType": error_type}, separators=(",", ":")).encode()
    return _reply(status, body, close=close)


def _invalid_request_id() -> Reply:
    return _error_reply(400, "InvalidRequestID", "Invalid request ID")


def _invalid_transition(state: str, target: str, reason: str) -> Reply:
    return _error_reply(
        403,
        "InvalidStateTransition",
        f"State transition from {state} to {target} failed for runtime. Error: {reason}",
    )


def _header_safe(value: str) -> bool:
    """True if `value` can go into an HTTP header field as is."""
    return "\r" not in value and "\n" not in value and "\0" not in value


class RuntimeApi:
    """The Runtime API of one execution environment.

    Keyword options: `host` to bind (default loopback), `max_response_bytes` (default
    Lambda's `MAX_RESPONSE_BYTES`; tests lower it), `max_streamed_bytes` (default
    `MAX_STREAMED_RESPONSE_BYTES`).
    """

    def __init__(
        self, *, host: str = "127.0.0.1", max_response_bytes: int = MAX_RESPONSE_BYTES,
        max_streamed_bytes: int = MAX_STREAMED_RESPONSE_BYTES,
    ) -> None:
        self._host = host
        self._max_response_bytes = max_response_bytes
        self._max_streamed_bytes = max_streamed_bytes
        #: Where the invocation in flight streams its response to (None: collect it as a buffered one).
        self._sink: StreamedBody | None = None
        #: Whether the invocation in flight has begun a streamed response.
        self._streaming = False
        self._server: asyncio.Server | None = None
        self._address: str | None = None
        self._closed = False
        #: Resolves when INIT is over (first /next); fails with InitFailed on init/error.
        self._ready: asyncio.Future[None] | None = None
        #: The parked /next and the reader of its connection (to notice a vanished peer).
        self._waiter: asyncio.Future[Invocation] | None = None
        self._waiter_reader: asyncio.StreamReader | None = None
        #: An invocation handed over before any /next was parked to take it.
        self._backlog: Invocation | None = None
        #: The invocation in flight and the future its result resolves.
        self._current_id: str | None = None
        self._outcome: asyncio.Future[Outcome] | None = None
        #: Set when an invoke was cancelled: the endpoint may not be reused (contract 5).
        self._spoiled = False
        #: Whether the invocation in flight has been handed to the runtime (guarantee 7).
        self._delivered = False
        self._connections: set[asyncio.StreamWriter] = set()
        #: Host uid every connection must come from, and how to find a connection's, when on a shared loopback.
        self._allowed_uid: asyncio.Future[int] | None = None
        self._owner_of = None
        self._too_large_message = (
            f"Response payload size exceeded maximum allowed payload size ({max_response_bytes} bytes)."
        )

    # -- the contract -------------------------------------------------------------------

    async def start(self, sock=None) -> None:
        """Serve on `sock`, a listening socket (which this endpoint then owns), or else bind an
        ephemeral port on the host's loopback; `address` is valid afterwards."""
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        if sock is not None:
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, self._host, 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self._address = f"{host}:{port}"

    def restrict_to(self, uid: int, owner_of) -> None:
        """Accept connections only from host uid `uid`; `owner_of(sock)` gives a peer's uid (None: unknown)."""
        self._owner_of = owner_of
        if self._allowed_uid is None:
            self._allowed_uid = asyncio.get_running_loop().create_future()
        if not self._allowed_uid.done():
            self._allowed_uid.set_result(uid)

    def expect_restriction(self) -> None:
        """Hold every connection until `restrict_to` says whose it must be (call before the runtime starts)."""
        if self._allowed_uid is None:
            self._allowed_uid = asyncio.get_running_loop().create_future()

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        if self._address is None:
            raise RuntimeError("RuntimeApi.start() has not run")
        return self._address

    @property
    def delivered(self) -> bool:
        """Whether the invocation in flight has been handed to the runtime (guarantee 7)."""
        return self._delivered

    @property
    def runtime_left(self) -> bool:
        """Whether the runtime dropped the GET .../next it waited on: it can take no invocation (its process ended).

        False while no /next waits (an invocation in flight, or the runtime between two requests).
        """
        waiter = self._waiter
        return waiter is not None and not waiter.done() and self._peer_gone(self._waiter_reader)

    async def wait_ready(self) -> None:
        """Resolve when the runtime first asks for work; raise InitFailed on an init error."""
        if self._ready is None:
            raise RuntimeError("RuntimeApi.start() has not run")
        await asyncio.shield(self._ready)

    async def invoke(self, invocation: Invocation, sink: StreamedBody | None = None) -> Outcome:
        """Hand `invocation` to the runtime and resolve with what it posts back; a streamed response goes
        to `sink` as it arrives (contract 4a)."""
        if self._closed or self._spoiled:
            raise RuntimeError("this Runtime API can serve no more invocations")
        if self._outcome is not None:
            raise RuntimeError("an invocation is already in flight")
        for value in (invocation.request_id, invocation.invoked_function_arn, invocation.trace_id,
                      invocation.client_context or "", invocation.cognito_identity or ""):
            if not _header_safe(value):
                raise ValueError(f"not usable as an HTTP header value: {value!r}")
        outcome = asyncio.get_running_loop().create_future()
        self._current_id = invocation.request_id
        self._delivered = False
        self._outcome = outcome
        self._sink = sink
        self._streaming = False
        self._hand_over(invocation)
        try:
            return await outcome
        except asyncio.CancelledError:
            self._spoiled = True
            raise
        finally:
            self._current_id = None
            self._outcome = None
            self._backlog = None
            self._sink = None

    async def close(self) -> None:
        """Stop serving and close every connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        # 1. Stop intake: no new connections.
        if self._server is not None:
            self._server.close()
        # 2. Fail whoever waits on the runtime: the caller's invoke and wait_ready.
        failure = ConnectionAbortedError("Runtime API closed")
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_exception(failure)
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(failure)
            self._ready.exception()  # Retrieved here so an unawaited failure is not logged.
        # 3. Release the parked /next and close every connection; their tasks then end.
        if self._waiter is not None and not self._waiter.done():
            self._waiter.cancel()
        for writer in list(self._connections):
            writer.close()
        # 4. Wait for the listening socket (and, on 3.12+, the connections) to be gone.
        if self._server is not None:
            await self._server.wait_closed()

    # -- state transitions --------------------------------------------------------------

    def _hand_over(self, invocation: Invocation) -> None:
        """Give the invocation to the parked /next, or keep it for the next one to come."""
        waiter = self._waiter
        if waiter is not None and not waiter.done() and not self._peer_gone(self._waiter_reader):
            self._waiter = None
            waiter.set_result(invocation)
            return
        if waiter is not None and not waiter.done():
            waiter.cancel()
        self._waiter = None
        self._backlog = invocation

    @staticmethod
    def _peer_gone(reader: asyncio.StreamReader | None) -> bool:
        # A parked runtime sends nothing more, so a reader at EOF means its peer has gone.
        return reader is None or reader.at_eof()

    async def _next(self, reader: asyncio.StreamReader) -> Reply:
        """GET .../invocation/next: the runtime is ready; wait for an invocation."""
        ready = self._ready
        if ready is not None and not ready.done():
            ready.set_result(None)
        if self._outcome is not None and self._backlog is None:
            return _invalid_transition("Invoke", "Ready", "an invocation awaits its result")
        if self._waiter is not None and not self._waiter.done():
            if not self._peer_gone(self._waiter_reader):
                return _invalid_transition("Ready", "Ready", "another request already waits for work")
            self._waiter.cancel()
        if self._backlog is not None:
            invocation, self._backlog = self._backlog, None
        else:
            waiter = asyncio.get_running_loop().create_future()
            self._waiter, self._waiter_reader = waiter, reader
            try:
                invocation = await waiter
            finally:
                if self._waiter is waiter:
                    self._waiter = self._waiter_reader = None
        headers = [
            _JSON,
            (b"Lambda-Runtime-Aws-Request-Id", invocation.request_id.encode()),
            (b"Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms).encode()),
            (b"Lambda-Runtime-Invoked-Function-Arn", invocation.invoked_function_arn.encode()),
            (b"Lambda-Runtime-Trace-Id", invocation.trace_id.encode()),
        ]
        if invocation.client_context is not None:
            headers.append((b"Lambda-Runtime-Client-Context", invocation.client_context.encode()))
        if invocation.cognito_identity is not None:
            headers.append((b"Lambda-Runtime-Cognito-Identity", invocation.cognito_identity.encode()))
        if invocation.request_id == self._current_id:
            self._delivered = True
        return _reply(200, invocation.payload, headers)

    def _settle(self, request_id: str, outcome: Outcome, streamed: bool = False) -> bool:
        """Resolve the invocation in flight if `request_id` names it (and, while it streams, only by its stream)."""
        future = self._outcome
        if future is None or future.done() or request_id != self._current_id or self._streaming != streamed:
            return False
        future.set_result(outcome)
        return True

    def _post_response(self, request_id: str, body: bytes, size: int) -> Reply:
        """POST .../invocation/{id}/response."""
        if size > self._max_response_bytes:
            document = {"errorMessage": self._too_large_message, "errorType": TOO_LARGE_ERROR_TYPE}
            outcome = Outcome(json.dumps(document, separators=(",", ":")).encode(), TOO_LARGE_ERROR_TYPE)
            if not self._settle(request_id, outcome):
                return _invalid_request_id()
            return _error_reply(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({self._max_response_bytes} bytes).",
            )
        if not self._settle(request_id, Outcome(body)):
            return _invalid_request_id()
        return _ACCEPTED

    async def _post_streamed(
        self, conn: h11.Connection, reader: asyncio.StreamReader, request_id: str, headers: dict[bytes, bytes]
    ) -> Reply:
        """A streamed POST .../invocation/{id}/response: hand its body on as it arrives (contract 4a)."""
        future = self._outcome
        if future is None or future.done() or request_id != self._current_id or self._streaming:
            # Its body is not read, so its connection can carry nothing more.
            return _error_reply(400, "InvalidRequestID", "Invalid request ID", close=True)
        self._streaming = True
        sink = self._sink
        kept: list[bytes] = []
        if sink is not None:
            sink.begin(headers.get(b"content-type", b"").decode("latin-1") or None)
            put, limit = sink.put, self._max_streamed_bytes
        else:
            # Nobody reads it as a stream (Invoke): collected, up to the buffered limit.
            async def put(block: bytes) -> None:
                kept.append(block)

            limit = self._max_response_bytes
        received = await receive_blocks(conn, reader, put, limit)
        streamed = sink is not None
        if received.too_large:
            message = f"Response payload size exceeded maximum allowed payload size ({limit} bytes)."
            document = {"errorMessage": message, "errorType": TOO_LARGE_ERROR_TYPE}
            outcome = Outcome(json.dumps(document, separators=(",", ":")).encode(), TOO_LARGE_ERROR_TYPE, streamed)
            self._settle(request_id, outcome, streamed=True)
            return _error_reply(413, "RequestEntityTooLarge", f"Exceeded maximum allowed payload size ({limit} bytes).", close=True)
        error = trailer_error(received.trailers)
        if error is not None:
            outcome = Outcome(error[1], error[0], streamed)
        else:
            outcome = Outcome(b"" if streamed else b"".join(kept), None, streamed)
        if not self._settle(request_id, outcome, streamed=True):
            return _invalid_request_id()
        return _ACCEPTED

    def _post_error(self, request_id: str, headers: dict[bytes, bytes], body: bytes) -> Reply:
        """POST .../invocation/{id}/error."""
        if not self._settle(request_id, Outcome(body, _error_type(headers, body))):
            return _invalid_request_id()
        return _ACCEPTED

    def _post_init_error(self, headers: dict[bytes, bytes], body: bytes) -> Reply:
        """POST .../init/error."""
        ready = self._ready
        if ready is None or ready.done():
            return _invalid_transition("Ready", "InitError", "INIT is already over")
        ready.set_exception(InitFailed(_error_type(headers, body), body))
        ready.exception()  # Retrieved here: nobody may be awaiting wait_ready yet.
        return _ACCEPTED

    def _restore_next(self) -> Reply:
        """GET .../restore/next: INIT (and the before-snapshot hooks) are over."""
        ready = self._ready
        if ready is None or ready.done():
            return _invalid_transition("Ready", "Restore", "INIT is already over")
        ready.set_result(None)
        return _reply(200, b"")

    # -- HTTP ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection: parse requests, answer each in turn, keep it alive."""
        if self._closed or not await self._admitted(writer):
            writer.close()
            return
        self._connections.add(writer)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEAD_BYTES)
        try:
            while True:
                event = conn.next_event()
                if event is h11.NEED_DATA:
                    conn.receive_data(await reader.read(READ_CHUNK_BYTES))
                    continue
                if type(event) is h11.Request:
                    reply = await self._answer(conn, event, reader, writer)
                    writer.write(self._encode(conn, reply))
                    await writer.drain()
                    if conn.our_state is h11.MUST_CLOSE:
                        break
                    conn.start_next_cycle()
                    continue
                # ConnectionClosed, or PAUSED after a reply that ends the connection.
                break
        except h11.RemoteProtocolError as exc:
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                message = str(exc) or "Malformed request"
                reply = _error_reply(exc.error_status_hint, "InvalidRequest", message, close=True)
                try:
                    writer.write(self._encode(conn, reply))
                    await writer.drain()
                except (ConnectionError, h11.LocalProtocolError):
                    pass
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _admitted(self, writer: asyncio.StreamWriter) -> bool:
        """Whether a new connection may be served: always in a private network, else only the environment's own."""
        if self._allowed_uid is None:
            return True
        try:
            uid = await asyncio.wait_for(asyncio.shield(self._allowed_uid), ADMIT_TIMEOUT_S)
        except asyncio.TimeoutError:
            return False
        sock = writer.get_extra_info("socket")
        return sock is not None and self._owner_of(sock) == uid

    async def _answer(
        self, conn: h11.Connection, request: h11.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Reply:
        """Read the request's body and route it."""
        if conn.they_are_waiting_for_100_continue:
            writer.write(conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b"")
        target, method = request.target, request.method
        path = target[len(_PREFIX):].partition(b"?")[0] if target.startswith(_PREFIX) else None
        result = _invocation_result(path) if path is not None else None
        headers = dict(request.headers) if method == b"POST" else {}
        if result is not None and result[1] == b"response" and method == b"POST":
            if headers.get(RESPONSE_MODE_HEADER, b"").strip().lower() == STREAMING:
                return await self._post_streamed(conn, reader, result[0], headers)
        body, size = await self._read_body(conn, reader)
        if path is None:
            return _error_reply(404, "NotFound", "Unknown path")
        if path == _NEXT:
            if method != b"GET":
                return _error_reply(405, "MethodNotAllowed", "Use GET")
            return await self._next(reader)
        if path in (_INIT_ERROR, _RESTORE_ERROR):
            if method != b"POST":
                return _error_reply(405, "MethodNotAllowed", "Use POST")
            return self._post_init_error(headers, body)
        if path == _RESTORE_NEXT:
            if method != b"GET":
                return _error_reply(405, "MethodNotAllowed", "Use GET")
            return self._restore_next()
        if result is not None:
            if method != b"POST":
                return _error_reply(405, "MethodNotAllowed", "Use POST")
            request_id, action = result
            if action == b"response":
                return self._post_response(request_id, body, size)
            return self._post_error(request_id, headers, body)
        return _error_reply(404, "NotFound", "Unknown path")

    async def _read_body(self, conn: h11.Connection, reader: asyncio.StreamReader) -> tuple[bytes, int]:
        """The request body and its size; bytes beyond the response limit are counted, not kept."""
        chunks: list[bytes] = []
        size = 0
        limit = self._max_response_bytes
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(READ_CHUNK_BYTES))
                continue
            kind = type(event)
            if kind is h11.Data:
                size += len(event.data)
                if size <= limit:
                    chunks.append(event.data)
                elif chunks:
                    chunks.clear()
                continue
            if kind is h11.EndOfMessage:
                if size > limit:
                    return b"", size
                return (bytes(chunks[0]) if len(chunks) == 1 else b"".join(chunks)), size
            # ConnectionClosed mid-body.
            raise ConnectionResetError("request body cut short")

    @staticmethod
    def _encode(conn: h11.Connection, reply: Reply) -> bytes:
        response, body = reply
        head = conn.send(response) or b""
        data = (conn.send(h11.Data(data=body)) or b"") if body else b""
        return head + data + (conn.send(_END) or b"")


def _invocation_result(path: bytes) -> tuple[str, bytes] | None:
    """(request id, b"response" or b"error") of an invocation/{id}/response or /error path, else None."""
    if not path.startswith(_INVOCATION):
        return None
    request_id, _, action = path[len(_INVOCATION):].rpartition(b"/")
    if not request_id or action not in (b"response", b"error"):
        return None
    text = request_id.decode("utf-8", "replace")
    return (unquote(text) if "%" in text else text), action


def _error_type(headers: dict[bytes, bytes], body: bytes) -> str:
    """The error type a runtime posted: its header, else the body's errorType."""
    header = headers.get(_ERROR_TYPE_HEADER)
    if header:
        return header.decode("utf-8", "replace")
    try:
        document = json_text.loads(body)
    except ValueError:  # not JSON, or nested past what the reader takes
        document = None
    if isinstance(document, dict) and isinstance(document.get("errorType"), str) and document["errorType"]:
        return document["errorType"]
    return "Runtime.Unknown"
