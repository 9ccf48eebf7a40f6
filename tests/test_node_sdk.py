"""The Node.js runtimes run on their own Node major, with AWS SDK v3 included as AWS's are; the sandbox user exists."""

from __future__ import annotations

import statistics
import time

import pytest

from lambdabox.model import runtimes
from lambdabox.runtime import nodes, sdk
from support import ACCOUNT, make_zip

#: The Node runtimes setup installed here; CI has them all (scripts/setup.sh installs them from npm).
INSTALLED = [runtime for runtime in runtimes.NODEJS if nodes.node_installed(sdk.default_root(), runtime)]

#: A function that calls Lambdabox with the runtime's SDK, as it comes: no endpoint, region or credentials given.
WHO_AM_I_CJS = """
const { LambdaClient, GetFunctionCommand } = require('@aws-sdk/client-lambda');
const { STSClient, GetCallerIdentityCommand } = require('@aws-sdk/client-sts');
const os = require('os');
const client = new LambdaClient({});

exports.handler = async (event, context) => {
  const found = await client.send(new GetFunctionCommand({ FunctionName: context.functionName }));
  const me = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  return {
    node: process.version, execPath: process.execPath, arn: found.Configuration.FunctionArn, caller: me.Arn,
    from: require.resolve('@aws-sdk/client-lambda'), home: os.homedir(), user: os.userInfo().username,
    env: { HOME: process.env.HOME ?? null, PATH: process.env.PATH, LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH,
           NODE_PATH: process.env.NODE_PATH, LANG: process.env.LANG, TZ: process.env.TZ },
  };
};
"""

WHO_AM_I_ESM = """
import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
const client = new LambdaClient({});

export const handler = async () => {
  const listed = await client.send(new ListFunctionsCommand({}));
  return { node: process.version, listed: listed.Functions.length };
};
"""


#: What the functions' role may do: read functions.
MAY_READ = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["lambda:GetFunction","lambda:ListFunctions"],"Resource":"*"}]}'


@pytest.fixture
def reader(iam, role) -> str:
    """The execution role, allowed to read functions."""
    iam.put_role_policy(RoleName=role.rsplit("/", 1)[1], PolicyName="may-read", PolicyDocument=MAY_READ)
    return role


def needs(runtime: str) -> None:
    if runtime not in INSTALLED:
        pytest.fail(f"{runtime}'s Node is not installed: run scripts/setup.sh")
    if not nodes.sdk_installed(sdk.default_root(), runtime):
        pytest.fail(f"{runtime}'s SDK is not installed: run scripts/setup.sh")


@pytest.mark.parametrize("runtime", runtimes.NODEJS)
def test_the_sdk_calls_lambdabox_as_the_role_on_the_runtimes_own_node(deploy, invoke, reader, runtime):
    needs(runtime)
    name = deploy({"index.js": WHO_AM_I_CJS}, runtime=runtime, handler="index.handler", Timeout=30, MemorySize=256)
    answer = invoke(name).body
    assert "node" in answer, answer
    assert answer["node"] == f"v{nodes.NODE_VERSIONS[runtime]}"
    assert answer["execPath"] == "/var/lang/bin/node"
    assert answer["arn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    assert answer["caller"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{reader.rsplit('/', 1)[1]}/{name}"
    assert answer["from"] == "/var/runtime/node_modules/@aws-sdk/client-lambda/dist-cjs/index.js"
    # The sandbox user has an account, as sbx_user1051 has on AWS; HOME is not set, as there.
    assert (answer["home"], answer["user"]) == ("/home/sbx_user1051", "sbx_user1051")
    major = nodes.major(runtime)
    assert answer["env"] == {
        "HOME": None,
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        "NODE_PATH": f"/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:"
                     "/var/runtime:/var/task",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }


@pytest.mark.parametrize("runtime", runtimes.NODEJS)
def test_an_es_module_imports_the_runtimes_sdk(deploy, invoke, reader, runtime):
    needs(runtime)
    name = deploy({"app.mjs": WHO_AM_I_ESM}, runtime=runtime, handler="app.handler", Timeout=30, MemorySize=256)
    answer = invoke(name).body
    assert "node" in answer, answer
    assert answer["node"] == f"v{nodes.NODE_VERSIONS[runtime]}"
    assert answer["listed"] >= 1
