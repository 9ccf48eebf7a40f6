"""The NATS JetStream event source, end to end: a real server reading the machine's NATS.

Functions report each batch they get to a moto SQS queue (`results`), so what they saw is observed
outside the sandbox; the durable consumer's counters show what was acked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time
import uuid

import pytest

from support import ACCOUNT, REGION, Server, aws_error, lambda_role, make_zip
from test_sqs_source import HOST_NETWORK, batches, drain, moto, sqs, wait_for  # noqa: F401 (fixtures)

NATS_URL = os.environ.get("LAMBDABOX_NATS_URL", "nats://127.0.0.1:4222")
OTHER_ACCOUNT = "111122223333"

#: Reports each batch to RESULTS; raises when a record's data starts with "fail" (always) or "flaky"
#: (on its first delivery only); sleeps a little for data starting with "slow".
REPORTER = """
import base64, json, os, time, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    records = event["Records"]
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(records))
    texts = [base64.b64decode(r["nats"]["data"]).decode() for r in records]
    if any(t.startswith("slow") for t in texts):
        time.sleep(0.2)
    if any(t.startswith("fail") for t in texts):
        raise RuntimeError("poison record")
    if any(t.startswith("flaky") and r["nats"]["deliveryCount"] == 1 for t, r in zip(texts, records)):
        raise RuntimeError("first delivery fails")
    return {}
"""


def _nats(coroutine_function, *arguments):
    """Run `coroutine_function(jetstream, *arguments)` on a fresh NATS connection."""
    import nats

    async def run():
        connection = await nats.connect(NATS_URL)
        try:
            return await coroutine_function(connection.jetstream(), *arguments)
        finally:
            await connection.close()

    return asyncio.run(run())


def make_stream(name: str, account: str = ACCOUNT) -> None:
    async def add(js):
        await js.add_stream(name=name, subjects=[f"{name}.>"], description=f"test lambdabox-account={account}")
    _nats(add)


def publish(stream: str, texts: list[str], subject: str = "in") -> None:
    async def send(js):
        for text in texts:
            await js.publish(f"{stream}.{subject}", text.encode(), headers={"kind": "test"})
    _nats(send)


def consumer_state(stream: str, mapping_uuid: str):
    async def info(js):
        from nats.js.errors import NotFoundError
        try:
            return await js.consumer_info(stream, f"lambdabox-{mapping_uuid}")
        except NotFoundError:
            return None
    return _nats(info)


def drop_stream(name: str) -> None:
    async def delete(js):
        await js.delete_stream(name)
    _nats(delete)


def stream_arn(name: str, subject: str | None = None, account: str = ACCOUNT) -> str:
    return f"arn:aws:nats:{REGION}:{account}:stream/{name}" + (f"/{subject}" if subject else "")


def texts(found) -> list[str]:
    return [base64.b64decode(record["nats"]["data"]).decode() for batch in found for record in batch]


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory, moto):
    try:
        _nats(lambda js: js.account_info())
    except Exception as error:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"no NATS JetStream at {NATS_URL}: {error}")
    running = Server(tmp_path_factory.mktemp("nats-source") / "data",
                     extra_args=["--sqs-endpoint-url", moto, "--nats-url", NATS_URL, *HOST_NETWORK]).start()
    yield running
    running.stop()


@pytest.fixture
def lam(nats_server):
    return nats_server.client("lambda")


@pytest.fixture
def queue(sqs, unique):
    def make() -> tuple[str, str]:
        url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
        return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return make


@pytest.fixture
def results(queue):
    return queue()[0]


@pytest.fixture
def stream(unique):
    name = unique("S").replace("-", "_")
    make_stream(name)
    yield name
    drop_stream(name)


@pytest.fixture
def function(nats_server, lam, moto, results, unique):
    name = unique("nats-worker")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(nats_server, unique("role")),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": REPORTER})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    return name


def settled(stream: str, mapping_uuid: str) -> bool:
    """Every record delivered to the mapping's consumer was acked, and none is waiting."""
    info = consumer_state(stream, mapping_uuid)
    return info is not None and info.num_pending == 0 and info.num_ack_pending == 0 and info.num_redelivered == 0


