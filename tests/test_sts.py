"""STS GetCallerIdentity and AssumeRole, and the AWS CLI driving IAM and STS end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, error_of

AWS_CLI = Path(sys.executable).parent / "aws"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def test_caller_identity_of_the_default_account(server):
    identity = server.client("sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"], identity["UserId"]) == (
        "000000000000", "arn:aws:iam::000000000000:root", "000000000000"
    )


def test_the_root_key_of_another_account_acts_in_that_account(server):
    identity = server.client("sts", account="111111111111").get_caller_identity()
    assert identity["Account"] == "111111111111"
    assert identity["Arn"] == "arn:aws:iam::111111111111:root"


def test_unknown_sts_action(server):
    body = b"Action=AssumeNothing&Version=2011-06-15"
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    request = urllib.request.Request(server.url, data=body, headers=server.signed("POST", "/", body, headers, "sts"))
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=10)
    assert raised.value.code == 400
    root = ET.fromstring(raised.value.read())
    namespace = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
    assert root.tag == "{https://sts.amazonaws.com/doc/2011-06-15/}ErrorResponse"
    assert root.findtext("sts:Error/sts:Code", namespaces=namespace) == "InvalidAction"
    assert root.findtext("sts:Error/sts:Message", namespaces=namespace) == (
        "Could not find operation AssumeNothing for version 2011-06-15"
    )


def test_aws_cli(server, unique, tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")} | {
        "AWS_DEFAULT_REGION": "us-east-1",
        # Keep the developer's own AWS configuration out of the test; use the server's credentials file.
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(server.credentials_file),
    }

    def aws(*args: str) -> dict:
        done = subprocess.run(
            [str(AWS_CLI), "--endpoint-url", server.url, "--output", "json", *args],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    identity = aws("sts", "get-caller-identity")
    assert identity == {"UserId": "000000000000", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root"}

    trust = tmp_path / "trust.json"
    trust.write_text(TRUST)
    name = unique("cli-role")
    role = aws("iam", "create-role", "--role-name", name, "--assume-role-policy-document", f"file://{trust}")["Role"]
    assert role["Arn"] == f"arn:aws:iam::000000000000:role/{name}"
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert aws("iam", "get-role", "--role-name", name)["Role"]["RoleId"] == role["RoleId"]


# AssumeRole


def sts_failure(call, **arguments) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return error_of(raised)


@pytest.fixture
def user_sts(server, unique):
    """An STS client signing as a fresh IAM user whose policy lets it assume roles."""
    iam = server.client("iam")
    name = unique("caller")
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName="may-assume", PolicyDocument=MAY_ASSUME)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return session_client(
        server, "sts", {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"], "SessionToken": None}
    )


#: A role the account's own principals may assume (given an identity policy that lets them), and Lambda too.
ACCOUNT_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"},
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"},
]})
#: An identity policy that lets its holder assume any role that trusts it.
MAY_ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})


def make_role(server, unique, max_session_s: int = 3600) -> tuple[str, str]:
    """A role the account trusts, whose sessions may assume roles in turn."""
    name = unique("role")
    iam = server.client("iam")
    role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=ACCOUNT_TRUST, MaxSessionDuration=max_session_s)
    iam.put_role_policy(RoleName=name, PolicyName="may-assume", PolicyDocument=MAY_ASSUME)
    return name, role["Role"]["Arn"]


def session_client(server, service: str, credentials: dict):
    from botocore.config import Config

    # The server's checks are what is tested, not boto3's.
    return server.client(
        service, credentials=(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]),
        config=Config(parameter_validation=False),
    )


def test_caller_identity_of_a_user(server, user_sts):
    identity = user_sts.get_caller_identity()
    assert identity["Account"] == ACCOUNT
    assert identity["Arn"].startswith(f"arn:aws:iam::{ACCOUNT}:user/caller-")
    assert identity["UserId"].startswith("AIDA")


def test_assume_role_returns_session_credentials_that_name_the_role(server, user_sts, unique):
    name, arn = make_role(server, unique)
    role_id = server.client("iam").get_role(RoleName=name)["Role"]["RoleId"]
    before = datetime.now(timezone.utc)
    answer = user_sts.assume_role(RoleArn=arn, RoleSessionName="my-session")
    credentials = answer["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA") and len(credentials["AccessKeyId"]) == 20
    assert len(credentials["SecretAccessKey"]) == 40 and credentials["SessionToken"]
    assert timedelta(minutes=59) < credentials["Expiration"] - before <= timedelta(hours=1, seconds=2)
    assert answer["AssumedRoleUser"] == {
        "AssumedRoleId": f"{role_id}:my-session",
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/my-session",
    }
    assert "PackedPolicySize" not in answer

    identity = session_client(server, "sts", credentials).get_caller_identity()
    assert identity == {
        "UserId": f"{role_id}:my-session",
        "Account": ACCOUNT,
        "Arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/my-session",
        "ResponseMetadata": identity["ResponseMetadata"],
    }
    assert credentials["SecretAccessKey"].encode() not in (server.data_dir / "lambdabox.db").read_bytes()


def test_a_role_session_must_name_the_user_it_asks_about(server, user_sts, unique):
    name, arn = make_role(server, unique)
    # Allowed to ask, so that what is tested is the question, not the permission.
    server.client("iam").put_role_policy(RoleName=name, PolicyName="users", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:GetUser", "iam:*AccessKey*"],
                                                "Resource": "*"}]}))
    credentials = user_sts.assume_role(RoleArn=arn, RoleSessionName="s1")["Credentials"]
    iam = session_client(server, "iam", credentials)
    for call in (iam.get_user, iam.list_access_keys, iam.create_access_key):
        assert sts_failure(call) == (400, "ValidationError", "Must specify userName when calling with non-User credentials")


def test_duration_bounds(server, user_sts, unique):
    _, short = make_role(server, unique)
    _, long = make_role(server, unique, max_session_s=7200)
    before = datetime.now(timezone.utc)
    answer = user_sts.assume_role(RoleArn=long, RoleSessionName="long", DurationSeconds=7200)
    assert timedelta(minutes=119) < answer["Credentials"]["Expiration"] - before <= timedelta(hours=2, seconds=2)
    user_sts.assume_role(RoleArn=short, RoleSessionName="shortest", DurationSeconds=900)

    assert sts_failure(user_sts.assume_role, RoleArn=short, RoleSessionName="s1", DurationSeconds=3601) == (
        400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    )
    assert sts_failure(user_sts.assume_role, RoleArn=short, RoleSessionName="s1", DurationSeconds=899) == (
        400, "ValidationError",
        "1 validation error detected: Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900",
    )
    assert sts_failure(user_sts.assume_role, RoleArn=long, RoleSessionName="s1", DurationSeconds=43201) == (
        400, "ValidationError",
        "1 validation error detected: Value '43201' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 43200",
    )


def test_role_chaining_is_limited_to_an_hour(server, user_sts, unique):
    _, first = make_role(server, unique, max_session_s=7200)
    name, second = make_role(server, unique, max_session_s=7200)
    chained = session_client(server, "sts", user_sts.assume_role(RoleArn=first, RoleSessionName="first")["Credentials"])
    assert sts_failure(chained.assume_role, RoleArn=second, RoleSessionName="second", DurationSeconds=3601) == (
        400, "ValidationError",
        "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    )
    answer = chained.assume_role(RoleArn=second, RoleSessionName="second")
    assert answer["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/second"


def test_root_may_not_assume_roles(server, unique):
    _, arn = make_role(server, unique)
    assert sts_failure(server.client("sts").assume_role, RoleArn=arn, RoleSessionName="root") == (
        403, "AccessDenied", "Roles may not be assumed by root accounts."
    )


def test_a_missing_role_is_denied(server, user_sts, unique):
    caller = user_sts.get_caller_identity()["Arn"]
    for arn in (f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}", f"arn:aws:iam::{ACCOUNT}:role/wrong/path/x"):
        assert sts_failure(user_sts.assume_role, RoleArn=arn, RoleSessionName="s1") == (
            403, "AccessDenied", f"User: {caller} is not authorized to perform: sts:AssumeRole on resource: {arn}"
        )
    assert sts_failure(user_sts.assume_role, RoleArn="not-an-arn-but-long-enough", RoleSessionName="s1") == (
        400, "ValidationError", "Request ARN is invalid"
    )


@pytest.mark.parametrize(
    ("session_name", "message"),
    [
        ("a", "1 validation error detected: Value 'a' at 'roleSessionName' failed to satisfy constraint: "
              "Member must have length greater than or equal to 2"),
        ("has space", "1 validation error detected: Value 'has space' at 'roleSessionName' failed to satisfy "
                      "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*"),
        ("ü" * 10_000, None),
    ],
)
def test_session_name_validation(server, user_sts, unique, session_name, message):
    _, arn = make_role(server, unique)
    status, code, text = sts_failure(user_sts.assume_role, RoleArn=arn, RoleSessionName=session_name)
    assert (status, code) == (400, "ValidationError")
    if message is not None:
        assert text == message
    else:
        assert "'roleSessionName'" in text and "less than or equal to 64" in text


def test_session_policies_are_refused_not_ignored(server, user_sts, unique):
    _, arn = make_role(server, unique)
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}'
    status, code, _ = sts_failure(user_sts.assume_role, RoleArn=arn, RoleSessionName="s1", Policy=policy)
    assert (status, code) == (400, "ValidationError")
