"""What an execution environment of one function version is made of.

A `Blueprint` is everything needed to start environments of one immutable version (or
one revision of $LATEST): the sandbox limits, the mounts and the standard environment
variables Lambda sets, but for the execution role's credentials, which are each
environment's own. Building one reads the stores; starting environments from it
does not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambdabox.model import vpc
from lambdabox.model.arns import Scope
from lambdabox.observe.log_format import LogFormat
from lambdabox.observe.logs import group_name
from lambdabox.runtime import nodes
from lambdabox.runtime.catalog import RUNTIME_DIR, RuntimeCatalog
from lambdabox.sandbox.api import Mount

#: Lambda gives a function one vCPU per this many MB of memory.
MB_PER_VCPU = 1769
#: AWS_LAMBDA_INITIALIZATION_TYPE of environments started for an invocation, of those a
#: provisioned concurrency config keeps initialized ahead of time, and of SnapStart versions.
ON_DEMAND, PROVISIONED, SNAP_START = "on-demand", "provisioned-concurrency", "snap-start"

#: The endpoint variables (AWS_ENDPOINT_URL_ and the serviceId upper-cased, spaces as underscores, as
#: botocore and the JS SDK v3 read them) of the services this server serves. Functions get these, pointing
#: here, and no global AWS_ENDPOINT_URL: a client of any other service (S3, DynamoDB ...) keeps AWS's
#: endpoint, or the one the function sets itself.
SERVED_ENDPOINT_VARIABLES = (
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_IAM",
    "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS",
)
#: The variable that points every client elsewhere: a function that sets it gets none of ours.
GLOBAL_ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"

#: PATH and LD_LIBRARY_PATH as AWS documents them ("Defined runtime environment variables"), "/usr/bin/"
#: included; its managed runtimes put /var/lang/bin and /var/lang/lib first, provided.* do not.
_BASE_PATH = ["/usr/local/bin", "/usr/bin/", "/bin", "/opt/bin"]
_LIBRARY_PATH = "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
_LANG_BIN, _LANG_LIB = "/var/lang/bin", "/var/lang/lib"
#: Variables Lambda sets that a function may set too (AWS's "unreserved" ones): the function's value wins.
_UNRESERVED = ("LANG", "PATH", "LD_LIBRARY_PATH", "NODE_PATH")


@dataclass(frozen=True)
class Blueprint:
    scope: Scope
    name: str
    #: The version that runs: "$LATEST" or a number.
    version: str
    #: The configuration's RevisionId: a new one means environments of the old one are stale.
    revision: str
    config: dict[str, Any]
    argv: list[str]
    mounts: list[Mount]
    env: dict[str, str]
    #: ON_DEMAND or PROVISIONED; environments of the two are never mixed.
    initialization_type: str = ON_DEMAND
    #: The bootstrap a zygote of the interpreter preloads (Python runtimes, when isolated): see SandboxSpec.preload.
    preload: Path | None = None
    #: The runtime's libraries its zygote imports boto3 from ahead (host directory, sandbox path): see SandboxSpec.
    preimport: tuple[str, str] | None = None
    #: A published version with SnapStart: INIT runs once, in a template its environments are cloned from
    #: (when `preload` is set; else each environment runs INIT and the hooks itself).
    snap_start: bool = False
    #: Private networks its VpcConfig attaches it to (the operator's network names).
    networks: tuple[str, ...] = ()
    #: This server's API as functions reach it from the host's network.
    endpoint_url: str = ""
    #: The variables of `env` Lambdabox set to `endpoint_url` (see `endpoint_variables`); a private
    #: network gives them its own address of the API instead.
    endpoint_variables: tuple[str, ...] = ()

    @property
    def restores(self) -> bool:
        """Whether environments of this blueprint are clones of a template (SnapStart, isolated Python)."""
        return self.snap_start and self.preload is not None

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.scope.account, self.scope.region, self.name, self.version, self.revision, self.initialization_type)

    @property
    def memory_mb(self) -> int:
        return self.config["MemorySize"]

    @property
    def log_group(self) -> str:
        """The log group its environments write to: LoggingConfig's LogGroup, else /aws/lambda/NAME."""
        return log_group(self.config)

    @property
    def log_format(self) -> LogFormat:
        return LogFormat.of(self.config.get("LoggingConfig"))

    @property
    def timeout_s(self) -> int:
        return self.config["Timeout"]


