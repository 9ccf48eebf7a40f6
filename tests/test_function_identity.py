"""Code in a function acts as its execution role: what the role allows, and nothing of other accounts."""

from __future__ import annotations

import json
import os

import pytest

from support import ACCOUNT, REGION, TRUST, boto3_layer, make_zip

#: Invokes the functions it is given and GETs the server's own routes it is given, signed with the
#: environment's credentials; reports each result, or the error's code and message.
CALLER = """
import json, os, urllib.error, urllib.request
import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

def handler(event, context):
    lam = boto3.client("lambda")
    out = {}
    for name in event.get("invoke", []):
        try:
            out[name] = json.load(lam.invoke(FunctionName=name, Payload=b'{"from": "inside"}')["Payload"])
        except ClientError as error:
            out[name] = [error.response["Error"]["Code"], error.response["Error"]["Message"]]
    for name in event.get("get", []):
        try:
            out["get " + name] = lam.get_function(FunctionName=name)["Configuration"]["FunctionName"]
        except ClientError as error:
            out["get " + name] = [error.response["Error"]["Code"], error.response["Error"]["Message"]]
    for path in event.get("routes", []):
        request = AWSRequest(method="GET", url=os.environ["AWS_ENDPOINT_URL_LAMBDA"] + path)
        credentials = boto3.Session().get_credentials().get_frozen_credentials()
        SigV4Auth(credentials, "lambda", os.environ["AWS_REGION"]).add_auth(request)
        try:
            with urllib.request.urlopen(urllib.request.Request(request.url, headers=dict(request.headers)), timeout=10) as answer:
                out[path] = json.load(answer)
        except urllib.error.HTTPError as error:
            out[path] = error.code
    return out
"""


def arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:lambda:{REGION}:{account}:function:{name}"


@pytest.fixture(scope="module")
def layer(server) -> str:
    lam = server.client("lambda")
    return lam.publish_layer_version(LayerName="boto3-lambda", Content={"ZipFile": boto3_layer("lambda", "sts")})[
        "LayerVersionArn"
    ]


def make(server, name: str, role: str, files: dict | None = None, layers: tuple[str, ...] = (), account: str = ACCOUNT):
    lam = server.client("lambda", account=account)
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip(files)}, Layers=list(layers), Timeout=30, MemorySize=256)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def role_with(server, name: str, statements: list[dict], account: str = ACCOUNT) -> str:
    iam = server.client("iam", account=account)
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": statements}))
    return role


def test_the_role_decides_what_the_function_may_invoke(server, layer):
    suffix = os.urandom(3).hex()
    plain = role_with(server, f"plain-{suffix}", [])
    allowed, forbidden = make(server, f"ok-{suffix}", plain), make(server, f"no-{suffix}", plain)
    caller_role = role_with(server, f"caller-{suffix}", [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": arn(allowed)}])
    caller = make(server, f"caller-{suffix}", caller_role, {"app.py": CALLER}, (layer,))

    answer = server.client("lambda").invoke(FunctionName=caller, Payload=json.dumps({"invoke": [allowed, forbidden]}))
    result = json.load(answer["Payload"])
    assert "FunctionError" not in answer, result
    assert result[allowed] == {"hello": {"from": "inside"}}
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/caller-{suffix}/{caller}"
    assert result[forbidden] == [
        "AccessDeniedException",
        f"User: {session} is not authorized to perform: lambda:InvokeFunction on resource: {arn(forbidden)} "
        "because no identity-based policy allows the lambda:InvokeFunction action",
    ]


def test_a_role_without_policies_may_not_even_invoke_itself(server, layer):
    suffix = os.urandom(3).hex()
    name = make(server, f"self-{suffix}", role_with(server, f"bare-{suffix}", []), {"app.py": CALLER}, (layer,))
    result = json.load(server.client("lambda").invoke(FunctionName=name, Payload=json.dumps({"invoke": [name]}))["Payload"])
    assert result[name][0] == "AccessDeniedException"


def test_a_function_reaches_nothing_of_another_account(server, layer):
    """Even with a role that may do anything, code in account A sees none of account B's functions, logs or
    asynchronous invocations."""
    other = "777777777777"
    suffix = os.urandom(3).hex()
    victim_role = role_with(server, f"victim-{suffix}", [], account=other)
    victim = make(server, f"victim-{suffix}", victim_role, account=other)
    their = server.client("lambda", account=other)
    their.invoke(FunctionName=victim, Payload=b'{"secret": "of B"}')
    request_id = their.invoke(FunctionName=victim, InvocationType="Event", Payload=b"{}")["ResponseMetadata"][
        "HTTPHeaders"]["x-amzn-requestid"]

    almighty = role_with(server, f"almighty-{suffix}", [{"Effect": "Allow", "Action": "*", "Resource": "*"}])
    caller = make(server, f"nosy-{suffix}", almighty, {"app.py": CALLER}, (layer,))
    event = {
        "invoke": [arn(victim, other)],
        "get": [arn(victim, other)],
        "routes": [f"/_lambdabox/logs/{victim}?account={other}", f"/_lambdabox/invocations/{request_id}",
                   f"/_lambdabox/invocations?function={victim}&account={other}"],
    }
    result = json.load(server.client("lambda").invoke(FunctionName=caller, Payload=json.dumps(event))["Payload"])
    assert result[arn(victim, other)][0] == "AccessDeniedException"
    assert result["get " + arn(victim, other)][0] == "AccessDeniedException"
    assert result[f"/_lambdabox/logs/{victim}?account={other}"] == {"events": [], "truncated": False}
    assert result[f"/_lambdabox/invocations/{request_id}"] == 404
    assert result[f"/_lambdabox/invocations?function={victim}&account={other}"] == {"invocations": []}
    # B itself sees its own.
    assert server.get_json(f"/_lambdabox/invocations/{request_id}", account=other)["function"] == victim


LEAKER = """
import os
def handler(event, context):
    return [os.environ[name] for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")]
"""


def test_a_functions_stolen_credentials_reach_no_further_than_its_role(server):
    """A hostile function hands its credentials out: they are its role's and nothing more. Changed, they are nothing."""
    from botocore.exceptions import ClientError

    from support import error_of

    suffix = os.urandom(3).hex()
    name = make(server, f"leaker-{suffix}", role_with(server, f"leaker-{suffix}", [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]), {"app.py": LEAKER})
    key, secret, token = json.load(server.client("lambda").invoke(FunctionName=name)["Payload"])
    sts = server.client("sts", credentials=(key, secret, token))
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/leaker-{suffix}/{name}"

    # A role of another account that trusts only its own account: the stolen session can't become it.
    other = "888888888888"
    target = server.client("iam", account=other).create_role(RoleName=f"guarded-{suffix}", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    with pytest.raises(ClientError) as raised:
        sts.assume_role(RoleArn=target, RoleSessionName="escape")
    assert error_of(raised)[:2] == (403, "AccessDenied")

    # Nor can it reach IAM beyond what the role allows.
    with pytest.raises(ClientError) as iam_refused:
        server.client("iam", credentials=(key, secret, token)).create_user(UserName=f"backdoor-{suffix}")
    assert error_of(iam_refused)[:2] == (403, "AccessDenied")

    # Any change to the token makes it no token at all.
    flipped = token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:]
    with pytest.raises(ClientError) as forged:
        server.client("sts", credentials=(key, secret, flipped)).get_caller_identity()
    assert error_of(forged) == (403, "InvalidClientTokenId", "The security token included in the request is invalid.")
