"""The `application/vnd.amazon.eventstream` framing InvokeWithResponseStream answers in.

One message is: its total length and its headers' length (4 bytes each, big-endian), a CRC32 of those 8
bytes, the headers, the payload, and a CRC32 of everything before it. A header is its name's length
(1 byte), the name, a value type (7: a string), the value's length (2 bytes) and the value. Lambda's
events are `PayloadChunk` (the payload is the function's bytes, as they came) and `InvokeComplete` (a
JSON object with ErrorCode, ErrorDetails and LogResult when there are any).
"""

from __future__ import annotations

import json
import struct
import zlib

#: The content type of the whole answer.
CONTENT_TYPE = "application/vnd.amazon.eventstream"
#: The value type of a string header.
_STRING = 7
#: Prelude (12 bytes) and message CRC (4 bytes) around the headers and the payload.
_OVERHEAD_BYTES = 16

_CHUNK_HEADERS = ((":event-type", "PayloadChunk"), (":content-type", "application/octet-stream"), (":message-type", "event"))
_COMPLETE_HEADERS = ((":event-type", "InvokeComplete"), (":content-type", "application/json"), (":message-type", "event"))


def _headers(headers: tuple[tuple[str, str], ...]) -> bytes:
    encoded = bytearray()
    for name, value in headers:
        raw_name, raw_value = name.encode(), value.encode()
        encoded += struct.pack("!B", len(raw_name)) + raw_name
        encoded += struct.pack("!BH", _STRING, len(raw_value)) + raw_value
    return bytes(encoded)


#: Headers are the same on every message of a kind: encoded once.
_CHUNK = _headers(_CHUNK_HEADERS)
_COMPLETE = _headers(_COMPLETE_HEADERS)


def message(headers: bytes, payload: bytes) -> bytes:
    """One message of encoded `headers` and `payload`."""
    lengths = struct.pack("!II", _OVERHEAD_BYTES + len(headers) + len(payload), len(headers))
    prelude = lengths + struct.pack("!I", zlib.crc32(lengths))
    crc = zlib.crc32(payload, zlib.crc32(headers, zlib.crc32(prelude)))
    return b"".join((prelude, headers, payload, struct.pack("!I", crc)))


def payload_chunk(data: bytes) -> bytes:
    return message(_CHUNK, data)


def invoke_complete(error_code: str | None = None, error_details: str | None = None, log_result: str | None = None) -> bytes:
    fields = {"ErrorCode": error_code, "ErrorDetails": error_details, "LogResult": log_result}
    document = {name: value for name, value in fields.items() if value is not None}
    return message(_COMPLETE, json.dumps(document, separators=(",", ":")).encode())
