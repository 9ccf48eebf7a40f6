"""The endpoints a function's SDK clients find: Lambdabox for the services it serves, AWS's (or the function's own) for the rest."""

from __future__ import annotations

import json
import os

import pytest

from support import ACCOUNT, REGION, TRUST, boto3_layer, make_zip

#: Reports where boto3 clients made with no endpoint argument send their calls, and what the Lambda and
#: STS clients get back from there.
PROBE = """
import os
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    endpoints = {service: boto3.client(service).meta.endpoint_url for service in ("lambda", "sts", "s3", "dynamodb")}
    out = {"endpoints": endpoints,
           "variables": {name: value for name, value in os.environ.items() if name.startswith("AWS_ENDPOINT_URL")}}
    if event.get("call"):
        out["me"] = boto3.client("lambda").get_function_configuration(FunctionName=context.function_name)["FunctionArn"]
        out["caller"] = boto3.client("sts").get_caller_identity()["Arn"]
    return out
"""

SERVED = ("LAMBDA", "IAM", "STS", "CLOUDWATCH_LOGS")


def lambdabox(server, seen: dict) -> str:
    """The address the function was given for this server: AWS's 127.0.0.1:9000 in a network of its own, else the host's."""
    here = seen["variables"]["AWS_ENDPOINT_URL_LAMBDA"]
    assert here in ("http://127.0.0.1:9000", f"http://127.0.0.1:{server.port}")
    return here


@pytest.fixture(scope="module")
def layer(server) -> str:
    lam = server.client("lambda")
    content = boto3_layer("lambda", "sts", "s3", "dynamodb")
    return lam.publish_layer_version(LayerName="boto3-endpoints", Content={"ZipFile": content})["LayerVersionArn"]


@pytest.fixture(scope="module")
def role(server) -> str:
    iam = server.client("iam")
    name = f"endpoints-{os.urandom(3).hex()}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:GetFunctionConfiguration", "Resource": "*"}],
    }))
    return arn


def probe(server, layer: str, role: str, variables: dict[str, str] | None = None, call: bool = False) -> dict:
    lam = server.client("lambda")
    name = f"endpoints-{os.urandom(4).hex()}"
    options = {"Environment": {"Variables": variables}} if variables else {}
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip({"app.py": PROBE})}, Layers=[layer], Timeout=30, MemorySize=256,
                        **options)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    answer = lam.invoke(FunctionName=name, Payload=json.dumps({"call": call}).encode())
    result = json.load(answer["Payload"])
    assert "FunctionError" not in answer, result
    return {**result, "name": name}


def test_clients_of_served_services_reach_lambdabox_and_the_others_keep_aws_endpoints(server, layer, role):
    seen = probe(server, layer, role, call=True)
    here = lambdabox(server, seen)
    assert seen["variables"] == {"AWS_ENDPOINT_URL_" + service: here for service in SERVED}
    # Lambda and STS with no endpoint argument reach this server, as the function's role.
    assert seen["endpoints"]["lambda"] == seen["endpoints"]["sts"] == here
    assert seen["me"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{seen['name']}"
    assert seen["caller"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")
    # S3 and DynamoDB are not hijacked: their clients resolve to AWS's own endpoints.
    assert seen["endpoints"]["s3"] == "https://s3.amazonaws.com"
    assert seen["endpoints"]["dynamodb"] == f"https://dynamodb.{REGION}.amazonaws.com"


def test_a_functions_own_global_endpoint_wins_for_every_service(server, layer, role):
    elsewhere = "http://localstack.invalid:4566"
    seen = probe(server, layer, role, {"AWS_ENDPOINT_URL": elsewhere})
    # None of Lambdabox's service variables is set: each would silently override the function's choice.
    assert seen["variables"] == {"AWS_ENDPOINT_URL": elsewhere}
    assert set(seen["endpoints"].values()) == {elsewhere}


def test_a_functions_own_service_endpoints_are_kept(server, layer, role):
    own = {"AWS_ENDPOINT_URL_S3": "http://minio.invalid:9000", "AWS_ENDPOINT_URL_LAMBDA": "http://other.invalid:1"}
    seen = probe(server, layer, role, own)
    here = seen["variables"]["AWS_ENDPOINT_URL_STS"]
    assert here in ("http://127.0.0.1:9000", f"http://127.0.0.1:{server.port}")
    assert seen["variables"] == {**own, **{"AWS_ENDPOINT_URL_" + service: here for service in ("IAM", "STS", "CLOUDWATCH_LOGS")}}
    assert seen["endpoints"] == {
        "lambda": "http://other.invalid:1", "sts": here, "s3": "http://minio.invalid:9000",
        "dynamodb": f"https://dynamodb.{REGION}.amazonaws.com",
    }

