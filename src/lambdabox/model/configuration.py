"""A function's configuration: the FunctionConfiguration document and the rules on it.

The control layer keeps each version's configuration as the very document Lambda
returns from GetFunctionConfiguration. This module builds it from Create and
UpdateFunctionConfiguration input, and checks what the service model alone cannot:
Lambdabox's limits, the environment's size and reserved keys, handler form, and the
features Lambdabox does not offer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from typing import Any

from lambdabox.model import limits, runtimes, vpc
from lambdabox.model.errors import InvalidParameterValue, constraint, validation_failure

#: Settings that UpdateFunctionConfiguration may change, besides Layers.
SETTABLE = (
    "Role",
    "Handler",
    "Description",
    "Timeout",
    "MemorySize",
    "Environment",
    "Runtime",
    "DeadLetterConfig",
    "KMSKeyArn",
    "TracingConfig",
    "EphemeralStorage",
    "SnapStart",
    "LoggingConfig",
    "VpcConfig",
)

#: Environment variables Lambda sets itself and a function may not override.
RESERVED_ENVIRONMENT = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)

#: Members of the service model that Lambdabox refuses rather than silently ignores.
UNAVAILABLE = {
    "ImageConfig": "container images",
    "FileSystemConfigs": "Amazon EFS file systems",
    "CodeSigningConfigArn": "code signing",
    "TenancyConfig": "tenant isolation",
    "CapacityProviderConfig": "capacity providers",
    "DurableConfig": "durable functions",
    "RuntimeConfig": "runtime configurations",
    "AcceleratorConfig": "accelerators",
    "PublishTo": "LATEST_PUBLISHED publishing",
}


def check_input(request: dict[str, Any], host_architecture: str, networks: Collection[str] = ()) -> None:
    """Refuse settings beyond Lambdabox's limits or features; `request` already fits the service model.

    `networks`: the private networks the operator defined, which VpcConfig may name."""
    problems = []
    if "MemorySize" in request and request["MemorySize"] > limits.MAX_MEMORY_MB:
        problems.append(
            constraint(request["MemorySize"], "memorySize", f"Member must have value less than or equal to {limits.MAX_MEMORY_MB}")
        )
    if "Timeout" in request and request["Timeout"] > limits.MAX_TIMEOUT_S:
        problems.append(
            constraint(request["Timeout"], "timeout", f"Member must have value less than or equal to {limits.MAX_TIMEOUT_S}")
        )
    size = request.get("EphemeralStorage", {}).get("Size")
    if size is not None and size > limits.MAX_EPHEMERAL_MB:
        problems.append(
            constraint(size, "ephemeralStorage.size", f"Member must have value less than or equal to {limits.MAX_EPHEMERAL_MB}")
        )
    if problems:
        raise validation_failure(problems)
    for member, feature in UNAVAILABLE.items():
        if request.get(member):
            raise InvalidParameterValue(f"Lambdabox does not support {feature}: remove {member} from the request.")
    if request.get("PackageType") == "Image" or request.get("ImageUri"):
        raise InvalidParameterValue("Lambdabox runs .zip deployment packages only; container images are not supported.")
    for architecture in request.get("Architectures", []):
        if architecture != host_architecture:
            raise InvalidParameterValue(
                f"Lambdabox runs functions on this host's architecture ({host_architecture}); {architecture} is not available."
            )
    if "Runtime" in request:
        runtimes.require_supported(request["Runtime"])
    if "Environment" in request:
        _check_environment(request["Environment"].get("Variables", {}))
    vpc.check(request.get("VpcConfig", {}), networks)


def _check_environment(variables: dict[str, str]) -> None:
    reserved = sorted(key for key in variables if key in RESERVED_ENVIRONMENT)
    if reserved:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {', '.join(reserved)}"
        )
    if any("\x00" in value for value in variables.values()):
        # A process environment cannot carry a NUL. AWS's wording for this case is not known.
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contain a NUL character, which a process environment cannot hold."
        )
    measured = json.dumps(variables, separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode()) > limits.MAX_ENVIRONMENT_BYTES:
        raise InvalidParameterValue(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided exceeded the 4KB limit. String measured: {measured}"
        )


def check_handler(configuration: dict[str, Any]) -> None:
    """A zip function needs a runtime and, for Python and Node.js, a `file.function` handler."""
    runtime, handler = configuration.get("Runtime"), configuration.get("Handler")
    if not runtime or not handler:
        raise InvalidParameterValue("Runtime and Handler are mandatory parameters for functions created with deployment packages.")
    if not runtimes.handler_is_well_formed(runtime, handler):
        raise InvalidParameterValue(
            f"The handler '{handler}' is not valid for {runtime}: it must name a file and a function, as in 'app.handler'."
        )


def check_snap_start(configuration: dict[str, Any]) -> None:
    """SnapStart takes a runtime that offers it, and no more /tmp than the snapshot holds."""
    if configuration.get("SnapStart", {}).get("ApplyOn") != "PublishedVersions":
        return
    runtime = configuration.get("Runtime")
    if runtime not in runtimes.SNAP_START:
        raise InvalidParameterValue(f"{runtime} is not supported for SnapStart enabled functions.")
    if configuration.get("EphemeralStorage", {}).get("Size", 512) > 512:
        raise InvalidParameterValue("SnapStart is not supported for functions with more than 512 MB of ephemeral storage.")


def check_logging(configuration: dict[str, Any], request: dict[str, Any]) -> None:
    """Log levels filter JSON logs only: a request that sets one for a function logging Text is refused, as AWS does."""
    asked = request.get("LoggingConfig") or {}
    if ("ApplicationLogLevel" in asked or "SystemLogLevel" in asked) and (
        configuration.get("LoggingConfig", {}).get("LogFormat") != "JSON"
    ):
        raise InvalidParameterValue(
            'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your request or change '
            'the LogFormat to "Json" and try again.'
        )


def defaults(name: str, architecture: str) -> dict[str, Any]:
    """The configuration a new function has before its request's settings are applied."""
    return {
        "FunctionName": name,
        "Description": "",
        "Timeout": 3,
        "MemorySize": 128,
        "TracingConfig": {"Mode": "PassThrough"},
        "PackageType": "Zip",
        "Architectures": [architecture],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"},
        "Version": "$LATEST",
    }


