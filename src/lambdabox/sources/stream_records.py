"""Stream records as Lambda hands them to a function, and the record an OnFailure destination gets.

Pure: no I/O. The shapes are AWS's, field for field: the "Kinesis" and "DynamoDB Streams" events
of the Lambda developer guide, and the invocation record of a failed stream batch ("Capturing
discarded batches for a stream event source": `requestContext`, `responseContext`, `version`,
`timestamp` and `KinesisBatchInfo` or `DDBStreamBatchInfo`).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from lambdabox.sources.sqs_records import failed_items

KINESIS, DYNAMODB = "kinesis", "dynamodb"

#: What a stream mapping's OnFailure record says ended the retries.
RETRIES_EXHAUSTED = "RetryAttemptsExhausted"
RECORD_AGE_EXCEEDED = "RecordAgeExceeded"


@dataclass(frozen=True)
class Shard:
    """A shard as a stream lists it: its parents (read to their end before it), and its last sequence number
    once it is closed (None while it is open)."""

    id: str
    parents: tuple[str, ...]
    ending: str | None


@dataclass(frozen=True)
class StreamRecord:
    """One record read from a shard: its sequence number, arrival time (epoch seconds), partition key and event record."""

    sequence: str
    arrival: float
    key: str
    event: dict[str, Any]


def kinesis_record(raw: dict[str, Any], shard_id: str, stream_arn: str, region: str, role_arn: str) -> StreamRecord:
    """One record of boto3's Kinesis GetRecords answer as a record of the event's `Records`."""
    arrival = _epoch(raw.get("ApproximateArrivalTimestamp"))
    sequence = raw["SequenceNumber"]
    event = {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": raw["PartitionKey"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(raw.get("Data", b"")).decode(),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": role_arn,
        "awsRegion": region,
        "eventSourceARN": stream_arn,
    }
    return StreamRecord(sequence, arrival, raw["PartitionKey"], event)


def dynamodb_record(raw: dict[str, Any], stream_arn: str, region: str) -> StreamRecord:
    """One record of boto3's DynamoDB Streams GetRecords answer as a record of the event's `Records`."""
    given = raw.get("dynamodb") or {}
    arrival = _epoch(given.get("ApproximateCreationDateTime"))
    block: dict[str, Any] = {"ApproximateCreationDateTime": arrival}
    for name in ("Keys", "NewImage", "OldImage"):
        if name in given:
            block[name] = {key: attribute_value(value) for key, value in given[name].items()}
    block.update(SequenceNumber=given.get("SequenceNumber", ""), SizeBytes=given.get("SizeBytes", 0),
                 StreamViewType=given.get("StreamViewType", ""))
    event: dict[str, Any] = {
        "eventID": raw.get("eventID", ""),
        "eventName": raw.get("eventName", ""),
        "eventVersion": raw.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": raw.get("awsRegion") or region,
        "dynamodb": block,
        "eventSourceARN": stream_arn,
    }
    if raw.get("userIdentity"):
        event["userIdentity"] = raw["userIdentity"]
    keys = block.get("Keys", {})
    return StreamRecord(block["SequenceNumber"], arrival, repr(sorted(keys.items())), event)


def attribute_value(value: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB attribute value as boto3 parsed it, back in the wire's JSON form (binary as base64)."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in inner]}
    if kind == "M":
        return {"M": {key: attribute_value(item) for key, item in inner.items()}}
    if kind == "L":
        return {"L": [attribute_value(item) for item in inner]}
    return {kind: inner}


def reported_from(response: bytes, records: list[StreamRecord]) -> int | None:
    """With ReportBatchItemFailures: the index of the first record to retry (len(records) when none
    failed); None when the whole batch failed (a malformed report, as for SQS)."""
    sequences = [record.sequence for record in records]
    failed = failed_items(response, set(sequences))
    if failed is None:
        return None
    indexes = [index for index, sequence in enumerate(sequences) if sequence in failed]
    return min(indexes) if indexes else len(records)


def failure_record(
    kind: str, shard_id: str, stream_arn: str, records: list[StreamRecord], *, request_id: str, function_arn: str,
    condition: str, invoke_count: int, executed_version: str | None, function_error: str | None,
) -> dict[str, Any]:
    """The record an OnFailure destination gets for a batch the mapping gave up on."""
    document: dict[str, Any] = {
        "requestContext": {
            "requestId": request_id, "functionArn": function_arn, "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
    }
    if executed_version is not None:
        response = {"statusCode": 200, "executedVersion": executed_version}
        if function_error:
            # Lambda's X-Amz-Function-Error for any error a function raised or its runtime reported.
            response["functionError"] = "Unhandled"
        document["responseContext"] = response
    stamp = _iso_millis if kind == KINESIS else _iso_seconds
    document["version"] = "1.0"
    document["timestamp"] = stamp(datetime.now(timezone.utc).timestamp())
    document["KinesisBatchInfo" if kind == KINESIS else "DDBStreamBatchInfo"] = {
        "shardId": shard_id,
        "startSequenceNumber": records[0].sequence,
        "endSequenceNumber": records[-1].sequence,
        "approximateArrivalOfFirstRecord": stamp(records[0].arrival),
        "approximateArrivalOfLastRecord": stamp(records[-1].arrival),
        "batchSize": len(records),
        "streamArn": stream_arn,
    }
    return document


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return float(moment or 0)


def _iso_millis(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _iso_seconds(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _base64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()
