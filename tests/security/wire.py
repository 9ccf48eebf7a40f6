"""Raw HTTP for the security tests: what boto3 cannot send, and a look at the server's log."""

from __future__ import annotations

import http.client
import socket

from support import Answer

def auth(service: str = "lambda") -> str:
    """A SigV4-looking Authorization header that does not verify: Lambdabox still routes by its credential scope."""
    return (
        f"AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host, Signature=x"
    )


#: What must never appear in the server's log after hostile input.
LOG_ALARMS = ("Traceback", "internal error", "Internal Server Error", "Exception in ASGI application", " ERROR ")


def send(
    server, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
    service: str = "lambda", timeout: float = 60,
) -> Answer:
    """One request with the given body and headers (plus a Content-Type), signed as the default account's root."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    try:
        content_type = "application/x-www-form-urlencoded" if service in ("iam", "sts") else "application/json"
        signed = server.signed(method, path, body or b"", {"Content-Type": content_type, **(headers or {})}, service)
        connection.request(method, path, body=body, headers=signed)
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def hang_up_mid_body(server, method: str, path: str, declared: int, sent: bytes, service: str = "lambda") -> None:
    """Declare a body of `declared` bytes, send only `sent`, and close the connection."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAuthorization: {auth(service)}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + sent)


def log_alarms(text: str) -> list[str]:
    """The lines of a server log that report an internal error or a traceback."""
    return [line for line in text.splitlines() if any(alarm in line for alarm in LOG_ALARMS)]
