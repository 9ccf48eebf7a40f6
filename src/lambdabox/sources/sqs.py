"""The Amazon SQS poller of one event source mapping: receive, filter, batch, invoke, delete.

Guarantees:
1. At least once. A message is deleted only after the function succeeded with it (with
   ReportBatchItemFailures: unless the function reported it). Anything else (a function error,
   a malformed report, a missing function, a stop mid-batch) leaves it in flight, and SQS makes
   it visible again after the queue's visibility timeout, so the queue's own redrive policy moves
   poison messages to its dead-letter queue.
2. A throttled batch (429: concurrency, scale-out) is retried with back-off until it runs; a
   function not yet Active is waited for the same way. Neither is a failure.
3. Scaling: one worker polls; each full batch (a backlog) starts one more, up to the mapping's
   concurrency; a worker beyond the first retires after a long poll that found nothing. FIFO
   queues: one batch at a time, and in each message group nothing past the group's first failure
   is deleted, so SQS hands the group back in order.
4. `stop()` ends the poller between batches: a batch being invoked finishes (and its messages
   are deleted as above); a long poll under way is abandoned, and any messages it still brings
   are made visible again at once.
5. `report(result)` is called with "OK" or "PROBLEM: ..." after each batch or failed attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from lambdabox.model.arns import FunctionRef
from lambdabox.model.errors import AwsError, ResourceConflict, TooManyRequests
from lambdabox.model.event_sources import QueueSource
from lambdabox.sources.filtering import RecordFilter
from lambdabox.sources.mapping_stats import MappingStats
from lambdabox.sources.sqs_records import deletable, failed_items, sqs_record

log = logging.getLogger(__name__)

#: Longest long poll SQS allows, in seconds.
LONG_POLL_S = 20
#: Most messages one ReceiveMessage (and one DeleteMessageBatch) takes.
RECEIVE_MAX = 10
#: Largest synchronous invocation payload, in bytes (Lambda's 6 MB); a batch that would pass it is cut.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: Back-off after a throttle, doubling up to the cap, in seconds.
THROTTLE_FIRST_S, THROTTLE_MAX_S = 0.05, 2.0
#: Pause after a problem (SQS unreachable, function missing) before trying again, in seconds; a poller
#: that keeps failing to reach SQS doubles its pause up to the cap.
PROBLEM_PAUSE_S = 1.0
PROBLEM_PAUSE_MAX_S = 30.0

OK = "OK"
FUNCTION_FAILED = "PROBLEM: Function call failed"


@dataclass(frozen=True)
class SqsMapping:
    """What a poller needs of a mapping's record."""

    uuid: str
    queue: QueueSource
    function: FunctionRef
    batch_size: int
    window_s: int
    report_failures: bool
    #: Most batches invoked at once (ScalingConfig.MaximumConcurrency; 1 for FIFO queues).
    concurrency: int = 1
    keep: RecordFilter | None = None


@dataclass(frozen=True)
class Outcome:
    """What one invocation of the function returned."""

    payload: bytes
    #: The function error's type; None when the function succeeded.
    error: str | None
    #: The version that ran ($LATEST or a number), when known.
    version: str | None = None


#: Runs the function once with a payload: raises TooManyRequests when throttled, AwsError when it cannot run.
Invoke = Callable[[FunctionRef, bytes], Awaitable[Outcome]]
#: Records a mapping's LastProcessingResult.
Report = Callable[[str], Awaitable[None]]