def apply(configuration: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """A copy of `configuration` with the settable members of `request` applied."""
    updated = dict(configuration)
    for member in SETTABLE:
        if member not in request:
            continue
        value = request[member]
        if member == "Environment":
            value = {"Variables": dict(value.get("Variables", {}))}
        elif member == "SnapStart":
            value = {"ApplyOn": value.get("ApplyOn", "None"), "OptimizationStatus": "Off"}
        elif member == "LoggingConfig":
            kept = dict(configuration.get("LoggingConfig", {}))
            if value.get("LogFormat") == "Text":
                # Levels belong to the JSON format: a switch to Text drops those it had, as AWS shows.
                kept.pop("ApplicationLogLevel", None)
                kept.pop("SystemLogLevel", None)
            value = {**kept, **value}
            if value.get("LogFormat") == "JSON":
                # AWS fills in INFO for the levels a JSON log format was given without.
                value.setdefault("ApplicationLogLevel", "INFO")
                value.setdefault("SystemLogLevel", "INFO")
        elif member == "DeadLetterConfig" and not value.get("TargetArn"):
            updated.pop(member, None)
            continue
        elif member == "KMSKeyArn" and not value:
            updated.pop(member, None)
            continue
        elif member == "VpcConfig":
            value = vpc.shown(value)
        updated[member] = value
    # Environment stays even when empty: AWS shows {"Variables": {}} once a request sent it.
    runtime = updated.get("Runtime")
    if runtime:
        updated["RuntimeVersionConfig"] = {"RuntimeVersionArn": runtime_version_arn(updated, runtime)}
    return updated


def runtime_version_arn(configuration: dict[str, Any], runtime: str) -> str:
    region = configuration["FunctionArn"].split(":")[3]
    return f"arn:aws:lambda:{region}::runtime:lambdabox-{runtime}"


#: Members that describe a version's state or identity, not what it runs.
_VOLATILE = frozenset(
    {
        "FunctionArn",
        "Version",
        "RevisionId",
        "LastModified",
        "State",
        "StateReason",
        "StateReasonCode",
        "LastUpdateStatus",
        "LastUpdateStatusReason",
        "LastUpdateStatusReasonCode",
        "MasterArn",
    }
)


def fingerprint(configuration: dict[str, Any]) -> str:
    """Equal for two configurations that run the same code the same way: PublishVersion's "nothing changed"."""
    essential = {key: value for key, value in configuration.items() if key not in _VOLATILE}
    return hashlib.sha256(json.dumps(essential, sort_keys=True).encode()).hexdigest()
