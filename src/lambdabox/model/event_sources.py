"""Event sources as CreateEventSourceMapping names them: which kind an ARN is, and each kind's settings.

Pure: ARN parsing, per-source defaults and ranges, and AWS's messages for settings a source does
not take. Control (control/event_source_mappings.py) applies them; pollers (sources/) read the result.

Amazon SQS is polled here; streams (Kinesis, DynamoDB) are parsed in model/stream_sources.py and brokers
(NATS JetStream, Amazon MQ for RabbitMQ) in model/broker_sources.py. Kafka is recognised, so that its
mappings are refused with a clear message instead of "Unrecognized event source."
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambdabox.model.arns import PARTITION, Scope
from lambdabox.model.errors import InvalidParameterValue

SQS, KINESIS, DYNAMODB, MQ, KAFKA = "sqs", "kinesis", "dynamodb", "mq", "kafka"

#: A queue ARN: arn:aws:sqs:REGION:ACCOUNT:NAME; a name has at most 80 characters, ".fifo" included for a FIFO queue.
_SQS_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):(?P<name>[a-zA-Z0-9_-]{1,80}|[a-zA-Z0-9_-]{1,75}\.fifo)$"
)
#: The other sources Lambda maps, recognised by service and resource.
_OTHER_SOURCES = (
    (MQ, re.compile(r"^arn:aws[a-zA-Z-]*:mq:[a-z0-9-]+:\d{12}:broker:.+")),
    (KAFKA, re.compile(r"^arn:aws[a-zA-Z-]*:kafka:[a-z0-9-]+:\d{12}:cluster/.+")),
)
_NAMES = {KINESIS: "Amazon Kinesis", DYNAMODB: "Amazon DynamoDB Streams", MQ: "Amazon MQ", KAFKA: "Amazon MSK"}

#: SQS: default batch size, largest without a batching window, largest with one (Lambda's limits).
SQS_DEFAULT_BATCH = 10
SQS_MAX_BATCH_UNWINDOWED = 10
SQS_MAX_BATCH = 10_000

#: Settings only streams (or only brokers) take: an SQS mapping with any of them is refused.
_NOT_FOR_SQS = (
    "ParallelizationFactor", "DestinationConfig", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError",
    "MaximumRetryAttempts", "TumblingWindowInSeconds", "Topics", "Queues", "SourceAccessConfigurations",
    "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig", "ProvisionedPollerConfig",
)
#: Settings Lambdabox does not act on yet; refused rather than stored and ignored.
_NOT_SERVED = ("KMSKeyArn", "MetricsConfig", "LoggingConfig")


@dataclass(frozen=True)
class QueueSource:
    """An SQS queue named by its ARN."""

    arn: str
    scope: Scope
    name: str

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


def parse_source(arn: str | None) -> QueueSource:
    """The queue an EventSourceArn names; AWS's InvalidParameterValueException for anything else."""
    if not arn:
        raise InvalidParameterValue("Unrecognized event source.")
    match = _SQS_ARN.match(arn)
    if match:
        return QueueSource(arn, Scope(match["account"], match["region"]), match["name"])
    for kind, pattern in _OTHER_SOURCES:
        if pattern.match(arn):
            raise InvalidParameterValue(
                f"Lambdabox does not poll {_NAMES[kind]} event sources yet; only Amazon SQS queues can be mapped."
            )
    raise InvalidParameterValue("Unrecognized event source.")


def mapping_arn(scope: Scope, uuid: str) -> str:
    return f"arn:{PARTITION}:lambda:{scope.region}:{scope.account}:event-source-mapping:{uuid}"


def check_sqs_settings(request: dict[str, Any], source: QueueSource) -> None:
    """Refuse settings an SQS mapping does not take, with AWS's words where AWS has them."""
    if request.get("StartingPosition") is not None or request.get("StartingPositionTimestamp") is not None:
        raise InvalidParameterValue(f"Unsupported starting position for arn type: {source.arn}")
    for name in _NOT_FOR_SQS:
        if request.get(name) is not None:
            raise InvalidParameterValue(f"Unsupported {name} parameter for given event source mapping type.")
    for name in _NOT_SERVED:
        if request.get(name) is not None:
            raise InvalidParameterValue(f"Lambdabox does not support {name} on event source mappings yet.")


def check_sqs_batching(batch_size: int, window: int, fifo: bool) -> None:
    """The batch size an SQS mapping may have with this batching window (sizes and windows are in range already)."""
    if fifo and window > 0:
        raise InvalidParameterValue("Batching window is not supported for FIFO queues")
    if batch_size > SQS_MAX_BATCH_UNWINDOWED and window == 0:
        raise InvalidParameterValue(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        )