def test_records_have_the_documented_shape_and_are_acked_after_success(sqs, lam, function, results, stream):
    publish(stream, ['{"n": 1}', "two", "three"])
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function)
    assert (mapping["State"], mapping["BatchSize"], mapping["StartingPosition"]) == ("Creating", 100, "TRIM_HORIZON")
    assert mapping["MaximumRetryAttempts"] == -1
    found = batches(sqs, results, lambda found: len(texts(found)) >= 3)
    assert texts(found) == ['{"n": 1}', "two", "three"]
    record = found[0][0]
    assert list(record) == ["nats", "eventSource", "eventVersion", "eventID", "eventName", "eventSourceARN", "awsRegion"]
    block = record["nats"]
    assert (block["stream"], block["subject"], block["sequence"], block["deliveryCount"]) == (
        stream, f"{stream}.in", {"stream": 1, "consumer": 1}, 1)
    assert block["headers"] == {"kind": ["test"]} and abs(block["approximateArrivalTimestamp"] - time.time()) < 60
    assert (record["eventSource"], record["eventID"], record["eventSourceARN"], record["awsRegion"]) == (
        "lambdabox:nats", f"{stream}:1", stream_arn(stream), REGION)
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult") == "OK")
    assert drain(sqs, results, 1.5) == []


def test_subject_filter_latest_and_batch_size(sqs, lam, function, results, stream):
    publish(stream, ["before"], subject="a")
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream, f"{stream}.a"), FunctionName=function,
                                              StartingPosition="LATEST", BatchSize=2, MaximumBatchingWindowInSeconds=1)
    wait_for(lambda: consumer_state(stream, mapping["UUID"]) is not None, what="the consumer")
    publish(stream, ["other"], subject="b")
    publish(stream, [f"m{i}" for i in range(5)], subject="a")
    found = batches(sqs, results, lambda found: len(texts(found)) >= 5)
    assert texts(found) == [f"m{i}" for i in range(5)]
    assert max(len(batch) for batch in found) == 2
    assert drain(sqs, results, 1.5) == []


def test_parallel_batches_keep_each_subjects_order(sqs, lam, function, results, stream):
    for number in range(40):
        publish(stream, [f"slow-{number % 4}-{number}"], subject=f"s{number % 4}")
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function, BatchSize=3,
                                              ParallelizationFactor=4)
    assert mapping["ParallelizationFactor"] == 4
    found = batches(sqs, results, lambda found: len(texts(found)) >= 40)
    seen = texts(found)
    assert sorted(seen) == sorted(f"slow-{n % 4}-{n}" for n in range(40))
    for subject in range(4):
        numbers = [int(text.rsplit("-", 1)[1]) for text in seen if text.startswith(f"slow-{subject}-")]
        assert numbers == sorted(numbers), (subject, numbers)
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")


def test_failed_records_are_retried_then_sent_to_the_on_failure_queue(sqs, lam, function, results, stream, queue):
    failures_url, failures_arn = queue()
    publish(stream, ["fail-1"])
    publish(stream, ["flaky-2", "ok-3"])
    mapping = lam.create_event_source_mapping(
        EventSourceArn=stream_arn(stream), FunctionName=function, BatchSize=1, MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": failures_arn}},
    )
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": failures_arn}}
    found = batches(sqs, results, lambda found: texts(found).count("fail-1") >= 3 and "ok-3" in texts(found))
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked or given up")
    seen = texts(found + drain(sqs, results, 2))
    # The poison record: its first delivery and two retries, no more; the flaky one: once more; the good one: once.
    assert (seen.count("fail-1"), seen.count("flaky-2"), seen.count("ok-3")) == (3, 2, 1)
    sent = sqs.receive_message(QueueUrl=failures_url, WaitTimeSeconds=5)["Messages"]
    assert len(sent) == 1
    failure = json.loads(sent[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 3
    assert failure["requestContext"]["functionArn"].endswith(f":function:{function}")
    assert failure["responseContext"]["functionError"] == "Unhandled"
    info = failure["NatsBatchInfo"]
    assert (info["stream"], info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"], info["streamArn"]) == (
        stream, "1", "1", 1, stream_arn(stream))
    assert info["approximateArrivalOfFirstRecord"].endswith("Z")
    wait_for(lambda: lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult") is not None)


def test_report_batch_item_failures_retries_only_the_reported_records(sqs, lam, nats_server, moto, unique, results, stream):
    name = unique("partial")
    code = """
import base64, json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(event["Records"]))
    return {"batchItemFailures": [{"itemIdentifier": str(r["nats"]["sequence"]["stream"])} for r in event["Records"]
                                  if base64.b64decode(r["nats"]["data"]) == b"bad" and r["nats"]["deliveryCount"] == 1]}
"""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(nats_server, unique("role")),
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": code})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    publish(stream, ["good", "bad", "fine"])
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=name,
                                              FunctionResponseTypes=["ReportBatchItemFailures"])
    found = batches(sqs, results, lambda found: texts(found).count("bad") >= 2)
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")
    seen = texts(found + drain(sqs, results, 1.5))
    assert (seen.count("good"), seen.count("bad"), seen.count("fine")) == (1, 2, 1)


def test_batches_past_the_6_mb_payload_are_cut(sqs, lam, nats_server, moto, unique, results, stream):
    name = unique("sizes")
    code = """
import json, os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps([r["nats"]["sequence"]["stream"] for r in event["Records"]]))
"""
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(nats_server, unique("role")),
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": code})},
                        # Reading a 6 MB event takes more than the default 3 s on 128 MB's CPU share.
                        MemorySize=1024, Timeout=30,
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    publish(stream, ["x" * 900_000] * 8)  # 8 records of 1.2 MB in base64: two invocations (5 and 3).
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=name,
                                              MaximumBatchingWindowInSeconds=1)
    found = batches(sqs, results, lambda found: sum(len(batch) for batch in found) >= 8)
    assert sorted(number for batch in found for number in batch) == list(range(1, 9))  # moto may swap two messages
    assert len(found) >= 2 and all(len(batch) <= 5 for batch in found)  # 5 x 1.2 MB fit in 6 MiB
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")


def test_filters_drop_records_that_match_none(sqs, lam, function, results, stream):
    publish(stream, ['{"kind": "keep", "n": 1}', '{"kind": "skip", "n": 2}', "plain", '{"kind": "keep", "n": 3}'])
    mapping = lam.create_event_source_mapping(
        EventSourceArn=stream_arn(stream), FunctionName=function, MaximumBatchingWindowInSeconds=1,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]},
    )
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")
    seen = texts(batches(sqs, results, lambda found: len(texts(found)) >= 2) + drain(sqs, results, 1.5))
    assert seen == ['{"kind": "keep", "n": 1}', '{"kind": "keep", "n": 3}']


