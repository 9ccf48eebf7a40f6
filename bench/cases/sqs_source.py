"""An SQS event source mapping fed by moto's SQS server: records per second end to end for a no-op function
at BatchSize 100, and the latency from a message's sending to its invocation at an idle mapping.

moto's server bounds both (it is a single-threaded Python process). This case runs its own moto and its own
Lambdabox server (the shared one has no SQS endpoint), with functions on the host's network to reach moto.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import deploy
from bench.suite import Context, Outcome, Row

NOOP = "def handler(event, context):\n    pass\n"
#: Reports how long ago (ms) each record was sent, to the RESULTS queue.
LATENCY = """import json, os, time, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    now = time.time() * 1000
    ages = [now - int(record["attributes"]["SentTimestamp"]) for record in event["Records"]]
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(ages))
"""
ACCOUNT = "000000000000"
#: Latency samples: messages sent one at a time to an idle mapping.
LATENCY_SAMPLES = 20


def run(context: Context) -> Outcome:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from support import Server, free_port

    import boto3

    # moto serves about 40 messages a second here: a thousand in the full run already takes a minute.
    messages = context.profile.async_events
    port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"MOTO_ACCOUNT_ID": ACCOUNT, "PATH": "/usr/bin:/bin"})
    moto_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(moto_url)
        sqs = boto3.client("sqs", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="x",
                           aws_secret_access_key="x")
        with tempfile.TemporaryDirectory() as directory:
            server = Server(Path(directory) / "data",
                            extra_args=["--sqs-endpoint-url", moto_url, "--function-network", "host"]).start()
            try:
                lam = server.client("lambda")
                role = deploy.role(server.client("iam"))
                server.client("iam").put_role_policy(RoleName="bench", PolicyName="sqs", PolicyDocument=(
                    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:*","Resource":"*"}]}'))
                bare_per_s = _bare_receive(sqs, messages)
                per_s = _throughput(lam, role, sqs, messages)
                ages = _latency(lam, role, sqs, moto_url)
            finally:
                server.stop()
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    results = {"sqs_source": {"messages": messages, "records_per_s": round(per_s, 1),
                              "moto_bare_receive_per_s": round(bare_per_s, 1),
                              "latency_ms_median": round(statistics.median(ages), 1),
                              "latency_ms_max": round(max(ages), 1)}}
    rows = [Row("sqs_noop_batch100_end_to_end", "records/s", per_s, n=messages),
            Row("sqs_moto_receive_and_delete_only (the bound)", "records/s", bare_per_s, n=messages),
            Row("sqs_idle_send_to_invoke", "ms", statistics.median(ages), max(ages), len(ages))]
    notes = [f"sqs (moto's server), {messages} messages at BatchSize 100 to a no-op function: {per_s:.0f} records/s "
             f"end to end (moto itself receives and deletes {bare_per_s:.0f}/s with one client); an idle mapping invokes a message {statistics.median(ages):.0f} ms (median) after it was sent"]
    return Outcome(results, rows, notes)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}"


def _left(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _bare_receive(sqs, messages: int) -> float:
    """Messages per second one client receives (10 a call) and deletes from moto: what bounds a poller."""
    url, _ = _queue(sqs, "bench-bare")
    for start in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "{}"} for n in range(10)])
    began = time.perf_counter()
    taken = 0
    while taken < messages:
        received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                       AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if received:
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(n), "ReceiptHandle": message["ReceiptHandle"]} for n, message in enumerate(received)
            ])
        taken += len(received)
    return messages / (time.perf_counter() - began)


def _throughput(lam, role: str, sqs, messages: int) -> float:
    url, arn = _queue(sqs, "bench-throughput")
    for start in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "{}"} for n in range(10)])
    with deploy.function(lam, role, "sqs-noop", deploy.package(NOOP)) as name:
        lam.invoke(FunctionName=name, Payload=b"{}")  # warm
        began = time.perf_counter()
        mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=100,
                                                  MaximumBatchingWindowInSeconds=1)
        while _left(sqs, url) > 0:
            time.sleep(0.25)  # Not faster: each look costs moto as much as a receive.
        elapsed = time.perf_counter() - began
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
    return messages / elapsed


def _latency(lam, role: str, sqs, moto_url: str) -> list[float]:
    import json

    url, arn = _queue(sqs, "bench-latency")
    results, _ = _queue(sqs, "bench-latency-results")
    code = deploy.package(LATENCY)
    lam.create_function(FunctionName="sqs-latency", Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": code}, Environment={"Variables": {"MOTO": moto_url, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName="sqs-latency", WaiterConfig={"Delay": 0.1})
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="sqs-latency", BatchSize=1)
    ages: list[float] = []
    for number in range(LATENCY_SAMPLES + 1):
        sqs.send_message(QueueUrl=url, MessageBody=str(number))
        while True:
            answer = sqs.receive_message(QueueUrl=results, WaitTimeSeconds=5)
            if answer.get("Messages"):
                message = answer["Messages"][0]
                sqs.delete_message(QueueUrl=results, ReceiptHandle=message["ReceiptHandle"])
                if number:  # The first one paid for the cold start.
                    ages += json.loads(message["Body"])
                break
        time.sleep(0.2)
    lam.delete_function(FunctionName="sqs-latency")
    return ages
