"""The AWS CLI, unmodified, against Lambdabox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support import make_zip


def aws(server, *arguments: str) -> dict:
    executable = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")
    assert executable, "the awscli package is a test dependency"
    # The AWS CLI with a profile: the credentials file the server wrote.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(
        AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file), AWS_PROFILE="default", AWS_DEFAULT_REGION="us-east-1",
        AWS_PAGER="", AWS_CONFIG_FILE="/dev/null",
    )
    done = subprocess.run(
        [executable, *arguments, "--endpoint-url", server.url, "--output", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


def test_create_and_list_functions_with_the_aws_cli(server, role, unique, tmp_path):
    name = unique("cli")
    package = tmp_path / "hello.zip"
    package.write_bytes(make_zip())

    created = aws(
        server, "lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
        "--handler", "app.handler", "--role", role, "--zip-file", f"fileb://{package}",
        "--memory-size", "256", "--environment", "Variables={GREETING=hi}",
    )
    assert created["FunctionName"] == name
    assert created["MemorySize"] == 256
    assert created["State"] == "Pending"

    aws(server, "lambda", "wait", "function-active-v2", "--function-name", name)
    listed = aws(server, "lambda", "list-functions")
    mine = [function for function in listed["Functions"] if function["FunctionName"] == name]
    assert len(mine) == 1
    assert mine[0]["Environment"] == {"Variables": {"GREETING": "hi"}}

    configuration = aws(server, "lambda", "get-function-configuration", "--function-name", name)
    assert configuration["State"] == "Active"
    assert configuration["LastUpdateStatus"] == "Successful"

    version = aws(server, "lambda", "publish-version", "--function-name", name)
    assert version["Version"] == "1"
    aws(server, "lambda", "delete-function", "--function-name", name)
    listed = aws(server, "lambda", "list-functions")
    assert name not in [function["FunctionName"] for function in listed["Functions"]]