def test_disable_stops_and_enable_resumes_and_delete_drops_the_consumer(sqs, lam, function, results, stream):
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function)
    publish(stream, ["one"])
    batches(sqs, results, lambda found: len(texts(found)) >= 1)
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    time.sleep(1.5)
    publish(stream, ["two"])
    assert drain(sqs, results, 3) == []
    assert consumer_state(stream, mapping["UUID"]).num_pending == 1  # The position is kept.
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True, BatchSize=5)
    assert texts(batches(sqs, results, lambda found: len(texts(found)) >= 1)) == ["two"]
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    wait_for(lambda: consumer_state(stream, mapping["UUID"]) is None, what="the consumer deleted")
    publish(stream, ["three"])
    assert drain(sqs, results, 3) == []


def test_updates_while_records_flow_lose_nothing(sqs, lam, function, results, stream):
    import threading

    total = 300
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function, BatchSize=7)

    def feed() -> None:
        for start in range(0, total, 10):
            publish(stream, [json.dumps({"n": number}) for number in range(start, start + 10)])
            time.sleep(0.05)

    feeder = threading.Thread(target=feed)
    feeder.start()
    lam.update_event_source_mapping(UUID=mapping["UUID"], BatchSize=50, MaximumBatchingWindowInSeconds=1)
    time.sleep(0.3)
    lam.update_event_source_mapping(UUID=mapping["UUID"], FilterCriteria={
        "Filters": [{"Pattern": json.dumps({"data": {"n": [{"numeric": [">=", 0]}]}})}]})
    time.sleep(0.3)
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
    time.sleep(0.3)
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True, BatchSize=3)
    feeder.join()
    found = batches(sqs, results, lambda found: len(set(texts(found))) >= total, timeout=60)
    seen = texts(found + drain(sqs, results, 2))
    assert {json.loads(text)["n"] for text in seen} == set(range(total))
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")


def test_a_restart_resumes_where_the_acks_stopped(sqs, lam, function, results, stream, nats_server):
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function)
    publish(stream, ["a", "b"])
    batches(sqs, results, lambda found: len(texts(found)) >= 2)
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")
    nats_server.stop()
    publish(stream, ["c", "d"])
    nats_server.start()
    found = batches(sqs, results, lambda found: len(texts(found)) >= 2)
    assert texts(found + drain(sqs, results, 2)) == ["c", "d"]


def test_kill_9_mid_stream_loses_nothing_and_repeats_only_batches_in_flight(sqs, lam, function, results, stream, nats_server):
    total, batch_size = 600, 20
    publish(stream, [f"slow-{i}" for i in range(total)])
    lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function, BatchSize=batch_size)
    before = batches(sqs, results, lambda found: len(texts(found)) >= 100)
    os.kill(nats_server.pid, signal.SIGKILL)
    nats_server.process.wait()
    nats_server.process = None
    before += drain(sqs, results, 1)
    nats_server.start()
    after = batches(sqs, results, lambda found: len(set(texts(before + found))) >= total, timeout=120)
    after += drain(sqs, results, 3)
    seen = texts(before + after)
    assert set(seen) == {f"slow-{i}" for i in range(total)}
    duplicates = len(seen) - total
    print(f"kill -9 mid-stream: {total} records, {duplicates} delivered twice")
    # Batches in flight when the server died come again (the one being invoked and the one fetched ahead).
    assert duplicates <= 2 * batch_size, duplicates


