"""Where the Node runtimes' Node and SDK are installed, how the catalog gives them to an environment, and setup's tolerance."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lambdabox.model import runtimes
from lambdabox.runtime import nodes
from lambdabox.runtime.catalog import RuntimeCatalog


def test_every_node_runtime_has_a_pinned_node_of_its_major_and_an_sdk():
    assert set(nodes.NODE_VERSIONS) == set(runtimes.NODEJS) == set(nodes.SDK_VERSIONS)
    for runtime, version in nodes.NODE_VERSIONS.items():
        assert version.split(".")[0] == nodes.major(runtime)


def fake_node(root: Path, runtime: str, version: str) -> None:
    """An installed layout, as install_node leaves it."""
    program = nodes.lang_dir(root, runtime) / "bin" / "node"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    (root / runtime / "node.version").write_text(version + "\n")


def test_a_node_runtime_runs_only_once_its_node_is_installed_at_its_pin(tmp_path: Path):
    assert RuntimeCatalog(sdk_root=tmp_path).interpreter("nodejs22.x") is None
    assert "Node.js 22 is not installed" in RuntimeCatalog(sdk_root=tmp_path).problem("nodejs22.x")
    fake_node(tmp_path, "nodejs22.x", "22.0.0")
    assert RuntimeCatalog(sdk_root=tmp_path).interpreter("nodejs22.x") is None  # another version than the pin
    (tmp_path / "nodejs22.x" / "node.version").write_text(nodes.NODE_VERSIONS["nodejs22.x"] + "\n")
    catalog = RuntimeCatalog(sdk_root=tmp_path)
    assert catalog.problem("nodejs22.x") is None
    launch = catalog.launch("nodejs22.x", tmp_path / "task")
    assert launch.argv == [
        "/var/lang/bin/node", "--no-experimental-require-module", "--no-experimental-detect-module",
        "/var/runtime/bootstrap.js",
    ]
    # Node at AWS's prefix; no SDK until it is installed with every package.
    assert launch.binds == ((nodes.lang_dir(tmp_path, "nodejs22.x"), "/var/lang"),)
    home = tmp_path / "nodejs-sdk" / nodes.SDK_VERSIONS["nodejs22.x"]
    (home / "node_modules").mkdir(parents=True)
    (home / "packages").write_text("@aws-sdk/client-lambda@1.0.0\n")
    assert not nodes.sdk_installed(tmp_path, "nodejs22.x")
    (home / "packages").write_text(" ".join(f"{name}@{home.name}" for name in nodes.SDK_PACKAGES) + "\n")
    launch = RuntimeCatalog(sdk_root=tmp_path).launch("nodejs22.x", tmp_path / "task")
    assert launch.binds[1] == (home / "node_modules", "/var/runtime/node_modules")


def test_node_options_turns_a_feature_back_on_only_by_its_own_flag():
    flag = "--no-experimental-require-module"
    assert nodes.turned_back_on(flag, "--max-old-space-size=100 --experimental-require-module")
    assert not nodes.turned_back_on(flag, "--experimental-require-modules")
    assert not nodes.turned_back_on(flag, "")
    assert not nodes.turned_back_on("/var/runtime/bootstrap.js", "--var/runtime/bootstrap.js")


def test_setup_goes_on_when_npm_fails_and_leaves_the_runtime_uninstalled(tmp_path: Path):
    """An npm that fails (as offline) leaves nothing installed, no marker, and setup succeeds."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text("#!/bin/sh\necho 'npm ERR! network unreachable' >&2\nexit 1\n")
    (bin_dir / "npm").chmod(0o755)
    runtimes_dir = tmp_path / "runtimes"
    done = subprocess.run([sys.executable, "-m", "lambdabox.runtime.nodes", str(runtimes_dir)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "Could not install Node.js for nodejs22.x" in done.stderr
    assert not any(nodes.node_installed(runtimes_dir, runtime) for runtime in runtimes.NODEJS)
    assert not any(nodes.sdk_installed(runtimes_dir, runtime) for runtime in runtimes.NODEJS)
    assert not list(runtimes_dir.glob("*/node.version"))
