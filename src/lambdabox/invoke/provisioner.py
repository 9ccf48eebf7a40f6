"""Provisioned concurrency: environments initialized ahead of time for each stored config.

Guarantees:
1. For every stored config the provisioner keeps Requested environments of the version it
   serves (for an alias, its primary version), started with `Environment.start` from the
   version's blueprint with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency. They
   never enter the on-demand pool, and the on-demand pool's never come here.
2. After each pass it writes the config's status (control/provisioned.py,
   `record_allocation`): Allocated and Available count live environments; IN_PROGRESS until
   they match Requested, then READY. After MAX_INIT_ATTEMPTS INIT failures in a row, FAILED
   with FUNCTION_ERROR_INIT_FAILURE, and no further attempts until the config is Put again.
3. `checkout(blueprint)` never waits: it yields a free environment provisioned for that
   blueprint's version and revision, or None when there is none (the caller then goes to the
   on-demand pool). When the `async with` ends, an environment that died (timeout, OOM,
   exit) or was retired meanwhile is destroyed and a replacement is started; a live one is
   free again. INIT ran before the checkout, so its invocations are never cold.
4. A config Put or deleted, a function updated or deleted, an alias moved: on `nudge()`, or
   at the latest after RECONCILE_INTERVAL_S, environments are started, shut down or retired
   to match. A busy environment that must go finishes its invocation first.
5. `start()` provisions every stored config (so a restart re-provisions); `close()` stops
   reconciling, cancels INITs under way and destroys every environment, busy or not.
6. Provisioned environments count against the memory cap: each is started within the
   on-demand pool's `room` (which shuts idle on-demand environments down to make room), and
   `memory_mb()` reports those alive. When there is no room, that is not an INIT failure:
   the allocation tries again with one start at a time, after a wait that doubles from
   INIT_RETRY_DELAY_S up to ROOM_RETRY_MAX_S, and a new Put of the config starts over.
   The log says once that the config is short of room and once that it found room, not
   at every try.
7. Each environment is started with credentials of its own (role_credentials.py). Once
   they are due for renewal, a replacement is started, and the old environment goes when
   the replacement is ready (after its invocation, if busy), so Allocated stays as it is.
   An environment whose credentials are within their margin of expiry is never handed an
   invoke, replaced or not: it is destroyed, and started again as a missing one.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from lambdabox.control import provisioned
from lambdabox.invoke.blueprint import PROVISIONED, Blueprint
from lambdabox.invoke.environment import Environment
from lambdabox.invoke.role_credentials import RoleCredentials
from lambdabox.model.arns import Scope
from lambdabox.model.errors import TooManyRequests
from lambdabox.observe.logs import LogStore
from lambdabox.sandbox.api import SandboxFactory
from lambdabox.store.records import RecordStore

log = logging.getLogger(__name__)

#: Longest wait between two comparisons of stored configs with live environments when
#: nothing nudged, in seconds: it bounds how late an idle environment's death or an alias
#: move is noticed.
RECONCILE_INTERVAL_S = 1.0
#: INIT failures in a row before a config is FAILED (AWS makes 6 attempts, by its logs).
MAX_INIT_ATTEMPTS = 6
#: Pause before another INIT attempt after one failed, in seconds; also the first pause
#: after a start found no room under the memory cap.
INIT_RETRY_DELAY_S = 1.0
#: Longest pause between two tries to find room under the memory cap, in seconds: room
#: comes back only when other environments go, so a config that cannot fit must not spin,
#: yet one that can fit again should not wait long.
ROOM_RETRY_MAX_S = 30.0
#: INITs under way at once across all configs, so a config of 100 does not start 100 runtimes at once.
MAX_PARALLEL_INITS = 8

#: The (on-demand) blueprint of a version record, as the invoker builds and caches it.
BlueprintOf = Callable[[Scope, dict[str, Any]], Awaitable[Blueprint]]

_Key = tuple[str, str, str, str]


def provisioned_blueprint(blueprint: Blueprint) -> Blueprint:
    """The same version's blueprint for provisioned environments: its own key and initialization type."""
    return dataclasses.replace(
        blueprint,
        env={**blueprint.env, "AWS_LAMBDA_INITIALIZATION_TYPE": PROVISIONED},
        initialization_type=PROVISIONED,
        snap_start=False,
    )


