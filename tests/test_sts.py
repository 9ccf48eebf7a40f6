"""STS GetCallerIdentity, and the AWS CLI driving IAM and STS end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

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
