"""The poller of one stream event source mapping (Amazon Kinesis, DynamoDB Streams): read, filter, batch, invoke.

Guarantees:
1. Order. Each shard is read by one task, batch after batch; a batch is settled (see 3.) before the
   next one is invoked. With ParallelizationFactor N, a batch's records are split by partition key
   (Kinesis) or item key (DynamoDB) into up to N lanes invoked at once: each key's records keep
   their order.
2. At least once. After a batch settles, the shard's checkpoint (sources/checkpoints.py) moves past
   it, in the store; a restarted poller reads on from there. Only a batch in flight can repeat.
3. Failures block the shard. A failed batch is retried, in order, until it succeeds, until
   MaximumRetryAttempts retries failed, or until its oldest record is older than
   MaximumRecordAgeInSeconds; then the OnFailure destination (if any) gets AWS's record of the
   batch and the shard moves on. BisectBatchOnFunctionError splits a failed batch in two, and each
   half is settled on its own (a split does not count as a retry), which isolates a poison record.
   With ReportBatchItemFailures, the records before the lowest reported sequence number are done,
   and the retry starts at it.
4. A throttled batch (429), or a function not yet Active, waits and is retried without counting as
   a retry; a function that cannot run at all (deleted) is reported and retried after a pause.
5. `stop()` ends the poller between batches: a batch being invoked finishes and is checkpointed.
6. `report(result)` is called with "OK" or "PROBLEM: ..." after each batch or failed attempt.
7. Tumbling windows (sources/tumbling.py): a shard's records go through one lane, window by window;
   the state each invocation answers is passed to the next and kept in the checkpoint; a window is
   closed by a final invocation (retried until it succeeds) when a record of a later window comes,
   or when the shard is idle past the window's end.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Protocol

from lambdabox.model.arns import FunctionRef
from lambdabox.model.errors import AwsError, ResourceConflict, TooManyRequests
from lambdabox.model.stream_sources import INFINITE, StreamSource
from lambdabox.sources.checkpoints import Checkpoints
from lambdabox.sources.filtering import RecordFilter
from lambdabox.sources.mapping_stats import MappingStats
from lambdabox.sources.sqs import FUNCTION_FAILED, OK, Invoke, Outcome, Report
from lambdabox.sources.stream_records import (
    RECORD_AGE_EXCEEDED, RETRIES_EXHAUSTED, Shard, StreamRecord, failure_record, reported_from,
)
from lambdabox.sources.tumbling import Window, answered_state, restored, too_large, window_event, window_start

log = logging.getLogger(__name__)

#: Pause between GetRecords calls that found nothing, in seconds (Lambda polls each shard about once a second).
IDLE_POLL_S = 0.5
#: Pause between batching-window reads of a shard, in seconds.
WINDOW_POLL_S = 0.2
#: Back-off between retries of a failed batch, doubling up to the cap, in seconds.
RETRY_FIRST_S, RETRY_MAX_S = 0.1, 5.0
#: Back-off after a throttle, doubling up to the cap, in seconds.
THROTTLE_FIRST_S, THROTTLE_MAX_S = 0.05, 2.0
#: Pause after a problem (stream unreachable, function missing), doubling up to the cap, in seconds.
PROBLEM_PAUSE_S, PROBLEM_PAUSE_MAX_S = 1.0, 30.0
#: How often the shard list is read again for new shards (resharding), in seconds.
SHARD_REFRESH_S = 30.0
#: Largest synchronous invocation payload, in bytes (Lambda's 6 MB); a batch that would pass it is cut.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024


class ShardReader(Protocol):
    """Blocking reads of one stream (sources/kinesis.py, sources/dynamodb_streams.py)."""

    kind: str

    def shards(self) -> list[Shard]: ...

    def iterator(self, shard_id: str, kind: str, sequence: str | None = None, timestamp: float | None = None) -> str: ...

    def read(self, shard_id: str, iterator: str, limit: int) -> tuple[list[StreamRecord], str | None]: ...


@dataclass(frozen=True)
class StreamMapping:
    """What a stream poller needs of a mapping's record."""

    uuid: str
    source: StreamSource
    function: FunctionRef
    function_arn: str
    batch_size: int
    window_s: int
    starting_position: str
    starting_timestamp: float | None
    parallelization: int
    bisect: bool
    max_retries: int
    max_age_s: int
    report_failures: bool
    keep: RecordFilter | None = None
    #: TumblingWindowInSeconds: 0 for none.
    tumbling_s: int = 0


#: Sends an OnFailure record (JSON text) to the mapping's destination; raises when it cannot.
SendFailure = Callable[[str], Awaitable[None]]