def build(
    scope: Scope,
    config: dict[str, Any],
    variables: Mapping[str, str],
    task_root: Path,
    opt_root: Path | None,
    catalog: RuntimeCatalog,
    endpoint_url: str,
    isolated: bool = True,
) -> Blueprint:
    """The blueprint of the version `config` describes, whose code is unpacked at `task_root`.

    `variables` are the function's own environment variables, in the clear: `config` holds
    them sealed (control/env_secrets.py), and only the environment's `env` has them opened.

    Without isolation there are no mounts: the program sees the host's paths, so every
    sandbox path in argv and the environment is replaced by the host directory behind it.
    """
    runtime = config["Runtime"]
    launch = catalog.launch(runtime, task_root)
    mounts = [Mount(task_root, "/var/task")]
    if opt_root is not None:
        mounts.append(Mount(opt_root, "/opt"))
    if launch.runtime_dir is not None:
        mounts.append(Mount(launch.runtime_dir, RUNTIME_DIR))
    mounts += [Mount(prefix, str(prefix)) for prefix in launch.prefixes]
    if launch.libraries is not None:
        mounts.append(Mount(*launch.libraries))
    mounts += [Mount(source, target) for source, target in launch.binds]
    name, version = config["FunctionName"], config["Version"]
    snap_start = version != "$LATEST" and config.get("SnapStart", {}).get("OptimizationStatus") == "On"
    env = {
        **variables,
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group(config),
        **LogFormat.of(config.get("LoggingConfig")).environment,
        "AWS_REGION": scope.region,
        "AWS_DEFAULT_REGION": scope.region,
        "AWS_LAMBDA_INITIALIZATION_TYPE": SNAP_START if snap_start else ON_DEMAND,
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "_HANDLER": config["Handler"],
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": ":".join(_search_path(launch.path, managed=launch.execution_env is not None)),
        "LD_LIBRARY_PATH": f"{_LANG_LIB}:{_LIBRARY_PATH}" if launch.execution_env else _LIBRARY_PATH,
    }
    # boto3, the JS SDK and the AWS CLI inside the function call this Lambdabox for the services it serves, as
    # the function's execution role: each environment gets credentials of its own when it starts
    # (role_credentials.py), none are here.
    ours = endpoint_variables(variables)
    env.update(dict.fromkeys(ours, endpoint_url))
    if launch.execution_env:
        env["AWS_EXECUTION_ENV"] = launch.execution_env
    argv = launch.argv
    if runtime.startswith("nodejs"):
        env["NODE_PATH"] = (
            f"/opt/nodejs/node{nodes.major(runtime)}/node_modules:/opt/nodejs/node_modules:"
            f"{nodes.SDK_DIR}:{RUNTIME_DIR}:/var/task"
        )
        # Lambda drops the flag turning a feature off when the function's NODE_OPTIONS turns it on.
        argv = [part for part in argv if not nodes.turned_back_on(part, variables.get("NODE_OPTIONS", ""))]
    env.update({key: variables[key] for key in _UNRESERVED if key in variables})
    if not isolated:
        argv, env = _on_host(argv, env, mounts)
        if launch.libraries is not None:
            # The bootstrap finds the runtime's libraries at their sandbox path, or here.
            env["LAMBDABOX_LIBRARIES_DIR"] = str(launch.libraries[0])
    preload = preimport = None
    if isolated and runtime.startswith("python") and launch.runtime_dir is not None:
        preload = launch.runtime_dir / "bootstrap.py"
        if launch.libraries is not None:
            preimport = (str(launch.libraries[0]), launch.libraries[1])
    networks = vpc.attached_networks(config)
    return Blueprint(
        scope, name, version, config["RevisionId"], config, argv, mounts, env, preload=preload, preimport=preimport,
        snap_start=snap_start, networks=networks, endpoint_url=endpoint_url, endpoint_variables=ours,
    )


def log_group(config: Mapping[str, Any]) -> str:
    """The log group of the function version `config` describes: its LoggingConfig's LogGroup, else /aws/lambda/NAME."""
    chosen = (config.get("LoggingConfig") or {}).get("LogGroup")
    return chosen if isinstance(chosen, str) and chosen else group_name(config["FunctionName"])


def endpoint_variables(variables: Mapping[str, str]) -> tuple[str, ...]:
    """The endpoint variables Lambdabox sets for a function whose own variables are `variables`.

    A function's own variable always wins and is never replaced: one that sets AWS_ENDPOINT_URL
    pointed all its clients at an endpoint of its choosing and gets none of ours (a service's own
    variable would override it, silently); one that sets AWS_ENDPOINT_URL_<SERVICE> keeps it.
    """
    if GLOBAL_ENDPOINT_VARIABLE in variables:
        return ()
    return tuple(name for name in SERVED_ENDPOINT_VARIABLES if name not in variables)


def _search_path(runtime_path: list[str], managed: bool) -> list[str]:
    """PATH: AWS's, with the directories of the runtime's program that it lacks after /var/lang/bin."""
    head = [_LANG_BIN] if managed else []
    known = {entry.rstrip("/") for entry in head + _BASE_PATH}
    return head + [entry for entry in runtime_path if entry.rstrip("/") not in known] + _BASE_PATH


def _on_host(argv: list[str], env: dict[str, str], mounts: list[Mount]) -> tuple[list[str], dict[str, str]]:
    """argv and environment with sandbox paths (/var/task, /opt, /var/runtime) turned into host paths."""
    targets = {mount.target: str(mount.source) for mount in mounts if mount.target != str(mount.source)}
    pattern = re.compile("(" + "|".join(re.escape(target) for target in sorted(targets, key=len, reverse=True)) + ")(?=/|:|$)")

    def host(text: str) -> str:
        return pattern.sub(lambda found: targets[found[1]], text) if targets else text

    env = {key: host(value) for key, value in env.items()}
    env["LAMBDABOX_OPT_DIR"] = targets.get("/opt", "/opt")
    return [host(part) for part in argv], env
