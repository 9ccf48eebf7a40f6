"""The settings of broker mappings (NATS JetStream, Amazon MQ for RabbitMQ) as Create and Update set them.

Control/event_source_mappings.py stores and commits; this module turns a request into the mapping's
public configuration, after every check, so a refused request changes nothing.

Reach: a mapping reads only its own account's broker, in its own region; an Amazon MQ broker only
when the operator configured its ARN (`--rabbitmq-broker`), so a tenant cannot make the server
connect anywhere else; failures go only to the account's own queues.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from lambdabox.model import broker_sources
from lambdabox.model.arns import Scope
from lambdabox.model.broker_sources import MqBroker, NatsStream
from lambdabox.model.errors import InvalidParameterValue


def new_settings(scope: Scope, request: dict[str, Any], brokers: Collection[str]) -> dict[str, Any]:
    """The source-specific part of a new mapping's configuration."""
    source = broker_sources.parse_broker(request["EventSourceArn"])
    broker_sources.check_settings(request, source, creating=True)
    _check_reach(scope, source, brokers)
    settings: dict[str, Any] = {
        "BatchSize": request.get("BatchSize", broker_sources.DEFAULT_BATCH),
        "MaximumBatchingWindowInSeconds": request.get("MaximumBatchingWindowInSeconds", 0),
        "EventSourceArn": source.arn,
    }
    if isinstance(source, NatsStream):
        settings["StartingPosition"] = request.get("StartingPosition", "TRIM_HORIZON")
        if request.get("StartingPositionTimestamp") is not None:
            settings["StartingPositionTimestamp"] = _seconds(request["StartingPositionTimestamp"])
        settings["MaximumRetryAttempts"] = request.get("MaximumRetryAttempts", -1)
        settings["ParallelizationFactor"] = request.get("ParallelizationFactor", 1)
        settings["DestinationConfig"] = _destination(scope, request)
        settings["FunctionResponseTypes"] = list(request.get("FunctionResponseTypes") or [])
    else:
        settings["Queues"] = list(request["Queues"])
        settings["SourceAccessConfigurations"] = list(request["SourceAccessConfigurations"])
        settings["FunctionResponseTypes"] = []
    return settings


def update_settings(scope: Scope, config: dict[str, Any], request: dict[str, Any]) -> None:
    """Apply an UpdateEventSourceMapping's source-specific settings to a broker mapping's `config`."""
    source = broker_sources.parse_broker(config["EventSourceArn"])
    broker_sources.check_settings(request, source, creating=False)
    for name in ("BatchSize", "MaximumBatchingWindowInSeconds", "MaximumRetryAttempts", "ParallelizationFactor"):
        if request.get(name) is not None:
            config[name] = request[name]
    if request.get("FunctionResponseTypes") is not None:
        config["FunctionResponseTypes"] = list(request["FunctionResponseTypes"])
    if request.get("DestinationConfig") is not None:
        config["DestinationConfig"] = _destination(scope, request)
    if request.get("SourceAccessConfigurations") is not None:
        config["SourceAccessConfigurations"] = list(request["SourceAccessConfigurations"])


def _check_reach(scope: Scope, source: NatsStream | MqBroker, brokers: Collection[str]) -> None:
    if source.scope.account != scope.account:
        raise InvalidParameterValue(f"The event source {source.arn} is not in account {scope.account}.")
    if source.scope.region != scope.region:
        raise InvalidParameterValue(
            f"The event source arn ({source.arn}) is in region {source.scope.region}; "
            f"the function is in region {scope.region}. They must be in the same region."
        )
    if isinstance(source, MqBroker) and source.arn not in brokers:
        raise InvalidParameterValue(f"The broker {source.arn} does not exist on this Lambdabox server.")


def _destination(scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
    target = broker_sources.on_failure_target(request)
    if target is None:
        return {"OnFailure": {}}
    if target.split(":")[4] != scope.account:
        raise InvalidParameterValue(f"The destination {target} is not in account {scope.account}.")
    return {"OnFailure": {"Destination": target}}


def _seconds(moment: Any) -> float:
    """A StartingPositionTimestamp as botocore sends it (epoch seconds, maybe as text) in seconds."""
    try:
        return float(moment)
    except (TypeError, ValueError):
        raise InvalidParameterValue("StartingPositionTimestamp must be a time.") from None
