"""The runtimes Lambdabox runs, and the words for the ones it does not."""

from __future__ import annotations

from lambdabox.model import aws_runtimes
from lambdabox.model.errors import InvalidParameterValue

PYTHON = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14")
NODEJS = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
PROVIDED = ("provided.al2023", "provided.al2")
SUPPORTED = PYTHON + NODEJS + PROVIDED
#: The runtimes of ours AWS offers SnapStart on (it also does on Java 11+ and .NET 8+).
SNAP_START = ("python3.12", "python3.13", "python3.14")

#: Every runtime name AWS's Lambda API knows, in the order of its Runtime enum (the service model's),
#: which is the list its "enum value set" message prints.
AWS_RUNTIMES = (
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x", "nodejs16.x",
    "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x", "java8", "java8.al2", "java11", "java17", "java21",
    "java25", "python2.7", "python3.6", "python3.7", "python3.8", "python3.9", "python3.10", "python3.11",
    "python3.12", "python3.13", "python3.14", "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1",
    "dotnet6", "dotnet8", "dotnet10", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3",
    "ruby3.4", "ruby4.0", "provided", "provided.al2", "provided.al2023", "nodejs26.x", "python3.15", "java8.al2023",
    "java11.al2023", "java17.al2023", "custom",
)

#: Runtimes AWS has retired for creating and updating functions.
DEPRECATED = frozenset(
    {
        "python2.7", "python3.6", "python3.7", "python3.8",
        "nodejs", "nodejs4.3", "nodejs4.3-edge", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x",
        "nodejs14.x", "nodejs16.x",
        "provided", "go1.x", "java8",
        "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6",
        "ruby2.5", "ruby2.7",
    }
)


def require_supported(runtime: str) -> None:
    """Raise InvalidParameterValueException unless Lambdabox can run `runtime`."""
    if runtime in SUPPORTED:
        return
    if runtime in DEPRECATED:
        raise InvalidParameterValue(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
            "functions. We recommend you use a supported runtime while creating or updating functions."
        )
    if runtime in AWS_RUNTIMES:
        # A runtime AWS runs and Lambdabox does not: said plainly, not as if the name were wrong.
        raise InvalidParameterValue(
            f"Lambdabox does not run the {runtime} runtime. It runs: {', '.join(SUPPORTED)}."
        )
    raise InvalidParameterValue(
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
        f"[{', '.join(aws_runtimes.CREATABLE)}] or be a valid ARN"
    )


def handler_is_well_formed(runtime: str, handler: str) -> bool:
    """Python and Node.js handlers name a file and a function: `path/module.function`.

    No handler may hold a NUL: it travels to the runtime in an environment variable, which cannot carry one.
    """
    if "\x00" in handler:
        return False
    if runtime in PROVIDED:
        return True
    module, dot, function = handler.rpartition(".")
    return bool(dot and module and function and not module.endswith("/"))
