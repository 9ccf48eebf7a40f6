"""The NATS JetStream poller of one event source mapping: fetch, filter, batch, invoke, ack.

Guarantees:
1. At least once. Each mapping reads through a durable pull consumer of its own (``lambdabox-UUID``),
   created at the mapping's StartingPosition the first time and kept by the NATS server, so a
   restart (even a kill -9) resumes where the acks stopped. A record is acked only after the
   function succeeded with it (with ReportBatchItemFailures: unless the function reported it).
   While a batch runs its records are kept in progress; if the server dies, NATS redelivers them
   after `ACK_WAIT_S`: duplicates are limited to the batches in flight.
2. A failed record is nak'd with a growing delay and redelivered, until it has been retried
   MaximumRetryAttempts times (-1: for ever). Then the OnFailure destination (an SQS queue) gets a
   record for it and it is acked; with no destination it is acked and skipped, as Kinesis skips it.
   If the destination cannot be reached, the record is nak'd and given up on again later.
3. Records that match none of the mapping's filters are acked and never invoked.
4. A throttled batch waits and is retried; it is never a failure.
5. The stream must be the mapping's account's: its description says ``lambdabox-account=ACCOUNT``;
   otherwise nothing is read and LastProcessingResult says why.
6. `stop()` ends the poller between rounds of batches; batches being invoked finish first.
7. Order: each subject's records are invoked in stream order while nothing fails (see `_consume`);
   a nak'd record comes back after later ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lambdabox.model.arns import FunctionRef
from lambdabox.model.broker_sources import NatsStream
from lambdabox.model.errors import AwsError, ResourceConflict, TooManyRequests
from lambdabox.sources.broker_records import MAX_PAYLOAD_BYTES, nats_failure_record, nats_record, within_payload
from lambdabox.sources.filtering import RecordFilter
from lambdabox.sources.mapping_stats import MappingStats
from lambdabox.sources.nats_pull import Puller
from lambdabox.sources.sqs import OK, Invoke, Outcome, Report
from lambdabox.sources.sqs_records import failed_items

log = logging.getLogger(__name__)

#: Seconds NATS waits for an ack before redelivering; a running batch is marked in progress every third of it.
ACK_WAIT_S = 10.0
#: Longest wait of one fetch when nothing is there, in seconds.
FETCH_WAIT_S = 5.0
#: Delay before a failed record's redelivery: doubling from the first, up to the cap, in seconds.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0
#: Back-off after a throttle, and pause after a problem (NATS unreachable), in seconds.
THROTTLE_FIRST_S, THROTTLE_MAX_S = 0.05, 2.0
PROBLEM_PAUSE_S, PROBLEM_PAUSE_MAX_S = 1.0, 30.0
#: The mark of a stream's owner in its description.
OWNER_MARK = "lambdabox-account="

FUNCTION_FAILED = "PROBLEM: Function call failed"
#: Sends a failure record to an SQS queue ARN; raises when it cannot.
SendFailure = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class NatsMapping:
    uuid: str
    source: NatsStream
    function: FunctionRef
    function_arn: str
    batch_size: int
    window_s: int
    starting_position: str
    starting_at: float | None
    #: -1: retry until success.
    max_retries: int
    on_failure: str | None
    report_failures: bool
    keep: RecordFilter | None = None
    #: Most batches invoked at once (ParallelizationFactor); never two with a subject in common.
    parallelization: int = 1

    @property
    def consumer(self) -> str:
        return consumer_name(self.uuid)


def consumer_name(mapping_uuid: str) -> str:
    return f"lambdabox-{mapping_uuid}"


class NatsPoller:
    def __init__(self, mapping: NatsMapping, url: str, invoke: Invoke, report: Report, send_failure: SendFailure,
                 stats: MappingStats | None = None) -> None:
        """`stats` gets the records processed and failed, the age of each round's oldest record and the
        consumer's pending count."""
        self._mapping = mapping
        self._stats = stats or MappingStats()
        self._url = url
        self._invoke = invoke
        self._report = report
        self._send_failure = send_failure
        self._stopping = False
        self._fetching: asyncio.Task | None = None
        self._last_result: str | None = None

    def stop(self) -> None:
        self._stopping = True
        if self._fetching is not None:
            self._fetching.cancel()

    async def run(self) -> None:
        import nats

        pause = PROBLEM_PAUSE_S
        while not self._stopping:
            connection = None
            try:
                connection = await nats.connect(self._url, allow_reconnect=False, connect_timeout=5)
                subscription = await self._subscribe(connection)
                pause = PROBLEM_PAUSE_S
                await self._consume(subscription)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
            except Exception as error:  # NATS unreachable, stream missing or not ours: say so, wait, try again.
                log.warning("event source mapping %s: %s", self._mapping.uuid, error)
                await self._report_once(f"PROBLEM: Error occurred while polling {self._mapping.source.arn}: {_short(error)}")
                await asyncio.sleep(pause)
                pause = min(pause * 2, PROBLEM_PAUSE_MAX_S)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()

    async def _subscribe(self, connection: Any) -> Puller:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        mapping = self._mapping
        jetstream = connection.jetstream()
        info = await jetstream.stream_info(mapping.source.stream)
        if f"{OWNER_MARK}{mapping.source.scope.account}" not in (info.config.description or "").split():
            raise PermissionError(f"stream {mapping.source.stream} is not marked {OWNER_MARK}{mapping.source.scope.account}")
        try:
            await jetstream.consumer_info(mapping.source.stream, mapping.consumer)
        except NotFoundError:
            policy = {"TRIM_HORIZON": DeliverPolicy.ALL, "LATEST": DeliverPolicy.NEW,
                      "AT_TIMESTAMP": DeliverPolicy.BY_START_TIME}[mapping.starting_position]
            start = datetime.fromtimestamp(mapping.starting_at, timezone.utc) if mapping.starting_at is not None else None
            await jetstream.add_consumer(mapping.source.stream, ConsumerConfig(
                durable_name=mapping.consumer, ack_policy=AckPolicy.EXPLICIT, deliver_policy=policy,
                opt_start_time=start, ack_wait=ACK_WAIT_S, max_deliver=-1, filter_subject=mapping.source.subject,
                max_ack_pending=-1, description=f"Lambdabox event source mapping {mapping.uuid}",
            ))
        # One batch is asked for ahead, so that the next is usually there when the function is done with this one.
        puller = Puller(connection, mapping.source.stream, mapping.consumer, ahead=mapping.batch_size * mapping.parallelization, keep_s=ACK_WAIT_S / 3)
        await puller.start()
        return puller

    async def _consume(self, subscription: Puller) -> None:
        """Rounds of batches in the order they were fetched; the next round is fetched while this one runs.

        A round is up to BatchSize x ParallelizationFactor records, split into lanes by subject (a subject
        always falls in the same lane); each lane invokes its batches one after another, the lanes at
        once, so each subject's records are invoked in order. A round's records are kept in progress
        (`_keep_in_progress`) from their fetch until they are acked or nak'd.
        """
        loop = asyncio.get_running_loop()
        upcoming = loop.create_task(self._gather_kept(subscription))
        try:
            while not self._stopping:
                messages, keeper = await upcoming
                if self._stopping:
                    await _give_back(messages, keeper)
                    break
                upcoming = loop.create_task(self._gather_kept(subscription))
                # The round's oldest record counts in the lag until the round is settled.
                self._stats.read("round", min(message.metadata.timestamp.timestamp() for message in messages))
                try:
                    lanes = [self._run_lane(batches) for batches in self._lanes(messages)]
                    # Every lane ends (acked or nak'd) before the first error, if any, is raised.
                    for outcome in await asyncio.gather(*lanes, return_exceptions=True):
                        if isinstance(outcome, BaseException):
                            raise outcome
                finally:
                    keeper.cancel()
                    self._stats.read("round", None)
        finally:
            if not upcoming.done():
                upcoming.cancel()  # Left mid-gather (a stop or a lost connection): NATS redelivers what it held.
            with contextlib.suppress(BaseException):
                await _give_back(*await upcoming)
            await subscription.give_back()

    def _lanes(self, messages: list[Any]) -> list[list[list[Any]]]:
        """A round's messages as lanes (by subject), each a list of batches of at most BatchSize, in order."""
        mapping = self._mapping
        lanes: dict[int, list[Any]] = {}
        for message in messages:
            lanes.setdefault(zlib.crc32(message.subject.encode()) % mapping.parallelization, []).append(message)
        size = mapping.batch_size
        return [[lane[start:start + size] for start in range(0, len(lane), size)] for lane in lanes.values()]

    async def _run_lane(self, batches: list[list[Any]]) -> None:
        for batch in batches:
            await self._process(batch)

    async def _gather_kept(self, subscription: Puller) -> tuple[list[Any], asyncio.Task]:
        messages = await self._gather(subscription)
        return messages, asyncio.get_running_loop().create_task(_keep_in_progress(messages))

    async def _gather(self, subscription: Puller) -> list[Any]:
        """Messages for one round: until BatchSize x ParallelizationFactor, or the batching window (from the
        first message) ends."""
        mapping = self._mapping
        batch: list[Any] = []
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        wanted = mapping.batch_size * mapping.parallelization
        while len(batch) < wanted and not self._stopping:
            wait = FETCH_WAIT_S if deadline is None else deadline - loop.time()
            if wait <= 0.001:
                break
            self._fetching = loop.create_task(subscription.take(wanted - len(batch), wait))
            try:
                taken = await self._fetching
                batch += taken
                self._note_fetch(taken, caught_up=not batch)
            except asyncio.CancelledError:
                if self._stopping:
                    break  # What was gathered goes back to NATS after ACK_WAIT_S (or at once, nak'd below).
                raise
            finally:
                self._fetching = None
            if batch and deadline is None:
                if mapping.window_s == 0:
                    break
                deadline = loop.time() + mapping.window_s
        if self._stopping and batch:
            for message in batch:
                with contextlib.suppress(Exception):
                    await message.nak()
            return []
        return batch

    def _note_fetch(self, taken: list[Any], caught_up: bool) -> None:
        """The consumer's backlog after a fetch: what NATS says is pending after its last record, 0 when a fetch
        for a new round found nothing."""
        if taken:
            self._stats.backlog = taken[-1].metadata.num_pending
        elif caught_up:
            self._stats.backlog = 0
            self._stats.read("fetch", None)  # Measured: nothing waits beyond the round being settled.

    # -- one batch ------------------------------------------------------------------------

    async def _process(self, messages: list[Any]) -> None:
        mapping = self._mapping
        records = [self._record(message) for message in messages]
        pairs = list(zip(messages, records))
        if mapping.keep is not None:
            for message, record in pairs:
                if not mapping.keep(record):
                    await message.ack()
            pairs = [(message, record) for message, record in pairs if mapping.keep(record)]
        if not pairs:
            return
        payload = _event(pairs)
        if len(payload) <= MAX_PAYLOAD_BYTES:
            await self._invoke_run(pairs, payload)  # The usual case: the batch is serialized once, not cut.
            return
        for run in within_payload(pairs):
            await self._invoke_run(run, _event(run))

    async def _invoke_run(self, pairs: list[tuple[Any, dict[str, Any]]], payload: bytes) -> None:
        """Invoke the function with records that fit one payload (`payload`, their event); ack, retry or give up
        on each."""
        outcome = await self._invoke_until_run(payload)
        failed = await self._failed(outcome, pairs)
        for message, record in pairs:
            if str(record["nats"]["sequence"]["stream"]) not in failed:
                await message.ack()
        self._stats.settled(processed=len(pairs) - len(failed), failed=len(failed))
        if failed:
            await self._retry_or_give_up([(m, r) for m, r in pairs if str(r["nats"]["sequence"]["stream"]) in failed],
                                         outcome.error if outcome else None)
        await self._report_once(OK if not failed else FUNCTION_FAILED)

    async def _report_once(self, result: str) -> None:
        """Report a result unless it is the one this poller reported last (a store write saved per batch)."""
        if result != self._last_result:
            self._last_result = result
            await self._report(result)

    def _record(self, message: Any) -> dict[str, Any]:
        meta = message.metadata
        headers = {name: [value] for name, value in (message.headers or {}).items()}
        return nats_record(
            meta.stream, message.subject, meta.sequence.stream, meta.sequence.consumer, meta.num_delivered,
            message.data, headers, meta.timestamp.timestamp(), self._mapping.source.arn, self._mapping.source.scope.region,
        )

    async def _failed(self, outcome: Outcome | None, pairs: list[tuple[Any, dict[str, Any]]]) -> set[str]:
        """The stream sequences (as text) of the records that failed."""
        every = {str(record["nats"]["sequence"]["stream"]) for _, record in pairs}
        if outcome is None or outcome.error is not None:
            return every
        if not self._mapping.report_failures:
            return set()
        failed = failed_items(outcome.payload, every)
        return every if failed is None else failed

    async def _retry_or_give_up(self, pairs: list[tuple[Any, dict[str, Any]]], error: str | None) -> None:
        mapping = self._mapping
        exhausted = []
        for message, record in pairs:
            deliveries = message.metadata.num_delivered
            if 0 <= mapping.max_retries < deliveries:
                exhausted.append((message, record))
            else:
                await message.nak(delay=min(RETRY_FIRST_S * 2 ** (deliveries - 1), RETRY_MAX_S))
        if not exhausted:
            return
        if mapping.on_failure is not None:
            attempts = max(message.metadata.num_delivered for message, _ in exhausted)
            failure = nats_failure_record([record for _, record in exhausted], mapping.function_arn,
                                          "RetryAttemptsExhausted", attempts, "Unhandled" if error else None,
                                          str(uuid.uuid4()), mapping.source.arn)
            try:
                await self._send_failure(mapping.on_failure, failure)
            except Exception as problem:  # Not sent: the records come back and are given up on again.
                log.warning("event source mapping %s: OnFailure not sent: %s", mapping.uuid, problem)
                for message, _ in exhausted:
                    await message.nak(delay=RETRY_MAX_S)
                return
        for message, _ in exhausted:
            await message.ack()

    async def _invoke_until_run(self, payload: bytes) -> Outcome | None:
        """The function's outcome; None when it could not run (reported; the records fail this attempt)."""
        pause = THROTTLE_FIRST_S
        while True:
            try:
                return await self._invoke(self._mapping.function, payload)
            except (TooManyRequests, ResourceConflict):
                await asyncio.sleep(pause)
                pause = min(pause * 2, THROTTLE_MAX_S)
            except AwsError as error:
                await self._report_once(f"PROBLEM: {error.message}")
                return None


def _event(pairs: list[tuple[Any, dict[str, Any]]]) -> bytes:
    return json.dumps({"Records": [record for _, record in pairs]}).encode()


async def _give_back(messages: list[Any], keeper: asyncio.Task) -> None:
    """A gathered batch that will not be invoked: NATS hands its messages out again at once."""
    keeper.cancel()
    for message in messages:
        with contextlib.suppress(Exception):
            await message.nak()


async def _keep_in_progress(messages: list[Any]) -> None:
    """Tell NATS the batch is still being worked on, so that it is not redelivered meanwhile."""
    while True:
        await asyncio.sleep(ACK_WAIT_S / 3)
        for message in messages:
            with contextlib.suppress(Exception):
                await message.in_progress()


async def forget(url: str, source: NatsStream, mapping_uuid: str) -> None:
    """Delete a deleted mapping's durable consumer; nothing when it or the stream is gone already."""
    import nats

    connection = await nats.connect(url, allow_reconnect=False, connect_timeout=5)
    try:
        with contextlib.suppress(Exception):
            await connection.jetstream().delete_consumer(source.stream, consumer_name(mapping_uuid))
    finally:
        await connection.close()


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
