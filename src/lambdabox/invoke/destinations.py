"""Where invocation records go: destinations (OnSuccess / OnFailure) and dead-letter queues.

Targets: another function (an asynchronous invocation, queued like any other), an SQS
queue or an SNS topic, reached with boto3 at the configured endpoints (moto's server in
tests, real AWS with real credentials). A failed send raises; the worker retries it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from lambdabox.model import json_text
from lambdabox.model.arns import FunctionRef, Scope, parse_function_ref
from lambdabox.queue.api import QueueItem

#: How a delivery's payload says what to send: a destination record, or the event for a DLQ.
RECORD, DEAD_LETTER = "record", "dead-letter"


class UnsupportedDestination(Exception):
    """A destination service Lambdabox cannot send to; retrying will not help."""


def invocation_record(
    item: QueueItem, function_arn: str, condition: str, version: str | None, response: bytes | None, error: str | None
) -> dict[str, Any]:
    """Lambda's invocation record, exactly as destinations receive it."""
    moment = datetime.now(timezone.utc)
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "requestContext": {
            "requestId": item.id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": item.attempts,
        },
        "requestPayload": _json_or_text(item.payload),
        "responseContext": {},
    }
    if response is None:
        # Nothing ran (throttled past its age, or a recursive loop was stopped): no response to report.
        return record
    record["responseContext"] = {"statusCode": 200, "executedVersion": version or "$LATEST"}
    if error:
        record["responseContext"]["functionError"] = error
    record["responsePayload"] = _json_or_text(response)
    return record


def _json_or_text(data: bytes) -> Any:
    """Tenant JSON as a value to embed in a record; as text when it is not JSON or nests too deep to rebuild."""
    try:
        return json_text.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


class Deliverer:
    def __init__(self, enqueue, sqs_endpoint_url: str | None, sns_endpoint_url: str | None) -> None:
        #: Coroutine function (FunctionRef, payload bytes) -> request id: an asynchronous invocation.
        self._enqueue = enqueue
        self._endpoints = {"sqs": sqs_endpoint_url, "sns": sns_endpoint_url}
        self._clients: dict[tuple[str, str], Any] = {}

    async def deliver(self, item: QueueItem) -> str:
        """Send one delivery; return a short note of where it went. Raises on failure."""
        envelope = json.loads(item.payload)
        target: str = item.target or ""
        service = target.split(":")[2] if target.count(":") >= 5 else ""
        if service == "lambda":
            ref = parse_function_ref(target, Scope(target.split(":")[4], target.split(":")[3]))
            body = json.dumps(envelope["body"]).encode()
            request_id = await self._enqueue(FunctionRef(ref.scope, ref.name, ref.qualifier), body)
            return f"invoked {target} (request {request_id})"
        if service == "sqs":
            return await asyncio.to_thread(self._send_sqs, target, envelope)
        if service == "sns":
            return await asyncio.to_thread(self._publish_sns, target, envelope)
        raise UnsupportedDestination(f"Lambdabox does not deliver to {service or 'this kind of'} destinations ({target})")

    def _client(self, service: str, region: str):
        key = (service, region)
        if key not in self._clients:
            import boto3

            session = boto3.Session(region_name=region)
            endpoint = self._endpoints[service]
            credentials = {}
            if endpoint and session.get_credentials() is None:
                # A local peer (moto, LocalStack) wants some credentials, and any will do.
                credentials = {"aws_access_key_id": "lambdabox", "aws_secret_access_key": "lambdabox"}
            self._clients[key] = session.client(service, endpoint_url=endpoint, **credentials)
        return self._clients[key]

    def _send_sqs(self, target: str, envelope: dict[str, Any]) -> str:
        _, _, _, region, account, name = target.split(":", 5)
        sqs = self._client("sqs", region)
        url = sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]
        sent = sqs.send_message(QueueUrl=url, MessageBody=_body(envelope), **_sqs_attributes(envelope))
        return f"sent to {target} (message {sent['MessageId']})"

    def _publish_sns(self, target: str, envelope: dict[str, Any]) -> str:
        region = target.split(":")[3]
        sns = self._client("sns", region)
        published = sns.publish(TopicArn=target, Message=_body(envelope), **_sns_attributes(envelope))
        return f"published to {target} (message {published['MessageId']})"


def _body(envelope: dict[str, Any]) -> str:
    body = envelope["body"]
    return body if isinstance(body, str) else json.dumps(body)


def _sqs_attributes(envelope: dict[str, Any]) -> dict[str, Any]:
    attributes = envelope.get("attributes")
    if not attributes:
        return {}
    return {
        "MessageAttributes": {
            "RequestID": {"DataType": "String", "StringValue": attributes["RequestID"]},
            "ErrorCode": {"DataType": "Number", "StringValue": str(attributes["ErrorCode"])},
            "ErrorMessage": {"DataType": "String", "StringValue": attributes["ErrorMessage"][:256] or "-"},
        }
    }


def _sns_attributes(envelope: dict[str, Any]) -> dict[str, Any]:
    converted = _sqs_attributes(envelope)
    return converted and {"MessageAttributes": converted["MessageAttributes"]}

