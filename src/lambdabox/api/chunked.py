"""A streamed HTTP answer (chunked on HTTP/1.1) whose body may be cut, and whose client may leave.

`ChunkedResponse` sends its body iterator's blocks as they come. Its iterator may raise `Cut`: the
answer then ends without its last chunk (the server closes the connection), so the client sees a
truncated body rather than a complete one. A client that leaves ends the sending quietly. Either way
the iterator is closed at once, so whatever it holds (a streamed run) is let go.
"""

from __future__ import annotations

from starlette.responses import StreamingResponse
from starlette.types import Send


class Cut(Exception):
    """Raised by a body iterator: end the answer without its last chunk."""


class ChunkedResponse(StreamingResponse):
    async def stream_response(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        try:
            async for block in self.body_iterator:
                await send({"type": "http.response.body", "body": block, "more_body": True})
        except Cut:
            # Returning with the body unfinished makes the server close the connection.
            return
        except OSError:
            return  # The client left.
        finally:
            await self.body_iterator.aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})
