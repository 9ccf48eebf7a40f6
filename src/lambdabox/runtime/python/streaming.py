"""Response streaming from Python handlers: Lambdabox's extension (Lambda streams from Node.js only).

Loaded by bootstrap.py from beside it (stdlib only, Python 3.9 to 3.14), which hands it every result whose
type has `__next__` (a generator, a file, `iter(...)`) or `__anext__` (an async generator). Each item is sent
on to the Runtime API as soon as the handler yields it, in one POST to /invocation/{id}/response with
`Lambda-Runtime-Function-Response-Mode: streaming` and `Transfer-Encoding: chunked`, as Lambda's Node.js
runtime sends a streamed response. A handler that returns anything else (a list, a dict, bytes) is answered
whole, as before.

1. Items are bytes (bytearray, memoryview) or str (sent as UTF-8); empty ones are skipped.
2. If the first item is a dict, it is the HTTP integration prelude a RESPONSE_STREAM function URL reads
   ({"statusCode", "headers", "cookies"}, as Node's awslambda.HttpResponseStream.from takes it): it is
   sent as JSON followed by 8 NUL bytes, under the content type
   application/vnd.awslambda.http-integration-response. Otherwise the content type is
   application/octet-stream.
3. An exception the iterator raises, an item of another type, or a prelude that is not JSON ends the
   stream with the error in the trailers `Lambda-Runtime-Function-Error-Type` and
   `Lambda-Runtime-Function-Error-Body` (base64 of Lambda's error document: errorMessage, errorType,
   requestId, stackTrace), declared up front in a `Trailer` header. What was sent stays sent.
4. However the stream ends, the iterator is closed (a generator's `finally` runs), then the runtime
   waits for the next event. If the Runtime API cuts the stream (it refused the response, say), the
   iterator is closed and the runtime reconnects for the next event.
A plain Invoke of such a handler gets the items joined, as Lambda buffers a streamed response then.
"""

import json
import os
import sys

_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
#: A stream's content type without a prelude (Lambda's default for a streamed response).
_DEFAULT_CONTENT_TYPE = "application/octet-stream"
_HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
#: What separates the prelude from the body: 8 NUL bytes, as Lambda reads it.
_DELIMITER = b"\0" * 8
#: Items up to this size (bytes) are framed in one write; larger ones are sent without a copy.
_JOIN_LIMIT = 65536

_THIS_FILE = os.path.abspath(__file__)
#: Stands for "no item" (None is an item, and not a valid one).
_NOTHING = object()


class _Failed(Exception):
    """The stream ends with this error document in its trailers."""

    def __init__(self, document):
        Exception.__init__(self, document["errorMessage"])
        self.document = document


def respond(runtime, request_id, result):
    """Stream `result` as invocation `request_id`'s response through `runtime` (bootstrap.py's Runtime)."""
    items = _from_async(result) if hasattr(type(result), "__anext__") else result
    pieces = _pieces(runtime, request_id, items)
    try:
        # The first piece is the content type, known once the first item is.
        content_type = next(pieces)
        headers = {
            "Content-Type": content_type,
            "Lambda-Runtime-Function-Response-Mode": "streaming",
            "Transfer-Encoding": "chunked",
            "Trailer": "%s, %s" % (_ERROR_TYPE, _ERROR_BODY),
        }
        path = "/2018-06-01/runtime/invocation/%s/response" % request_id
        try:
            status, _, answer = runtime.client.stream(path, headers, pieces)
        except runtime.client.errors as exc:
            sys.stderr.write("lambdabox runtime: the response stream broke ({})\n".format(exc))
            return
    finally:
        pieces.close()
    if status != 202:
        sys.stderr.write("lambdabox runtime: the result was refused ({}): {!r}\n".format(status, answer[:200]))


