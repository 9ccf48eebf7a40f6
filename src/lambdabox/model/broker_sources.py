"""Broker event sources: NATS JetStream streams (beyond AWS) and Amazon MQ for RabbitMQ brokers.

Pure: which broker an EventSourceArn names, and the settings a mapping of each takes, with their
defaults and ranges and AWS's messages where AWS has them. Control (control/broker_mappings.py)
applies them; the pollers (sources/nats.py, sources/rabbitmq.py) read the result.

ARNs:
- NATS: ``arn:aws:nats:REGION:ACCOUNT:stream/STREAM`` or ``.../stream/STREAM/SUBJECT`` where SUBJECT
  filters the stream's subjects (NATS wildcards ``*`` and a final ``>`` allowed). It passes boto3's
  ``Arn`` pattern. The stream is read on the operator's NATS server (``--nats-url``), and only when its
  description holds the word ``lambdabox-account=ACCOUNT``: streams share one NATS namespace, so the
  description, set by whoever creates the stream, says whose it is (stream metadata needs NATS 2.10).
- Amazon MQ: ``arn:aws:mq:REGION:ACCOUNT:broker:NAME:b-ID``, which the operator maps to an AMQP URL
  (``--rabbitmq-broker ARN=amqp://user:pass@host:5672/vhost``); no other broker can be mapped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambdabox.model.arns import Scope
from lambdabox.model.errors import InvalidParameterValue

NATS, RABBITMQ = "nats", "rabbitmq"

_REGION = r"(?P<region>[a-z]{2}(?:-gov)?-[a-z]+-\d)"
#: A NATS stream: names of 1 to 64 letters, digits, "_" and "-"; an optional subject filter after a "/".
_NATS_ARN = re.compile(
    rf"^arn:aws[a-zA-Z-]*:nats:{_REGION}:(?P<account>\d{{12}}):stream/(?P<stream>[A-Za-z0-9_-]{{1,64}})"
    r"(?:/(?P<subject>[!-~]{1,255}))?$"
)
#: An Amazon MQ broker: a name of 1 to 50 characters and its id, "b-" and a UUID.
_MQ_ARN = re.compile(
    rf"^arn:aws[a-zA-Z-]*:mq:{_REGION}:(?P<account>\d{{12}}):broker:(?P<name>[A-Za-z0-9_-]{{1,50}})"
    r":(?P<id>b-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$"
)
#: Recognised as a broker ARN (then parsed strictly): service nats, or mq.
_BROKER_SERVICE = re.compile(r"^arn:aws[a-zA-Z-]*:(nats|mq):")

#: Batch sizes: default and largest (Amazon MQ's, and the NATS ones follow them); batching window's largest, in seconds.
DEFAULT_BATCH = 100
MAX_BATCH = 10_000
MAX_WINDOW_S = 300
#: MaximumRetryAttempts of a NATS mapping: -1 (the default) retries until the record succeeds.
MAX_RETRIES = 10_000
#: ParallelizationFactor of a NATS mapping, as Kinesis's: batches at once (never two sharing a subject).
MAX_PARALLELIZATION = 10
STARTING_POSITIONS = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")

#: Settings neither broker takes.
_NOT_FOR_BROKERS = (
    "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "TumblingWindowInSeconds",
    "Topics", "SelfManagedEventSource", "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
    "DocumentDBEventSourceConfig", "ProvisionedPollerConfig", "ScalingConfig", "KMSKeyArn", "MetricsConfig",
    "LoggingConfig",
)
#: Settings only a NATS mapping takes (as a Kinesis one does).
_NATS_ONLY = ("StartingPosition", "StartingPositionTimestamp", "MaximumRetryAttempts", "DestinationConfig",
              "FunctionResponseTypes", "ParallelizationFactor")
#: Settings only an Amazon MQ mapping takes.
_MQ_ONLY = ("Queues", "SourceAccessConfigurations")


@dataclass(frozen=True)
class NatsStream:
    arn: str
    scope: Scope
    stream: str
    #: The subject filter; None: every subject of the stream.
    subject: str | None


@dataclass(frozen=True)
class MqBroker:
    arn: str
    scope: Scope
    name: str


def names_broker(arn: Any) -> bool:
    """Whether an EventSourceArn is a broker's (NATS or Amazon MQ); then `parse_broker` reads it."""
    return isinstance(arn, str) and _BROKER_SERVICE.match(arn) is not None


