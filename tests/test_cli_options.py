"""`lambdabox` options the README promises that the other CLI tests leave out: deploy --layer and --role,
logs --follow and --since, and invocations get --json. Against a real server, as an operator runs them."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

from support import make_zip


def lambdabox(server, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lambdabox", *arguments], capture_output=True, text=True,
                          env=_environment(server), timeout=60)


def _environment(server) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    environment.update(LAMBDABOX_ENDPOINT=server.url, AWS_SHARED_CREDENTIALS_FILE=str(server.credentials_file))
    return environment


def test_deploy_with_a_layer_and_a_role(server, lam, role, unique, tmp_path):
    layer = lam.publish_layer_version(
        LayerName=unique("greeting"), Content={"ZipFile": make_zip({"python/greeting.py": "WORD = 'from the layer'\n"})}
    )["LayerVersionArn"]
    (tmp_path / "app.py").write_text("import greeting\n\ndef handler(event, context):\n    return greeting.WORD\n")
    name = unique("layered")
    done = lambdabox(server, "deploy", str(tmp_path), "--name", name, "--runtime", "python3.12",
                     "--handler", "app.handler", "--layer", layer, "--role", role)
    assert done.returncode == 0, done.stderr
    config = lam.get_function_configuration(FunctionName=name)
    assert config["Role"] == role
    assert [entry["Arn"] for entry in config["Layers"]] == [layer]
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"from the layer"'


def test_logs_follow_prints_new_lines_as_they_come(server, deploy, lam):
    name = deploy({"app.py": "def handler(event, context):\n    print('followed', event['n'])\n"})
    follower = subprocess.Popen([sys.executable, "-m", "lambdabox", "logs", name, "--follow"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_environment(server))
    try:
        seen = ""
        for number in (1, 2):
            lam.invoke(FunctionName=name, Payload=json.dumps({"n": number}).encode())
            deadline = time.monotonic() + 10
            while f"followed {number}" not in seen:
                assert time.monotonic() < deadline, f"--follow showed no new line in 10 s: {seen!r}"
                ready, _, _ = select.select([follower.stdout], [], [], 0.2)
                if ready:
                    seen += os.read(follower.stdout.fileno(), 65536).decode()
        assert follower.poll() is None  # still following
        assert seen.count("followed 1") == 1  # nothing printed twice
    finally:
        follower.kill()
        follower.wait()


def test_logs_since_takes_minutes_back(server, deploy, lam):
    name = deploy({"app.py": "def handler(event, context):\n    print('recent line')\n"})
    lam.invoke(FunctionName=name, Payload=b"{}")
    deadline = time.monotonic() + 10
    while "recent line" not in (done := lambdabox(server, "logs", name, "--since", "5")).stdout:
        assert time.monotonic() < deadline, done.stdout + done.stderr
        time.sleep(0.2)
    assert done.returncode == 0
    refused = lambdabox(server, "logs", name, "--since", "soon")
    assert refused.returncode == 2 and "--since" in refused.stderr


def test_invocations_get_json(server, deploy, lam):
    name = deploy({"app.py": "def handler(event, context):\n    return 'async'\n"})
    request_id = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["ResponseMetadata"]["RequestId"]
    deadline = time.monotonic() + 30
    while True:
        done = lambdabox(server, "invocations", "get", request_id, "--json")
        assert done.returncode == 0, done.stderr
        record = json.loads(done.stdout)
        if record["status"] == "succeeded" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert record["id"] == request_id and record["function"] == name and record["status"] == "succeeded"
    assert [entry["result"] for entry in record["history"]] == ["Success"]
    missing = lambdabox(server, "invocations", "get", "no-such-request", "--json")
    assert missing.returncode == 1 and missing.stderr.strip() == "lambdabox invocations: no asynchronous invocation no-such-request"