def _pieces(runtime, request_id, items):
    """The content type, then the body's chunks framed for the wire, then its last chunk and trailers."""
    iterator = first = _NOTHING
    document = None
    try:
        try:
            iterator = iter(items)
            first = next(iterator, _NOTHING)
        except Exception as exc:
            document = _document(exc, request_id)
        yield _HTTP_INTEGRATION if isinstance(first, dict) else _DEFAULT_CONTENT_TYPE
        if document is None:
            try:
                for piece in _body(runtime, first, iterator):
                    yield piece
            except Exception as exc:
                document = _document(exc, request_id)
        yield _last_chunk(runtime, document)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                sys.stderr.write("lambdabox runtime: closing the handler's iterator failed ({!r})\n".format(exc))


def _body(runtime, first, iterator):
    if isinstance(first, dict):
        yield _frame(_prelude(runtime, first) + _DELIMITER)
    elif first is not _NOTHING:
        yield _frame(_as_bytes(first))
    for item in iterator:
        data = _as_bytes(item)
        if len(data) > _JOIN_LIMIT:
            yield b"%x\r\n" % len(data)
            yield data
            yield b"\r\n"
        elif data:
            yield _frame(data)


def _last_chunk(runtime, document):
    """The chunked body's end: with the error trailers if `document` (an error document) is not None."""
    if document is None:
        return b"0\r\n\r\n"
    import base64

    runtime.log.error(document)
    body = base64.b64encode(json.dumps(document).encode("utf-8"))
    # A header value holds printable ASCII only.
    error_type = "".join(c for c in str(document["errorType"]) if " " <= c <= "~")[:1024] or "Unknown"
    return b"".join((b"0\r\n", _ERROR_TYPE.encode(), b": ", error_type.encode("ascii"), b"\r\n",
                     _ERROR_BODY.encode(), b": ", body, b"\r\n\r\n"))


def _document(exc, request_id):
    if isinstance(exc, _Failed):
        return dict(exc.document, requestId=request_id)
    return _exception_document(exc, request_id)


def _frame(data):
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def _marshal_error(message):
    return _Failed({"errorMessage": "Unable to marshal response: " + message, "errorType": "Runtime.MarshalError",
                    "requestId": "", "stackTrace": []})


def _as_bytes(item):
    if isinstance(item, bytes):
        return item
    if isinstance(item, (bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, str):
        try:
            return item.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise _marshal_error(str(exc))
    raise _marshal_error("a streamed item must be bytes or str, not {}".format(type(item).__name__))


def _prelude(runtime, metadata):
    try:
        return runtime.encoder.encode(metadata).encode("utf-8")
    except Exception as exc:
        raise _marshal_error("the prelude is not JSON: {}".format(exc))


def _exception_document(exc, request_id):
    """Lambda's error document for an exception of the handler's iterator, without this runtime's frames."""
    import traceback

    frames = traceback.extract_tb(exc.__traceback__)
    # Ours, and asyncio's when an async generator ran on our event loop.
    asyncio = sys.modules.get("asyncio")
    asyncio_dir = os.path.dirname(asyncio.__file__) + os.sep if asyncio else _THIS_FILE
    start = 0
    while start < len(frames) and (frames[start].filename == _THIS_FILE or
                                   frames[start].filename.startswith(asyncio_dir)):
        start += 1
    try:
        message = str(exc)
    except Exception:
        message = "<the exception's message could not be read>"
    return {"errorMessage": message, "errorType": type(exc).__name__, "requestId": request_id,
            "stackTrace": traceback.format_list(frames[start:])}


def _from_async(iterator):
    """An async iterator's items, each awaited on an event loop of its own (closed at the end)."""
    import asyncio

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        while True:
            try:
                yield loop.run_until_complete(iterator.__anext__())
            except StopAsyncIteration:
                return
    finally:
        try:
            if hasattr(iterator, "aclose"):
                loop.run_until_complete(iterator.aclose())
        finally:
            asyncio.set_event_loop(None)
            loop.close()
