"""The periodic sweep of the log directory: retention (events older than their group's retention are
deleted, see LogStore.expire), then the size cap.

Contract:
1. `start()` begins sweeping on the running loop: every `interval_s`, and sooner when more
   than an eighth of the size cap was written since the last sweep (checked every
   CHECK_INTERVAL_S), so a burst of logging cannot outrun the cap by a whole interval.
2. Each sweep walks the directory in a worker thread (the loop never waits on the disk);
   a failed sweep is logged and the next one runs as planned.
3. `stop()` cancels the sweeping and waits for a sweep in progress to end. Idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time

from lambdabox.observe.logs import LogStore

log = logging.getLogger(__name__)

#: How often the sweeper checks whether enough was written to sweep early, in seconds.
CHECK_INTERVAL_S = 1.0


class LogSweeper:
    def __init__(self, store: LogStore, interval_s: float) -> None:
        self._store = store
        self._interval_s = interval_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _due_early(self) -> bool:
        cap = self._store.max_bytes
        return cap is not None and self._store.written_since_sweep > cap // 8

    async def _run(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(min(self._interval_s, CHECK_INTERVAL_S))
            if time.monotonic() - last < self._interval_s and not self._due_early():
                continue
            last = time.monotonic()
            try:
                expired, trimmed = await asyncio.to_thread(self._store.sweep)
            except OSError:
                log.exception("the log sweep failed")
                continue
            if expired or trimmed:
                log.info("log sweep: %d streams past their retention, %d deleted for the size cap", expired, trimmed)
