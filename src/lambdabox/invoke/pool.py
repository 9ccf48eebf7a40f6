"""Warm execution environments, kept per blueprint and reused one invocation at a time.

Guarantees:
1. `checkout(blueprint)` yields an environment of exactly that blueprint (same version and
   revision) that no one else is using: the most recently used idle one, or a new one
   (then `cold` is True and INIT has run). An INIT that fails with an error (not a timeout)
   is run once more in a new sandbox, in the invoke phase and the same log stream, as
   Lambda does for the invoke that found it failed; a second failure propagates (its
   report holds both INITs' lines), and nothing is kept.
2. A new environment is created only when the function has a scale-out token (see
   `scaling`) and its MemorySize fits under the memory cap. To fit, the least recently used
   idle environments of any function are shut down first, and the new sandbox is created
   only after they are gone. When neither a token nor room can be had, `checkout` raises
   TooManyRequests before anything changed (no token spent, nothing shut down); the memory
   check comes first.
3. The total MemorySize of environments whose sandbox exists or is being created never
   exceeds the memory cap (None: no cap). An environment counts from the moment its
   creation is decided until its shutdown has finished.
4. When the `async with` block ends, a spent environment (dead, or its runtime exited or
   dropped its Runtime API connection) is destroyed; a live one goes back to the idle set
   (its sandbox frozen), unless it was retired meanwhile or its credentials are no longer
   usable. An idle one whose runtime has since ended is destroyed at `checkout`, which
   takes another, and by the reaper: it is never handed an invoke.
5. `retire(stale)` destroys the idle environments `stale` picks and marks busy ones so
   they are destroyed when their invocation ends: updated or deleted functions never
   serve again from an old environment.
6. Idle environments are destroyed after `idle_timeout_s` without use.
7. `close()` destroys every environment, idle or busy, and stops the reaper.
8. An environment of a SnapStart blueprint is restored from its version's template
   (see `snapshots`), started first if need be; templates count against the memory cap.
9. Environments started elsewhere (provisioned ones) count too: `count_also` adds what they
   hold, and `room(memory_mb)` makes room for one as for a new environment of ours (or
   raises TooManyRequests), counting it for the body of the `async with`.
10. Every environment is started with credentials of its own (`credentials.issue`), and is
   never handed an invoke once they are within their margin of expiry (`credentials.usable`):
   `checkout` destroys such an idle one and takes another, and the reaper retires them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from lambdabox.invoke.blueprint import Blueprint
from lambdabox.invoke.environment import INVOKE_PHASE, Environment, InitReport, log_failed_invoke
from lambdabox.invoke.limits import ACCOUNT_EXCEEDED, throttled
from lambdabox.invoke.role_credentials import RoleCredentials
from lambdabox.invoke.scaling import ScaleOutLimiter, ScaleRate
from lambdabox.invoke.snapshots import Snapshots
from lambdabox.model.errors import TooManyRequests
from lambdabox.observe.logs import LogStore
from lambdabox.runtime.api import InitFailed
from lambdabox.sandbox.api import SandboxFactory

log = logging.getLogger(__name__)

#: How often the reaper looks for environments idle too long, in seconds.
REAP_INTERVAL_S = 1.0
#: The Reason of a throttle for the memory cap. AWS has no such limit (its hosts are not the
#: caller's); the cap is this server's concurrency, shared by every function and account, so
#: it answers as the account-level concurrency limit does.
MEMORY_CAP_EXCEEDED = ACCOUNT_EXCEEDED
#: The error type of an INIT that overran its time: not run again (Lambda would, with the function's timeout).
INIT_TIMEOUT = "Runtime.InitTimeout"


class EnvironmentPool:
    def __init__(
        self,
        factory: SandboxFactory,
        logs: LogStore,
        credentials: RoleCredentials,
        idle_timeout_s: float,
        scale_out: ScaleOutLimiter | None = None,
        memory_cap_mb: int | None = None,
        snapshots: Snapshots | None = None,
    ) -> None:
        self._factory = factory
        self._logs = logs
        self._credentials = credentials
        self._idle_timeout_s = idle_timeout_s
        self._scale_out = scale_out or ScaleOutLimiter(ScaleRate())
        self._memory_cap_mb = memory_cap_mb
        self._snapshots = snapshots
        self._elsewhere: Callable[[], int] = lambda: 0
        self._idle: dict[tuple, list[Environment]] = {}
        self._busy: set[Environment] = set()
        self._retired: set[Environment] = set()
        #: Every environment counted against the memory cap: idle, busy, or shutting down.
        self._live: set[Environment] = set()
        #: MemorySize of environments being created (INIT, or waiting for room).
        self._starting_mb = 0
        self._reaper: asyncio.Task | None = None

    def start(self) -> None:
        self._reaper = asyncio.ensure_future(self._reap())

    @asynccontextmanager
    async def checkout(self, blueprint: Blueprint) -> AsyncIterator[tuple[Environment, bool]]:
        environment = await self._take_idle(blueprint)
        cold = environment is None
        if environment is None:
            environment = await self._create(blueprint)
        self._busy.add(environment)
        try:
            yield environment, cold
        finally:
            self._busy.discard(environment)
            if environment.spent or environment in self._retired or not self._usable(environment):
                self._retired.discard(environment)
                await self._destroy(environment)
            else:
                self._idle.setdefault(blueprint.key, []).append(environment)

    async def _take_idle(self, blueprint: Blueprint) -> Environment | None:
        """The most recently used idle environment of `blueprint` that may take an invoke (guarantees 4 and 10)."""
        # Looked up again after each await: `retire` may have replaced the list meanwhile.
        while idle := self._idle.get(blueprint.key):
            environment = idle.pop()
            if not environment.spent and self._usable(environment):
                return environment
            await self._destroy(environment)
        return None

    def _usable(self, environment: Environment) -> bool:
        return self._credentials.usable(environment.credentials_expire)

    def environments(self) -> list[Environment]:
        return [*self._busy, *(env for envs in self._idle.values() for env in envs)]

    def memory_mb(self) -> int:
        """The MemorySize counted against the cap now (guarantee 3)."""
        templates = self._snapshots.memory_mb() if self._snapshots is not None else 0
        return sum(env.blueprint.memory_mb for env in self._live) + self._starting_mb + templates + self._elsewhere()

    def count_also(self, memory_mb: Callable[[], int]) -> None:
        """Count what `memory_mb()` reports (environments held elsewhere) against the cap too."""
        self._elsewhere = memory_mb

    @asynccontextmanager
    async def room(self, memory_mb: int) -> AsyncIterator[None]:
        """Room for an environment started elsewhere, counted while the body of the `async with` starts it.

        Raises TooManyRequests, and logs nothing, when there is no room: the caller decides
        how often that is worth saying.
        """
        evicted = self._room_for(memory_mb)
        self._forget_evicted(evicted)
        with self._reserving(memory_mb):
            for environment in evicted:
                await self._shut_down(environment)
            yield

    async def _create(self, blueprint: Blueprint) -> Environment:
        """A new environment, once a scale-out token and room in memory are had (guarantee 2)."""
        try:
            evicted = self._room_for(blueprint.memory_mb)
        except TooManyRequests:
            log.warning(
                "throttled an invoke: %d MB more would exceed the memory cap of %d MB (%d MB in use, %d MB idle)",
                blueprint.memory_mb, self._memory_cap_mb, self.memory_mb(),
                sum(env.blueprint.memory_mb for envs in self._idle.values() for env in envs),
            )
            raise
        self._scale_out.take((blueprint.scope.account, blueprint.scope.region, blueprint.name))
        # Nothing can fail from here to the reservation, and nothing awaits: no other
        # checkout sees the evicted environments, or the room they leave, in between.
        self._forget_evicted(evicted)
        with self._reserving(blueprint.memory_mb):
            for environment in evicted:
                await self._shut_down(environment)
            template = None
            if blueprint.restores and self._snapshots is not None:
                template = await self._snapshots.template(blueprint)
            try:
                environment = await Environment.start(
                    blueprint, self._factory, self._logs, template, credentials=self._credentials.issue(blueprint)
                )
            except InitFailed as failed:
                if template is not None or not isinstance(failed.report, InitReport) or failed.error_type == INIT_TIMEOUT:
                    raise
                environment = await self._start_again(blueprint, failed.report)
            self._live.add(environment)
        return environment

    async def _start_again(self, blueprint: Blueprint, first: InitReport) -> Environment:
        """INIT once more, in the invoke phase, after `first` failed (guarantee 1)."""
        try:
            return await Environment.start(
                blueprint, self._factory, self._logs, credentials=self._credentials.issue(blueprint),
                phase=INVOKE_PHASE, stream_name=first.stream_name,
            )
        except InitFailed as again:
            if isinstance(again.report, InitReport):
                again.report = dataclasses.replace(again.report, log_lines=[*first.log_lines, *again.report.log_lines])
            raise

    def log_failed_invoke(self, blueprint: Blueprint, failure: InitFailed, request_id: str) -> list[str]:
        """Log the START, END and REPORT of an invoke whose INIT failed; its log lines, INIT's first."""
        return log_failed_invoke(self._logs, blueprint, failure, request_id)

    def _forget_evicted(self, evicted: list[Environment]) -> None:
        for environment in evicted:
            self._idle[environment.blueprint.key].remove(environment)
            self._live.discard(environment)

    def _room_for(self, memory_mb: int) -> list[Environment]:
        """The idle environments to shut down so `memory_mb` more fits, least recently used first.

        Raises TooManyRequests when even all idle environments would not make room.
        """
        if self._memory_cap_mb is None:
            return []
        excess = self.memory_mb() + memory_mb - self._memory_cap_mb
        if excess <= 0:
            return []
        evicted: list[Environment] = []
        for environment in sorted((env for envs in self._idle.values() for env in envs), key=lambda env: env.last_used):
            if excess <= 0:
                break
            evicted.append(environment)
            excess -= environment.blueprint.memory_mb
        if excess > 0:
            raise throttled(MEMORY_CAP_EXCEEDED)
        return evicted

    @contextmanager
    def _reserving(self, memory_mb: int) -> Iterator[None]:
        """Count `memory_mb` of an environment being created for the body of the `with`."""
        self._starting_mb += memory_mb
        try:
            yield
        finally:
            self._starting_mb -= memory_mb

    async def _destroy(self, environment: Environment) -> None:
        """Shut an environment down; its memory stays counted until it is gone."""
        try:
            await environment.destroy()
        finally:
            self._live.discard(environment)

    async def _shut_down(self, environment: Environment) -> None:
        """Shut down an environment evicted for room; a failure is logged, not the invoke's."""
        try:
            await environment.destroy()
        except Exception:
            log.exception("could not shut down evicted environment %s", environment.id)

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
            await self._destroy(environment)
        return len(doomed)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            horizon = time.monotonic() - self._idle_timeout_s
            try:
                await self.retire(
                    lambda env: (env not in self._busy and (env.last_used < horizon or env.spent)) or not self._usable(env)
                )
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
                await self._destroy(environment)
            except Exception:
                log.exception("could not destroy environment %s", environment.id)
