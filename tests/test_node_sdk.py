"""The Node.js runtimes run on their own Node major, with AWS SDK v3 included as AWS's are; the sandbox user exists."""

from __future__ import annotations

import json
import statistics
import time

import pytest

from lambdabox.model import runtimes
from lambdabox.runtime import nodes, sdk
from support import ACCOUNT, Server, make_zip
from test_runtimes import executable_zip

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},'
    '"Action":"sts:AssumeRole"}]}'
)

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
@pytest.mark.needs_root
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


def fake_client(version: str) -> dict[str, str]:
    """A package's or a layer's own @aws-sdk/client-lambda, which says which it is."""
    return {
        "package.json": f'{{"name": "@aws-sdk/client-lambda", "version": "{version}", "main": "index.js"}}\n',
        "index.js": f"exports.version = '{version}';\n",
    }


def test_a_bundled_sdk_wins_over_the_runtimes_in_commonjs_and_es_modules(deploy, invoke):
    files = {f"node_modules/@aws-sdk/client-lambda/{name}": text for name, text in fake_client("99.0.0").items()}
    files["index.js"] = "exports.handler = async () => require('@aws-sdk/client-lambda').version;\n"
    files["app.mjs"] = "import sdk from '@aws-sdk/client-lambda';\nexport const handler = async () => sdk.version;\n"
    assert invoke(deploy(files, runtime="nodejs22.x", handler="index.handler")).body == "99.0.0"
    assert invoke(deploy(files, runtime="nodejs22.x", handler="app.handler")).body == "99.0.0"


@pytest.mark.parametrize("runtime", ["nodejs20.x", "nodejs24.x"])
def test_a_layers_sdk_wins_over_the_runtimes_and_a_major_specific_one_first(lam, deploy, invoke, unique, runtime):
    needs(runtime)
    files = {f"nodejs/node_modules/@aws-sdk/client-lambda/{name}": text for name, text in fake_client("98.0.0").items()}
    shared = lam.publish_layer_version(LayerName=unique("sdk"), Content={"ZipFile": make_zip(files)})["LayerVersionArn"]
    code = {
        "index.js": "exports.handler = async () => require('@aws-sdk/client-lambda').version;\n",
        "app.mjs": "import sdk from '@aws-sdk/client-lambda';\nexport const handler = async () => sdk.version;\n",
    }
    for handler in ("index.handler", "app.handler"):
        assert invoke(deploy(code, runtime=runtime, handler=handler, Layers=[shared])).body == "98.0.0"
    major = nodes.major(runtime)
    files = {f"nodejs/node{major}/node_modules/@aws-sdk/client-lambda/{name}": text
             for name, text in fake_client("97.0.0").items()}
    own = lam.publish_layer_version(LayerName=unique("sdk"), Content={"ZipFile": make_zip(files)})["LayerVersionArn"]
    for handler in ("index.handler", "app.handler"):
        assert invoke(deploy(code, runtime=runtime, handler=handler, Layers=[shared, own])).body == "97.0.0"


def test_an_es_module_still_fails_plainly_on_a_package_nowhere(deploy, invoke):
    name = deploy({"app.mjs": "import 'no-such-package';\nexport const handler = async () => 1;\n"},
                  runtime="nodejs20.x", handler="app.handler")
    failed = invoke(name)
    assert failed.body["errorType"] == "Runtime.ImportModuleError"
    assert "Cannot find package 'no-such-package'" in failed.body["errorMessage"]


#: A hostile function: it tries to change the sandbox's accounts, the runtime's Node and its SDK.
TAMPER = """
const fs = require('fs');
exports.handler = async () => {
  const tried = {};
  for (const file of ['/etc/passwd', '/etc/group', '/var/lang/bin/node',
                      '/var/runtime/node_modules/@aws-sdk/client-lambda/package.json']) {
    try { fs.appendFileSync(file, 'evil:x:0:0::/:/bin/sh\\n'); tried[file] = 'written'; } catch (e) { tried[file] = e.code; }
  }
  for (const [verb, act] of [['chmod', () => fs.chmodSync('/etc/passwd', 0o666)],
                             ['rename', () => fs.renameSync('/etc/passwd', '/etc/passwd.old')],
                             ['unlink', () => fs.unlinkSync('/etc/passwd')],
                             ['stage', () => fs.mkdirSync('/.accounts')]]) {
    try { act(); tried[verb] = 'done'; } catch (e) { tried[verb] = e.code; }
  }
  return { tried, passwd: fs.readFileSync('/etc/passwd', 'utf8'), group: fs.readFileSync('/etc/group', 'utf8'),
           root: fs.readdirSync('/').sort() };
};
"""


