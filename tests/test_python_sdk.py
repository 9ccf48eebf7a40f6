"""The Python runtimes include boto3 as AWS's do, behind the function's and layers' own copies, and nothing of the host's."""

from __future__ import annotations

import os
import statistics
import time

import pytest

from lambdabox.model import runtimes
from lambdabox.runtime import sdk
from lambdabox.runtime.catalog import RuntimeCatalog
from support import ACCOUNT, make_zip

#: The Python runtimes this host can run; CI has them all (scripts/setup.sh installed their SDK).
HOST_PYTHONS = [runtime for runtime in runtimes.PYTHON if RuntimeCatalog().interpreter(runtime) is not None]

WHO_AM_I = {
    "app.py": """
import boto3, botocore, sys

def handler(event, context):
    arn = boto3.client("sts").get_caller_identity()["Arn"]
    return {"arn": arn, "boto3": boto3.__version__, "from": boto3.__file__, "path": sys.path}
"""
}

#: A package's own boto3, which wins over the runtime's.
BUNDLED = {
    "boto3/__init__.py": "__version__ = '99.0.0'\n",
    "app.py": "import boto3\n\ndef handler(event, context):\n    return boto3.__version__\n",
}


@pytest.mark.parametrize("runtime", HOST_PYTHONS)
def test_boto3_is_included_and_calls_lambdabox_as_the_role(deploy, invoke, role, runtime):
    if not sdk.installed(sdk.default_root(), runtime):
        pytest.fail(f"{runtime}'s SDK is not installed: run scripts/setup.sh")
    name = deploy(WHO_AM_I, runtime=runtime, Timeout=30, MemorySize=256)
    answer = invoke(name).body
    assert answer["arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.rsplit('/', 1)[1]}/{name}"
    assert answer["boto3"] == sdk.BOTO3_VERSIONS[runtime]
    site = f"/var/lang/lib/{runtime}/site-packages"
    assert answer["from"] == f"{site}/boto3/__init__.py"
    # Lambda's order: the package, the layers, the runtime's SDK, then the standard library; nothing of the host's.
    assert answer["path"][:4] == ["/var/task", f"/opt/python/lib/{runtime}/site-packages", "/opt/python", site]
    assert not [entry for entry in answer["path"][4:] if "-packages" in entry], answer["path"]
    assert any(entry.endswith(f"/{runtime}") for entry in answer["path"][4:]), answer["path"]


@pytest.mark.parametrize("runtime", HOST_PYTHONS[:1] + HOST_PYTHONS[-1:])
def test_a_packaged_boto3_wins_over_the_runtimes(deploy, invoke, runtime):
    assert invoke(deploy(BUNDLED, runtime=runtime)).body == "99.0.0"


def test_a_layers_boto3_wins_over_the_runtimes(lam, deploy, invoke, unique):
    layer = lam.publish_layer_version(
        LayerName=unique("fake-boto3"), Content={"ZipFile": make_zip({"python/boto3/__init__.py": "__version__ = '98.0.0'\n"})}
    )["LayerVersionArn"]
    code = {"app.py": BUNDLED["app.py"]}
    assert invoke(deploy(code, runtime="python3.12", Layers=[layer])).body == "98.0.0"


def test_the_hosts_dist_packages_are_not_importable(deploy, invoke):
    if not os.path.isdir("/usr/lib/python3/dist-packages/yaml") or "python3.11" not in HOST_PYTHONS:
        pytest.skip("this host has no Debian python3-yaml for python3.11")
    name = deploy({"app.py": "import yaml\n\ndef handler(event, context):\n    return 'imported'\n"}, runtime="python3.11")
    failed = invoke(name)
    assert failed.error == "Unhandled"
    assert failed.body["errorType"] == "Runtime.ImportModuleError"
    assert failed.body["errorMessage"] == "Unable to import module 'app': No module named 'yaml'"


def test_cold_start_with_boto3(lam, deploy, invoke, unique):
    """Cold starts of hello world and of a function that imports boto3 (printed; run with -s to see them)."""
    hello = deploy({"app.py": "def handler(event, context):\n    return 'hi'\n"}, MemorySize=1024)
    sdk_user = deploy(
        {"app.py": "import boto3\nsts = boto3.client('sts')\n\ndef handler(event, context):\n    return 'hi'\n"},
        MemorySize=1024,
    )

    def cold(name: str) -> float:
        # A new configuration revision: the next invoke starts a fresh environment.
        lam.update_function_configuration(FunctionName=name, Description=unique("cold"))
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        started = time.perf_counter()
        assert invoke(name).body == "hi"
        return (time.perf_counter() - started) * 1000

    importer = deploy({"app.py": "import boto3\n\ndef handler(event, context):\n    return 'hi'\n"}, MemorySize=1024)
    hello_ms, import_ms, client_ms = (statistics.median(cold(name) for _ in range(5)) for name in (hello, importer, sdk_user))
    print(f"\ncold start at 1024 MB, median of 5: hello world {hello_ms:.0f} ms, import boto3 {import_ms:.0f} ms, "
          f"import boto3 and make a client {client_ms:.0f} ms")
    assert client_ms < 5000
