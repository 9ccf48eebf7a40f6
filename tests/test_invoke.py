"""Synchronous Invoke of Python functions: payloads, context, errors, logs, qualifiers."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from botocore.exceptions import ClientError

from support import make_zip

HELLO = {"app.py": "def handler(event, context):\n    return {'hello': event}\n"}

CONTEXT = {
    "app.py": """
import os, time

def handler(event, context):
    first = context.get_remaining_time_in_millis()
    time.sleep(0.2)
    second = context.get_remaining_time_in_millis()
    names = ["AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
             "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_EXECUTION_ENV", "AWS_LAMBDA_INITIALIZATION_TYPE", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
             "_HANDLER", "TZ", "AWS_LAMBDA_RUNTIME_API", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA", "AWS_ENDPOINT_URL_IAM",
             "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", "AWS_ACCESS_KEY_ID", "GREETING"]
    client = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": str(context.memory_limit_in_mb),
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_custom": client.custom if client else None,
        "client_app_title": client.client.app_title if client and client.client else None,
        "remaining": [first, second],
        "env": {name: os.environ.get(name) for name in names},
        "cwd": os.getcwd(),
    }
""",
}


def test_python_function_returns_its_payload(deploy, invoke):
    name = deploy(HELLO)
    result = invoke(name, {"who": "world"})
    assert result.status == 200
    assert result.error is None
    assert result.body == {"hello": {"who": "world"}}
    assert result.headers["x-amz-executed-version"] == "$LATEST"


def test_empty_payload_is_an_empty_object(deploy, invoke):
    name = deploy(HELLO)
    assert invoke(name).body == {"hello": {}}


@pytest.mark.needs_root
def test_context_and_environment(deploy, invoke, lam):
    name = deploy(CONTEXT, MemorySize=256, Timeout=10, Environment={"Variables": {"GREETING": "hi"}})
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}, "client": {"app_title": "t"}}).encode()).decode()
    result = invoke(name, {}, ClientContext=client_context)
    body = result.body
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    assert body["function_name"] == name
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == arn
    assert body["memory_limit_in_mb"] == "256"
    # The invocation's request id is the one the Invoke answer carries, as on AWS.
    assert body["aws_request_id"] == result.headers["x-amzn-requestid"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", body["aws_request_id"])
    assert body["log_group_name"] == f"/aws/lambda/{name}"
    # Lambda's stream names: the date, the version in brackets, 32 hex digits.
    today = time.strftime("%Y/%m/%d", time.gmtime())
    assert re.fullmatch(re.escape(today) + r"/\[\$LATEST\][0-9a-f]{32}", body["log_stream_name"]), body["log_stream_name"]
    assert body["client_custom"] == {"k": "v"}
    assert body["client_app_title"] == "t"
    first, second = body["remaining"]
    assert 9000 < first <= 10000
    assert 150 <= first - second < 1000
    env = body["env"]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["log_stream_name"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    # Only the services Lambdabox serves point here: no global AWS_ENDPOINT_URL to catch S3's or DynamoDB's calls.
    assert env["AWS_ENDPOINT_URL"] is None
    assert env["AWS_ENDPOINT_URL_LAMBDA"].startswith("http://127.0.0.1:")
    for service in ("IAM", "STS", "CLOUDWATCH_LOGS"):
        assert env["AWS_ENDPOINT_URL_" + service] == env["AWS_ENDPOINT_URL_LAMBDA"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["GREETING"] == "hi"
    assert body["cwd"] == "/var/task"


def test_boto3_inside_a_function_calls_lambdabox(deploy, invoke, lam, iam):
    """The runtime's own boto3, with no endpoint and no credentials given, makes signed calls to this
    Lambdabox as the function's execution role: it reads its own configuration, and is refused what its
    role does not allow."""
    code = {
        "app.py": """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    client = boto3.client("lambda")
    own = client.get_function_configuration(FunctionName=context.function_name)
    try:
        client.delete_function(FunctionName=context.function_name)
        deleted = "deleted"
    except ClientError as error:
        deleted = error.response["Error"]["Code"]
    return {"arn": own["FunctionArn"], "endpoint": client.meta.endpoint_url, "delete": deleted}
