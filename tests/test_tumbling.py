"""Tumbling windows of a Kinesis mapping, end to end with moto: window fields and state between invocations.
"""

from __future__ import annotations

import time

from support import make_zip
from stream_peers import (  # noqa: F401 (fixtures are found by name)
    moto, stream_server, sqs, kinesis, lam, results, function,
    stream_role, make_queue, make_stream, batches,
)


#: Counts records in the tumbling window's state; reports each invocation (window fields, state, records) to RESULTS.
COUNTER = """
import base64, json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name=os.environ["AWS_REGION"],
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    seen = {key: event[key] for key in ("window", "state", "shardId", "eventSourceARN", "isFinalInvokeForWindow",
                                        "isWindowTerminatedEarly")}
    seen["data"] = [base64.b64decode(record["kinesis"]["data"]).decode() for record in event["Records"]]
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(seen))
    return {"state": {"count": event["state"].get("count", 0) + len(event["Records"])}}
"""


def test_tumbling_windows_pass_state_between_invocations(stream_server, lam, sqs, kinesis, moto, results, unique):
    name = unique("windowed")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(stream_server, name + "-role"),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": COUNTER})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    arn = make_stream(kinesis, unique("windowed"))
    sent = [f"w{number}" for number in range(10)]
    for value in sent:
        kinesis.put_record(StreamARN=arn, Data=value.encode(), PartitionKey="k")
    created = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, StartingPosition="TRIM_HORIZON",
                                              BatchSize=3, TumblingWindowInSeconds=5)
    assert created["TumblingWindowInSeconds"] == 5
    invoked = batches(sqs, results, lambda found: sum(len(seen["data"]) for seen in found) >= 10
                      and found[-1]["isFinalInvokeForWindow"], timeout=60)
    assert [value for seen in invoked for value in seen["data"]] == sent
    finals = [seen for seen in invoked if seen["isFinalInvokeForWindow"]]
    assert sum(seen["state"]["count"] for seen in finals) == 10 and all(seen["data"] == [] for seen in finals)
    count = 0
    for seen in invoked:
        assert seen["shardId"] == "shardId-000000000000" and seen["eventSourceARN"] == arn
        assert seen["isWindowTerminatedEarly"] is False
        start = time.mktime(time.strptime(seen["window"]["start"], "%Y-%m-%dT%H:%M:%SZ"))
        end = time.mktime(time.strptime(seen["window"]["end"], "%Y-%m-%dT%H:%M:%SZ"))
        assert end - start == 5 and start % 5 == 0
        assert seen["state"].get("count", 0) == count  # The state the last invocation of the window answered.
        count = 0 if seen["isFinalInvokeForWindow"] else count + len(seen["data"])


def test_a_windowed_function_that_answers_no_state_failed(lam, sqs, kinesis, function, results, unique):
    arn = make_stream(kinesis, unique("stateless"))
    failures_url, failures_arn = make_queue(sqs, unique("failures"))
    kinesis.put_record(StreamARN=arn, Data=b"one", PartitionKey="k")
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, StartingPosition="TRIM_HORIZON",
                                    TumblingWindowInSeconds=30, MaximumRetryAttempts=1,
                                    DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    record = batches(sqs, failures_url, lambda found: len(found) >= 1)[0]
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert "functionError" not in record["responseContext"]
