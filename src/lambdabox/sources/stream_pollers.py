"""Building the poller of a stream mapping (Kinesis, DynamoDB Streams) from its stored record.

The server reaches Kinesis, DynamoDB Streams, and the SQS queues and SNS topics of OnFailure
destinations with boto3 at the configured endpoints, with its own AWS credentials (placeholder
ones when an endpoint is set and boto3 finds none, as for SQS in sources/pollers.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from lambdabox.control import catalog
from lambdabox.model.arns import FunctionRef, Scope
from lambdabox.model.errors import InvalidParameterValue
from lambdabox.model.stream_sources import KINESIS, StreamSource
from lambdabox.sources.checkpoints import Checkpoints
from lambdabox.sources.dynamodb_streams import DynamoDBStreamReader
from lambdabox.sources.filtering import record_filter
from lambdabox.sources.kinesis import KinesisReader
from lambdabox.sources.mapping_stats import MappingStats
from lambdabox.sources.sqs import Invoke, Report
from lambdabox.sources.streams import SendFailure, StreamMapping, StreamPoller
from lambdabox.store.records import RecordStore

log = logging.getLogger(__name__)

#: Connections each boto3 client keeps (shards of every mapping share one client per service and region).
POOL_CONNECTIONS = 64


@dataclass(frozen=True)
class StreamEndpoints:
    """Where the services stream mappings use are reached (None: AWS's own endpoints)."""

    kinesis: str | None = None
    dynamodb_streams: str | None = None
    sqs: str | None = None
    sns: str | None = None


class StreamClients:
    """One boto3 client per (service, region), at the configured endpoints."""

    def __init__(self, endpoints: StreamEndpoints) -> None:
        self._endpoints = {
            "kinesis": endpoints.kinesis, "dynamodbstreams": endpoints.dynamodb_streams,
            "sqs": endpoints.sqs, "sns": endpoints.sns,
        }
        self._clients: dict[tuple[str, str], Any] = {}

    def client(self, service: str, region: str) -> Any:
        if (service, region) not in self._clients:
            import boto3
            from botocore.config import Config

            endpoint = self._endpoints[service]
            session = boto3.Session(region_name=region)
            credentials = {}
            if endpoint and session.get_credentials() is None:
                credentials = {"aws_access_key_id": "lambdabox", "aws_secret_access_key": "lambdabox"}
            config = Config(max_pool_connections=POOL_CONNECTIONS, read_timeout=30, retries={"mode": "standard"})
            self._clients[(service, region)] = session.client(service, endpoint_url=endpoint, config=config, **credentials)
        return self._clients[(service, region)]


def stream_poller(store: RecordStore, scope: Scope, body: dict[str, Any], source: StreamSource, clients: StreamClients,
                  executor: Executor, invoke: Invoke, report: Report, stats: MappingStats | None = None) -> StreamPoller:
    """The poller of a stored stream mapping."""
    config, function = body["config"], body["function"]
    ref = FunctionRef(scope, function["name"], function["qualifier"])
    region = source.scope.region
    if source.kind == KINESIS:
        reader: Any = KinesisReader(clients.client("kinesis", region), source, _role_arn(store, ref))
    else:
        reader = DynamoDBStreamReader(clients.client("dynamodbstreams", region), source)
    timestamp = config.get("StartingPositionTimestamp")
    mapping = StreamMapping(
        uuid=config["UUID"],
        source=source,
        function=ref,
        function_arn=config["FunctionArn"],
        batch_size=config["BatchSize"],
        window_s=config["MaximumBatchingWindowInSeconds"],
        starting_position=config["StartingPosition"],
        starting_timestamp=float(timestamp) if timestamp is not None else None,
        parallelization=config["ParallelizationFactor"],
        bisect=config["BisectBatchOnFunctionError"],
        max_retries=config["MaximumRetryAttempts"],
        max_age_s=config["MaximumRecordAgeInSeconds"],
        report_failures="ReportBatchItemFailures" in config.get("FunctionResponseTypes", []),
        keep=record_filter(config.get("FilterCriteria"), source.kind),
        tumbling_s=config.get("TumblingWindowInSeconds", 0),
    )
    target = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    send = _sender(clients, target, executor) if target else None
    return StreamPoller(mapping, reader, Checkpoints(store, scope, mapping.uuid), executor, invoke, report, send, stats)


def stream_finder(clients: StreamClients) -> Callable[[StreamSource], None]:
    """A check that a stream exists, for Create (blocking): AWS's "Stream not found: ARN" when the service says it
    does not; any other failure (unreachable, no credentials) lets the mapping be made, and its poller reports it."""

    def find(source: StreamSource) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            if source.kind == KINESIS:
                clients.client("kinesis", source.scope.region).describe_stream_summary(StreamName=source.name)
            else:
                clients.client("dynamodbstreams", source.scope.region).describe_stream(StreamArn=source.arn, Limit=1)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                raise InvalidParameterValue(f"Stream not found: {source.arn}") from None
            log.info("could not look up stream %s: %s", source.arn, error)
        except BotoCoreError as error:
            log.info("could not look up stream %s: %s", source.arn, error)

    return find


def forget(store: RecordStore, scope: Scope, mapping_uuid: str) -> None:
    """Delete a deleted mapping's checkpoints."""
    Checkpoints(store, scope, mapping_uuid).forget()


def _role_arn(store: RecordStore, ref: FunctionRef) -> str:
    """The execution role of the function a mapping invokes (each Kinesis record names it); "" when it is gone."""
    try:
        with store.reading() as records:
            return catalog.resolve(records, ref)[0]["config"].get("Role", "")
    except Exception:  # Deleted since: records still flow, and the invoke reports the problem.
        return ""


def _sender(clients: StreamClients, target: str, executor: Executor) -> SendFailure:
    """Sends an OnFailure record to an SQS queue or an SNS topic (blocking calls, in the executor)."""
    _, _, service, region, account, name = target.split(":", 5)

    def send(text: str) -> None:
        client = clients.client(service, region)
        if service == "sqs":
            url = client.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
            client.send_message(QueueUrl=url, MessageBody=text)
        else:
            client.publish(TopicArn=target, Message=text)

    async def send_failure(text: str) -> None:
        await asyncio.wrap_future(executor.submit(send, text))

    return send_failure
