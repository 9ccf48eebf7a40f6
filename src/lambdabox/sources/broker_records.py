"""Broker messages as a function gets them, and the record a NATS mapping's failures send. Pure: no I/O.

NATS JetStream (beyond AWS), modelled on Kinesis's event: ``{"Records": [...]}``, each record::

    {"nats": {"stream": "ORDERS", "subject": "orders.new", "sequence": {"stream": 42, "consumer": 7},
              "deliveryCount": 1, "data": "<base64>", "headers": {"Name": ["value", ...]},
              "approximateArrivalTimestamp": 1733551200.123},
     "eventSource": "lambdabox:nats", "eventVersion": "1.0", "eventID": "ORDERS:42",
     "eventName": "lambdabox:nats:record", "eventSourceARN": "arn:aws:nats:...", "awsRegion": "us-east-1"}

With ReportBatchItemFailures, a function names failed records by their stream sequence, as text
(``{"batchItemFailures": [{"itemIdentifier": "42"}]}``).

Amazon MQ for RabbitMQ: AWS's ``rmqMessagesByQueue`` event ("Using Lambda with Amazon MQ"), keyed
``QUEUE::VHOST``; header strings as ``{"bytes": [...]}``, as AWS shows them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, TypeVar

#: Largest synchronous invocation payload, in bytes (Lambda's 6 MB): a batch that would pass it is cut.
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
#: What the event adds around its records, in bytes, generously.
_ENVELOPE_BYTES = 1024

Item = TypeVar("Item")


def within_payload(items: list[tuple[Item, dict[str, Any]]]) -> Iterator[list[tuple[Item, dict[str, Any]]]]:
    """(message, record) pairs cut, in order, into runs whose records fit one invocation payload
    (a record too large alone goes alone, and its invocation fails)."""
    run: list[tuple[Item, dict[str, Any]]] = []
    size = _ENVELOPE_BYTES
    for item in items:
        length = len(json.dumps(item[1])) + 2
        if run and size + length > MAX_PAYLOAD_BYTES:
            yield run
            run, size = [], _ENVELOPE_BYTES
        run.append(item)
        size += length
    if run:
        yield run


def nats_record(stream: str, subject: str, stream_seq: int, consumer_seq: int, deliveries: int, data: bytes,
                headers: dict[str, list[str]] | None, arrived: float, arn: str, region: str) -> dict[str, Any]:
    return {
        "nats": {
            "stream": stream,
            "subject": subject,
            "sequence": {"stream": stream_seq, "consumer": consumer_seq},
            "deliveryCount": deliveries,
            "data": base64.b64encode(data).decode(),
            "headers": headers or {},
            "approximateArrivalTimestamp": round(arrived, 3),
        },
        "eventSource": "lambdabox:nats",
        "eventVersion": "1.0",
        "eventID": f"{stream}:{stream_seq}",
        "eventName": "lambdabox:nats:record",
        "eventSourceARN": arn,
        "awsRegion": region,
    }


def nats_failure_record(records: list[dict[str, Any]], function_arn: str, condition: str, attempts: int,
                        error: str | None, request_id: str, arn: str) -> dict[str, Any]:
    """What the OnFailure destination gets for records given up on, modelled on Kinesis's (KinesisBatchInfo)."""
    blocks = [record["nats"] for record in records]
    moment = datetime.now(timezone.utc)
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": function_arn.rsplit(":", 1)[-1]
                                if function_arn.count(":") > 6 else "$LATEST"}
    if error:
        response["functionError"] = error
    return {
        "requestContext": {
            "requestId": request_id, "functionArn": function_arn, "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "NatsBatchInfo": {
            "stream": blocks[0]["stream"],
            "startSequenceNumber": str(min(block["sequence"]["stream"] for block in blocks)),
            "endSequenceNumber": str(max(block["sequence"]["stream"] for block in blocks)),
            "approximateArrivalOfFirstRecord": _iso(min(block["approximateArrivalTimestamp"] for block in blocks)),
            "approximateArrivalOfLastRecord": _iso(max(block["approximateArrivalTimestamp"] for block in blocks)),
            "batchSize": len(blocks),
            "streamArn": arn,
        },
    }


def _iso(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def rmq_message(properties: dict[str, Any], redelivered: bool, body: bytes) -> dict[str, Any]:
    """One message of `rmqMessagesByQueue`; `properties` in AMQP's names (content_type, headers...)."""
    stamp = properties.get("timestamp")
    return {
        "basicProperties": {
            "contentType": properties.get("content_type"),
            "contentEncoding": properties.get("content_encoding"),
            "headers": {name: _header(value) for name, value in (properties.get("headers") or {}).items()},
            "deliveryMode": properties.get("delivery_mode"),
            "priority": properties.get("priority"),
            "correlationId": properties.get("correlation_id"),
            "replyTo": properties.get("reply_to"),
            "expiration": properties.get("expiration"),
            "messageId": properties.get("message_id"),
            "timestamp": _java_medium(stamp) if isinstance(stamp, datetime) else None,
            "type": properties.get("type"),
            "userId": properties.get("user_id"),
            "appId": properties.get("app_id"),
            "clusterId": properties.get("cluster_id"),
            "bodySize": len(body),
        },
        "redelivered": redelivered,
        "data": base64.b64encode(body).decode(),
    }


def rmq_event(arn: str, queue: str, vhost: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {"eventSource": "aws:rmq", "eventSourceArn": arn, "rmqMessagesByQueue": {f"{queue}::{vhost}": messages}}


def _header(value: Any) -> Any:
    """A header value as AWS's event shows it: text and bytes as their bytes, numbers and booleans as they are."""
    if isinstance(value, str):
        return {"bytes": list(value.encode())}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": list(value)}
    if isinstance(value, dict):
        return {name: _header(item) for name, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_header(item) for item in value]
    if isinstance(value, datetime):
        return _java_medium(value)
    return value


def _java_medium(moment: datetime) -> str:
    """A time as AWS's event shows it ("Jan 1, 1970, 12:33:41 AM", UTC)."""
    moment = moment.astimezone(timezone.utc) if moment.tzinfo else moment
    return f"{moment:%b} {moment.day}, {moment.year}, {moment.hour % 12 or 12}:{moment:%M:%S} {moment:%p}"
