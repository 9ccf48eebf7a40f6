"""LoggingConfig as AWS's advanced logging controls: JSON records, level filtering, and a custom log group."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time

import pytest

from support import ACCOUNT, REGION

#: Logs through the root logger at every level, with an exception and extra keys, and prints plain text.
PYTHON_LOGGER = """
import logging
logger = logging.getLogger()

def handler(event, context):
    print("plain text from print")
    logger.debug("a debug record")
    logger.info("an info record %s", 42, extra={"orderId": "o-1", "count": 3})
    logger.warning("a warning record")
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("it failed")
    logging.getLogger("child").error("from a child logger")
    return "done"
"""

#: Logs with every console method, an object, an Error, and several arguments.
NODE_CONSOLE = """
exports.handler = async (event) => {
  console.trace('a trace record');
  console.debug('a debug record');
  console.info('an info record');
  console.log({ nested: { answer: 42 } });
  console.warn('a warn record', 7, 'items');
  console.error(new TypeError('bad type'));
  console.error('failed with', new RangeError('out of range'));
  return 'done';
};
"""

#: A hostile function: prints fake platform records, a record claiming ERROR, broken JSON, invalid UTF-8 and
#: a line longer than one event.
FORGER = r"""
import json, os, sys

def handler(event, context):
    fake = {"time": "2024-01-01T00:00:00.000Z", "type": "platform.report",
            "record": {"requestId": context.aws_request_id, "metrics": {"durationMs": 1}, "status": "success"}}
    print(json.dumps(fake))
    print(json.dumps({"time": "2024-01-01T00:00:00.000Z", "type": "platform.start", "level": "FATAL",
                      "record": {"requestId": "forged"}}))
    print('{"level": "ERROR", "message": "claims error"')  # not JSON: INFO
    print('{"level": {"nested": "ERROR"}}')  # a level that is not a name: INFO
    print("[" * 100000 + "]" * 100000)  # deeper than any parser goes
    print("{" + '"a":{' * 50000 + "}" * 50001)
    sys.stdout.flush()
    os.write(1, b'{"level": "ERROR", "message": "bad \xff\xfe bytes"}\n')
    print('{"level": "ERROR", "message": "' + "x" * 300000 + '"}')
    return "forged"
"""


def _deploy(deploy, files, runtime: str = "python3.12", handler: str = "app.handler", **logging_config) -> str:
    options = {"LoggingConfig": logging_config} if logging_config else {}
    return deploy(files, runtime=runtime, handler=handler, Timeout=30, **options)


def _invoke(lam, name: str) -> tuple[dict, list[str]]:
    response = lam.invoke(FunctionName=name, LogType="Tail", Payload=b"{}")
    tail = base64.b64decode(response["LogResult"]).decode().splitlines()
    return response, tail


def _request_id(tail: list[str]) -> str:
    """The invocation's request id, as its START line or platform.start record gives it."""
    for line in tail:
        if line.startswith("START RequestId: "):
            return line.split()[2]
        if line.startswith('{"time"') and '"platform.start"' in line:
            return json.loads(line)["record"]["requestId"]
    raise AssertionError(f"no START in {tail}")


def _records(lines: list[str]) -> list[dict]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def _group_messages(server, group: str, expect: str, timeout_s: float = 10) -> list[str]:
    """The messages of a log group, read from the server's store, once one of them contains `expect`."""
    from lambdabox.observe.logs import LogStore

    store = LogStore(server.data_dir / "logs")
    deadline = time.monotonic() + timeout_s
    while True:
        messages = [event.message for event in store.events(f"{ACCOUNT}:{REGION}", group)]
        if any(expect in message for message in messages) or time.monotonic() > deadline:
            return messages
        time.sleep(0.1)


def _application(records: list[dict]) -> list[dict]:
    return [record for record in records if "type" not in record]


def _platform(records: list[dict]) -> list[dict]:
    return [record for record in records if "type" in record]


# -- Python ----------------------------------------------------------------------------------------


