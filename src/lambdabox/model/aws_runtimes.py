"""The runtime names Lambda's validation messages print, as recorded from AWS.

Lambda checks a runtime against sets of its own, not against the service model's Runtime enum, and
prints them in its own (hash) order. Pinned here as recorded from real AWS responses (LocalStack's
recordings of CreateFunction, PublishLayerVersion and ListLayers), so messages match AWS's text.
"""

from __future__ import annotations

#: The runtimes a function or layer version may name today: CreateFunction's and UpdateFunctionConfiguration's
#: "enum value set" for Runtime, and PublishLayerVersion's for CompatibleRuntimes, in AWS's order.
CREATABLE = (
    "nodejs20.x", "python3.14", "provided.al2023", "python3.12", "python3.13", "nodejs24.x", "nodejs22.x", "java25",
    "python3.10", "python3.11", "java21", "ruby3.3", "ruby3.4", "ruby3.2", "python3.8", "python3.9", "java17",
    "nodejs16.x", "dotnet10", "dotnet8", "java11", "dotnet6", "nodejs18.x", "provided.al2", "java8.al2",
)

#: Every runtime name ListLayers and ListLayerVersions accept as CompatibleRuntime, retired ones too,
#: in the order AWS's message prints them.
LAYER_FILTER = (
    "ruby3.5", "ruby2.6", "dotnetcore1.0", "python3.7", "nodejs8.10", "nasa", "ruby2.7", "python2.7-greengrass",
    "dotnetcore2.0", "python3.8", "java21", "dotnet6", "dotnetcore2.1", "python3.9", "java11", "nodejs6.10",
    "provided", "dotnetcore3.1", "dotnet8", "java25", "java17", "nodejs", "nodejs4.3", "java8.al2", "go1.x",
    "dotnet10", "nodejs20.x", "go1.9", "byol", "nodejs10.x", "provided.al2023", "nodejs22.x", "python3.10", "java8",
    "nodejs12.x", "python3.11", "nodejs24.x", "nodejs8.x", "python3.12", "nodejs14.x", "nodejs8.9", "nodejs26.x",
    "python3.13", "python3.14", "nodejs16.x", "python3.15", "provided.al2", "nodejs4.3-edge", "nodejs18.x",
    "ruby3.2", "python3.4", "ruby3.3", "ruby3.4", "ruby2.5", "python3.6", "python2.7",
)
