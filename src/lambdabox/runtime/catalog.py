"""Which host programs run each Lambda runtime, and how an environment starts them.

python3.X runs on a matching host interpreter (pyenv's, or the system's), and provided.*
runs the package's own `bootstrap`. A Python interpreter's prefix is bound into the sandbox at
the same path, so it finds its libraries as on the host. nodejsNN.x runs on the Node NN that
setup installed (nodes.py), mounted read-only at /var/lang as on AWS, with the SDK for
JavaScript at /var/runtime/node_modules.

A Python interpreter starts with -S: none of the host's site-packages or dist-packages is on
its path. The bootstrap builds sys.path in Lambda's order, with the runtime's SDK (sdk.py),
which the environment gets read-only at /var/lang/lib/python3.X/site-packages.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from lambdabox.model import runtimes
from lambdabox.runtime import nodes, sdk

#: Where the bootstraps of our own runtimes live in the source tree; mounted at /var/runtime.
BOOTSTRAP_ROOT = Path(__file__).parent
#: Where the runtime's own files appear inside an environment (LAMBDA_RUNTIME_DIR).
RUNTIME_DIR = "/var/runtime"

#: Directories in which a host is allowed to keep interpreters and that are already in every sandbox.
_SYSTEM_PREFIXES = ("/usr/", "/bin/", "/lib/", "/lib64/")


@dataclass(frozen=True)
class Launch:
    """How to start one runtime in an environment."""

    #: Program and arguments, as seen inside the sandbox.
    argv: list[str]
    #: Host directory mounted at /var/runtime, if the runtime has one.
    runtime_dir: Path | None
    #: Host directories the program needs bound at the same path (an interpreter's prefix).
    prefixes: list[Path] = field(default_factory=list)
    #: Directories to put first on PATH.
    path: list[str] = field(default_factory=list)
    #: AWS_EXECUTION_ENV, when the runtime is one of Lambda's managed ones.
    execution_env: str | None = None
    #: Host directory of the runtime's own libraries (Python's SDK) and where it is mounted read-only.
    libraries: tuple[Path, str] | None = None
    #: Further host directories of the runtime and where they are mounted read-only (Node and its SDK).
    binds: tuple[tuple[Path, str], ...] = ()


class RuntimeCatalog:
    """Finds the host programs behind each runtime; the answers are cached per runtime."""

    def __init__(self, pyenv_root: Path | None = None, sdk_root: Path | None = None) -> None:
        root = pyenv_root or Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
        self._pyenv_versions = root / "versions"
        #: Where setup installed the Python runtimes' SDKs (sdk.py), and Node's builds and SDK (nodes.py).
        self._sdk_root = sdk_root or sdk.default_root()
        self._found: dict[str, Path | None] = {}

    def interpreter(self, runtime: str) -> Path | None:
        """The host program that runs `runtime` (a Python or Node.js one), or None if there is none."""
        if runtime in runtimes.PROVIDED:
            return None
        return self._program(runtime)

    def problem(self, runtime: str) -> str | None:
        """Why `runtime` cannot run on this host, or None when it can."""
        if runtime in runtimes.PROVIDED:
            return None
        if self._program(runtime) is None:
            if runtime in runtimes.NODEJS:
                return (
                    f"The runtime {runtime} is not available on this Lambdabox host: Node.js {nodes.major(runtime)} "
                    "is not installed (scripts/setup.sh installs it from npm)."
                )
            return f"The runtime {runtime} is not available on this Lambdabox host: no {runtime} interpreter was found."
        return None

    def launch(self, runtime: str, task_root: Path) -> Launch:
        """How to start `runtime`; `task_root` is the host path of the function's code."""
        if runtime in runtimes.PROVIDED:
            # lexists: the package is the tenant's, and the server follows none of its links.
            program = "/var/task/bootstrap" if os.path.lexists(task_root / "bootstrap") else "/opt/bootstrap"
            return Launch(argv=[program], runtime_dir=None)
        executable = self._program(runtime)
        if executable is None:
            raise LookupError(self.problem(runtime))
        if runtime in runtimes.NODEJS:
            binds = [(executable.parent.parent, nodes.LANG_DIR)]
            if nodes.sdk_installed(self._sdk_root, runtime):
                binds.append((nodes.sdk_dir(self._sdk_root, runtime), nodes.SDK_DIR))
            return Launch(
                argv=[f"{nodes.LANG_DIR}/bin/node", *nodes.FLAGS.get(runtime, ()), f"{RUNTIME_DIR}/bootstrap.js"],
                runtime_dir=BOOTSTRAP_ROOT / "nodejs",
                path=[f"{nodes.LANG_DIR}/bin"],
                execution_env=f"AWS_Lambda_{runtime}",
                binds=tuple(binds),
            )
        prefix = executable.parent.parent
        prefixes = [] if str(executable).startswith(_SYSTEM_PREFIXES) else [prefix]
        libraries = None
        if sdk.installed(self._sdk_root, runtime):
            libraries = (sdk.site_dir(self._sdk_root, runtime), sdk.SITE_PACKAGES.format(runtime=runtime))
        return Launch(
            # -S: no site module, so no host site-packages, dist-packages or .pth files; the bootstrap sets sys.path.
            argv=[str(executable), "-S", "-u", f"{RUNTIME_DIR}/bootstrap.py"],
            runtime_dir=BOOTSTRAP_ROOT / "python",
            prefixes=prefixes,
            path=[str(executable.parent)],
            execution_env=f"AWS_Lambda_{runtime}",
            libraries=libraries,
        )

    def _program(self, runtime: str) -> Path | None:
        if runtime not in self._found:
            self._found[runtime] = self._search(runtime)
        return self._found[runtime]

    def _search(self, runtime: str) -> Path | None:
        if runtime in runtimes.NODEJS:
            if not nodes.node_installed(self._sdk_root, runtime):
                return None
            return nodes.lang_dir(self._sdk_root, runtime) / "bin" / "node"
        version = runtime.removeprefix("python")
        candidates = sorted(
            glob.glob(str(self._pyenv_versions / f"{version}.*" / "bin" / f"python{version}")),
            key=lambda path: [int(part) for part in Path(path).parts[-3].split(".") if part.isdigit()],
        )
        for directory in ("/usr/local/bin", "/usr/bin"):
            candidates.append(f"{directory}/python{version}")
        # System interpreters first (already in every sandbox), then pyenv's newest patch release.
        for candidate in reversed(candidates):
            if os.access(candidate, os.X_OK):
                return Path(candidate).resolve()
        return None