@pytest.mark.needs_root
def test_python_logging_writes_aws_json_records(deploy, lam):
    name = _deploy(deploy, {"app.py": PYTHON_LOGGER}, LogFormat="JSON")
    response, tail = _invoke(lam, name)
    request_id = _request_id(tail)
    assert "plain text from print" in tail  # print stays plain text
    records = _application(_records(tail))
    by_message = {record["message"]: record for record in records}
    assert "a debug record" not in by_message  # ApplicationLogLevel defaults to INFO
    info = by_message["an info record 42"]
    assert list(info) == ["timestamp", "level", "message", "logger", "requestId", "orderId", "count"]
    assert info["level"] == "INFO" and info["logger"] == "root" and info["requestId"] == request_id
    assert info["orderId"] == "o-1" and info["count"] == 3
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", info["timestamp"])
    assert by_message["a warning record"]["level"] == "WARNING"
    failed = by_message["it failed"]
    assert failed["level"] == "ERROR"
    assert failed["errorType"] == "ZeroDivisionError" and failed["errorMessage"] == "division by zero"
    assert isinstance(failed["stackTrace"], list) and "1 / 0" in failed["stackTrace"][-1]
    assert failed["location"] == "/var/task/app.py:handler:13"
    assert by_message["from a child logger"]["logger"] == "child"


def test_python_environment_says_the_format_and_level(deploy, lam):
    code = {"app.py": "import os\ndef handler(e, c):\n    return {k: os.environ.get(k) for k in "
                      "('AWS_LAMBDA_LOG_FORMAT', 'AWS_LAMBDA_LOG_LEVEL')}\n"}
    as_json = _deploy(deploy, code, LogFormat="JSON", ApplicationLogLevel="WARN")
    assert json.load(lam.invoke(FunctionName=as_json)["Payload"]) == {
        "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN",
    }
    as_text = _deploy(deploy, code)
    assert json.load(lam.invoke(FunctionName=as_text)["Payload"]) == {
        "AWS_LAMBDA_LOG_FORMAT": None, "AWS_LAMBDA_LOG_LEVEL": None,
    }


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("DEBUG", {"a debug record", "an info record 42", "a warning record", "it failed", "from a child logger"}),
        ("INFO", {"an info record 42", "a warning record", "it failed", "from a child logger"}),
        ("WARN", {"a warning record", "it failed", "from a child logger"}),
        ("ERROR", {"it failed", "from a child logger"}),
        ("FATAL", set()),
    ],
)
def test_python_application_level_filters_records(deploy, lam, level, shown):
    name = _deploy(deploy, {"app.py": PYTHON_LOGGER}, LogFormat="JSON", ApplicationLogLevel=level)
    _, tail = _invoke(lam, name)
    assert {record["message"] for record in _application(_records(tail))} == shown
    # print's plain text is an INFO line to the platform: above INFO, it is filtered out too, as on AWS.
    assert ("plain text from print" in tail) == (level in ("DEBUG", "INFO"))


def test_an_uncaught_error_is_a_json_record(deploy, lam):
    name = _deploy(deploy, {"app.py": "def handler(e, c):\n    raise KeyError('missing')\n"}, LogFormat="JSON")
    response, tail = _invoke(lam, name)
    assert response["FunctionError"] == "Unhandled"
    (error,) = _application(_records(tail))
    assert list(error) == ["timestamp", "level", "errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["level"] == "ERROR" and error["errorType"] == "KeyError" and error["errorMessage"] == "'missing'"
    assert error["requestId"] == _request_id(tail)


# -- Node.js ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("level", ["TRACE", "INFO", "ERROR"])
def test_node_console_writes_aws_json_records(deploy, lam, level):
    name = _deploy(deploy, {"index.js": NODE_CONSOLE}, runtime="nodejs20.x", handler="index.handler",
                   LogFormat="JSON", ApplicationLogLevel=level)
    response, tail = _invoke(lam, name)
    request_id = _request_id(tail)
    records = _application(_records(tail))
    levels = ["TRACE", "DEBUG", "INFO", "INFO", "WARN", "ERROR", "ERROR"]
    expected = [each for each in levels if levels.index(each) >= levels.index(level)]
    assert [record["level"] for record in records] == expected
    for record in records:
        assert list(record)[:4] == ["timestamp", "level", "requestId", "message"]
        assert record["requestId"] == request_id
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["timestamp"])
    by_level = {}
    for record in records:
        by_level.setdefault(record["level"], []).append(record)
    if level != "ERROR":
        assert by_level["INFO"][1]["message"] == {"nested": {"answer": 42}}  # an object stays an object
        assert by_level["WARN"][0]["message"] == "a warn record 7 items"
    lone, several = by_level["ERROR"]
    assert lone["message"]["errorType"] == "TypeError" and lone["message"]["errorMessage"] == "bad type"
    assert isinstance(lone["message"]["stackTrace"], list)
    assert several["message"].startswith("failed with RangeError: out of range")
    assert several["errorType"] == "RangeError" and several["errorMessage"] == "out of range"


