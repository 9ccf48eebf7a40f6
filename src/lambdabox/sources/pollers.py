"""The pollers of every event source mapping this server holds: one per Enabled mapping.

Contract:
1. `start()` (on the event loop) starts a poller for each stored Enabled mapping.
2. `changed(scope, uuid)` may be called from any thread after a mapping was created, updated or
   deleted: on the loop, the mapping's poller (if any) is stopped between batches, and a new one
   starts from the stored record if the mapping still exists and is Enabled.
3. `close()` stops every poller: intake first (no new batches), then waits up to
   `CLOSE_WAIT_S` for batches being invoked, then cancels what is left. Messages of a cancelled
   batch stay in flight and come back after the queue's visibility timeout.

Broker mappings (NATS JetStream, Amazon MQ for RabbitMQ) get their pollers from sources/brokers.py;
once such a mapping is deleted, its broker drops what it kept for it (a NATS durable consumer).
Stream mappings (Kinesis, DynamoDB Streams) get a StreamPoller (sources/streams.py, built in
sources/stream_pollers.py); the contract above holds for them too, with checkpoints instead of visibility.

SQS is reached with boto3 at the configured endpoint, with the server's own AWS credentials
(environment, shared files, instance role: boto3's usual chain); with an endpoint configured and no
credentials at all, placeholder ones, which local peers (moto, ElasticMQ, LocalStack) accept.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lambdabox.control import event_source_mappings as mappings
from lambdabox.invoke.invoker import Invoker
from lambdabox.model.arns import FunctionRef, Scope
from lambdabox.model.broker_sources import names_broker
from lambdabox.model.event_sources import parse_source
from lambdabox.model.stream_sources import parse_stream
from lambdabox.sources.brokers import BrokerPollers, Poller
from lambdabox.sources.filtering import record_filter
from lambdabox.sources.mapping_stats import MappingStatsBook
from lambdabox.sources.sqs import OK, Outcome, Report, SqsMapping, SqsPoller
from lambdabox.sources.stream_pollers import StreamClients, StreamEndpoints, forget, stream_poller
from lambdabox.sources.streams import StreamPoller
from lambdabox.store.records import RecordStore

log = logging.getLogger(__name__)

#: Threads (and connections) for the pollers' SQS calls, shared by every mapping: each long poll holds one
#: for up to 20 s, so an idle mapping holds one and a busy one up to its concurrency.
SQS_THREADS = 256
#: Batches a standard queue's mapping invokes at once when its ScalingConfig sets no MaximumConcurrency
#: (Lambda starts an SQS mapping at five concurrent batches).
DEFAULT_CONCURRENCY = 5
#: Seconds `close()` waits for batches being invoked before cancelling them.
CLOSE_WAIT_S = 5.0

Key = tuple[str, str, str]
#: Writes a line of Lambdabox's own into a function's log group: (scope, function name, message).
FunctionLog = Callable[[Scope, str, str], None]


def _no_log(scope: Scope, name: str, message: str) -> None:
    """Write nothing: for callers without a log store."""


def _forgotten(mapping_uuid: str, done: asyncio.Task) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.warning("event source mapping %s: its broker consumer was not deleted: %s", mapping_uuid, done.exception())


class SqsClients:
    """One boto3 SQS client per region, at the configured endpoint."""

    def __init__(self, endpoint_url: str | None) -> None:
        self._endpoint_url = endpoint_url
        self._clients: dict[str, Any] = {}

    def for_region(self, region: str) -> Any:
        if region not in self._clients:
            import boto3
            from botocore.config import Config

            session = boto3.Session(region_name=region)
            credentials = {}
            if self._endpoint_url and session.get_credentials() is None:
                credentials = {"aws_access_key_id": "lambdabox", "aws_secret_access_key": "lambdabox"}
            config = Config(max_pool_connections=SQS_THREADS, read_timeout=40, retries={"mode": "standard"})
            self._clients[region] = session.client("sqs", endpoint_url=self._endpoint_url, config=config, **credentials)
        return self._clients[region]


class Pollers:
    def __init__(self, store: RecordStore, invoker: Invoker, clients: SqsClients, function_log: FunctionLog = _no_log,
                 brokers: BrokerPollers | None = None, streams: StreamClients | None = None) -> None:
        """`function_log` gets a line each time a mapping's LastProcessingResult turns to a problem;
        `brokers` makes the pollers of NATS and Amazon MQ mappings (none: such mappings are not polled);
        `streams` reach Kinesis, DynamoDB Streams and OnFailure destinations (sources/stream_pollers.py)."""
        self._brokers = brokers
        self._streams = streams or StreamClients(StreamEndpoints())
        #: Each broker mapping's source ARN, to drop what its broker keeps once it is deleted.
        self._broker_arns: dict[Key, str] = {}
        self._function_log = function_log
        self._store = store
        self._invoker = invoker
        self._clients = clients
        self._executor = ThreadPoolExecutor(SQS_THREADS, thread_name_prefix="sqs-poller")
        self._running: dict[Key, tuple[SqsPoller | Poller | StreamPoller, asyncio.Task]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        #: What each mapping did since this server started (sources/mapping_stats.py).
        self.stats = MappingStatsBook()

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        for scope, mapping_uuid in mappings.every_mapping(self._store):
            self._apply(scope, mapping_uuid)

    def changed(self, scope: Scope, mapping_uuid: str) -> None:
        if self._loop is not None and not self._closed:
            self._loop.call_soon_threadsafe(self._apply, scope, mapping_uuid)

    def _apply(self, scope: Scope, mapping_uuid: str) -> None:
        if self._closed:
            return
        key = (scope.account, scope.region, mapping_uuid)
        current = self._running.pop(key, None)
        if current is not None:
            current[0].stop()
        body = mappings.stored(self._store, scope, mapping_uuid)
        self._note_broker(key, body)
        if body is None:
            forget(self._store, scope, mapping_uuid)
            self.stats.drop(*key)
        if body is None or body["config"]["State"] != "Enabled":
            return
        poller = self._poller(scope, body)
        task = asyncio.get_running_loop().create_task(poller.run(), name=f"poller {mapping_uuid}")
        self._running[key] = (poller, task)
        task.add_done_callback(lambda done: self._ended(key, task, done))

    def _ended(self, key: Key, task: asyncio.Task, done: asyncio.Task) -> None:
        if self._running.get(key, (None, None))[1] is task:
            del self._running[key]
        if not done.cancelled() and done.exception() is not None:
            log.error("event source mapping %s: poller failed", key[2], exc_info=done.exception())

    def _note_broker(self, key: Key, body: dict[str, Any] | None) -> None:
        """Remember a broker mapping's source; once it is deleted, have its broker drop its consumer."""
        if body is not None:
            if names_broker(body["config"]["EventSourceArn"]):
                self._broker_arns[key] = body["config"]["EventSourceArn"]
            return
        arn = self._broker_arns.pop(key, None)
        if arn is not None and self._brokers is not None:
            task = asyncio.get_running_loop().create_task(self._brokers.forget(arn, key[2]))
            task.add_done_callback(lambda done: _forgotten(key[2], done))

    def _poller(self, scope: Scope, body: dict[str, Any]) -> SqsPoller | Poller | StreamPoller:
        config, function = body["config"], body["function"]
        stats = self.stats.of(scope.account, scope.region, config["UUID"])
        if names_broker(config["EventSourceArn"]) and self._brokers is not None:
            report = self._reporter(scope, config["UUID"], function["name"])
            return self._brokers.poller(scope, body, self._invoke, report, stats)
        stream = parse_stream(config["EventSourceArn"])
        if stream is not None:
            report = self._reporter(scope, config["UUID"], function["name"])
            return stream_poller(self._store, scope, body, stream, self._streams, self._executor, self._invoke, report,
                                 stats)
        queue = parse_source(config["EventSourceArn"])
        scaling = config.get("ScalingConfig", {}).get("MaximumConcurrency", DEFAULT_CONCURRENCY)
        mapping = SqsMapping(
            uuid=config["UUID"],
            queue=queue,
            function=FunctionRef(scope, function["name"], function["qualifier"]),
            batch_size=config["BatchSize"],
            window_s=config["MaximumBatchingWindowInSeconds"],
            report_failures="ReportBatchItemFailures" in config.get("FunctionResponseTypes", []),
            concurrency=1 if queue.fifo else scaling,
            keep=record_filter(config.get("FilterCriteria")),
        )

        report = self._reporter(scope, mapping.uuid, mapping.function.name)
        return SqsPoller(mapping, self._clients.for_region(queue.scope.region), self._executor, self._invoke, report,
                         stats)

    def _reporter(self, scope: Scope, mapping_uuid: str, name: str) -> Report:
        """Records a mapping's LastProcessingResult, with a line in its function's log when it turns to a problem."""

        def record(result: str) -> None:
            if mappings.record_result(self._store, scope, mapping_uuid, result) and result != OK:
                self._function_log(scope, name, f"event source mapping {mapping_uuid}: {result}")

        async def report(result: str) -> None:
            await asyncio.to_thread(record, result)

        return report

    async def _invoke(self, ref: FunctionRef, payload: bytes) -> Outcome:
        run = await self._invoker.run(ref, payload, str(uuid.uuid4()))
        return Outcome(run.outcome.payload, run.outcome.error_type, run.version)

    async def close(self) -> None:
        # 1. No new pollers, no new batches.
        self._closed = True
        running = list(self._running.values())
        self._running.clear()
        for poller, _ in running:
            poller.stop()
        # 2. Batches being invoked finish, within a deadline.
        tasks = [task for _, task in running]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)
            # 3. What is left is cancelled: its messages come back after the visibility timeout.
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        # 4. Abandoned long polls end on their own; their threads are not waited for.
        self._executor.shutdown(wait=False, cancel_futures=True)
