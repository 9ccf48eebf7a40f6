"""The API bridge over real sockets: an upstream server on loopback, clients connecting to the listener."""

from __future__ import annotations

import asyncio
import socket

from lambdabox.invoke.api_bridge import ApiBridge


def _listener() -> socket.socket:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    return listener


async def _upstream(handler):
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def _answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Reads the whole request (until the client half-closes), answers with its length and bytes reversed."""
    request = await reader.read()
    writer.write(f"{len(request)}:".encode() + request[::-1])
    await writer.drain()
    writer.close()


def test_bytes_pass_both_ways_with_half_close():
    async def scenario():
        upstream, port = await _upstream(_answer_after_eof)
        listener = _listener()
        handle = await ApiBridge("127.0.0.1", port).serve(listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        payload = bytes(range(256)) * 4000  # ~1 MB, more than one chunk each way
        writer.write(payload)
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer == f"{len(payload)}:".encode() + payload[::-1]
        writer.close()
        await handle.close()
        upstream.close()

    asyncio.run(scenario())


def test_connections_past_the_cap_are_closed_unanswered():
    async def scenario():
        async def hold(reader, writer):
            await reader.read()
            writer.close()

        upstream, port = await _upstream(hold)
        listener = _listener()
        handle = await ApiBridge("127.0.0.1", port, max_connections=2).serve(listener)
        held = [await asyncio.open_connection(*listener.getsockname()) for _ in range(2)]
        for _ in range(50):
            if handle.connections == 2:
                break
            await asyncio.sleep(0.02)
        assert handle.connections == 2
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed at once
        assert handle.connections == 2
        # One of the held ones goes: there is room again.
        held[0][1].close()
        for _ in range(50):
            if handle.connections == 1:
                break
            await asyncio.sleep(0.02)
        assert handle.connections == 1
        for _, held_writer in held[1:]:
            held_writer.close()
        await handle.close()
        upstream.close()

    asyncio.run(scenario())


def test_close_ends_connections_and_stops_accepting():
    async def scenario():
        async def silent(reader, writer):
            await reader.read()

        upstream, port = await _upstream(silent)
        listener = _listener()
        address = listener.getsockname()
        handle = await ApiBridge("127.0.0.1", port).serve(listener)
        reader, writer = await asyncio.open_connection(*address)
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.1)
        assert handle.connections == 1
        await asyncio.wait_for(handle.close(), 5)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert handle.connections == 0
        try:
            await asyncio.open_connection(*address)
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("the listener still accepts after close()")
        await handle.close()  # idempotent
        upstream.close()

    asyncio.run(scenario())


def test_a_client_that_does_not_read_stalls_the_api_side():
    """Backpressure: the bridge buffers a bounded amount, so the upstream's writes stop."""

    async def scenario():
        sent = 0

        async def flood(reader, writer):
            nonlocal sent
            block = b"x" * 65536
            try:
                while sent < 512 * 1024 * 1024:
                    writer.write(block)
                    await writer.drain()
                    sent += len(block)
            except (ConnectionError, OSError):
                pass

        upstream, port = await _upstream(flood)
        listener = _listener()
        handle = await ApiBridge("127.0.0.1", port).serve(listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname(), limit=65536)
        await asyncio.sleep(1.0)
        # Kernel socket buffers on three sockets plus one chunk: a few MB, never the 512 MB offered.
        assert sent < 64 * 1024 * 1024, sent
        stalled_at = sent
        await asyncio.sleep(0.5)
        assert sent == stalled_at
        writer.close()
        await handle.close()
        upstream.close()

    asyncio.run(scenario())


def test_an_unreachable_api_closes_the_connection():
    async def scenario():
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()  # nothing listens there
        listener = _listener()
        handle = await ApiBridge("127.0.0.1", port).serve(listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 10) == b""
        await asyncio.sleep(0.05)
        assert handle.connections == 0
        await handle.close()

    asyncio.run(scenario())
