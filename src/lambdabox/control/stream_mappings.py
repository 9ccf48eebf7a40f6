"""What event source mappings of streams (Kinesis, DynamoDB Streams) add to control/event_source_mappings.py.

The configuration a stream mapping holds (AWS's fields and defaults: model/stream_sources.py),
who may map which stream, and the duplicate check with AWS's words for streams. The operations
themselves (one transaction each, `changed` after the commit) stay in event_source_mappings.py.
"""

from __future__ import annotations

import time
from typing import Any

from lambdabox.access.identity_policies import ROLE, identity_policies
from lambdabox.access.policy import Effect, Request, identity_effect
from lambdabox.control.catalog import namespace
from lambdabox.model import stream_sources
from lambdabox.model.arns import FunctionRef, Scope, function_arn
from lambdabox.model.errors import InvalidParameterValue, ResourceConflict
from lambdabox.model.principals import ASSUMED_ROLE, Principal
from lambdabox.model.stream_sources import StreamSource
from lambdabox.store.records import Records

MAPPING = "event-source-mapping"


def new_config(request: dict[str, Any], source: StreamSource, new_uuid: str, arn: str, ref: FunctionRef) -> dict[str, Any]:
    """A new stream mapping's public configuration, as AWS answers it."""
    config: dict[str, Any] = {
        "UUID": new_uuid,
        "EventSourceArn": source.arn,
        "FunctionArn": function_arn(ref.scope, ref.name, ref.qualifier),
        "LastModified": time.time(),
        "State": "Enabled" if request.get("Enabled", True) else "Disabled",
        "FunctionResponseTypes": list(request.get("FunctionResponseTypes") or []),
        "EventSourceMappingArn": arn,
    }
    config.update(stream_sources.stream_settings(request, source))
    return config


def update_config(config: dict[str, Any], request: dict[str, Any], source: StreamSource) -> None:
    """Apply an Update's settings to a stream mapping's configuration (checked first; raises before any change)."""
    if request.get("StartingPosition") is not None or request.get("StartingPositionTimestamp") is not None:
        raise InvalidParameterValue("Unsupported StartingPosition parameter for given event source mapping type.")
    changed = dict(config)
    stream_sources.apply_settings(changed, request, source)
    if request.get("FunctionResponseTypes") is not None:
        changed["FunctionResponseTypes"] = list(request["FunctionResponseTypes"])
    if request.get("Enabled") is not None:
        changed["State"] = "Enabled" if request["Enabled"] else "Disabled"
    changed["StateTransitionReason"] = stream_sources.USER_ACTION
    config.clear()
    config.update(changed)


def check_reach(scope: Scope, source: StreamSource) -> None:
    """A stream of the caller's own account, in its region: the server reads it with its own credentials."""
    if source.scope.account != scope.account:
        raise InvalidParameterValue(stream_sources.role_message(source))
    if source.scope.region != scope.region:
        raise InvalidParameterValue(
            f"The event source arn ({source.arn}) is in region {source.scope.region}; "
            f"the function is in region {scope.region}. They must be in the same region."
        )


def require_role(records: Records, version: dict[str, Any], source: StreamSource, config: dict[str, Any]) -> None:
    """The function's execution role must be allowed to read the stream (and to send to the OnFailure
    destination), by its identity policies, as AWS checks at Create and Update.

    The server reads streams and sends failure records with its own credentials, so this check is
    what keeps a tenant's mapping to what its role is granted.
    """
    documents = _role_documents(records, version, source.scope.account)
    service = "kinesis" if source.kind == stream_sources.KINESIS else "dynamodb"
    for verb in stream_sources.ROLE_VERBS:
        if identity_effect(documents, Request(f"{service}:{verb}", source.arn)) != Effect.ALLOW:
            raise InvalidParameterValue(stream_sources.role_message(source))
    target = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
    if target:
        sqs = target.split(":")[2] == "sqs"
        action = "sqs:SendMessage" if sqs else "sns:Publish"
        if identity_effect(documents, Request(action, target)) != Effect.ALLOW:
            raise InvalidParameterValue(
                f"The provided execution role does not have permissions to call {'SendMessage on SQS' if sqs else 'Publish on SNS'}"
            )


def _role_documents(records: Records, version: dict[str, Any], account: str) -> list[dict[str, Any]]:
    """The identity policies of the function's execution role, seen as a session of it."""
    role_arn = version["config"].get("Role", "")
    name = role_arn.rsplit("/", 1)[-1]
    role = records.get(ROLE, account, name)
    if role is None or role.get("Arn") != role_arn:
        return []
    session = Principal(
        account, f"arn:aws:sts::{account}:assumed-role/{name}/event-source-mapping",
        f"{role['RoleId']}:event-source-mapping", ASSUMED_ROLE, name=name, role_arn=role_arn,
    )
    return identity_policies(records, session)


def refuse_duplicate(records: Records, scope: Scope, config: dict[str, Any], name: str) -> None:
    for key, body in records.scan(MAPPING, namespace(scope)):
        other = body["config"]
        if key != config["UUID"] and (other["EventSourceArn"], other["FunctionArn"]) == (
            config["EventSourceArn"], config["FunctionArn"]
        ):
            raise ResourceConflict(
                f'The event source arn (" {config["EventSourceArn"]} ") and function (" {name} ") provided mapping '
                f"already exists. Please update or delete the existing mapping with UUID {key}"
            )
