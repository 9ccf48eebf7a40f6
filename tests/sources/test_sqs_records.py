"""The SQS record shape and AWS's rules for ReportBatchItemFailures responses, as pure functions."""

from __future__ import annotations

import json

import pytest

from lambdabox.sources.sqs_records import deletable, failed_items, sqs_record

IDS = {"m1", "m2", "m3"}


@pytest.mark.parametrize("response, expected", [
    # Complete success.
    (b"", set()),
    (b"null", set()),
    (b"{}", set()),
    (b'{"batchItemFailures": []}', set()),
    (b'{"batchItemFailures": null}', set()),
    (b'{"statusCode": 200}', set()),
    # Some failed.
    (b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}', {"m2"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}, {"itemIdentifier": "m1"}]}', {"m1", "m3"}),
    # Complete failure.
    (b"not json", None),
    (b'"ok"', None),
    (b"[1, 2]", None),
    (b'{"batchItemFailures": {"itemIdentifier": "m1"}}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": null}]}', None),
    (b'{"batchItemFailures": [{"itemidentifier": "m1"}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": "someone-elses"}]}', None),
    (b'{"batchItemFailures": [{"itemIdentifier": 7}]}', None),
    (b'{"batchItemFailures": ["m1"]}', None),
])
def test_report_batch_item_failures_rules(response, expected):
    assert failed_items(response, IDS) == expected


def test_hostile_responses_fail_the_batch_without_hurting_the_server():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert failed_items(deep, IDS) is None
    nested = b'{"batchItemFailures": [' + b"[" * 5000 + b"]" * 5000 + b"]}"
    assert failed_items(nested, IDS) is None
    many = json.dumps({"batchItemFailures": [{"itemIdentifier": "m1"}] * 100_000}).encode()
    assert failed_items(many, IDS) == {"m1"}


def record(identifier: str, group: str) -> dict:
    return {"messageId": identifier, "attributes": {"MessageGroupId": group}}


def test_a_fifo_group_is_not_deleted_past_its_first_failure():
    records = [record("a1", "a"), record("b1", "b"), record("a2", "a"), record("b2", "b"), record("a3", "a")]
    kept = [r["messageId"] for r in deletable(records, {"a2"}, fifo=True)]
    assert kept == ["a1", "b1", "b2"]
    assert [r["messageId"] for r in deletable(records, {"a2"}, fifo=False)] == ["a1", "b1", "b2", "a3"]
    assert [r["messageId"] for r in deletable(records, set(), fifo=True)] == ["a1", "b1", "a2", "b2", "a3"]


def test_the_record_shape_is_awss():
    message = {
        "MessageId": "id-1", "ReceiptHandle": "handle", "Body": "hello", "MD5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "Attributes": {"SentTimestamp": "1", "ApproximateReceiveCount": "2", "SenderId": "AIDA",
                       "ApproximateFirstReceiveTimestamp": "3", "MessageGroupId": "g", "SequenceNumber": "9",
                       "MessageDeduplicationId": "d", "SqsManagedSseEnabled": "true"},
        "MessageAttributes": {
            "s": {"DataType": "String", "StringValue": "v"},
            "b": {"DataType": "Binary.custom", "BinaryValue": b"\xff"},
        },
    }
    shaped = sqs_record(message, "arn:aws:sqs:us-east-1:000000000000:q.fifo", "us-east-1")
    assert shaped == {
        "messageId": "id-1",
        "receiptHandle": "handle",
        "body": "hello",
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "SenderId": "AIDA",
                       "ApproximateFirstReceiveTimestamp": "3", "SequenceNumber": "9", "MessageGroupId": "g",
                       "MessageDeduplicationId": "d"},
        "messageAttributes": {
            "s": {"stringValue": "v", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "b": {"binaryValue": "/w==", "stringListValues": [], "binaryListValues": [], "dataType": "Binary.custom"},
        },
        "md5OfBody": "5d41402abc4b2a76b9719d911017c592",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q.fifo",
        "awsRegion": "us-east-1",
    }
    assert list(shaped["attributes"]) == ["ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                          "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageGroupId",
                                          "MessageDeduplicationId"]
