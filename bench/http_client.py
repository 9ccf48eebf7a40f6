"""A minimal HTTP/1.1 keep-alive client, so the load generator costs the machine as little as possible.

http.client parses every response's headers with the email package, and boto3 signs and
validates each call against the service model: either would make the client, not the
server, the bottleneck on a small machine. This client sends pre-built request bytes and
reads a response framed by Content-Length (or chunked), nothing more.

Contract:
1. `Connection(host, port)` connects at once (TCP_NODELAY) or raises OSError.
2. `exchange(request)` sends one complete request and returns (status, headers, body) with
   header names lowercased; it raises `ConnectionError` if the server closes first, and
   socket.timeout past the connection's timeout. Requests on one connection are sequential.
3. After a response with `Connection: close`, the connection is closed and `exchange` raises.
"""

from __future__ import annotations

import socket

#: How much to read from the socket at a time, in bytes.
RECV_BYTES = 65536


def post(host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one POST request with a JSON body."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def get(host: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one GET request with no body; `host` is the Host header's value (a function URL's host name)."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class Connection:
    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = b""

    def close(self) -> None:
        self._sock.close()

    def exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        self._sock.sendall(request)
        head = self._until(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._chunked()
        else:
            body = self._exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _fill(self) -> None:
        data = self._sock.recv(RECV_BYTES)
        if not data:
            raise ConnectionError("the server closed the connection")
        self._buffer += data

    def _until(self, marker: bytes) -> bytes:
        """Bytes up to `marker`, which is consumed."""
        while (end := self._buffer.find(marker)) < 0:
            self._fill()
        found, self._buffer = self._buffer[:end], self._buffer[end + len(marker) :]
        return found

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        found, self._buffer = self._buffer[:size], self._buffer[size:]
        return found

    def _chunked(self) -> bytes:
        parts = []
        while size := int(self._until(b"\r\n").split(b";")[0], 16):
            parts.append(self._exactly(size))
            self._exactly(2)
        self._until(b"\r\n")  # the blank line after the last chunk (no trailers are sent to us)
        return b"".join(parts)
