"""Warm execution environments, kept per blueprint and reused one invocation at a time.

Guarantees:
1. `checkout(blueprint)` yields an environment of exactly that blueprint (same version and
   revision) that no one else is using: the most recently used idle one, or a new one
   (then `cold` is True and INIT has run). An INIT failure propagates; nothing is kept.
2. When the `async with` block ends, a dead environment is destroyed; a live one goes
   back to the idle set (its sandbox frozen), unless it was retired meanwhile.
3. `retire(stale)` destroys the idle environments `stale` picks and marks busy ones so
   they are destroyed when their invocation ends: updated or deleted functions never
   serve again from an old environment.
4. Idle environments are destroyed after `idle_timeout_s` without use.
5. `close()` destroys every environment, idle or busy, and stops the reaper.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from lambdabox.invoke.blueprint import Blueprint
from lambdabox.invoke.environment import Environment
from lambdabox.observe.logs import LogStore
from lambdabox.sandbox.api import SandboxFactory

log = logging.getLogger(__name__)

#: How often the reaper looks for environments idle too long, in seconds.
REAP_INTERVAL_S = 1.0


class EnvironmentPool:
    def __init__(self, factory: SandboxFactory, logs: LogStore, idle_timeout_s: float) -> None:
        self._factory = factory
        self._logs = logs
        self._idle_timeout_s = idle_timeout_s
        self._idle: dict[tuple, list[Environment]] = {}
        self._busy: set[Environment] = set()
        self._retired: set[Environment] = set()
        self._reaper: asyncio.Task | None = None

    def start(self) -> None:
        self._reaper = asyncio.ensure_future(self._reap())

    @asynccontextmanager
    async def checkout(self, blueprint: Blueprint) -> AsyncIterator[tuple[Environment, bool]]:
        idle = self._idle.get(blueprint.key)
        if idle:
            environment, cold = idle.pop(), False
        else:
            environment, cold = await Environment.start(blueprint, self._factory, self._logs), True
        self._busy.add(environment)
        try:
            yield environment, cold
        finally:
            self._busy.discard(environment)
            if environment.dead or environment in self._retired:
                self._retired.discard(environment)
                await environment.destroy()
            else:
                self._idle.setdefault(blueprint.key, []).append(environment)

    def environments(self) -> list[Environment]:
        return [*self._busy, *(env for envs in self._idle.values() for env in envs)]

    async def retire(self, stale: Callable[[Environment], bool]) -> int:
        doomed = []
        for key, environments in list(self._idle.items()):
            keep = [env for env in environments if not stale(env)]
            doomed += [env for env in environments if stale(env)]
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        self._retired.update(env for env in self._busy if stale(env))
        for environment in doomed:
            await environment.destroy()
        return len(doomed)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            horizon = time.monotonic() - self._idle_timeout_s
            try:
                await self.retire(lambda env: env.last_used < horizon and env not in self._busy)
            except Exception:
                log.exception("reaping idle environments failed")

    async def close(self) -> None:
        """Shutdown: 1. stop reaping; 2. destroy idle environments; 3. destroy busy ones."""
        if self._reaper is not None:
            self._reaper.cancel()
        everything = self.environments()
        self._idle.clear()
        self._busy.clear()
        for environment in everything:
            try:
                await environment.destroy()
            except Exception:
                log.exception("could not destroy environment %s", environment.id)
