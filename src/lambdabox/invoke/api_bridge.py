"""A byte pipe from an environment's 127.0.0.1:9000 to Lambdabox's own API.

Inside a private network namespace, AWS_ENDPOINT_URL_LAMBDA (and each endpoint variable Lambdabox
sets, blueprint.py) is http://127.0.0.1:9000; the listening socket there is made by `sandbox.network`
and held by the server, and this bridge accepts on it and copies bytes both ways to the real API. It does not parse HTTP: the API checks every request
as it checks any other (signature, size, account).

Contract:
1. `await ApiBridge(host, port).serve(listener)` starts accepting on `listener` (which the handle
   then owns) and returns a `BridgeHandle`.
2. At most `max_connections` connections of one handle are open at once; one more is closed at
   once, unanswered. Each direction holds at most `chunk_bytes` in flight: a reader that does not
   read stalls its writer (backpressure), it does not grow a buffer.
3. End of stream from one side is passed on to the other (a half-close); once both directions have
   ended, or either side fails, both sides of that connection are closed.
4. `await handle.close()`: 1. stops accepting (closes the listener); 2. closes every connection
   of the handle; 3. waits for their tasks to end. It is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

log = logging.getLogger(__name__)

#: Connections one environment may hold open to the API at once (AWS SDKs pool 10 by default).
MAX_CONNECTIONS = 64

#: Bytes read at a time, per direction: the most a connection buffers before backpressure applies.
CHUNK_BYTES = 64 * 1024

#: Seconds to wait for the real API to accept a connection (it is on this host).
CONNECT_TIMEOUT_S = 5.0


class BridgeHandle:
    """Bridging on one listener; `close()` ends it and every connection it carries."""

    def __init__(self) -> None:
        self._server: asyncio.base_events.Server | None = None
        self._connections: set[asyncio.Task] = set()
        self._closed = False

    @property
    def connections(self) -> int:
        """Connections open now."""
        return len(self._connections)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # 1. Stop accepting.
        if self._server is not None:
            self._server.close()
        # 2. Close every connection; 3. wait for their tasks.
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


class ApiBridge:
    """Bridges environments' API listeners to `host`:`port`, the server's own API."""

    def __init__(
        self, host: str, port: int, max_connections: int = MAX_CONNECTIONS, chunk_bytes: int = CHUNK_BYTES
    ) -> None:
        self.host = host
        self.port = port
        self.max_connections = max_connections
        self.chunk_bytes = chunk_bytes

    async def serve(self, listener: socket.socket) -> BridgeHandle:
        handle = BridgeHandle()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if handle._closed or len(handle._connections) >= self.max_connections:
                writer.close()
                return
            task = asyncio.current_task()
            assert task is not None
            handle._connections.add(task)
            try:
                await self._bridge(reader, writer)
            finally:
                handle._connections.discard(task)

        handle._server = await asyncio.start_server(accepted, sock=listener, limit=self.chunk_bytes)
        return handle

    async def _bridge(self, inside_reader: asyncio.StreamReader, inside_writer: asyncio.StreamWriter) -> None:
        api_writer = None
        try:
            api_reader, api_writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=self.chunk_bytes), CONNECT_TIMEOUT_S
            )
            pipes = [
                asyncio.ensure_future(self._pipe(inside_reader, api_writer)),
                asyncio.ensure_future(self._pipe(api_reader, inside_writer)),
            ]
            try:
                # 3. Both directions ended, or one failed: both sides are closed below.
                await asyncio.wait(pipes, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except (OSError, asyncio.TimeoutError) as error:
            log.debug("API bridge connection ended: %s", error)
        finally:
            for writer in (inside_writer, api_writer):
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(Exception):
                        await writer.wait_closed()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Copy until end of stream, holding at most one chunk; pass the half-close on."""
        while True:
            data = await reader.read(self.chunk_bytes)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        # Pass the half-close on: an HTTP client may shut its sending side and still read the answer.
        if writer.can_write_eof():
            writer.write_eof()
