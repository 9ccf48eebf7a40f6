"""Node.js, custom (provided) runtimes, awslambdaric, several Pythons, and layers."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
import io
import stat

import pytest

from support import make_zip

from lambdabox.model import runtimes
from lambdabox.runtime.catalog import RuntimeCatalog


def executable_zip(files: dict[str, str | bytes], executables: set[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            entry = zipfile.ZipInfo(name)
            entry.create_system = 3
            mode = 0o755 if name in executables else 0o644
            entry.external_attr = (stat.S_IFREG | mode) << 16
            archive.writestr(entry, content)
    return buffer.getvalue()


@pytest.mark.parametrize("runtime", ["nodejs18.x", "nodejs20.x", "nodejs22.x"])
def test_node_async_handler(deploy, invoke, runtime):
    code = {"index.js": "exports.handler = async (event, context) => ({ got: event, fn: context.functionName });\n"}
    name = deploy(code, runtime=runtime, handler="index.handler")
    assert invoke(name, {"a": 1}).body == {"got": {"a": 1}, "fn": name}


def test_node_callback_handler(deploy, invoke):
    code = {"index.js": "exports.handler = (event, context, callback) => { callback(null, { twice: event.n * 2 }); };\n"}
    name = deploy(code, runtime="nodejs20.x", handler="index.handler")
    assert invoke(name, {"n": 21}).body == {"twice": 42}


def test_node_es_module_and_errors(deploy, invoke):
    code = {
        "app.mjs": "export const handler = async (event) => { if (event.fail) throw new TypeError('bad input'); return 'esm'; };\n"
    }
    name = deploy(code, runtime="nodejs20.x", handler="app.handler")
    assert invoke(name, {}).body == "esm"
    failed = invoke(name, {"fail": True})
    assert failed.error == "Unhandled"
    assert failed.body["errorType"] == "TypeError"
    assert failed.body["errorMessage"] == "bad input"


@pytest.mark.parametrize("runtime", ["provided.al2", "provided.al2023"])
def test_provided_runtime_with_a_shell_bootstrap(lam, role, unique, invoke, runtime):
    bootstrap = """#!/bin/sh
set -eu
while true; do
  headers=$(mktemp)
  event=$(curl -sS -D "$headers" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  request_id=$(grep -i '^Lambda-Runtime-Aws-Request-Id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
  curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/${request_id}/response" \\
       -d "{\\"shell\\": true, \\"event\\": ${event}, \\"handler\\": \\"${_HANDLER}\\"}" >/dev/null
done
"""
    name = unique("shell")
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role=role, Handler="my.handler",
        Code={"ZipFile": executable_zip({"bootstrap": bootstrap}, {"bootstrap"})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    assert invoke(name, {"x": 1}).body == {"shell": True, "event": {"x": 1}, "handler": "my.handler"}
    assert invoke(name, {"x": 2}).body["event"] == {"x": 2}


def test_awslambdaric_serves_as_a_custom_runtime(lam, role, unique, invoke, tmp_path):
    target = tmp_path / "package"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "--only-binary", ":all:",
         "--python-version", "3.11", "--implementation", "cp", "awslambdaric"],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (target / "app.py").write_text("def handler(event, context):\n    return {'ric': event, 'id': context.aws_request_id}\n")
    (target / "bootstrap").write_text("#!/bin/sh\ncd /var/task\nexec /usr/bin/python3.11 -m awslambdaric \"$_HANDLER\"\n")
    files = {str(path.relative_to(target)): path.read_bytes() for path in target.rglob("*") if path.is_file()}
    name = unique("ric")
    lam.create_function(
        FunctionName=name, Runtime="provided.al2023", Role=role, Handler="app.handler", MemorySize=256,
        Environment={"Variables": {"PYTHONPATH": "/var/task"}},
        Code={"ZipFile": executable_zip(files, {"bootstrap"})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    first = invoke(name, {"via": "awslambdaric"})
    assert first.error is None, first.raw
    assert first.body["ric"] == {"via": "awslambdaric"}
    assert first.body["id"] == first.headers["x-amzn-requestid"]
    failed_code = invoke(name, {"via": "again"})
    assert failed_code.body["ric"] == {"via": "again"}


#: Every Python runtime this host can run (CI's host runs them all but python3.14, which the catalog refuses).
HOST_PYTHONS = [runtime for runtime in runtimes.PYTHON if RuntimeCatalog().interpreter(runtime) is not None]


def test_the_host_runs_the_python_runtimes_ci_expects():
    if os.environ.get("CI"):
        assert {"python3.9", "python3.10", "python3.11", "python3.12", "python3.13"} <= set(HOST_PYTHONS)


@pytest.mark.parametrize("runtime", HOST_PYTHONS)
def test_python_versions(deploy, invoke, runtime):
    name = deploy({"app.py": "import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n"}, runtime=runtime)
    major, minor = runtime.removeprefix("python").split(".")
    assert invoke(name, {}).body == [int(major), int(minor)]


def test_layers_are_importable_and_on_path(lam, deploy, invoke, unique):
    python_layer = lam.publish_layer_version(
        LayerName=unique("pylayer"),
        Content={"ZipFile": make_zip({"python/shared_lib.py": "VALUE = 'from layer one'\n"})},
    )["LayerVersionArn"]
    site_layer = lam.publish_layer_version(
        LayerName=unique("sitelayer"),
        Content={
            "ZipFile": executable_zip(
                {
                    "python/lib/python3.12/site-packages/sitepkg/__init__.py": "VALUE = 'from site-packages'\n",
                    "python/shared_lib.py": "VALUE = 'from layer two'\n",
                    "bin/layer-tool": "#!/bin/sh\necho tool-ran\n",
                },
                {"bin/layer-tool"},
            )
        },
    )["LayerVersionArn"]
    code = {
        "app.py": """
import shared_lib, sitepkg, subprocess
def handler(event, context):
    return [shared_lib.VALUE, sitepkg.VALUE, subprocess.run(["layer-tool"], capture_output=True, text=True).stdout.strip()]
"""
    }
    name = deploy(code, Layers=[python_layer, site_layer])
    assert invoke(name, {}).body == ["from layer two", "from site-packages", "tool-ran"]


def test_node_layer_modules_resolve(lam, deploy, invoke, unique):
    layer = lam.publish_layer_version(
        LayerName=unique("nodelayer"),
        Content={"ZipFile": make_zip({"nodejs/node_modules/greeter/index.js": "module.exports = () => 'from node layer';\n"})},
    )["LayerVersionArn"]
    code = {"index.js": "const greet = require('greeter');\nexports.handler = async () => greet();\n"}
    name = deploy(code, runtime="nodejs20.x", handler="index.handler", Layers=[layer])
    assert invoke(name, {}).body == "from node layer"
