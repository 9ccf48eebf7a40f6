"""Reading a request body without trusting its size."""

from __future__ import annotations

from starlette.requests import Request

from lambdabox.model import numerals


async def read_bounded(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it (or its declared length) passes `limit` bytes.

    Nothing past the limit is buffered. Raises ClientDisconnect when the client hangs up before
    the body ends.
    """
    declared = numerals.natural(request.headers.get("content-length"))
    if declared is not None and declared > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
