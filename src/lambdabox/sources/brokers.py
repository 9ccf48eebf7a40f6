"""Pollers of broker mappings (NATS JetStream, Amazon MQ for RabbitMQ), made from a stored mapping.

Brokers are reached only where the operator said: one NATS server (`--nats-url`), and the AMQP URL
configured for each Amazon MQ broker ARN (`--rabbitmq-broker ARN=URL`). A stored mapping naming a
broker that is no longer configured gets a poller that only reports the problem.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol

from lambdabox.model.arns import FunctionRef, Scope
from lambdabox.model.broker_sources import NatsStream, parse_broker
from lambdabox.sources import nats as nats_source
from lambdabox.sources.filtering import record_filter
from lambdabox.sources.mapping_stats import MappingStats
from lambdabox.sources.nats import NatsMapping, NatsPoller
from lambdabox.sources.rabbitmq import RabbitMapping, RabbitPoller
from lambdabox.sources.sqs import Invoke, Report


class Poller(Protocol):
    async def run(self) -> None:
        """Poll until stopped."""

    def stop(self) -> None:
        """Stop between batches."""


class _Refused:
    """A mapping whose broker this server may not reach: it reports so and reads nothing."""

    def __init__(self, report: Report, problem: str) -> None:
        self._report = report
        self._problem = problem
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        await self._report(f"PROBLEM: {self._problem}")
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


class BrokerPollers:
    def __init__(self, nats_url: str, rabbitmq_brokers: Mapping[str, str], sqs_clients: Any) -> None:
        """`sqs_clients`: sources.pollers.SqsClients, for NATS mappings' OnFailure queues."""
        self._nats_url = nats_url
        self._rabbitmq_brokers = dict(rabbitmq_brokers)
        self._sqs_clients = sqs_clients

    def poller(self, scope: Scope, body: dict[str, Any], invoke: Invoke, report: Report,
               stats: MappingStats | None = None) -> Poller:
        """The mapping's poller; `stats` gets what it processed and failed, and its lag."""
        config, function = body["config"], body["function"]
        source = parse_broker(config["EventSourceArn"])
        ref = FunctionRef(scope, function["name"], function["qualifier"])
        if isinstance(source, NatsStream):
            mapping = NatsMapping(
                uuid=config["UUID"], source=source, function=ref, function_arn=config["FunctionArn"],
                batch_size=config["BatchSize"], window_s=config["MaximumBatchingWindowInSeconds"],
                starting_position=config.get("StartingPosition", "TRIM_HORIZON"),
                starting_at=config.get("StartingPositionTimestamp"),
                max_retries=config.get("MaximumRetryAttempts", -1),
                on_failure=config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"),
                report_failures="ReportBatchItemFailures" in config.get("FunctionResponseTypes", []),
                keep=record_filter(config.get("FilterCriteria"), "nats"),
                parallelization=config.get("ParallelizationFactor", 1),
            )
            return NatsPoller(mapping, self._nats_url, invoke, report, self._send_failure, stats)
        url = self._rabbitmq_brokers.get(source.arn)
        if url is None:
            return _Refused(report, f"The broker {source.arn} is not configured on this Lambdabox server.")
        return RabbitPoller(RabbitMapping(
            uuid=config["UUID"], source=source, function=ref, url=url, queue=config["Queues"][0],
            batch_size=config["BatchSize"], window_s=config["MaximumBatchingWindowInSeconds"],
            keep=record_filter(config.get("FilterCriteria"), "rabbitmq"),
        ), invoke, report, stats)

    async def forget(self, arn: str, mapping_uuid: str) -> None:
        """After a mapping was deleted: drop what the broker keeps for it (a NATS durable consumer)."""
        source = parse_broker(arn)
        if isinstance(source, NatsStream):
            await nats_source.forget(self._nats_url, source, mapping_uuid)

    async def _send_failure(self, target: str, record: dict[str, Any]) -> None:
        _, _, _, region, account, name = target.split(":", 5)
        sqs = self._sqs_clients.for_region(region)

        def send() -> None:
            url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

        await asyncio.to_thread(send)