def parse_broker(arn: str) -> NatsStream | MqBroker:
    match = _NATS_ARN.match(arn)
    if match and _subject_ok(match["subject"]):
        return NatsStream(arn, Scope(match["account"], match["region"]), match["stream"], match["subject"])
    match = _MQ_ARN.match(arn)
    if match:
        return MqBroker(arn, Scope(match["account"], match["region"]), match["name"])
    raise InvalidParameterValue("Unrecognized event source.")


def _subject_ok(subject: str | None) -> bool:
    """A NATS subject filter: dot-separated non-empty tokens; "*" a whole token; ">" only as the last one."""
    if subject is None:
        return True
    tokens = subject.split(".")
    for position, token in enumerate(tokens):
        if not token or ("*" in token and token != "*") or (">" in token and (token != ">" or position != len(tokens) - 1)):
            return False
    return True


def check_settings(request: dict[str, Any], source: NatsStream | MqBroker, creating: bool) -> None:
    """Refuse settings this broker's mapping does not take, and values out of range."""
    for name in _NOT_FOR_BROKERS + (_MQ_ONLY if isinstance(source, NatsStream) else _NATS_ONLY):
        if request.get(name) is not None:
            raise InvalidParameterValue(f"Unsupported {name} parameter for given event source mapping type.")
    window = request.get("MaximumBatchingWindowInSeconds")
    if window is not None and not 0 <= window <= MAX_WINDOW_S:
        raise InvalidParameterValue(f"MaximumBatchingWindowInSeconds must be between 0 and {MAX_WINDOW_S}.")
    if isinstance(source, NatsStream):
        _check_nats(request, creating)
    elif creating:
        _check_mq(request)
    elif request.get("SourceAccessConfigurations") is not None:
        _check_access(request["SourceAccessConfigurations"])


def _check_nats(request: dict[str, Any], creating: bool) -> None:
    position = request.get("StartingPosition")
    if position is not None and position not in STARTING_POSITIONS:
        raise InvalidParameterValue(f"Unsupported starting position: {position}")
    if (position == "AT_TIMESTAMP") != (request.get("StartingPositionTimestamp") is not None):
        raise InvalidParameterValue("StartingPositionTimestamp must be given with, and only with, AT_TIMESTAMP.")
    factor = request.get("ParallelizationFactor")
    if factor is not None and not 1 <= factor <= MAX_PARALLELIZATION:
        raise InvalidParameterValue(f"ParallelizationFactor must be between 1 and {MAX_PARALLELIZATION}.")
    retries = request.get("MaximumRetryAttempts")
    if retries is not None and not -1 <= retries <= MAX_RETRIES:
        raise InvalidParameterValue(f"MaximumRetryAttempts must be between -1 and {MAX_RETRIES}.")
    types = request.get("FunctionResponseTypes")
    if types is not None and any(kind != "ReportBatchItemFailures" for kind in types):
        raise InvalidParameterValue("Unsupported FunctionResponseTypes.")


def _check_mq(request: dict[str, Any]) -> None:
    queues = request.get("Queues")
    if not queues or len(queues) != 1:
        raise InvalidParameterValue("Queues must contain exactly one queue name for Amazon MQ event sources.")
    if not isinstance(queues[0], str) or not 1 <= len(queues[0]) <= 1000:
        raise InvalidParameterValue("Queue names must have between 1 and 1000 characters.")
    _check_access(request.get("SourceAccessConfigurations") or [])


def _check_access(configurations: list[dict[str, Any]]) -> None:
    """BASIC_AUTH (required, as on AWS) and optionally VIRTUAL_HOST, each at most once."""
    kinds = [entry.get("Type") for entry in configurations]
    if "BASIC_AUTH" not in kinds:
        raise InvalidParameterValue("Missing BASIC_AUTH SourceAccessConfiguration.")
    if any(kind not in ("BASIC_AUTH", "VIRTUAL_HOST") for kind in kinds) or len(kinds) != len(set(kinds)):
        raise InvalidParameterValue("Unsupported SourceAccessConfigurations for Amazon MQ event sources.")


def on_failure_target(request: dict[str, Any]) -> str | None:
    """The SQS queue ARN of a DestinationConfig.OnFailure, checked; None when there is none."""
    destination = ((request.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    if not destination:
        return None
    if not re.match(r"^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,80}$", destination):
        raise InvalidParameterValue("Unsupported DestinationConfig: only Amazon SQS queues take a NATS mapping's failures.")
    return destination
