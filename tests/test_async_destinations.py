"""Asynchronous invocation's other destinations and limits, end to end through a real server and moto's
SQS and SNS: SNS topics as destination and dead-letter queue, a function as OnFailure destination, and
MaximumRetryAttempts 0 on a real invoke."""

from __future__ import annotations

import json

import boto3

from test_async import (  # noqa: F401  (fixtures, used by name)
    async_server, listener, lookup, make, moto, queue_arn, receive, sqs,
)


def topic_into_queue(moto: str, sqs, name: str) -> tuple[str, str]:
    """An SNS topic in moto with an SQS queue subscribed (raw delivery): (topic ARN, queue URL)."""
    sns = boto3.client("sns", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test")
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, arn = queue_arn(sqs, name + "-inbox")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    return topic, url


def test_sns_topics_as_on_failure_destination_and_dead_letter_queue(async_server, make, listener, sqs, moto, unique):
    failure_topic, failure_inbox = topic_into_queue(moto, sqs, unique("failure-topic"))
    dead_topic, dead_inbox = topic_into_queue(moto, sqs, unique("dead-topic"))
    lam = async_server.client("lambda")
    name = make(DeadLetterConfig={"TargetArn": dead_topic})
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": failure_topic}})
    payload = {"report": listener.url, "fail": True, "n": 1}
    request_id = lam.invoke(FunctionName=name, InvocationType="Event",
                            Payload=json.dumps(payload))["ResponseMetadata"]["RequestId"]
    record = json.loads(receive(sqs, failure_inbox)[0]["Body"])
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["responsePayload"]["errorMessage"] == "asked to fail"
    dead = receive(sqs, dead_inbox)[0]
    assert json.loads(dead["Body"]) == payload
    deliveries = {delivery["target"]: delivery["status"] for delivery in lookup(async_server, request_id)["deliveries"]}
    assert deliveries == {failure_topic: "succeeded", dead_topic: "succeeded"}


def test_a_function_as_on_failure_destination_gets_the_record(async_server, make, listener):
    lam = async_server.client("lambda")
    receiver = make("import json, urllib.request\ndef handler(event, context):\n"
                    "    urllib.request.urlopen(urllib.request.Request(event['requestPayload']['report'], "
                    "data=json.dumps({'record': event}).encode(), method='POST'), timeout=10).read()\n")
    receiver_arn = lam.get_function_configuration(FunctionName=receiver)["FunctionArn"]
    failing = make()
    lam.put_function_event_invoke_config(FunctionName=failing, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": receiver_arn}})
    request_id = lam.invoke(FunctionName=failing, InvocationType="Event", Payload=json.dumps(
        {"report": listener.url, "fail": True, "n": 5}))["ResponseMetadata"]["RequestId"]
    posts = listener.wait_for(2)
    records = [post["record"] for post in posts if "record" in post]
    assert len(records) == 1
    record = records[0]
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"arn:aws:lambda:us-east-1:000000000000:function:{failing}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 1,
    }
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["requestPayload"]["n"] == 5


def test_maximum_retry_attempts_zero_runs_a_failing_event_once(async_server, make, listener, sqs, unique):
    failure_url, failure_arn = queue_arn(sqs, unique("once"))
    lam = async_server.client("lambda")
    name = make()
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": failure_arn}})
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(
        {"report": listener.url, "fail": True}))["ResponseMetadata"]["RequestId"]
    record = json.loads(receive(sqs, failure_url)[0]["Body"])
    assert record["requestContext"]["approximateInvokeCount"] == 1
    looked = lookup(async_server, request_id, until="failed")
    assert [entry["result"] for entry in looked["history"]] == ["FunctionError"]
    assert len(listener.posts) == 1


def test_an_event_that_meets_a_system_error_is_retried_and_runs(async_server, listener, unique):
    """An event that arrives while its function is still being unpacked (Pending) meets a system error, not a
    function error: it is retried with backoff, counts no invocation, and runs once the function is Active."""
    from support import make_zip

    from test_async import REPORTER, TRUST

    iam, lam = async_server.client("iam"), async_server.client("lambda")
    role = iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    name = unique("pending")
    many = {f"data/{i:05d}.txt": "" for i in range(5_000)}  # slow to unpack: the event arrives first
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": REPORTER, **many})}, Timeout=10)
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(
        {"report": listener.url, "n": 9}))["ResponseMetadata"]["RequestId"]
    looked = lookup(async_server, request_id, until="succeeded", timeout=60)
    assert looked["status"] == "succeeded"
    results = [entry["result"] for entry in looked["history"]]
    assert results[0] == "SystemError" and results[-1] == "Success", looked["history"]
    assert looked["history"][0]["errorType"] == "ResourceConflictException"
    assert [post["event"]["n"] for post in listener.posts] == [9]
