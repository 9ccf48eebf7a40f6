"""Pull requests to one JetStream durable consumer, with their messages gathered by a callback.

nats-py's `fetch` awaits each message of a batch separately, which costs more than the rest of a
NATS mapping's work together; here one inbox subscription appends each message to a buffer.

Contract: one pull request is open at a time. `take(count, wait_s)` opens one (for up to `count`
messages and `ahead` more, open for `REQUEST_S`) when none is open and the buffer is empty, and
returns, within `wait_s`, what the buffer holds (at most `count`; maybe nothing). Messages a request
brings after a `take` returned stay in the buffer for the next, marked in progress every `keep_s`
so that NATS does not hand them out again meanwhile. Messages never taken are not acked: NATS hands
them out again after its ack wait (`give_back`, after which the puller is not used, at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

#: How long one pull request stays open on the server, in seconds.
REQUEST_S = 5.0
#: The status a request ends with (no messages, timeout, conflicts such as a deleted consumer).
_ENDING = ("404", "408", "409")


class Puller:
    def __init__(self, connection: Any, stream: str, consumer: str, ahead: int, keep_s: float) -> None:
        self._connection = connection
        self._ahead = ahead
        self._keep_s = keep_s
        self._keeper: asyncio.Task | None = None
        self._subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
        self._inbox = connection.new_inbox()
        self._buffer: list[Any] = []
        #: Messages the open request may still bring; 0: none is open.
        self._owed = 0
        self._arrived = asyncio.Event()
        self._subscription: Any = None
        #: Why the last request ended in a conflict (409), to raise from the next take.
        self._conflict: str | None = None

    async def start(self) -> None:
        self._subscription = await self._connection.subscribe(self._inbox, cb=self._on_message)
        self._keeper = asyncio.get_running_loop().create_task(self._keep_buffered())

    async def _keep_buffered(self) -> None:
        while True:
            await asyncio.sleep(self._keep_s)
            for message in list(self._buffer):
                with contextlib.suppress(Exception):
                    await message.in_progress()

    async def _on_message(self, message: Any) -> None:
        # A status (the end of a request, a heartbeat) has no reply subject; a stream's message has its ack subject.
        status = (message.headers or {}).get("Status", "") if not message.reply else None
        if status is not None:
            if status in _ENDING:
                self._owed = 0
                if status == "409":
                    self._conflict = (message.headers or {}).get("Description", "conflict")
                self._arrived.set()
            return
        self._buffer.append(message)
        self._owed = max(self._owed - 1, 0)
        self._arrived.set()

    async def take(self, count: int, wait_s: float) -> list[Any]:
        if self._conflict is not None:
            conflict, self._conflict = self._conflict, None
            raise ConnectionError(f"pull request refused: {conflict}")
        if not self._buffer and self._owed == 0:
            self._owed = count + self._ahead
            self._arrived.clear()
            request = {"batch": self._owed, "expires": int(REQUEST_S * 1_000_000_000)}
            await self._connection.publish(self._subject, json.dumps(request).encode(), reply=self._inbox)
        if not self._buffer:
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), wait_s)
        taken, self._buffer = self._buffer[:count], self._buffer[count:]
        return taken

    async def give_back(self) -> None:
        """Nak what the buffer holds, so NATS hands it out again at once."""
        if self._keeper is not None:
            self._keeper.cancel()
        held, self._buffer = self._buffer, []
        for message in held:
            with contextlib.suppress(Exception):
                await message.nak()
