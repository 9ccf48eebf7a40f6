"""A Kinesis event source mapping reading moto's Kinesis server: records per second end to end at BatchSize 100,
from one shard and from four, next to what one plain client reads per second from the same stream (the bound).

The function does almost nothing: it sends one SQS message per batch with the batch's size, which is how the case
sees that every record was processed. This case runs its own moto and its own Lambdabox server (the shared one has
no Kinesis endpoint), with functions on the host's network to reach moto.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import deploy
from bench.cases.sqs_source import ACCOUNT, _wait_for
from bench.suite import Context, Outcome, Row

#: Reports the size of each batch to the RESULTS queue.
COUNTER = """import os, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name="us-east-1",
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=str(len(event["Records"])))
"""
#: The policy the bench role gets: read streams, send to queues.
POLICY = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kinesis:*","sqs:*"],"Resource":"*"}]}')


def run(context: Context) -> Outcome:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
    from support import Server, free_port

    import boto3

    records = context.profile.async_events * 10
    port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"MOTO_ACCOUNT_ID": ACCOUNT, "PATH": "/usr/bin:/bin"})
    moto_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(moto_url)
        clients = {service: boto3.client(service, endpoint_url=moto_url, region_name="us-east-1",
                                         aws_access_key_id="x", aws_secret_access_key="x")
                   for service in ("kinesis", "sqs")}
        with tempfile.TemporaryDirectory() as directory:
            server = Server(Path(directory) / "data", extra_args=[
                "--sqs-endpoint-url", moto_url, "--kinesis-endpoint-url", moto_url, "--function-network", "host",
            ]).start()
            try:
                lam = server.client("lambda")
                role = deploy.role(server.client("iam"))
                server.client("iam").put_role_policy(RoleName="bench", PolicyName="streams", PolicyDocument=POLICY)
                bare_per_s = _bare_read(clients["kinesis"], records)
                one_shard = _throughput(lam, role, clients, moto_url, records, shards=1)
                four_shards = _throughput(lam, role, clients, moto_url, records, shards=4)
            finally:
                server.stop()
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    results = {"kinesis_source": {"records": records, "records_per_s_1_shard": round(one_shard, 1),
                                  "records_per_s_4_shards": round(four_shards, 1),
                                  "moto_bare_read_per_s": round(bare_per_s, 1)}}
    rows = [Row("kinesis_batch100_1_shard_end_to_end", "records/s", one_shard, n=records),
            Row("kinesis_batch100_4_shards_end_to_end", "records/s", four_shards, n=records),
            Row("kinesis_moto_get_records_only (the bound)", "records/s", bare_per_s, n=records)]
    notes = [f"kinesis (moto's server), {records} records at BatchSize 100 to a near no-op function: {one_shard:.0f} "
             f"records/s end to end from one shard, {four_shards:.0f} from four (moto itself serves {bare_per_s:.0f}/s "
             "to one plain reader)"]
    return Outcome(results, rows, notes)


def _stream(kinesis, name: str, shards: int, records: int) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    arn = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
    for start in range(0, records, 500):
        kinesis.put_records(StreamARN=arn, Records=[
            {"Data": b"x" * 100, "PartitionKey": f"k{number}"} for number in range(start, min(records, start + 500))
        ])
    return arn


def _bare_read(kinesis, records: int) -> float:
    """Records per second one client reads (100 a call) from a one-shard stream in moto: what bounds a shard."""
    arn = _stream(kinesis, "bench-bare", 1, records)
    iterator = kinesis.get_shard_iterator(StreamARN=arn, ShardId="shardId-000000000000",
                                          ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    began = time.perf_counter()
    read = 0
    while read < records:
        answer = kinesis.get_records(StreamARN=arn, ShardIterator=iterator, Limit=100)
        read += len(answer["Records"])
        iterator = answer["NextShardIterator"]
    return records / (time.perf_counter() - began)


def _throughput(lam, role: str, clients: dict, moto_url: str, records: int, shards: int) -> float:
    sqs = clients["sqs"]
    results = sqs.create_queue(QueueName=f"bench-kinesis-results-{shards}")["QueueUrl"]
    arn = _stream(clients["kinesis"], f"bench-kinesis-{shards}", shards, records)
    name = f"kinesis-counter-{shards}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": deploy.package(COUNTER)},
                        Environment={"Variables": {"MOTO": moto_url, "RESULTS": results}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    lam.invoke(FunctionName=name, Payload=b'{"Records": []}')  # warm
    sqs.purge_queue(QueueUrl=results)
    began = time.perf_counter()
    mapping = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=name, BatchSize=100,
                                              StartingPosition="TRIM_HORIZON")
    done = 0
    while done < records:
        for message in sqs.receive_message(QueueUrl=results, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            done += int(message["Body"])
            sqs.delete_message(QueueUrl=results, ReceiptHandle=message["ReceiptHandle"])
    elapsed = time.perf_counter() - began
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    lam.delete_function(FunctionName=name)
    return records / elapsed