"""
    }
    name = deploy(code, Timeout=30, MemorySize=256)
    config = lam.get_function_configuration(FunctionName=name)
    # The role may read its own function's configuration, nothing more.
    iam.put_role_policy(RoleName=config["Role"].rsplit("/", 1)[1], PolicyName="read-self", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "lambda:GetFunctionConfiguration", "Resource": config["FunctionArn"]}],
    }))
    answer = invoke(name).body
    assert answer["arn"] == config["FunctionArn"], answer
    assert answer["endpoint"].startswith("http://127.0.0.1:")
    assert answer["delete"] == "AccessDeniedException"
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name


@pytest.mark.needs_root
def test_init_runs_once_per_environment(deploy, invoke):
    code = {
        "app.py": """
import os, time
STARTED = time.time()
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    return {"started": STARTED, "count": COUNT, "pid": os.getpid()}
"""
    }
    name = deploy(code)
    first = invoke(name, {}, LogType="Tail")
    second = invoke(name, {}, LogType="Tail")
    third = invoke(name, {})
    assert first.body["started"] == second.body["started"] == third.body["started"]
    assert [first.body["count"], second.body["count"], third.body["count"]] == [1, 2, 3]
    assert first.body["pid"] == 1
    assert "Init Duration:" in first.log
    assert "Init Duration:" not in second.log


def test_log_tail_has_start_end_and_report(deploy, invoke):
    code = {"app.py": "def handler(event, context):\n    print('printed by the function')\n    return 1\n"}
    name = deploy(code)
    result = invoke(name, {}, LogType="Tail")
    request_id = result.headers["x-amzn-requestid"]
    log = result.log
    assert "printed by the function" in log
    lines = log.strip().splitlines()
    # Every platform line names the invocation's request id: the one the answer carries.
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert f"END RequestId: {request_id}" in lines
    report = next(line for line in lines if line.startswith("REPORT RequestId: "))
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    for field in ("Duration: ", "Billed Duration: ", "Memory Size: 128 MB", "Max Memory Used: "):
        assert field in report
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert 1 <= used <= 128


def test_function_error_shape(deploy, invoke):
    code = {
        "app.py": """
class CustomError(Exception):
    pass

def handler(event, context):
    raise CustomError("it broke")