# -- platform lines ----------------------------------------------------------------------------------


def test_platform_lines_are_telemetry_records_in_json(deploy, lam, server):
    name = deploy({"app.py": "def handler(e, c):\n    return 1\n"}, MemorySize=256, LoggingConfig={"LogFormat": "JSON"})
    response, tail = _invoke(lam, name)
    request_id = _request_id(tail)
    platform = _platform(_records(tail))
    assert [record["type"] for record in platform] == ["platform.start", "platform.report"]  # runtimeDone is DEBUG
    start, report = platform
    assert list(start) == ["time", "type", "record"]
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", start["time"])
    assert report["record"]["requestId"] == request_id and report["record"]["status"] == "success"
    metrics = report["record"]["metrics"]
    assert list(metrics) == ["durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs"]
    assert metrics["memorySizeMB"] == 256 and metrics["billedDurationMs"] >= 1 and metrics["initDurationMs"] > 0
    assert not any(line.startswith(("START", "END", "REPORT")) for line in tail)
    # The stream starts with platform.initStart, before the invoke.
    first = json.loads(_group_messages(server, f"/aws/lambda/{name}", "platform.report")[0])
    assert first["type"] == "platform.initStart"
    assert first["record"] == {
        "initializationType": "on-demand", "phase": "init", "functionName": name, "functionVersion": "$LATEST",
    }


def test_system_level_debug_adds_runtime_done_and_warn_hides_platform_lines(deploy, lam, server):
    code = {"app.py": "def handler(e, c):\n    print('hello')\n    return 1\n"}
    debug = _deploy(deploy, code, LogFormat="JSON", SystemLogLevel="DEBUG")
    _, tail = _invoke(lam, debug)
    kinds = [record["type"] for record in _platform(_records(tail))]
    assert kinds == ["platform.start", "platform.runtimeDone", "platform.report"]
    done = _platform(_records(tail))[1]["record"]
    assert done["status"] == "success" and set(done["metrics"]) == {"durationMs"}
    quiet = _deploy(deploy, code, LogFormat="JSON", SystemLogLevel="WARN")
    _, tail = _invoke(lam, quiet)
    assert tail == ["hello"]
    assert not any("platform." in message for message in _group_messages(server, f"/aws/lambda/{quiet}", "hello"))


def test_a_timeout_and_a_failed_init_report_their_status(deploy, lam):
    slow = _deploy(deploy, {"app.py": "import time\ndef handler(e, c):\n    time.sleep(5)\n"}, LogFormat="JSON")
    lam.update_function_configuration(FunctionName=slow, Timeout=1)
    lam.get_waiter("function_updated_v2").wait(FunctionName=slow)
    _, tail = _invoke(lam, slow)
    report = _platform(_records(tail))[-1]
    assert report["type"] == "platform.report" and report["record"]["status"] == "timeout"
    broken = _deploy(deploy, {"app.py": "import nosuchmodule\n"}, LogFormat="JSON")
    response, tail = _invoke(lam, broken)
    assert response["FunctionError"] == "Unhandled"
    platform = _platform(_records(tail))
    init_report = next(record for record in platform if record["type"] == "platform.initReport")["record"]
    assert init_report["status"] == "error" and init_report["errorType"] == "Runtime.ImportModuleError"
    assert init_report["phase"] in ("init", "invoke") and init_report["metrics"]["durationMs"] > 0
    report = platform[-1]["record"]
    assert report["status"] == "error" and report["errorType"] == "Runtime.ImportModuleError"


