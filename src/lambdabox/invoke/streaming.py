"""A synchronous run whose response may stream: the run goes on while its reader delivers what has come.

`StreamedRun.start(run)` calls `run(sink)` (Invoker.run with a StreamedBody) in a task of its own, and
returns once the runtime has begun a streamed response or the run has ended, whichever comes first:
1. A run that fails before it streams (a throttle, a missing function) raises from `start`, as Invoke would.
2. `streaming` tells whether the runtime streamed. If so, `blocks()` gives the body as it arrives, and
   ends when the run is over; if not, the whole outcome is in `finish()`.
3. `finish()` waits for the run's end and gives its `Run`: the outcome says how it ended (a timeout, a
   crash, an error from the trailers, the size limit), the log lines are the invocation's.
4. `abandon()` (the reader went away): the rest of the body is dropped; the run itself goes on to its end,
   holding its concurrency lease and environment until then, as on Lambda.
The sink is closed when the run ends, however it ends, so no reader waits past it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

from lambdabox.runtime.streamed_response import Bandwidth, StreamedBody

if TYPE_CHECKING:
    from lambdabox.invoke.invoker import Run

log = logging.getLogger(__name__)


class StreamedRun:
    def __init__(self, task: asyncio.Task, sink: StreamedBody) -> None:
        self._task = task
        self._sink = sink

    @classmethod
    async def start(cls, run: Callable[[StreamedBody], Awaitable[Run]], bandwidth: Bandwidth | None = None) -> StreamedRun:
        """Start `run`; its body is paced by `bandwidth` (none: as fast as it comes)."""
        sink = StreamedBody(bandwidth=bandwidth)
        task = asyncio.ensure_future(run(sink))
        task.add_done_callback(lambda _: sink.close())
        began = asyncio.ensure_future(sink.began.wait())
        try:
            await asyncio.wait({task, began}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # The caller went away before anything was said: the run still ends on its own.
            sink.abandon()
            task.add_done_callback(_retrieve)
            raise
        finally:
            began.cancel()
        if task.done() and not sink.began.is_set():
            task.result()  # Raises what stopped the run (a throttle, say).
        return cls(task, sink)

    @property
    def streaming(self) -> bool:
        return self._sink.began.is_set()

    @property
    def content_type(self) -> str:
        """The streamed response's content type (as the runtime posted it)."""
        return self._sink.content_type

    def blocks(self) -> AsyncIterator[bytes]:
        return self._sink.blocks()

    async def finish(self) -> Run:
        return await asyncio.shield(self._task)

    def abandon(self) -> None:
        self._sink.abandon()
        if not self._task.done():
            self._task.add_done_callback(_retrieve)


def _retrieve(task: asyncio.Task) -> None:
    """Log how a run nobody waits for ended, so its failure is not lost."""
    if not task.cancelled() and task.exception() is not None:
        log.info("a streamed run whose reader left ended with %r", task.exception())