def _serves(plan: Blueprint, blueprint: Blueprint) -> bool:
    """Whether an environment of `plan` runs exactly the version and revision `blueprint` is for."""
    return (plan.scope, plan.name, plan.version, plan.revision) == (
        blueprint.scope, blueprint.name, blueprint.version, blueprint.revision
    )


@dataclass(eq=False)
class _Allocation:
    """The environments of one config (a version or an alias of one function)."""

    scope: Scope
    name: str
    qualifier: str
    #: What its environments are started from; None until the version can be built.
    blueprint: Blueprint | None = None
    requested: int = 0
    #: The config's LastModified when last seen: a new Put clears earlier INIT failures.
    last_modified: str = ""
    idle: list[Environment] = field(default_factory=list)
    busy: set[Environment] = field(default_factory=set)
    #: INITs under way.
    starting: int = 0
    #: INIT failures in a row, and when the next attempt may start (time.monotonic()).
    failures: int = 0
    retry_at: float = 0.0
    #: Tries in a row that found no room under the memory cap (guarantee 6); 0 when it fits.
    room_waits: int = 0
    #: Environments whose replacement (for new credentials, guarantee 7) is starting.
    replacing: set[Environment] = field(default_factory=set)

    @property
    def allocated(self) -> int:
        return len(self.idle) + len(self.busy)