class StreamPoller:
    def __init__(self, mapping: StreamMapping, reader: ShardReader, checkpoints: Checkpoints, executor: Executor,
                 invoke: Invoke, report: Report, send_failure: SendFailure | None,
                 stats: MappingStats | None = None) -> None:
        """`stats` gets the records processed and failed, and each shard's iterator age."""
        self._mapping = mapping
        self._stats = stats or MappingStats()
        self._reader = reader
        self._checkpoints = checkpoints
        self._executor = executor
        self._invoke = invoke
        self._report = report
        self._send_failure = send_failure
        self._stopping = False
        self._shards: dict[str, asyncio.Task] = {}
        #: The last sequence number of each shard the stream lists as closed.
        self._endings: dict[str, int] = {}
        #: Each shard's open tumbling window, when the mapping has them.
        self._windows: dict[str, Window | None] = {}

    def stop(self) -> None:
        """Stop between batches (see 5. above)."""
        self._stopping = True

    async def run(self) -> None:
        """Read the shard list, start a task per shard, and look for new shards now and then."""
        pause = PROBLEM_PAUSE_S
        try:
            while not self._stopping:
                try:
                    listed = await self._call(self._reader.shards)
                    self._endings.update({shard.id: _number(shard.ending) for shard in listed if shard.ending})
                    for shard in listed:
                        if shard.id not in self._shards:
                            task = asyncio.get_running_loop().create_task(self._shard(shard.id, shard.parents))
                            self._shards[shard.id] = task
                    pause = PROBLEM_PAUSE_S
                    await self._sleep(SHARD_REFRESH_S)
                except Exception as error:  # The stream is unreachable: say so, wait, try again.
                    await self._problem(error)
                    await self._sleep(pause)
                    pause = min(pause * 2, PROBLEM_PAUSE_MAX_S)
            await asyncio.gather(*self._shards.values(), return_exceptions=True)
        except asyncio.CancelledError:
            for task in self._shards.values():
                task.cancel()
            await asyncio.gather(*self._shards.values(), return_exceptions=True)
            raise

    async def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.1, deadline - time.monotonic()))

    async def _problem(self, error: Exception) -> None:
        log.warning("event source mapping %s: %s", self._mapping.uuid, error)
        text = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        await self._report(f"PROBLEM: Error occurred while polling {self._mapping.source.arn}: {text}")

    # -- one shard ----------------------------------------------------------------------

    async def _shard(self, shard_id: str, parents: tuple[str, ...] = ()) -> None:
        """Read one shard batch after batch, from its checkpoint, until stopped or the shard is closed and read.

        A shard made by a split or merge waits until its parents (those still listed) are read to their end,
        so records of a partition key stay in order across a resharding.
        """
        waited = [self._shards[parent] for parent in parents if parent in self._shards]
        if waited:
            await asyncio.gather(*waited, return_exceptions=True)
        mapping = self._mapping
        iterator: str | None = None
        closed = False
        read_to = 0  # The highest sequence number read from the shard.
        pending: list[StreamRecord] = []
        pause = PROBLEM_PAUSE_S
        while not self._stopping:
            try:
                if iterator is None and not closed:
                    iterator = await self._call(lambda: self._start_iterator(shard_id))
                    stored = await self._call(lambda: self._checkpoints.get(shard_id))
                    read_to = _number(stored.get("sequence"))
                    if mapping.tumbling_s:
                        self._windows[shard_id] = restored(stored.get("window"), mapping.tumbling_s)
                pending, iterator = await self._gather(shard_id, iterator, pending)
                if self._stopping:
                    return  # Records read but not yet invoked are read again from the checkpoint.
                if pending:
                    read_to = max(read_to, _number(pending[-1].sequence))
                # The end of a shard: no next iterator, or a closed shard read up to its last sequence number.
                closed = iterator is None or (shard_id in self._endings and read_to >= self._endings[shard_id])
                pause = PROBLEM_PAUSE_S
                if not pending:
                    window = self._windows.get(shard_id)
                    if window is not None and (closed or time.time() >= window.end):
                        await self._close_window(shard_id)
                        await self._call(lambda: self._checkpoints.put(shard_id, window=None))
                    if closed:
                        return
                    await self._sleep(IDLE_POLL_S)
                    continue
                batch = _within_payload_limit(pending[:mapping.batch_size])
                await self._settle_batch(shard_id, batch)
                pending = pending[len(batch):]
                last = batch[-1].sequence
                window = self._windows.get(shard_id)
                kept = window.stored() if window is not None else None
                await self._call(lambda: self._checkpoints.put(shard_id, sequence=last, window=kept))
            except Exception as error:
                await self._problem(error)
                iterator, pending, closed = None, [], False  # Read again from the checkpoint.
                await self._sleep(pause)
                pause = min(pause * 2, PROBLEM_PAUSE_MAX_S)

    def _start_iterator(self, shard_id: str) -> str:
        """Where a shard is read from: after its checkpoint, else from the mapping's starting position (blocking)."""
        mapping = self._mapping
        stored = self._checkpoints.get(shard_id)
        if stored.get("sequence"):
            return self._reader.iterator(shard_id, "AFTER_SEQUENCE_NUMBER", sequence=stored["sequence"])
        if mapping.starting_position == "TRIM_HORIZON":
            return self._reader.iterator(shard_id, "TRIM_HORIZON")
        since = stored.get("since")
        if since is None:
            since = mapping.starting_timestamp if mapping.starting_position == "AT_TIMESTAMP" else time.time()
            self._checkpoints.put(shard_id, since=since)
            if mapping.starting_position == "LATEST":
                return self._reader.iterator(shard_id, "LATEST")
        # A restart before any record was done: from when the shard was first read, so nothing is lost.
        return self._reader.iterator(shard_id, "AT_TIMESTAMP", timestamp=since)

    async def _gather(
        self, shard_id: str, iterator: str | None, pending: list[StreamRecord]
    ) -> tuple[list[StreamRecord], str | None]:
        """Records for the next batch: one read, or reads until BatchSize or the batching window ends; and
        the next iterator (None: the shard is closed and read to its end)."""
        mapping = self._mapping
        deadline = time.monotonic() + mapping.window_s
        current: str | None = iterator
        while current is not None and len(pending) < mapping.batch_size:
            records, following = await self._call(
                lambda at=current: self._reader.read(shard_id, at, mapping.batch_size - len(pending))
            )
            current = following
            pending = pending + records
            # The iterator age: how old the last record read is (none waiting: the read is at the shard's tip).
            self._stats.read(shard_id, pending[-1].arrival if pending else None)
            if time.monotonic() >= deadline or self._stopping or (not pending and not records):
                break
            if not records:
                await asyncio.sleep(WINDOW_POLL_S)
        return pending, current

    # -- one batch ----------------------------------------------------------------------

    async def _settle_batch(self, shard_id: str, batch: list[StreamRecord]) -> None:
        """Filter a batch, then settle each of its lanes (ParallelizationFactor) at once."""
        mapping = self._mapping
        if mapping.keep is not None:
            batch = [record for record in batch if mapping.keep(record.event)]
        if not batch:
            return
        if mapping.tumbling_s:
            await self._settle_windowed(shard_id, batch)
            return
        lanes: dict[int, list[StreamRecord]] = {}
        for record in batch:
            lanes.setdefault(_lane(record.key, mapping.parallelization), []).append(record)
        await asyncio.gather(*(self._settle(shard_id, lane) for lane in lanes.values()))

    async def _settle_windowed(self, shard_id: str, batch: list[StreamRecord]) -> None:
        """With tumbling windows (one lane: the state is the shard's): each window's records in turn; a record
        of a later window first closes the open one."""
        length = self._mapping.tumbling_s
        groups: list[tuple[int, list[StreamRecord]]] = []
        for record in batch:
            start = window_start(record.arrival, length)
            if groups and groups[-1][0] == start:
                groups[-1][1].append(record)
            else:
                groups.append((start, [record]))
        for start, records in groups:
            window = self._windows.get(shard_id)
            if window is None or window.start != start:
                if window is not None:
                    await self._close_window(shard_id)
                self._windows[shard_id] = Window(start, length)
            await self._settle(shard_id, records)

    async def _close_window(self, shard_id: str, terminated_early: bool = False) -> None:
        """The final invocation of a shard's open window (retried until it succeeds: the shard waits for it)."""
        window = self._windows[shard_id]
        assert window is not None
        payload = window_event(window, [], shard_id, self._mapping.source.arn, final=True,
                               terminated_early=terminated_early)
        pause = RETRY_FIRST_S
        while (await self._invoke_until_run(json.dumps(payload).encode())).error is not None:
            await self._report(FUNCTION_FAILED)
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)
        # Ended early by a state too large: the same window goes on with a fresh state.
        self._windows[shard_id] = Window(window.start, window.length) if terminated_early else None

    def _payload(self, shard_id: str, records: list[StreamRecord]) -> bytes:
        events = [record.event for record in records]
        window = self._windows.get(shard_id)
        if window is None:
            return json.dumps({"Records": events}).encode()
        return json.dumps(window_event(window, events, shard_id, self._mapping.source.arn)).encode()

    async def _keep_state(self, shard_id: str, outcome: Outcome) -> bool:
        """With tumbling windows: keep the state the function answered; False when it answered none (a failure)."""
        window = self._windows.get(shard_id)
        if window is None:
            return True
        state = answered_state(outcome.payload)
        if state is None:
            return False
        window.state = state
        if too_large(state):
            await self._close_window(shard_id, terminated_early=True)
        return True

    async def _settle(self, shard_id: str, records: list[StreamRecord]) -> None:
        """Invoke until the records succeed or are given up on (see 3. above)."""
        mapping = self._mapping
        attempts = 0
        pause = RETRY_FIRST_S
        while records:
            if _too_old(records, mapping.max_age_s):
                # As AWS records it: the count is at least 1, and no response context, even for a batch never invoked.
                await self._give_up(shard_id, records, RECORD_AGE_EXCEEDED, max(attempts, 1), None)
                return
            outcome = await self._invoke_until_run(self._payload(shard_id, records))
            attempts += 1
            if outcome.error is None and await self._keep_state(shard_id, outcome):
                start = reported_from(outcome.payload, records) if mapping.report_failures else len(records)
                if start == len(records):
                    self._stats.settled(processed=len(records))
                    await self._report(OK)
                    return
                if start is not None:
                    self._stats.settled(processed=start)
                    records = records[start:]
            self._stats.settled(failed=len(records))
            await self._report(FUNCTION_FAILED)
            if outcome.error is not None and mapping.bisect and len(records) > 1:
                half = len(records) // 2
                await self._settle(shard_id, records[:half])
                await self._settle(shard_id, records[half:])
                return
            if mapping.max_retries != INFINITE and attempts > mapping.max_retries:
                await self._give_up(shard_id, records, RETRIES_EXHAUSTED, attempts, outcome)
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, RETRY_MAX_S)

    async def _invoke_until_run(self, payload: bytes) -> Outcome:
        """The function's outcome, waiting through throttles and problems (which block the shard, never drop it)."""
        throttle, problem = THROTTLE_FIRST_S, PROBLEM_PAUSE_S
        while True:
            try:
                return await self._invoke(self._mapping.function, payload)
            except (TooManyRequests, ResourceConflict):
                await asyncio.sleep(throttle)
                throttle = min(throttle * 2, THROTTLE_MAX_S)
            except AwsError as error:
                await self._report(f"PROBLEM: {error.message}")
                await asyncio.sleep(problem)
                problem = min(problem * 2, PROBLEM_PAUSE_MAX_S)

    async def _give_up(self, shard_id: str, records: list[StreamRecord], condition: str, attempts: int,
                       outcome: Outcome | None) -> None:
        """The batch is done with: its record to the OnFailure destination (retried until sent), if there is one."""
        mapping = self._mapping
        log.info("event source mapping %s: %d records of %s discarded (%s)", mapping.uuid, len(records), shard_id, condition)
        if self._send_failure is None:
            return
        document = failure_record(
            self._reader.kind, shard_id, mapping.source.arn, records, request_id=str(uuid.uuid4()),
            function_arn=mapping.function_arn, condition=condition, invoke_count=attempts,
            executed_version=None if outcome is None else (outcome.version or mapping.function.qualifier or "$LATEST"),
            function_error=None if outcome is None else outcome.error,
        )
        pause = PROBLEM_PAUSE_S
        while True:
            try:
                await self._send_failure(json.dumps(document))
                return
            except Exception as error:  # The destination is unreachable: the shard waits for it.
                await self._report(f"PROBLEM: Error occurred while sending to the OnFailure destination: {error}")
                await asyncio.sleep(pause)
                pause = min(pause * 2, PROBLEM_PAUSE_MAX_S)

    async def _call(self, function: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self._executor.submit(function))


def _lane(key: str, lanes: int) -> int:
    """The lane of a partition key: stable across runs (not Python's salted hash)."""
    if lanes <= 1:
        return 0
    return int.from_bytes(hashlib.md5(key.encode()).digest()[:8], "big") % lanes


def _number(sequence: str | None) -> int:
    """A sequence number as a number (Kinesis and DynamoDB Streams write them in decimal); 0 for none."""
    try:
        return int(sequence or 0)
    except ValueError:
        return 0


def _too_old(records: list[StreamRecord], max_age_s: int) -> bool:
    return max_age_s != INFINITE and time.time() - records[0].arrival > max_age_s


def _within_payload_limit(records: list[StreamRecord]) -> list[StreamRecord]:
    """The leading records that fit one payload (at least one)."""
    size = len('{"Records":[]}')
    for count, record in enumerate(records):
        size += len(json.dumps(record.event).encode()) + 1
        if size > MAX_PAYLOAD_BYTES and count > 0:
            return records[:count]
    return records
