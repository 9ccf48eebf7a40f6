"""Where the Python runtimes' SDK is installed, and how the catalog gives it to an environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdabox.model import runtimes
from lambdabox.runtime import sdk
from lambdabox.runtime.catalog import RuntimeCatalog


def test_every_python_runtime_has_a_pinned_boto3():
    assert set(sdk.BOTO3_VERSIONS) == set(runtimes.PYTHON)


def test_the_sdk_is_mounted_read_only_where_aws_has_it_once_installed(tmp_path: Path):
    catalog = RuntimeCatalog(sdk_root=tmp_path)
    runtime = next((name for name in runtimes.PYTHON if catalog.interpreter(name)), None)
    if runtime is None:
        pytest.skip("no Python runtime on this host")
    launch = catalog.launch(runtime, tmp_path / "task")
    # No site module: the host's site-packages and dist-packages are never on the path.
    assert launch.argv[1] == "-S"
    assert launch.libraries is None
    sdk.site_dir(tmp_path, runtime).mkdir(parents=True)
    (tmp_path / runtime / "boto3.version").write_text("0.0.1\n")
    assert not sdk.installed(tmp_path, runtime)
    (tmp_path / runtime / "boto3.version").write_text(sdk.BOTO3_VERSIONS[runtime] + "\n")
    launch = RuntimeCatalog(sdk_root=tmp_path).launch(runtime, tmp_path / "task")
    assert launch.libraries == (sdk.site_dir(tmp_path, runtime), f"/var/lang/lib/{runtime}/site-packages")
