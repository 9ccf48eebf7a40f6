"""The AWS SDK for Python (boto3, botocore and what they need) that each Python runtime includes, as AWS's do.

AWS installs it in /var/lang/lib/python3.X/site-packages (python3.11 and later; /var/runtime
before), behind the function's /var/task and the layers' /opt/python, so that a function's or
a layer's own boto3 wins. Here each runtime's copy is installed at setup time, from PyPI,
into `<venv>/lambda-runtimes/python3.X/site-packages`, compiled by that runtime's
interpreter, and mounted read-only at SITE_PACKAGES in the sandbox. Nothing is installed
at invoke time: a runtime whose copy is missing runs without an SDK.

Run `python -m lambdabox.runtime.sdk` (scripts/setup.sh does) to install what is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from lambdabox.model import runtimes

#: Where the runtime's SDK appears in an environment (AWS's path for python3.11 and later), per version.
SITE_PACKAGES = "/var/lang/lib/{runtime}/site-packages"

#: boto3 per runtime. AWS no longer publishes the versions it ships (they "depend on the runtime
#: version and Region"), so these are pinned by us: the newest at the time of writing, and for
#: python3.9, which boto3 1.43 dropped, the last release that supports it.
BOTO3_VERSIONS = {
    "python3.9": "1.42.97",
    "python3.10": "1.44.18",
    "python3.11": "1.44.18",
    "python3.12": "1.44.18",
    "python3.13": "1.44.18",
    "python3.14": "1.44.18",
}


def default_root() -> Path:
    """Where the SDKs of the server's virtual environment are installed."""
    return Path(sys.prefix) / "lambda-runtimes"


def site_dir(root: Path, runtime: str) -> Path:
    """The host directory holding `runtime`'s SDK (it may not exist)."""
    return root / runtime / "site-packages"


def installed(root: Path, runtime: str) -> bool:
    """Whether `runtime`'s SDK is installed at its pinned version; the marker is written last."""
    marker = root / runtime / "boto3.version"
    return marker.is_file() and marker.read_text().strip() == BOTO3_VERSIONS[runtime]


def install(root: Path, runtime: str, interpreter: Path) -> None:
    """Install `runtime`'s SDK from PyPI under `root`, replacing any other version; raise on failure.

    pip runs on this interpreter but resolves for `runtime`'s Python (wheels only, so nothing
    is built); `interpreter` then compiles the files, as the sandbox can't write the cache.
    """
    version = runtime.removeprefix("python")
    target = site_dir(root, runtime)
    staging = target.with_name("site-packages.new")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
            "--target", str(staging), "--python-version", version, "--implementation", "cp",
            "--only-binary=:all:", f"boto3=={BOTO3_VERSIONS[runtime]}",
        ],
        check=True,
    )
    # pip puts console scripts there; the runtime has no use for them.
    shutil.rmtree(staging / "bin", ignore_errors=True)
    subprocess.run([str(interpreter), "-m", "compileall", "-q", "-j", "0", str(staging)], check=True,
                   stdout=subprocess.DEVNULL)
    shutil.rmtree(target, ignore_errors=True)
    os.rename(staging, target)
    (root / runtime / "boto3.version").write_text(BOTO3_VERSIONS[runtime] + "\n")


def main() -> int:
    """Install the SDK of every Python runtime this host can run that lacks it."""
    from lambdabox.runtime.catalog import RuntimeCatalog

    catalog = RuntimeCatalog()
    root = default_root()
    for runtime in runtimes.PYTHON:
        interpreter = catalog.interpreter(runtime)
        if interpreter is None or runtime not in BOTO3_VERSIONS or installed(root, runtime):
            continue
        print(f"Installing boto3 {BOTO3_VERSIONS[runtime]} for {runtime} in {site_dir(root, runtime)}", flush=True)
        install(root, runtime, interpreter)
    return 0


if __name__ == "__main__":
    sys.exit(main())