# -- what a tenant may not do ---------------------------------------------------------------------


def test_another_accounts_stream_malformed_arns_and_out_of_range_settings_are_refused(lam, function, stream, nats_server):
    refused = [
        dict(EventSourceArn=stream_arn(stream, account=OTHER_ACCOUNT)),
        dict(EventSourceArn=f"arn:aws:nats:eu-west-1:{ACCOUNT}:stream/{stream}"),
        dict(EventSourceArn=f"arn:aws:nats:{REGION}:{ACCOUNT}:stream/{stream}/a.>.b"),
        dict(EventSourceArn=f"arn:aws:nats:{REGION}:{ACCOUNT}:stream/bad.name"),
        dict(EventSourceArn=f"arn:aws:nats:{REGION}:{ACCOUNT}:consumer/{stream}"),
        dict(EventSourceArn=stream_arn(stream), StartingPosition="AT_TIMESTAMP"),
        dict(EventSourceArn=stream_arn(stream), Queues=["q"]),
        dict(EventSourceArn=stream_arn(stream), TumblingWindowInSeconds=60),
        dict(EventSourceArn=stream_arn(stream), DestinationConfig={"OnFailure": {"Destination": f"arn:aws:sqs:{REGION}:{OTHER_ACCOUNT}:theirs"}}),
        dict(EventSourceArn=stream_arn(stream), DestinationConfig={"OnFailure": {"Destination": f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"}}),
    ]
    for arguments in refused:
        status, code, _ = aws_error(lam.create_event_source_mapping, FunctionName=function, **arguments)
        assert (status, code) == (400, "InvalidParameterValueException"), arguments
    for huge in (dict(BatchSize=10_001), dict(MaximumRetryAttempts=10_001), dict(ParallelizationFactor=11),
                 dict(MaximumBatchingWindowInSeconds=301)):
        status, code, _ = aws_error(lam.create_event_source_mapping, FunctionName=function,
                                    EventSourceArn=stream_arn(stream), **huge)
        assert (status, code) == (400, "ValidationException"), huge
    assert lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"] == []


def test_a_stream_not_marked_for_the_account_is_not_read(sqs, lam, function, results, unique, nats_server):
    theirs = unique("T").replace("-", "_")
    make_stream(theirs, account=OTHER_ACCOUNT)
    try:
        publish(theirs, ["secret"])
        mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(theirs), FunctionName=function)
        wait_for(lambda: "not marked" in (lam.get_event_source_mapping(UUID=mapping["UUID"]).get("LastProcessingResult") or ""),
                 what="the mapping to report the stream is not the account's")
        assert consumer_state(theirs, mapping["UUID"]) is None
        assert drain(sqs, results, 2) == []
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    finally:
        drop_stream(theirs)


def test_an_unconfigured_rabbitmq_broker_cannot_be_mapped(lam, function):
    arn = f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:nobody:b-{uuid.uuid4()}"
    status, code, message = aws_error(lam.create_event_source_mapping, FunctionName=function, EventSourceArn=arn,
                                      Queues=["q"], SourceAccessConfigurations=[{"Type": "BASIC_AUTH", "URI": "arn:aws:secretsmanager:us-east-1:000000000000:secret:x"}])
    assert (status, code) == (400, "InvalidParameterValueException") and "does not exist" in message


def test_counts_backlog_and_lag_match_what_the_function_did(nats_server, sqs, lam, function, results, stream):
    publish(stream, [f"flaky-{n}" if n % 10 == 3 else f"ok-{n}" for n in range(40)])
    mapping = lam.create_event_source_mapping(EventSourceArn=stream_arn(stream), FunctionName=function, BatchSize=10)
    wait_for(lambda: settled(stream, mapping["UUID"]), what="every record acked")
    found = batches(sqs, results, lambda found: len(texts(found)) >= 48) + drain(sqs, results, 1.5)
    failed = sum(len(batch) for batch in found
                 if any(t.startswith("flaky") and r["nats"]["deliveryCount"] == 1 for t, r in zip(texts([batch]), batch)))
    processed = sum(len(batch) for batch in found) - failed
    assert processed == 40 and failed >= 4

    def shown() -> dict:
        return nats_server.get_json("/_lambdabox/event-source-mappings")["EventSourceMappings"][mapping["UUID"]]

    # Once an empty fetch found the consumer drained, the lag and the backlog are 0.
    wait_for(lambda: (shown()["RecordsProcessed"], shown()["RecordsFailed"], shown()["LagMillis"], shown()["Backlog"])
             == (processed, failed, 0, 0), what=f"the figures to match: {shown()}, {processed}, {failed}")
