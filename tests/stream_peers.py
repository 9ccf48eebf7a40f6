"""What the stream source tests share: moto's server (Kinesis, DynamoDB Streams, SQS) as the peer, a real
Lambdabox server reading it, and functions that report every batch they get (failed attempts too) to a
moto SQS queue, so what they saw, and in which order, is observed outside the sandbox.

Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import base64
import json
import time

import pytest

from support import ACCOUNT, REGION, Server, lambda_role, make_zip, moto_server

#: Functions reach moto on the host's loopback, which private networks (rightly) refuse.
HOST_NETWORK = ["--function-network", "host"]

#: Reports each batch to RESULTS; raises when a record's data (Kinesis) or item `kind` (DynamoDB) is "poison".
REPORTER = """
import base64, json, os, time, boto3
sqs = boto3.client("sqs", endpoint_url=os.environ["MOTO"], region_name=os.environ["AWS_REGION"],
                   aws_access_key_id="x", aws_secret_access_key="x")

def handler(event, context):
    records = event["Records"]
    time.sleep(float(os.environ.get("SLEEP", "0")))
    sqs.send_message(QueueUrl=os.environ["RESULTS"], MessageBody=json.dumps(records))
    for record in records:
        if "kinesis" in record and base64.b64decode(record["kinesis"]["data"]) == b"poison":
            raise RuntimeError("poison record")
        if record.get("dynamodb", {}).get("NewImage", {}).get("kind", {}).get("S") == "poison":
            raise RuntimeError("poison item")
"""


@pytest.fixture(scope="module")
def moto():
    with moto_server(ACCOUNT) as url:
        yield url


def server_args(moto: str) -> list[str]:
    return ["--sqs-endpoint-url", moto, "--sns-endpoint-url", moto, "--kinesis-endpoint-url", moto,
            "--dynamodb-endpoint-url", moto, *HOST_NETWORK]


@pytest.fixture(scope="module")
def stream_server(tmp_path_factory, moto):
    running = Server(tmp_path_factory.mktemp("streams") / "data", extra_args=server_args(moto)).start()
    yield running
    running.stop()


def aws(moto: str, service: str):
    import boto3

    return boto3.client(service, endpoint_url=moto, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def sqs(moto):
    return aws(moto, "sqs")


@pytest.fixture
def kinesis(moto):
    return aws(moto, "kinesis")


@pytest.fixture
def lam(stream_server):
    return stream_server.client("lambda")


def stream_role(server: Server, name: str) -> str:
    """An execution role that may read streams and send to queues, as a stream mapping's role must."""
    arn = lambda_role(server, name)
    server.client("iam").put_role_policy(RoleName=name, PolicyName="streams", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["kinesis:*", "dynamodb:*", "sqs:*", "sns:Publish"], "Resource": "*"}],
    }))
    return arn


def make_function(server: Server, moto: str, results: str, name: str, **variables: str) -> str:
    lam = server.client("lambda")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=stream_role(server, name + "-role"),
                        Handler="app.handler", Timeout=10, Code={"ZipFile": make_zip({"app.py": REPORTER})},
                        Environment={"Variables": {"MOTO": moto, "RESULTS": results, **variables}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    return name


def make_queue(sqs, name: str) -> tuple[str, str]:
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


@pytest.fixture
def results(sqs, unique):
    return make_queue(sqs, unique("results"))[0]


@pytest.fixture
def function(stream_server, moto, results, unique):
    return make_function(stream_server, moto, results, unique("worker"))


def make_stream(kinesis, name: str, shards: int = 1) -> str:
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    return kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def batches(sqs, queue: str, until, timeout: float = 40) -> list:
    """The messages (JSON) that arrived on `queue`, in order, once `until(found)` holds."""
    found: list = []
    deadline = time.monotonic() + timeout
    while not until(found):
        assert time.monotonic() < deadline, f"gave up waiting; so far: {found}"
        answer = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in answer.get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return found


def data_of(batch: list[dict]) -> list[str]:
    return [base64.b64decode(record["kinesis"]["data"]).decode() for record in batch]


def delivered(found: list[list[dict]]) -> list[str]:
    return [value for batch in found for value in data_of(batch)]