class SqsPoller:
    def __init__(self, mapping: SqsMapping, sqs: Any, executor: Executor, invoke: Invoke, report: Report,
                 stats: MappingStats | None = None) -> None:
        """`sqs`: a boto3 SQS client for the queue's region; `executor` runs its (blocking) calls; `stats` gets
        the records processed and failed, and the age of the oldest message each receive brought."""
        self._mapping = mapping
        self._stats = stats or MappingStats()
        self._sqs = sqs
        self._executor = executor
        self._invoke = invoke
        self._report = report
        self._stopping = False
        self._url: str | None = None
        #: Long polls under way, to abandon on stop.
        self._receiving: set[asyncio.Future] = set()
        self._workers: set[asyncio.Task] = set()
        #: Workers started so far, to name each one's part of the lag.
        self._parts = 0

    def stop(self) -> None:
        """Stop between batches; abandon the long polls under way (see 4. above)."""
        self._stopping = True
        for receiving in list(self._receiving):
            receiving.cancel()

    async def run(self) -> None:
        """Poll until stopped: one worker, and one more after each full batch, up to the mapping's concurrency."""
        self._spawn(first=True)
        try:
            while self._workers:
                done, _ = await asyncio.wait(set(self._workers), return_when=asyncio.FIRST_COMPLETED)
                self._workers -= done
                for task in done:
                    if not task.cancelled() and task.exception() is not None:
                        log.error("event source mapping %s: a worker failed", self._mapping.uuid, exc_info=task.exception())
        except asyncio.CancelledError:
            for task in self._workers:
                task.cancel()
            await asyncio.gather(*self._workers, return_exceptions=True)
            raise

    def _spawn(self, first: bool = False) -> None:
        if not self._stopping and len(self._workers) < self._mapping.concurrency:
            self._workers.add(asyncio.get_running_loop().create_task(self._work(first)))

    async def _work(self, first: bool) -> None:
        """One worker; what it holds counts in the mapping's lag until it ends."""
        self._parts += 1
        part = f"worker-{self._parts}"
        try:
            await self._batches(first, part)
        finally:
            self._stats.read(part, None)

    async def _batches(self, first: bool, part: str) -> None:
        """Batches one after another; a worker other than the first retires after a long poll that found nothing."""
        carried: list[dict[str, Any]] = []
        pause = PROBLEM_PAUSE_S
        while not self._stopping:
            try:
                if self._url is None:
                    self._url = await self._call(self._queue_url)
                url = self._url
                batch = await self._gather(url, carried)
                pause = PROBLEM_PAUSE_S
                self._stats.read(part, _oldest_sent(batch))
                if not batch:
                    if first:
                        continue
                    return
                if len(batch) >= self._mapping.batch_size:
                    self._spawn()  # A full batch: there is a backlog.
                carried = await self._process(url, batch)
                self._stats.read(part, _oldest_sent(carried))
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            except Exception as error:  # SQS unreachable or refusing: say so, wait, try again.
                log.warning("event source mapping %s: %s", self._mapping.uuid, error)
                self._url = None
                await self._report(f"PROBLEM: Error occurred while polling {self._mapping.queue.arn}: {_short(error)}")
                await asyncio.sleep(pause)
                pause = min(pause * 2, PROBLEM_PAUSE_MAX_S)

    # -- receiving ----------------------------------------------------------------------

    def _queue_url(self) -> str:
        queue = self._mapping.queue
        return self._sqs.get_queue_url(QueueName=queue.name, QueueOwnerAWSAccountId=queue.scope.account)["QueueUrl"]

    async def _gather(self, url: str, carried: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Messages for one batch (after those `carried` over): until BatchSize, or the batching window
        (from the first message) ends."""
        mapping = self._mapping
        batch = list(carried)
        deadline = time.monotonic() + mapping.window_s if batch else None
        try:
            while len(batch) < mapping.batch_size and not self._stopping:
                if deadline is None:
                    wait = LONG_POLL_S
                else:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    wait = min(LONG_POLL_S, math.ceil(left))
                received = await self._receive(url, min(RECEIVE_MAX, mapping.batch_size - len(batch)), wait)
                batch += received
                if received and deadline is None:
                    deadline = time.monotonic() + mapping.window_s
                    if mapping.window_s == 0:
                        break
        except asyncio.CancelledError:
            # Stopped while gathering: what was gathered goes back to the queue at once.
            if batch:
                with contextlib.suppress(RuntimeError):  # The executor is shut: they come back after the timeout.
                    self._executor.submit(self._release, url, batch)
            raise
        return batch

    async def _receive(self, url: str, count: int, wait: int) -> list[dict[str, Any]]:
        future: Future = self._executor.submit(
            self._sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=count, WaitTimeSeconds=wait,
            AttributeNames=["All"], MessageAttributeNames=["All"],
        )
        receiving = asyncio.wrap_future(future)
        self._receiving.add(receiving)
        try:
            answer = await receiving
        except asyncio.CancelledError:
            # Stopped mid-poll: whatever the poll still brings goes back to the queue at once.
            future.add_done_callback(lambda done: self._release_late(url, done))
            raise
        finally:
            self._receiving.discard(receiving)
        return answer.get("Messages", [])

    def _release_late(self, url: str, done: Future) -> None:
        """Make what an abandoned long poll brought visible again."""
        if not done.cancelled() and done.exception() is None:
            self._release(url, done.result().get("Messages", []))

    def _release(self, url: str, messages: list[dict[str, Any]]) -> None:
        """Make received messages visible again at once (blocking: runs in the executor)."""
        for start in range(0, len(messages), RECEIVE_MAX):
            entries = [
                {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for number, message in enumerate(messages[start:start + RECEIVE_MAX])
            ]
            try:
                self._sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
            except Exception as error:  # They come back after the visibility timeout anyway.
                log.info("event source mapping %s: could not release messages: %s", self._mapping.uuid, error)

    # -- invoking -----------------------------------------------------------------------

    async def _process(self, url: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Invoke the function with one batch; return the messages left for the next (past the payload limit)."""
        mapping = self._mapping
        records = [sqs_record(message, mapping.queue.arn, mapping.queue.scope.region) for message in messages]
        records, carried = _within_payload_limit(messages, records)
        await self._run_batch(url, records)
        return carried

    async def _run_batch(self, url: str, records: list[dict[str, Any]]) -> None:
        mapping = self._mapping
        if mapping.keep is not None:
            dropped = [record for record in records if not mapping.keep(record)]
            records = [record for record in records if mapping.keep(record)]
            await self._delete(url, dropped)
        if not records:
            return
        outcome = await self._invoke_until_run(json.dumps({"Records": records}).encode())
        if outcome is None:
            self._stats.settled(failed=len(records))
            return
        if outcome.error is not None:
            self._stats.settled(failed=len(records))
            await self._report(FUNCTION_FAILED)
            return
        failed: set[str] | None = set()
        if mapping.report_failures:
            failed = failed_items(outcome.payload, {record["messageId"] for record in records})
        if failed is None:
            self._stats.settled(failed=len(records))
            await self._report(FUNCTION_FAILED)
            return
        done = deletable(records, failed, mapping.queue.fifo)
        await self._delete(url, done)
        self._stats.settled(processed=len(done), failed=len(failed))
        await self._report(OK if not failed else FUNCTION_FAILED)

    async def _invoke_until_run(self, payload: bytes) -> Outcome | None:
        """The function's outcome; None when it could not run (reported; the messages stay in flight)."""
        pause = THROTTLE_FIRST_S
        while True:
            try:
                return await self._invoke(self._mapping.function, payload)
            except (TooManyRequests, ResourceConflict):
                # Throttled, or the function is not Active yet: the batch waits, it is never dropped.
                await asyncio.sleep(pause)
                pause = min(pause * 2, THROTTLE_MAX_S)
            except AwsError as error:
                await self._report(f"PROBLEM: {error.message}")
                await asyncio.sleep(PROBLEM_PAUSE_S)
                return None

    async def _delete(self, url: str, records: list[dict[str, Any]]) -> None:
        for start in range(0, len(records), RECEIVE_MAX):
            entries = [
                {"Id": str(number), "ReceiptHandle": record["receiptHandle"]}
                for number, record in enumerate(records[start:start + RECEIVE_MAX])
            ]
            answer = await self._call(lambda: self._sqs.delete_message_batch(QueueUrl=url, Entries=entries))
            for failure in answer.get("Failed", []):
                log.info("event source mapping %s: a delete failed: %s", self._mapping.uuid, failure)

    async def _call(self, function: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self._executor.submit(function))


def _within_payload_limit(
    messages: list[dict[str, Any]], records: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records that fit one payload, and the messages of the rest, which wait for the next batch."""
    size = len('{"Records":[]}')
    for count, record in enumerate(records):
        size += len(json.dumps(record).encode()) + 1
        if size > MAX_PAYLOAD_BYTES and count > 0:
            return records[:count], messages[count:]
    return records, []


def _oldest_sent(messages: list[dict[str, Any]]) -> float | None:
    """When the oldest of received messages was sent (epoch seconds, from SentTimestamp); None for none (or none
    that says: such messages count as just sent)."""
    sent = [int(message["Attributes"]["SentTimestamp"]) for message in messages
            if str((message.get("Attributes") or {}).get("SentTimestamp", "")).isdigit()]
    return min(sent) / 1000 if sent else None


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