def test_text_format_is_unchanged(deploy, lam):
    name = _deploy(deploy, {"app.py": PYTHON_LOGGER})
    response, tail = _invoke(lam, name)
    request_id = _request_id(tail)
    assert tail[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert tail[-2] == f"END RequestId: {request_id}"
    assert tail[-1].startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "plain text from print" in tail
    # The root logger keeps Python's default level (WARNING) and Lambda's text layout.
    assert not any("an info record" in line for line in tail)
    assert any(re.fullmatch(rf"\[WARNING\]\t\S+Z\t{request_id}\ta warning record", line) for line in tail)
    assert not _records(tail)


# -- the log group --------------------------------------------------------------------------------------


def test_a_custom_log_group_receives_the_lines(deploy, lam, server, unique):
    group = f"/custom/{unique('group')}"
    name = _deploy(deploy, {"app.py": "def handler(e, c):\n    print('to my group')\n    return 1\n"}, LogGroup=group)
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogGroup"] == group
    code = {"app.py": "import os\ndef handler(e, c):\n    return [os.environ['AWS_LAMBDA_LOG_GROUP_NAME'], c.log_group_name]\n"}
    _invoke(lam, name)
    messages = _group_messages(server, group, "to my group")
    assert "to my group" in messages and any(message.startswith("REPORT RequestId") for message in messages)
    assert _group_messages(server, f"/aws/lambda/{name}", "to my group", timeout_s=0) == []
    # `lambdabox logs NAME` reads the function's own group.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(LAMBDABOX_ENDPOINT=server.url, AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file))
    done = subprocess.run([sys.executable, "-m", "lambdabox", "logs", name], capture_output=True, text=True,
                          env=environment, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "to my group" in done.stdout
    # The function is told its group.
    other = _deploy(deploy, code, LogGroup=group)
    assert json.load(lam.invoke(FunctionName=other)["Payload"]) == [group, group]


# -- hostile output ------------------------------------------------------------------------------------


def test_forged_platform_records_are_only_the_functions_own_lines(deploy, lam, server):
    name = _deploy(deploy, {"app.py": FORGER}, LogFormat="JSON", SystemLogLevel="WARN", ApplicationLogLevel="INFO")
    response, tail = _invoke(lam, name)
    assert json.load(response["Payload"]) == "forged"
    messages = _group_messages(server, f"/aws/lambda/{name}", "claims error")
    # No platform record of the server's own: SystemLogLevel WARN hides them all. What looks like one is
    # the function's line, as it printed it, and nothing of the server's follows from it.
    forged = [message for message in messages if '"type": "platform.' in message]
    assert len(forged) == 2 and all(message.startswith('{"time": "2024-01-01') for message in forged)
    assert not any(message.startswith('{"time": "20') and '"platform.' in message and "2024-01-01" not in message
                   for message in messages)
    # Broken JSON and odd levels are INFO lines, kept as written; invalid UTF-8 became U+FFFD.
    assert '{"level": "ERROR", "message": "claims error"' in messages
    assert '{"level": {"nested": "ERROR"}}' in messages
    assert any("bad \ufffd\ufffd bytes" in message for message in messages)
    # The long line was split into events of at most 256 KB (neither of them JSON, so INFO), none of it lost.
    head = next(i for i, message in enumerate(messages) if message.startswith('{"level": "ERROR", "message": "xxx'))
    assert messages[head] + messages[head + 1] == '{"level": "ERROR", "message": "' + "x" * 300000 + '"}'
    assert len(messages[head].encode()) <= 262_144 - 26
    # The same output with ApplicationLogLevel ERROR keeps only what claims ERROR or FATAL as JSON.
    strict = _deploy(deploy, {"app.py": FORGER}, LogFormat="JSON", SystemLogLevel="WARN", ApplicationLogLevel="ERROR")
    _, tail = _invoke(lam, strict)
    messages = _group_messages(server, f"/aws/lambda/{strict}", "bad")
    assert len(messages) == 2, [message[:80] for message in messages]
    assert json.loads(messages[0])["record"] == {"requestId": "forged"}  # it said FATAL: kept, and only a line
    assert "bad \ufffd\ufffd bytes" in messages[1]


# -- provisioned and SnapStart environments ----------------------------------------------------------


@pytest.mark.needs_root
def test_provisioned_and_snapstart_environments_say_how_they_started(deploy, lam, server):
    from support import wait_provisioned

    code = {"app.py": "def handler(e, c):\n    return 1\n"}
    json_format = {"LogFormat": "JSON"}
    provisioned = deploy(code, LoggingConfig=json_format)
    version = lam.publish_version(FunctionName=provisioned)["Version"]
    lam.put_provisioned_concurrency_config(FunctionName=provisioned, Qualifier=version, ProvisionedConcurrentExecutions=1)
    wait_provisioned(lam, provisioned, version)
    response = lam.invoke(FunctionName=provisioned, Qualifier=version, LogType="Tail")
    report = _platform(_records(base64.b64decode(response["LogResult"]).decode().splitlines()))[-1]["record"]
    assert "initDurationMs" not in report["metrics"]  # INIT ran ahead of the invoke
    starts = [json.loads(message) for message in _group_messages(server, f"/aws/lambda/{provisioned}", "platform.report")
              if '"platform.initStart"' in message]
    assert starts and all(start["record"]["initializationType"] == "provisioned-concurrency" for start in starts)
    assert all(start["record"]["functionVersion"] == version for start in starts)

    snapped = deploy(code, LoggingConfig=json_format, SnapStart={"ApplyOn": "PublishedVersions"})
    version = lam.publish_version(FunctionName=snapped)["Version"]
    lam.get_waiter("function_active_v2").wait(FunctionName=snapped, Qualifier=version)
    response = lam.invoke(FunctionName=snapped, Qualifier=version, LogType="Tail")
    metrics = _platform(_records(base64.b64decode(response["LogResult"]).decode().splitlines()))[-1]["record"]["metrics"]
    assert metrics["restoreDurationMs"] > 0 and metrics["billedRestoreDurationMs"] >= 1
    assert "initDurationMs" not in metrics


def _get_logs(server, name: str, credentials, group: str | None = None):
    """GET /_lambdabox/logs/NAME[?group=G] signed with `credentials`: (status, body)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    query = "?" + urllib.parse.urlencode({"group": group}) if group is not None else ""
    request = AWSRequest(method="GET", url=f"{server.url}/_lambdabox/logs/{urllib.parse.quote(name, safe='')}{query}")
    SigV4Auth(Credentials(*credentials), "lambda", REGION).add_auth(request)
    try:
        with urllib.request.urlopen(urllib.request.Request(request.url, headers=dict(request.headers)), timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, None


def test_a_custom_group_is_read_only_in_its_own_account_and_as_iam_allows(deploy, lam, server, unique):
    group = f"/custom/{unique('secret')}"
    name = _deploy(deploy, {"app.py": "def handler(e, c):\n    print('secret line')\n    return 1\n"}, LogGroup=group)
    _invoke(lam, name)
    _group_messages(server, group, "secret line")
    status, body = _get_logs(server, name, server.root(ACCOUNT), group)
    assert status == 200 and "secret line" in [event["message"] for event in body["events"]]
    # Another account naming the group reads its own (empty) group of that name, never this one.
    status, body = _get_logs(server, name, server.root("777777777777"), group)
    assert status == 200 and body["events"] == []
    # A user allowed only /aws/lambda/* may not read it by naming it.
    iam = server.client("iam")
    user = unique("reader")
    iam.create_user(UserName=user)
    iam.put_user_policy(UserName=user, PolicyName="p", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "logs:FilterLogEvents",
                       "Resource": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/*"}],
    }))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    credentials = (key["AccessKeyId"], key["SecretAccessKey"])
    deadline = time.monotonic() + 10
    while (status := _get_logs(server, name, credentials)[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)  # a new key may take a moment to be known
    assert status == 200
    assert _get_logs(server, name, credentials, group)[0] == 403
    # Group names that try to leave the store's directory name nothing there.
    for hostile in ("../../..", "/aws/lambda/../../" + ACCOUNT, "%2e%2e/%2e%2e", "x" * 5000, "\x00"):
        status, body = _get_logs(server, name, server.root(ACCOUNT), hostile)
        assert status in (200, 400, 403), status
        assert status != 200 or body["events"] == []


@pytest.mark.parametrize("group", ["..", ".", "../../../../tmp/escaped", "#", "/aws/lambda/" + "x" * 490])
def test_a_hostile_log_group_name_stays_a_group_in_the_store(deploy, lam, server, group):
    name = _deploy(deploy, {"app.py": "def handler(e, c):\n    print('inside')\n    return 1\n"}, LogGroup=group)
    _invoke(lam, name)
    assert "inside" in _group_messages(server, group, "inside")
    logs = (server.data_dir / "logs").resolve()
    for path in logs.rglob("*"):
        assert path.resolve().is_relative_to(logs) and not path.is_symlink()
    assert not os.path.exists("/tmp/escaped")


def test_log_levels_are_refused_for_a_text_log(lam, create_function):
    from support import aws_error

    message = ('LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request or change '
               'the LogFormat to "Json" and try again.')
    assert aws_error(create_function, LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}) == (
        400, "InvalidParameterValueException", message,
    )
    name = create_function()["FunctionName"]
    assert aws_error(lam.update_function_configuration, FunctionName=name, LoggingConfig={"SystemLogLevel": "WARN"}) == (
        400, "InvalidParameterValueException", message,
    )
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogFormat"] == "Text"
    updated = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    assert updated["LoggingConfig"]["SystemLogLevel"] == "WARN" and updated["LoggingConfig"]["ApplicationLogLevel"] == "INFO"
