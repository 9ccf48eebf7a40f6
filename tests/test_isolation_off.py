"""Without isolation (a host that allows none, or --isolation none) functions still run."""

from __future__ import annotations

import json

import pytest

from support import Server, make_zip

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)


@pytest.fixture
def unisolated(tmp_path):
    started = Server(tmp_path / "data", extra_args=["--isolation", "none"]).start()
    yield started
    started.stop()


def test_functions_run_unisolated_with_a_loud_warning(unisolated, unique):
    assert "WITHOUT ISOLATION" in unisolated.log.read_text()
    iam, lam = unisolated.client("iam"), unisolated.client("lambda")
    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    layer = lam.publish_layer_version(
        LayerName=unique("layer"), Content={"ZipFile": make_zip({"python/helper.py": "WORD = 'layered'\n"})}
    )["LayerVersionArn"]
    code = {
        "app.py": "import os, helper\ndef handler(event, context):\n"
        "    return {'word': helper.WORD, 'root': os.environ['LAMBDA_TASK_ROOT'], 'n': event['n']}\n"
    }
    for runtime, handler, files in (
        ("python3.11", "app.handler", code),
        ("nodejs20.x", "index.handler", {"index.js": "exports.handler = async (e) => ({ n: e.n });\n"}),
    ):
        name = unique("plain")
        lam.create_function(
            FunctionName=name, Runtime=runtime, Role=role, Handler=handler, Code={"ZipFile": make_zip(files)},
            Layers=[layer] if runtime.startswith("python") else [],
        )
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
        body = json.loads(lam.invoke(FunctionName=name, Payload=b'{"n": 7}')["Payload"].read())
        assert body["n"] == 7
        if runtime.startswith("python"):
            assert body["word"] == "layered"
            assert body["root"].startswith(str(unisolated.data_dir))