@pytest.mark.needs_root
def test_the_tenant_cannot_change_its_accounts_node_or_sdk(deploy, invoke):
    answer = invoke(deploy({"index.js": TAMPER}, runtime="nodejs22.x", handler="index.handler")).body
    assert set(answer["tried"].values()) <= {"EROFS", "EPERM", "EACCES", "EBUSY"}, answer["tried"]
    # Only the sandbox's own accounts: nothing of the host's.
    assert answer["passwd"] == (
        "root:x:0:0:root:/root:/bin/bash\n"
        "nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin\n"
        "sbx_user1051:x:993:990::/home/sbx_user1051:/sbin/nologin\n"
    )
    assert answer["group"] == "root:x:0:\nnobody:x:65534:\nsbx_user1051:x:990:\n"
    assert ".accounts" not in answer["root"]
    # The next environment is as clean (each sandbox writes its own).
    answer = invoke(deploy({"index.js": TAMPER}, runtime="nodejs22.x", handler="index.handler")).body
    assert "evil" not in answer["passwd"]


@pytest.mark.needs_root
def test_python_finds_its_user_too(deploy, invoke):
    code = {
        "app.py": "import os, pwd, grp\n\ndef handler(event, context):\n"
        "    me = pwd.getpwuid(os.getuid())\n"
        "    return [me.pw_name, me.pw_dir, grp.getgrgid(os.getgid()).gr_name, os.path.expanduser('~'),\n"
        "            os.environ.get('HOME'), os.environ['PATH'], os.environ['LD_LIBRARY_PATH']]\n"
    }
    name, home, group, expanded, variable, path, libraries = invoke(deploy(code, runtime="python3.12")).body
    assert (name, home, group, expanded, variable) == (
        "sbx_user1051", "/home/sbx_user1051", "sbx_user1051", "/home/sbx_user1051", None
    )
    assert path.startswith("/var/lang/bin:") and path.endswith(":/usr/local/bin:/usr/bin/:/bin:/opt/bin")
    assert libraries == "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"


@pytest.mark.needs_root
def test_a_functions_own_path_lang_and_node_path_win(deploy, invoke):
    code = {"index.js": "exports.handler = async () => [process.env.PATH, process.env.LANG, process.env.NODE_PATH];\n"}
    variables = {"PATH": "/var/task/bin:/usr/bin", "LANG": "C.UTF-8", "NODE_PATH": "/var/task/lib"}
    name = deploy(code, runtime="nodejs22.x", handler="index.handler", Environment={"Variables": variables})
    assert invoke(name).body == ["/var/task/bin:/usr/bin", "C.UTF-8", "/var/task/lib"]


def test_node_runs_with_lambdas_flags_and_node_options_turns_a_feature_back_on(deploy, invoke):
    code = {"index.js": "exports.handler = async () => [process.execArgv, process.features.require_module];\n"}
    name = deploy(code, runtime="nodejs22.x", handler="index.handler")
    assert invoke(name).body == [["--no-experimental-require-module", "--no-experimental-detect-module"], False]
    name = deploy(code, runtime="nodejs22.x", handler="index.handler",
                  Environment={"Variables": {"NODE_OPTIONS": "--experimental-require-module"}})
    assert invoke(name).body == [["--no-experimental-detect-module"], True]
    name = deploy(code, runtime="nodejs24.x", handler="index.handler")
    assert invoke(name).body[0] == []


@pytest.fixture
def bare_host(tmp_path):
    """A server whose runtimes directory holds nothing: no Node is installed."""
    (tmp_path / "runtimes").mkdir()
    started = Server(tmp_path / "data", extra_env={"LAMBDABOX_RUNTIMES_DIR": str(tmp_path / "runtimes")}).start()
    yield started
    started.stop()