"""
    }
    name = deploy(code)
    result = invoke(name, {})
    assert result.status == 200
    assert result.error == "Unhandled"
    body = result.body
    assert body["errorType"] == "CustomError"
    assert body["errorMessage"] == "it broke"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert "requestId" in body
    # The environment survives a handled function error and keeps serving.
    assert invoke(name, {}).body["errorType"] == "CustomError"


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({"app.py": "x = 1\n"}, "missing.handler", "Runtime.ImportModuleError", "Unable to import module 'missing'"),
        ({"app.py": "x = 1\n"}, "app.handler", "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'"),
        ({"app.py": "def handler(:\n"}, "app.handler", "Runtime.UserCodeSyntaxError", "Syntax error in module 'app'"),
        ({"app.py": "import no_such_package\ndef handler(e, c): pass\n"}, "app.handler", "Runtime.ImportModuleError",
         "Unable to import module 'app': No module named 'no_such_package'"),
    ],
)
def test_init_errors(deploy, invoke, files, handler, error_type, message):
    name = deploy(files, handler=handler)
    result = invoke(name, {})
    assert result.error == "Unhandled"
    assert result.body["errorType"] == error_type
    assert message in result.body["errorMessage"]


def test_nested_handler_path(deploy, invoke):
    name = deploy({"pkg/sub/mod.py": "def run(event, context):\n    return 'nested'\n"}, handler="pkg/sub/mod.run")
    assert invoke(name, {}).body == "nested"


def test_qualifiers_and_alias_weights(deploy, invoke, lam):
    name = deploy({"app.py": "def handler(e, c):\n    return 'one'\n"})
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'two'\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    lam.publish_version(FunctionName=name)
    assert invoke(name, {}, Qualifier="1").body == "one"
    assert invoke(name, {}, Qualifier="2").body == "two"
    assert invoke(name, {}).body == "two"
    lam.create_alias(FunctionName=name, Name="split", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = {"1": 0, "2": 0}
    for _ in range(200):
        result = invoke(name, {}, Qualifier="split")
        version = result.headers["x-amz-executed-version"]
        seen[version] += 1
        assert result.body == {"1": "one", "2": "two"}[version]
    assert 60 <= seen["1"] <= 140 and 60 <= seen["2"] <= 140, seen


def test_code_update_takes_effect_on_next_invoke(deploy, invoke, lam):
    name = deploy({"app.py": "def handler(e, c):\n    return 'old'\n"})
    assert invoke(name, {}).body == "old"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'new'\n"}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert invoke(name, {}).body == "new"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"MODE": "x"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert invoke(name, {}).body == "new"


def test_dry_run_and_event(deploy, invoke, lam, server):
    # A function that leaves a mark in its log each time it runs: a DryRun must leave none.
    name = deploy({"app.py": "def handler(event, context):\n    print('ran', event)\n    return 1\n"})
    dry = invoke(name, {"dry": 1}, InvocationType="DryRun")
    assert dry.status == 204 and dry.raw == b""
    assert invoke(name, {"event": 1}, InvocationType="Event").status == 202
    deadline = time.monotonic() + 30
    while "ran {'event': 1}" not in (printed := server.cli("logs", name).stdout) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "ran {'event': 1}" in printed
    assert "dry" not in printed


def test_invoke_errors(deploy, lam, server, unique):
    name = deploy(HELLO)
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=unique("missing"), Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestContentException"
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert caught.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_response_too_large_is_reported(deploy, invoke):
    name = deploy({"app.py": "def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n"}, MemorySize=512)
    result = invoke(name, {})
    assert result.error == "Unhandled"
    assert result.body["errorType"] == "Function.ResponseSizeTooLarge"


def test_function_not_active_cannot_be_invoked(lam, role, unique):
    """An invoke while the code is still being unpacked is refused, as on AWS. 5,000 files take the
    activation well past the few milliseconds between the create's answer and the invoke."""
    name = unique("pending")
    many = {f"data/{i:05d}.txt": "" for i in range(5_000)}
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
        Code={"ZipFile": make_zip({**HELLO, **many})},
    )
    with pytest.raises(ClientError) as refused:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert refused.value.response["Error"]["Code"] == "ResourceConflictException"
    assert refused.value.response["Error"]["Message"] == (
        "The operation cannot be performed at this time. The function is currently in the following state: Pending"
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200


def test_missing_interpreter_is_refused_at_create(lam, role, unique):
    import shutil

    if shutil.which("python3.14") or list(__import__("pathlib").Path.home().glob(".pyenv/versions/3.14*")):
        pytest.skip("this host has python3.14")
    with pytest.raises(ClientError) as caught:
        lam.create_function(
            FunctionName=unique("nopy"), Runtime="python3.14", Role=role,
            Handler="app.handler", Code={"ZipFile": make_zip(HELLO)},
        )
    assert caught.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert caught.value.response["Error"]["Message"] == (
        "The runtime python3.14 is not available on this Lambdabox host: no python3.14 interpreter was found."
    )


def test_logs_command_prints_the_log(deploy, invoke, server):
    name = deploy({"app.py": "def handler(e, c):\n    print('line for the logs command')\n"})
    request_id = invoke(name, {}).headers["x-amzn-requestid"]
    # The log is written as the environment reports, just after the answer: ask until the REPORT line is there.
    deadline = time.monotonic() + 10
    while f"REPORT RequestId: {request_id}" not in (done := server.cli("logs", name)).stdout:
        assert time.monotonic() < deadline, done.stdout + done.stderr
        time.sleep(0.1)
    assert done.returncode == 0, done.stderr
    assert "line for the logs command" in done.stdout
