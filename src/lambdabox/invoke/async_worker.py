"""Running queued asynchronous invocations, with Lambda's retries, destinations and DLQs.

For each event, in order:
1. Too old (past MaximumEventAgeInSeconds)? It fails with EventAgeExceeded.
2. Part of a recursive loop past its limit, with the function's recursion set to Terminate?
   It fails with RecursiveInvocationException, and a log line says why.
3. Otherwise one attempt runs through the same path as a synchronous invoke.
   - success: OnSuccess gets the record;
   - a function error: retried after the configured delays, up to MaximumRetryAttempts;
   - throttled or a system error: retried with growing backoff until the event is too old.
4. An event that fails for good goes to the OnFailure destination and to the function's
   dead-letter queue. Each of those sends is a queued delivery of its own, retried with
   backoff until it succeeds or grows too old, and logged either way.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.event_configs import effective_config, recursion_allowed
from lambdabox.invoke import lineage as lineages
from lambdabox.invoke.destinations import DEAD_LETTER, RECORD, Deliverer, UnsupportedDestination, invocation_record
from lambdabox.invoke.invoker import Invoker
from lambdabox.model import json_text
from lambdabox.model.arns import FunctionRef, Scope, function_arn
from lambdabox.model.errors import AwsError, ResourceNotFound, TooManyRequests
from lambdabox.queue.api import DELIVERY, FAILED, RETRYING, SUCCEEDED, EventQueue, QueueItem
from lambdabox.runtime.api import error_message
from lambdabox.store.records import RecordStore

log = logging.getLogger(__name__)

#: How often idle workers look for due items, in seconds.
POLL_INTERVAL_S = 0.05
#: First and longest backoff after a throttle, a system error or a failed delivery, in seconds.
BACKOFF_FIRST_S, BACKOFF_MAX_S = 1.0, 300.0
#: How long a delivery is retried before it is given up (and logged), in seconds.
DELIVERY_MAX_AGE_S = 6 * 3600


@dataclass(frozen=True)
class AsyncSettings:
    #: Delays before the 1st and 2nd retry of a function error, in seconds (Lambda: about 1 and 2 minutes).
    retry_delays_s: tuple[float, ...] = (60.0, 120.0)
    #: Asynchronous invocations run at once by this server, so a burst leaves room for synchronous traffic.
    concurrency: int = 32


def _now_ms() -> int:
    return int(time.time() * 1000)


class AsyncWorker:
    def __init__(
        self,
        queue: EventQueue,
        invoker: Invoker,
        store: RecordStore,
        deliverer: Deliverer,
        settings: AsyncSettings,
        function_log: Callable[[Scope, str, str], None],
    ) -> None:
        self._queue = queue
        self._invoker = invoker
        self._store = store
        self._deliverer = deliverer
        self._settings = settings
        #: Writes a line into a function's log group (why an event was dropped, a failed delivery).
        self._function_log = function_log
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task] = set()
        self._poller: asyncio.Task | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._poller = asyncio.ensure_future(self._poll())

    def wake(self) -> None:
        """New work was queued: look now rather than at the next poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Shutdown: 1. stop claiming; 2. cancel attempts in flight (they stay running in the
        store and are requeued at the next start); 3. wait for the cancellations."""
        if self._poller is not None:
            self._poller.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _poll(self) -> None:
        while True:
            free = self._slots._value  # claim no more than can start now
            items = await self._queue.claim(free, _now_ms()) if free else []
            for item in items:
                await self._slots.acquire()
                task = asyncio.ensure_future(self._handle(item))
                self._tasks.add(task)
                task.add_done_callback(self._done)
            if not items:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL_S)
                except asyncio.TimeoutError:
                    pass

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            log.error("async item failed unexpectedly", exc_info=task.exception())

    async def _handle(self, item: QueueItem) -> None:
        if item.kind == DELIVERY:
            await self._deliver(item)
        else:
            await self._attempt(item)

    # -- events ------------------------------------------------------------------------

    async def _attempt(self, item: QueueItem) -> None:
        scope = Scope(item.account, item.region)
        ref = FunctionRef(scope, item.function, item.qualifier)
        try:
            config, allow_recursion, dead_letter = self._settings_of(ref)
        except ResourceNotFound as missing:
            await self._queue.settle(item, FAILED, _entry("FunctionNotFound", missing.message))
            return
        age_s = (_now_ms() - item.received_ms) / 1000
        if age_s > config["MaximumEventAgeInSeconds"]:
            await self._fail(item, ref, config, dead_letter, "EventAgeExceeded", None, None, None,
                             f"the event is {age_s:.0f} s old, past MaximumEventAgeInSeconds")
            return
        hop = lineages.next_hop(item.lineage)
        if lineages.depth(hop) >= lineages.MAX_RECURSION and not allow_recursion:
            message = (
                f"Lambda stopped request {item.id}: it is part of a recursive loop of asynchronous invocations "
                f"({lineages.MAX_RECURSION} deep). PutFunctionRecursionConfig with RecursiveLoop=Allow turns this check off."
            )
            self._function_log(scope, item.function, message)
            await self._fail(item, ref, config, dead_letter, "RecursiveInvocationException", None, None, None, message)
            return
        began = _now_ms()
        try:
            run = await self._invoker.run(ref, item.payload, item.id, lineage=hop)
        except TooManyRequests as throttle:
            await self._retry_later(item, "Throttled", f"{throttle.message} ({throttle.extra.get('Reason')})", began)
            return
        except AwsError as error:
            await self._retry_later(item, error.code, error.message, began)
            return
        except Exception as error:  # a system error: Lambda retries these like throttles
            log.exception("system error running %s", item.id)
            await self._retry_later(item, "ServiceException", str(error), began)
            return
        item.attempts += 1  # it ran: throttles and system errors are not invocations
        error_type = run.outcome.error_type
        entry = {"attempt": item.attempts, "startedAt": began, "endedAt": _now_ms(), "executedVersion": run.version}
        if error_type is None:
            await self._queue.settle(item, SUCCEEDED, {**entry, "result": "Success"})
            await self._route(item, ref, config.get("DestinationConfig", {}).get("OnSuccess"), "Success", run.version,
                              run.outcome.payload, None)
            return
        entry.update(result="FunctionError", errorType=error_type, errorMessage=error_message(run.outcome.payload))
        if item.attempts <= config["MaximumRetryAttempts"]:
            delays = self._settings.retry_delays_s
            delay = delays[min(item.attempts - 1, len(delays) - 1)] if delays else 0
            await self._queue.settle(item, RETRYING, entry, not_before_ms=_now_ms() + int(delay * 1000))
            return
        await self._fail(item, ref, config, dead_letter, "RetriesExhausted", run.version, run.outcome.payload,
                         "Unhandled", entry=entry)

    def _settings_of(self, ref: FunctionRef) -> tuple[dict[str, Any], bool, str | None]:
        with self._store.reading() as records:
            record, alias = catalog.resolve(records, ref)
            version = record["config"]["Version"]
            config = effective_config(records, ref.scope, ref.name, version, alias)
            allow = recursion_allowed(records, ref.scope, ref.name)
            dead_letter = record["config"].get("DeadLetterConfig", {}).get("TargetArn")
        return config, allow, dead_letter

    async def _retry_later(self, item: QueueItem, kind: str, message: str, began: int) -> None:
        """A throttle or system error: back off (doubling), until MaximumEventAgeInSeconds ends it."""
        failures = sum(1 for entry in item.history if entry.get("result") in ("Throttled", "SystemError"))
        delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2**failures))
        result = "Throttled" if kind == "Throttled" else "SystemError"
        entry = {"attempt": item.attempts, "startedAt": began, "endedAt": _now_ms(), "result": result,
                 "errorType": kind, "errorMessage": message}
        await self._queue.settle(item, RETRYING, entry, not_before_ms=_now_ms() + int(delay * 1000))

    async def _fail(self, item, ref, config, dead_letter, condition, version, response, error, reason=None, entry=None):
        entry = entry or {"attempt": item.attempts, "endedAt": _now_ms(), "result": condition, "errorMessage": reason}
        await self._queue.settle(item, FAILED, {**entry, "condition": condition})
        on_failure = config.get("DestinationConfig", {}).get("OnFailure")
        await self._route(item, ref, on_failure, condition, version, response, error)
        if dead_letter:
            attributes = {"RequestID": item.id, "ErrorCode": 200, "ErrorMessage": reason or error_message(response)}
            await self._queue_delivery(item, dead_letter, {"mode": DEAD_LETTER, "body": _text(item.payload),
                                                           "attributes": attributes})

    async def _route(self, item, ref, destination, condition, version, response, error) -> None:
        if not destination or not destination.get("Destination"):
            return
        arn = function_arn(ref.scope, ref.name, ref.qualifier or "$LATEST")
        record = invocation_record(item, arn, condition, version, response, error)
        await self._queue_delivery(item, destination["Destination"], {"mode": RECORD, "body": record})

    async def _queue_delivery(self, item: QueueItem, target: str, envelope: dict[str, Any]) -> None:
        delivery = QueueItem(
            id=str(uuid.uuid4()), kind=DELIVERY, account=item.account, region=item.region, function=item.function,
            qualifier=item.qualifier, payload=json.dumps(envelope).encode(), received_ms=_now_ms(),
            target=target, parent=item.id,
        )
        await self._queue.put(delivery)
        self.wake()

    # -- deliveries --------------------------------------------------------------------

    async def _deliver(self, item: QueueItem) -> None:
        item.attempts += 1
        began = _now_ms()
        try:
            note = await self._deliverer.deliver(item)
        except Exception as error:
            entry = {"attempt": item.attempts, "startedAt": began, "endedAt": _now_ms(), "result": "DeliveryFailed",
                     "errorMessage": f"{type(error).__name__}: {error}"}
            scope = Scope(item.account, item.region)
            if isinstance(error, UnsupportedDestination) or (_now_ms() - item.received_ms) / 1000 > DELIVERY_MAX_AGE_S:
                self._function_log(scope, item.function, f"Lambdabox gave up delivering the record of {item.parent} "
                                   f"to {item.target} after {item.attempts} attempts: {error}")
                await self._queue.settle(item, FAILED, entry)
                return
            self._function_log(scope, item.function, f"Lambdabox could not deliver the record of {item.parent} to "
                               f"{item.target} (attempt {item.attempts}), will retry: {error}")
            delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * (2 ** (item.attempts - 1)))
            await self._queue.settle(item, RETRYING, entry, not_before_ms=_now_ms() + int(delay * 1000))
            return
        await self._queue.settle(item, SUCCEEDED, {"attempt": item.attempts, "startedAt": began, "endedAt": _now_ms(),
                                                   "result": "Delivered", "note": note})


def _entry(result: str, message: str) -> dict[str, Any]:
    return {"endedAt": _now_ms(), "result": result, "errorMessage": message}


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", "replace")
