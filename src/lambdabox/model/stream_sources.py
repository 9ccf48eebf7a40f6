"""Stream event sources (Amazon Kinesis, Amazon DynamoDB Streams): their ARNs and their mappings' settings.

Pure: ARN parsing, the settings a stream mapping takes with AWS's defaults and ranges, and AWS's
messages. Ranges the API model states (BatchSize 1-10,000, ParallelizationFactor 1-10,
MaximumRetryAttempts -1-10,000, MaximumRecordAgeInSeconds -1-604,800, TumblingWindowInSeconds
0-900, the StartingPosition enum) are checked against botocore's model in api/shapes.py before
a request gets here; the rules below are those the service itself adds.

Control (control/stream_mappings.py) applies them; the stream pollers (sources/streams.py) read
the stored configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from lambdabox.model.arns import Scope
from lambdabox.model.errors import InvalidParameterValue

KINESIS, DYNAMODB = "kinesis", "dynamodb"

#: arn:aws:kinesis:REGION:ACCOUNT:stream/NAME (a name: 1-128 of [a-zA-Z0-9_.-]).
_KINESIS_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:kinesis:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):stream/(?P<name>[a-zA-Z0-9_.-]{1,128})$"
)
#: arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE/stream/LABEL (a table name: 3-255 of [a-zA-Z0-9_.-]).
_DYNAMODB_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:dynamodb:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"table/(?P<name>[a-zA-Z0-9_.-]{3,255})/stream/(?P<label>[0-9A-Za-z:.+_-]{1,64})$"
)
#: Where an OnFailure destination may be for a stream mapping: an SQS queue or an SNS topic.
_DESTINATION_ARN = re.compile(r"^arn:aws[a-zA-Z-]*:(?P<service>sqs|sns):(?P<region>[a-z0-9-]+):(?P<account>\d{12}):[a-zA-Z0-9_.-]{1,256}$")

#: Defaults of a stream mapping, as AWS answers a Create that sets nothing.
DEFAULT_BATCH = 100
DEFAULT_PARALLELIZATION = 1
#: -1: retry until the record expires from the stream (Kinesis: 24 h or more; DynamoDB: 24 h).
INFINITE = -1
#: Smallest MaximumRecordAgeInSeconds besides -1 (the model's minimum is -1; the service refuses 0-59).
MIN_RECORD_AGE_S = 60
#: The answer's LastProcessingResult before any batch ran, and the reason of states set through the API.
NO_RECORDS = "No records processed"
USER_ACTION = "User action"
#: Settings a stream mapping does not take (brokers' and SQS's own).
_NOT_FOR_STREAMS = (
    "Topics", "Queues", "SourceAccessConfigurations", "SelfManagedEventSource", "ScalingConfig",
    "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig", "DocumentDBEventSourceConfig",
)
#: Settings Lambdabox does not act on yet; refused rather than stored and ignored.
_NOT_SERVED = ("KMSKeyArn", "MetricsConfig", "LoggingConfig", "ProvisionedPollerConfig")
#: The stream settings an Update may change, with what they hold.
UPDATABLE = (
    "BatchSize", "MaximumBatchingWindowInSeconds", "ParallelizationFactor", "BisectBatchOnFunctionError",
    "MaximumRetryAttempts", "MaximumRecordAgeInSeconds", "TumblingWindowInSeconds",
)


@dataclass(frozen=True)
class StreamSource:
    """A Kinesis data stream or a DynamoDB table's stream, named by its ARN."""

    arn: str
    kind: str
    scope: Scope
    #: The Kinesis stream's name, or the DynamoDB table's.
    name: str

    @property
    def service_name(self) -> str:
        return "Kinesis" if self.kind == KINESIS else "DynamoDB Streams"


def parse_stream(arn: str | None) -> StreamSource | None:
    """The stream an EventSourceArn names, or None when it names no stream (another kind of source)."""
    if not arn:
        return None
    for kind, pattern in ((KINESIS, _KINESIS_ARN), (DYNAMODB, _DYNAMODB_ARN)):
        match = pattern.match(arn)
        if match:
            return StreamSource(arn, kind, Scope(match["account"], match["region"]), match["name"])
    return None


