"""The Amazon MQ for RabbitMQ poller of one event source mapping: consume, filter, batch, invoke, ack.

Guarantees:
1. At least once, as Amazon MQ's mappings: the poller consumes with manual acks and a prefetch of
   BatchSize, so a message is acked only after the function succeeded with its batch. A failed
   batch is nack'd with requeue (its messages come back, ``redelivered: true``) after a pause that
   doubles up to `RETRY_MAX_S`; a broker-side dead-letter policy bounds poison messages, as on AWS.
   If the server stops or dies, the broker requeues what was unacked when the connection closes.
2. Records that match none of the mapping's filters are acked and never invoked.
3. A throttled batch waits and is retried; it is never a failure.
4. `stop()` ends the poller between batches; what was gathered and not invoked is requeued.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from lambdabox.model.arns import FunctionRef
from lambdabox.model.broker_sources import MqBroker
from lambdabox.model.errors import AwsError, ResourceConflict, TooManyRequests
from lambdabox.sources.broker_records import rmq_event, rmq_message, within_payload
from lambdabox.sources.filtering import RecordFilter
from lambdabox.sources.mapping_stats import MappingStats
from lambdabox.sources.sqs import OK, Invoke, Outcome, Report

log = logging.getLogger(__name__)

#: Longest wait for a first message before looking at `stop()` again, in seconds.
IDLE_WAIT_S = 1.0
#: Pause after a failed batch before its messages are handed out again: doubling, up to the cap, in seconds.
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0
THROTTLE_FIRST_S, THROTTLE_MAX_S = 0.05, 2.0
PROBLEM_PAUSE_S, PROBLEM_PAUSE_MAX_S = 1.0, 30.0
#: AMQP's largest prefetch count.
MAX_PREFETCH = 65535
FUNCTION_FAILED = "PROBLEM: Function call failed"


@dataclass(frozen=True)
class RabbitMapping:
    uuid: str
    source: MqBroker
    function: FunctionRef
    #: The operator's AMQP URL for the broker, credentials included.
    url: str
    queue: str
    batch_size: int
    window_s: int
    keep: RecordFilter | None = None

    @property
    def vhost(self) -> str:
        path = urlsplit(self.url).path
        return unquote(path[1:]) if len(path) > 1 else "/"


class RabbitPoller:
    def __init__(self, mapping: RabbitMapping, invoke: Invoke, report: Report, stats: MappingStats | None = None) -> None:
        """`stats` gets the records processed and failed (RabbitMQ tells no message's age: no lag)."""
        self._mapping = mapping
        self._stats = stats or MappingStats()
        self._invoke = invoke
        self._report = report
        self._stopping = False
        self._waiting: asyncio.Task | None = None
        self._retry_pause = RETRY_FIRST_S

    def stop(self) -> None:
        self._stopping = True
        if self._waiting is not None:
            self._waiting.cancel()

    async def run(self) -> None:
        import aio_pika

        pause = PROBLEM_PAUSE_S
        while not self._stopping:
            connection = None
            try:
                connection = await aio_pika.connect(self._mapping.url, timeout=5)
                channel = await connection.channel()
                await channel.set_qos(prefetch_count=min(self._mapping.batch_size, MAX_PREFETCH))
                queue = await channel.get_queue(self._mapping.queue, ensure=True)
                arrived: asyncio.Queue = asyncio.Queue()
                await queue.consume(arrived.put, no_ack=False)
                pause = PROBLEM_PAUSE_S
                while not self._stopping:
                    batch = await self._gather(arrived)
                    if batch:
                        await self._process(batch)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
            except Exception as error:  # Broker unreachable, queue missing: say so, wait, try again.
                log.warning("event source mapping %s: %s", self._mapping.uuid, error)
                await self._report(f"PROBLEM: Error occurred while polling {self._mapping.source.arn}: {_short(error)}")
                await asyncio.sleep(pause)
                pause = min(pause * 2, PROBLEM_PAUSE_MAX_S)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()  # Unacked messages go back to the queue.

    async def _gather(self, arrived: asyncio.Queue) -> list[Any]:
        loop = asyncio.get_running_loop()
        batch: list[Any] = []
        # The wait for a first message outlives an idle round, so no message is taken and left behind.
        if self._waiting is None:
            self._waiting = loop.create_task(arrived.get())
        done, _ = await asyncio.wait({self._waiting}, timeout=IDLE_WAIT_S)
        if not done:
            return []
        first, self._waiting = self._waiting, None
        if first.cancelled():
            return []
        batch.append(first.result())
        deadline = loop.time() + self._mapping.window_s
        while len(batch) < self._mapping.batch_size and not self._stopping:
            if not arrived.empty():
                batch.append(arrived.get_nowait())
                continue
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(arrived.get(), left))
            except asyncio.TimeoutError:
                break
        if self._stopping:
            for message in batch:
                with contextlib.suppress(Exception):
                    await message.nack(requeue=True)
            return []
        return batch

    async def _process(self, batch: list[Any]) -> None:
        mapping = self._mapping
        pairs = [(message, rmq_message(_properties(message), bool(message.redelivered), message.body)) for message in batch]
        if mapping.keep is not None:
            for message, record in pairs:
                if not mapping.keep(record):
                    await message.ack()
            pairs = [(message, record) for message, record in pairs if mapping.keep(record)]
        for run in within_payload(pairs):
            await self._invoke_run(run)

    async def _invoke_run(self, pairs: list[tuple[Any, dict[str, Any]]]) -> None:
        """Invoke the function with messages that fit one payload; ack them, or requeue them after a pause."""
        mapping = self._mapping
        event = rmq_event(mapping.source.arn, mapping.queue, mapping.vhost, [record for _, record in pairs])
        outcome = await self._invoke_until_run(json.dumps(event).encode())
        if outcome is not None and outcome.error is None:
            for message, _ in pairs:
                await message.ack()
            self._stats.settled(processed=len(pairs))
            self._retry_pause = RETRY_FIRST_S
            await self._report(OK)
            return
        self._stats.settled(failed=len(pairs))
        await self._report(FUNCTION_FAILED)
        await asyncio.sleep(self._retry_pause)  # Held meanwhile: a failing function is not hammered.
        self._retry_pause = min(self._retry_pause * 2, RETRY_MAX_S)
        for message, _ in pairs:
            await message.nack(requeue=True)

    async def _invoke_until_run(self, payload: bytes) -> Outcome | None:
        pause = THROTTLE_FIRST_S
        while True:
            try:
                return await self._invoke(self._mapping.function, payload)
            except (TooManyRequests, ResourceConflict):
                await asyncio.sleep(pause)
                pause = min(pause * 2, THROTTLE_MAX_S)
            except AwsError as error:
                await self._report(f"PROBLEM: {error.message}")
                return None


def _properties(message: Any) -> dict[str, Any]:
    """An aio-pika message's AMQP basic properties, by their AMQP names."""
    expiration = message.expiration
    mode = message.delivery_mode
    return {
        "content_type": message.content_type, "content_encoding": message.content_encoding,
        "headers": message.headers, "delivery_mode": int(mode) if mode is not None else None,
        "priority": message.priority, "correlation_id": message.correlation_id, "reply_to": message.reply_to,
        "expiration": str(int(float(expiration) * 1000)) if expiration is not None else None,
        "message_id": message.message_id, "timestamp": message.timestamp, "type": message.type,
        "user_id": message.user_id, "app_id": message.app_id, "cluster_id": getattr(message, "cluster_id", None),
    }


def _short(error: Exception) -> str:
    return str(error).splitlines()[0][:200] if str(error) else type(error).__name__
