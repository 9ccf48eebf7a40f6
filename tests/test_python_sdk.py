"""The Python runtimes include boto3 as AWS's do, behind the function's and layers' own copies, and nothing of the host's."""

from __future__ import annotations

import os

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
@pytest.mark.needs_root
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


#: A handler that tells whether boto3 was imported before it was, and how a failed call's traceback reads.
AHEAD = {
    "app.py": """
import sys
AHEAD = sorted(name for name in ("boto3", "botocore") if name in sys.modules)
import boto3, botocore, traceback

def handler(event, context):
    try:
        boto3.client("lambda").get_function(FunctionName="no-such-function-here")
    except botocore.exceptions.ClientError:
        told = traceback.format_exc()
    return {"ahead": AHEAD, "botocore": botocore.__file__, "data": botocore.BOTOCORE_ROOT, "traceback": told}
"""
}


@pytest.mark.parametrize("runtime", HOST_PYTHONS[:1] + HOST_PYTHONS[-1:])
@pytest.mark.needs_root
def test_the_zygote_imports_boto3_ahead_as_if_from_the_runtime_directory(deploy, invoke, runtime):
    """boto3 is imported once, by the runtime's zygote, from the host's copy; in the sandbox every trace of it
    names the runtime directory, as if imported there: files, botocore's data path, tracebacks with their lines."""
    answer = invoke(deploy(AHEAD, runtime=runtime, Timeout=30, MemorySize=256)).body
    site = f"/var/lang/lib/{runtime}/site-packages"
    assert answer["ahead"] == ["boto3", "botocore"]
    assert answer["botocore"] == f"{site}/botocore/__init__.py"
    assert answer["data"] == f"{site}/botocore"
    told = answer["traceback"]
    assert f'File "{site}/botocore/client.py"' in told, told
    assert "raise error_class(parsed_response, operation_name)" in told  # the source line, read from the sandbox's copy
    assert "botocore.exceptions.ClientError: An error occurred (AccessDeniedException)" in told
    assert str(sdk.default_root()) not in told and "/.venv/" not in told


@pytest.mark.needs_root
def test_a_packaged_copy_of_any_boto3_dependency_makes_them_all_import_afresh(deploy, invoke):
    """A function's own six.py comes first on Lambda's search path, so boto3's dateutil must use it: the
    modules the zygote imported ahead are dropped, and imported again in the function's order."""
    runtime = "python3.12"
    own_six = (sdk.site_dir(sdk.default_root(), runtime) / "six.py").read_text() + "\nMARK = 'the function'\n"
    code = {
        "six.py": own_six,
        "app.py": """
import sys
AHEAD = sorted(name for name in ("boto3", "botocore", "six") if name in sys.modules)
import boto3, six
import dateutil.tz.tz as tz

def handler(event, context):
    return {"ahead": AHEAD, "mark": six.MARK, "shared": tz.six is six, "boto3": boto3.__file__}
""",
    }
    answer = invoke(deploy(code, runtime=runtime)).body
    assert answer == {
        "ahead": [], "mark": "the function", "shared": True,
        "boto3": f"/var/lang/lib/{runtime}/site-packages/boto3/__init__.py",
    }


def test_environments_forked_from_one_zygote_draw_their_own_random_numbers(lam, deploy, invoke, unique):
    """The zygote imported `random` (boto3 needs it) before any sandbox was forked from it: each sandbox must
    still have a state of its own, or one tenant could predict another's draws."""
    name = deploy({"app.py": "import random\nDRAWN = random.getrandbits(128)\n\n"
                             "def handler(event, context):\n    return str(DRAWN)\n"})
    drawn = set()
    for _ in range(3):
        lam.update_function_configuration(FunctionName=name, Description=unique("cold"))
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        drawn.add(invoke(name).body)
    assert len(drawn) == 3