def stream_settings(request: dict[str, Any], source: StreamSource) -> dict[str, Any]:
    """The configuration a Create sets for a stream (beyond UUID, ARNs, function and state), AWS's defaults filled in."""
    check_not_taken(request)
    position = request.get("StartingPosition")
    if position is None:
        raise InvalidParameterValue(
            "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null."
        )
    if position == "AT_TIMESTAMP" and source.kind == DYNAMODB:
        raise InvalidParameterValue(f"Unsupported starting position for arn type: {source.arn}")
    timestamp = request.get("StartingPositionTimestamp")
    if position == "AT_TIMESTAMP" and timestamp is None:
        raise InvalidParameterValue("StartingPositionTimestamp must be specified when StartingPosition is AT_TIMESTAMP.")
    if position != "AT_TIMESTAMP" and timestamp is not None:
        raise InvalidParameterValue("StartingPositionTimestamp can only be specified when StartingPosition is AT_TIMESTAMP.")
    config: dict[str, Any] = {
        "BatchSize": DEFAULT_BATCH,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": DEFAULT_PARALLELIZATION,
        "StartingPosition": position,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": INFINITE,
        "MaximumRecordAgeInSeconds": INFINITE,
        "TumblingWindowInSeconds": 0,
        "DestinationConfig": {"OnFailure": {}},
        "LastProcessingResult": NO_RECORDS,
        "StateTransitionReason": USER_ACTION,
    }
    if timestamp is not None:
        config["StartingPositionTimestamp"] = timestamp
    apply_settings(config, request, source)
    return config


def apply_settings(config: dict[str, Any], request: dict[str, Any], source: StreamSource) -> None:
    """Set what a Create or an Update gives of the changeable settings, each checked."""
    check_not_taken(request)
    for name in UPDATABLE:
        if request.get(name) is not None:
            config[name] = request[name]
    age = config["MaximumRecordAgeInSeconds"]
    if age != INFINITE and age < MIN_RECORD_AGE_S:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{age}' at 'maximumRecordAgeInSeconds' failed to satisfy constraint: "
            f"Member must have value greater than or equal to {MIN_RECORD_AGE_S}"
        )
    destination = request.get("DestinationConfig")
    if destination is not None:
        if destination.get("OnSuccess"):
            raise InvalidParameterValue("Unsupported OnSuccess parameter for given event source mapping type.")
        target = (destination.get("OnFailure") or {}).get("Destination")
        if target:
            check_destination(target, source)
            config["DestinationConfig"] = {"OnFailure": {"Destination": target}}
        else:
            config["DestinationConfig"] = {"OnFailure": {}}


def check_not_taken(request: dict[str, Any]) -> None:
    for name in _NOT_FOR_STREAMS:
        if request.get(name) is not None:
            raise InvalidParameterValue(f"Unsupported {name} parameter for given event source mapping type.")
    for name in _NOT_SERVED:
        if request.get(name) is not None:
            raise InvalidParameterValue(f"Lambdabox does not support {name} on event source mappings yet.")


def check_destination(target: str, source: StreamSource) -> None:
    """An OnFailure destination: an SQS queue or SNS topic of the mapping's own account.

    The server sends with its own credentials, so another account's queue or topic is refused
    (on AWS the execution role would decide).
    """
    match = _DESTINATION_ARN.match(target)
    if match is None and target.startswith("arn:aws:s3:"):
        raise InvalidParameterValue("Lambdabox does not support Amazon S3 OnFailure destinations yet.")
    if match is None:
        raise InvalidParameterValue(f"The provided destination config DestinationConfig(onSuccess=null, "
                                    f"onFailure=OnFailure(destination={target})) is invalid.")
    if match["account"] != source.scope.account:
        raise InvalidParameterValue(
            f"The provided execution role does not have permissions to call "
            f"{'SendMessage on SQS' if match['service'] == 'sqs' else 'Publish on SNS'}"
        )


#: What a stream mapping's execution role must be allowed on the stream, in the order AWS names them
#: (both of AWS's managed policies for stream mappings grant these four).
ROLE_VERBS = ("GetRecords", "GetShardIterator", "DescribeStream", "ListStreams")


def role_message(source: StreamSource) -> str:
    """AWS's refusal when the execution role lacks one of the stream actions."""
    return (f"Cannot access stream {source.arn}. Please ensure the role can perform the GetRecords, "
            "GetShardIterator, DescribeStream, and ListStreams Actions on your stream in IAM.")