def test_a_runtime_whose_node_is_not_installed_is_refused_at_create(bare_host, unique):
    iam, lam = bare_host.client("iam"), bare_host.client("lambda")
    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as refused:
        lam.create_function(FunctionName=unique("fn"), Runtime="nodejs22.x", Role=role, Handler="index.handler",
                            Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1;\n"})})
    assert refused.value.response["Error"]["Message"] == (
        "The runtime nodejs22.x is not available on this Lambdabox host: Node.js 22 is not installed "
        "(scripts/setup.sh installs it from npm)."
    )
    assert lam.list_functions()["Functions"] == []


@pytest.fixture
def unisolated(tmp_path):
    started = Server(tmp_path / "data", extra_args=["--isolation", "none"]).start()
    yield started
    started.stop()


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs24.x"])
def test_without_isolation_each_runtime_runs_its_own_node_and_sdk(unisolated, unique, runtime):
    needs(runtime)
    iam, lam = unisolated.client("iam"), unisolated.client("lambda")
    role = iam.create_role(RoleName=unique("r"), AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    code = {"index.js": "exports.handler = async () => [process.version, require.resolve('@aws-sdk/client-lambda')];\n"}
    name = unique("plain")
    lam.create_function(FunctionName=name, Runtime=runtime, Role=role, Handler="index.handler",
                        Code={"ZipFile": make_zip(code)})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    version, sdk_file = json.loads(lam.invoke(FunctionName=name)["Payload"].read())
    assert version == f"v{nodes.NODE_VERSIONS[runtime]}"
    assert sdk_file.startswith(str(nodes.sdk_dir(sdk.default_root(), runtime)))


def test_cold_start_of_each_node(lam, deploy, invoke, unique):
    """Cold starts on each Node major of hello world, as CommonJS and as an ES module, and of one that makes an SDK
    client (printed; run with -s to see them)."""
    functions = {
        "hello": ({"index.js": "exports.handler = async () => 'hi';\n"}, "index.handler"),
        "hello .mjs": ({"app.mjs": "export const handler = async () => 'hi';\n"}, "app.handler"),
        "LambdaClient": ({"index.js": "const { LambdaClient } = require('@aws-sdk/client-lambda');\n"
                          "const client = new LambdaClient({});\nexports.handler = async () => 'hi';\n"}, "index.handler"),
    }
    lines = []
    for runtime in INSTALLED:
        timings = {}
        for label, (files, handler) in functions.items():
            name = deploy(files, runtime=runtime, handler=handler, MemorySize=1024)
            samples = []
            for _ in range(5):
                # A new configuration revision: the next invoke starts a fresh environment.
                lam.update_function_configuration(FunctionName=name, Description=unique("cold"))
                lam.get_waiter("function_updated_v2").wait(FunctionName=name)
                started = time.perf_counter()
                assert invoke(name).body == "hi"
                samples.append((time.perf_counter() - started) * 1000)
            timings[label] = statistics.median(samples)
        lines.append(f"{runtime}: " + ", ".join(f"{label} {ms:.0f} ms" for label, ms in timings.items()))
        assert all(ms < 5000 for ms in timings.values())
    print("\ncold start at 1024 MB, median of 5:\n" + "\n".join(lines))


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs20.x", "nodejs24.x"])
def test_an_es_modules_resolve_hooks_do_not_keep_the_event_loop_busy(deploy, invoke, runtime):
    """A callback is answered, and a handler that does neither settles with null, once the event loop empties."""
    needs(runtime)
    code = {
        "late.mjs": "export const handler = (event, context, callback) => { setTimeout(() => callback(null, 'late'), 10); };\n",
        "quiet.mjs": "export const handler = (event) => { setTimeout(() => {}, 10); };\n",
    }
    assert invoke(deploy(code, runtime=runtime, handler="late.handler", Timeout=5)).body == "late"
    assert invoke(deploy(code, runtime=runtime, handler="quiet.handler", Timeout=5)).body is None


@pytest.mark.needs_root
def test_a_provided_runtime_has_awss_variables_without_var_lang_and_knows_its_user(lam, role, unique, invoke):
    bootstrap = """#!/bin/sh
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
headers=$(mktemp)
curl -sS -D "$headers" "$api/next" >/dev/null
id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
curl -sS -X POST "$api/$id/response" -d "[\\"$PATH\\", \\"$LD_LIBRARY_PATH\\", \\"$(id -un)\\", \\"${HOME:-unset}\\"]" >/dev/null
sleep 5
"""
    name = unique("provided")
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=role, Handler="x",
                        Code={"ZipFile": executable_zip({"bootstrap": bootstrap}, {"bootstrap"})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert invoke(name).body == [
        "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        "sbx_user1051",
        "unset",
    ]
