"""Amazon SQS messages as Lambda hands them to a function, and what a function's answer says failed.

Pure: no I/O. The event shape is AWS's, field for field (the "Amazon SQS" event of the Lambda
developer guide); the rules for ReportBatchItemFailures responses are those of "Handling errors
for an SQS event source in Lambda".
"""

from __future__ import annotations

import base64
from typing import Any

from lambdabox.model import json_text

#: The system attributes a record carries, in AWS's order, when SQS gave them: FIFO queues add the last three.
_ATTRIBUTES = (
    "ApproximateReceiveCount", "AWSTraceHeader", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageGroupId", "MessageDeduplicationId",
)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One message of boto3's ReceiveMessage answer as a record of the event's `Records`."""
    given = message.get("Attributes") or {}
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": {name: given[name] for name in _ATTRIBUTES if name in given},
        "messageAttributes": {
            name: _message_attribute(value) for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """boto3's MessageAttributeValue in the event's lower-case form, binary values in base64."""
    shown: dict[str, Any] = {}
    if "StringValue" in value:
        shown["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shown["binaryValue"] = _base64(value["BinaryValue"])
    shown["stringListValues"] = list(value.get("StringListValues") or [])
    shown["binaryListValues"] = [_base64(item) for item in value.get("BinaryListValues") or []]
    shown["dataType"] = value.get("DataType", "String")
    return shown


def _base64(data: bytes | str) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def failed_items(response: bytes, message_ids: set[str]) -> set[str] | None:
    """The message ids a ReportBatchItemFailures response reports as failed; None when the whole batch failed.

    Complete success: an empty or null response, an object without `batchItemFailures`, or an empty or
    null list. Complete failure: a response that is not JSON or not an object, a `batchItemFailures` that
    is not a list, or any entry whose `itemIdentifier` is missing, null, empty or not a message of the batch.
    """
    text = response.strip()
    if not text:
        return set()
    try:
        document = json_text.loads(text)
    except ValueError:
        return None
    if document is None:
        return set()
    if not isinstance(document, dict):
        return None
    failures = document.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return None
    failed: set[str] = set()
    for entry in failures:
        identifier = entry.get("itemIdentifier") if isinstance(entry, dict) else None
        if not isinstance(identifier, str) or identifier not in message_ids:
            return None
        failed.add(identifier)
    return failed


def deletable(records: list[dict[str, Any]], failed: set[str], fifo: bool) -> list[dict[str, Any]]:
    """The records to delete after a batch in which `failed` failed.

    A standard queue: every record that did not fail. A FIFO queue: in each message group, only the
    records before its first failure, so the group's order holds when the rest come back.
    """
    if not fifo:
        return [record for record in records if record["messageId"] not in failed]
    stopped: set[str] = set()
    chosen = []
    for record in records:
        group = record["attributes"].get("MessageGroupId", "")
        if group in stopped:
            continue
        if record["messageId"] in failed:
            stopped.add(group)
            continue
        chosen.append(record)
    return chosen