class Provisioner:
    def __init__(
        self,
        store: RecordStore,
        factory: SandboxFactory,
        logs: LogStore,
        credentials: RoleCredentials,
        blueprint_of: BlueprintOf,
        room: Callable[[int], AbstractAsyncContextManager[None]] | None = None,
    ) -> None:
        self._store = store
        self._credentials = credentials
        #: Room under the memory cap for one environment of that MemorySize, for its start (guarantee 6).
        self._room = room
        self._factory = factory
        self._logs = logs
        self._blueprint_of = blueprint_of
        self._allocations: dict[_Key, _Allocation] = {}
        #: Environments that must not serve again, destroyed when their invocation ends.
        self._retired: set[Environment] = set()
        self._tasks: set[asyncio.Task] = set()
        self._inits = asyncio.Semaphore(MAX_PARALLEL_INITS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._reconciler: asyncio.Task | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Begin reconciling, on the running loop; the first pass provisions every stored config.

        Before that, every stored status is reset to what is true now, nothing allocated, so no
        client sees a READY left over from before a restart.
        """
        with self._store.transaction() as records:
            for want in provisioned.wanted(records):
                provisioned.record_allocation(records, want.scope, want.name, want.qualifier, 0)
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._reconciler = asyncio.ensure_future(self._run())

    def nudge(self) -> None:
        """Reconcile now rather than at the next interval. Safe to call from any thread."""
        if self._loop is not None and self._wake is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def close(self) -> None:
        """Shutdown: 1. stop reconciling; 2. cancel INITs under way; 3. destroy every environment."""
        if self._reconciler is not None:
            self._reconciler.cancel()
            await asyncio.gather(self._reconciler, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        allocations, self._allocations = list(self._allocations.values()), {}
        everything = [*self._retired, *(env for a in allocations for env in (*a.idle, *a.busy))]
        self._retired.clear()
        for environment in everything:
            await self._destroy(environment)

    def memory_mb(self) -> int:
        """The MemorySize of every provisioned environment alive, busy, idle or retired but still serving."""
        alive = [*self._retired, *(env for allocation in self._allocations.values() for env in (*allocation.idle, *allocation.busy))]
        return sum(environment.blueprint.memory_mb for environment in alive)

    # -- invocations ------------------------------------------------------------------------

    @asynccontextmanager
    async def checkout(self, blueprint: Blueprint) -> AsyncIterator[Environment | None]:
        """A free environment provisioned for `blueprint`'s version, or None at once (guarantee 3)."""
        found = self._take(blueprint)
        if found is None:
            yield None
            return
        allocation, environment = found
        allocation.busy.add(environment)
        try:
            yield environment
        finally:
            allocation.busy.discard(environment)
            current = self._allocations.get(self._key(allocation)) is allocation
            spent = environment.spent or not self._usable(environment)
            if spent or environment in self._retired or not current:
                self._retired.discard(environment)
                await self._destroy(environment)
                self.nudge()
            else:
                allocation.idle.append(environment)

    def _take(self, blueprint: Blueprint) -> tuple[_Allocation, Environment] | None:
        for allocation in self._allocations.values():
            if allocation.blueprint is None or not _serves(allocation.blueprint, blueprint):
                continue
            while allocation.idle:
                environment = allocation.idle.pop()
                if not environment.spent and self._usable(environment):
                    return allocation, environment
                # Died while frozen (killed from outside, say) or after replying, or its credentials are about to expire: replace it.
                self._background(self._destroy(environment))
                self.nudge()
        return None

    # -- reconciling ------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                await self._reconcile()
            except Exception:
                log.exception("provisioning environments failed")
            try:
                await asyncio.wait_for(self._wake.wait(), RECONCILE_INTERVAL_S)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def _reconcile(self) -> None:
        """One pass: match every allocation to its stored config (guarantee 4), then record the status."""
        with self._store.reading() as records:
            wanted = {(w.scope.account, w.scope.region, w.name, w.qualifier): w for w in provisioned.wanted(records)}
        for key in [key for key in self._allocations if key not in wanted]:
            await self._retire_all(self._allocations.pop(key))
        for key, want in wanted.items():
            allocation = self._allocations.setdefault(key, _Allocation(want.scope, want.name, want.qualifier))
            await self._match(allocation, want)
            failure = provisioned.INIT_FAILURE_REASON if allocation.failures >= MAX_INIT_ATTEMPTS else None
            if provisioned.with_allocation(want.config, allocation.allocated, failure) != want.config:
                # Written in a transaction of its own, against the config as it is then (a Put may have come between).
                with self._store.transaction() as records:
                    provisioned.record_allocation(
                        records, want.scope, want.name, want.qualifier, allocation.allocated, failure
                    )

    async def _match(self, allocation: _Allocation, want: provisioned.Wanted) -> None:
        if want.last_modified != allocation.last_modified:
            allocation.last_modified, allocation.failures, allocation.retry_at = want.last_modified, 0, 0.0
            allocation.room_waits = 0
        allocation.requested = want.requested
        if want.record["config"].get("State") != "Active":
            return
        try:
            plan = provisioned_blueprint(await self._blueprint_of(want.scope, want.record))
        except Exception:
            log.exception("cannot build environments of %s:%s", want.name, want.version)
            allocation.failures += 1
            return
        if allocation.blueprint is None or allocation.blueprint.key != plan.key:
            # A new version behind the alias (or a first pass): the old environments go.
            await self._retire_all(allocation)
            allocation.blueprint = plan
        for environment in [env for env in allocation.idle if env.spent or not self._usable(env)]:
            allocation.idle.remove(environment)
            await self._destroy(environment)
        # Shrink: idle environments first, least recently used first; then busy ones, after their invocation.
        allocation.idle.sort(key=lambda env: env.last_used)
        while allocation.allocated > allocation.requested and allocation.idle:
            await self._destroy(allocation.idle.pop(0))
        while allocation.allocated > allocation.requested:
            self._retired.add(allocation.busy.pop())
        may_start = allocation.failures < MAX_INIT_ATTEMPTS and time.monotonic() >= allocation.retry_at
        # Grow.
        missing = allocation.requested - allocation.allocated - allocation.starting
        if missing > 0 and may_start:
            # Short of room, one start finds out whether there is room again for the rest.
            for _ in range(1 if allocation.room_waits else missing):
                allocation.starting += 1
                self._background(self._start_one(allocation, allocation.blueprint))
        # Renew (guarantee 7): a replacement for each environment whose credentials are due.
        if may_start and not allocation.room_waits:
            for environment in [*allocation.idle, *allocation.busy]:
                due = self._credentials.renewal_due(environment.credentials_expire)
                if due and environment not in allocation.replacing:
                    allocation.replacing.add(environment)
                    self._background(self._start_one(allocation, allocation.blueprint, replaces=environment))

    async def _start_one(self, allocation: _Allocation, plan: Blueprint, replaces: Environment | None = None) -> None:
        """INIT one environment for `allocation` (in place of `replaces`, if given); keep it only if the
        allocation still wants `plan`."""
        try:
            async with self._inits, self._room_for(plan.memory_mb):
                environment = await Environment.start(
                    plan, self._factory, self._logs, credentials=self._credentials.issue(plan)
                )
        except TooManyRequests:
            self._short_of_room(allocation, plan)
            return
        except Exception as error:
            allocation.failures += 1
            allocation.retry_at = time.monotonic() + INIT_RETRY_DELAY_S
            log.warning("provisioned INIT of %s:%s failed (%d in a row): %s", plan.name, plan.version, allocation.failures, error)
            return
        finally:
            if replaces is None:
                allocation.starting -= 1
            else:
                allocation.replacing.discard(replaces)
            self.nudge()
        current = self._allocations.get(self._key(allocation)) is allocation
        if allocation.room_waits:
            log.info("found room under the memory cap for provisioned environments of %s:%s", plan.name, plan.version)
            allocation.room_waits = 0
        if current and allocation.blueprint is not None and allocation.blueprint.key == plan.key:
            allocation.failures = 0
            allocation.idle.append(environment)
            if replaces is not None:
                await self._replaced(allocation, replaces)
        else:
            await self._destroy(environment)

    async def _replaced(self, allocation: _Allocation, old: Environment) -> None:
        """`old` has a replacement: destroy it now if idle, after its invocation if busy."""
        if old in allocation.idle:
            allocation.idle.remove(old)
            await self._destroy(old)
        elif old in allocation.busy:
            allocation.busy.discard(old)
            self._retired.add(old)

    @staticmethod
    def _short_of_room(allocation: _Allocation, plan: Blueprint) -> None:
        """Back off after a start found no room (guarantee 6); warn only when the shortage begins.

        Starts launched together that all find no room count as one try.
        """
        now = time.monotonic()
        if now < allocation.retry_at:
            return
        allocation.room_waits += 1
        allocation.retry_at = now + min(ROOM_RETRY_MAX_S, INIT_RETRY_DELAY_S * 2 ** (allocation.room_waits - 1))
        if allocation.room_waits == 1:
            log.warning(
                "no room under the memory cap for provisioned environments of %s:%s; retrying with backoff up to %.0f s",
                plan.name, plan.version, ROOM_RETRY_MAX_S,
            )

    def _usable(self, environment: Environment) -> bool:
        return self._credentials.usable(environment.credentials_expire)

    def _room_for(self, memory_mb: int) -> AbstractAsyncContextManager[None]:
        return self._room(memory_mb) if self._room is not None else nullcontext()

    async def _retire_all(self, allocation: _Allocation) -> None:
        """Destroy the idle environments now and the busy ones when their invocation ends."""
        idle, allocation.idle = allocation.idle, []
        self._retired.update(allocation.busy)
        allocation.busy.clear()
        allocation.replacing.clear()
        for environment in idle:
            await self._destroy(environment)

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _key(allocation: _Allocation) -> _Key:
        return (allocation.scope.account, allocation.scope.region, allocation.name, allocation.qualifier)

    def _background(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _destroy(self, environment: Environment) -> None:
        try:
            await environment.destroy()
        except Exception:
            log.exception("could not destroy provisioned environment %s", environment.id)
