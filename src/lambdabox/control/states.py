"""The State and LastUpdateStatus a function moves through, as clients poll for them.

Create:  State Pending ──(code unpacked)──> Active            (or Failed)
Update:  LastUpdateStatus InProgress ──(code unpacked)──> Successful   (or Failed)
Publish with SnapStart:  State Pending ──(INIT run, snapshot taken)──> Active   (or Failed)

Every transition gives the configuration a new RevisionId, as AWS does.
"""

from __future__ import annotations

import uuid
from typing import Any

from lambdabox.model.errors import ResourceConflict

_REASONS = ("StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode")


def creating(configuration: dict[str, Any]) -> None:
    configuration.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating")
    configuration.pop("LastUpdateStatus", None)


def updating(configuration: dict[str, Any]) -> None:
    # AWS really answers an update with the "being created" words.
    configuration.update(
        LastUpdateStatus="InProgress",
        LastUpdateStatusReason="The function is being created.",
        LastUpdateStatusReasonCode="Creating",
    )
    configuration["RevisionId"] = str(uuid.uuid4())


def settled(configuration: dict[str, Any]) -> bool:
    return configuration.get("State") != "Pending" and configuration.get("LastUpdateStatus") != "InProgress"


def succeed(configuration: dict[str, Any]) -> None:
    for key in _REASONS:
        configuration.pop(key, None)
    configuration.update(State="Active", LastUpdateStatus="Successful", RevisionId=str(uuid.uuid4()))


def fail(configuration: dict[str, Any], reason: str, code: str = "InternalError") -> None:
    if configuration.get("State") == "Pending":
        configuration.update(State="Failed", StateReason=reason, StateReasonCode=code)
    configuration.update(LastUpdateStatus="Failed", LastUpdateStatusReason=reason, LastUpdateStatusReasonCode=code)
    configuration["RevisionId"] = str(uuid.uuid4())


def require_settled(configuration: dict[str, Any], unqualified_arn: str) -> None:
    """Refuse a change while the function is still being created or updated, as AWS does."""
    if configuration.get("State") == "Pending":
        raise ResourceConflict(
            "The operation cannot be performed at this time. The function is currently in the following state: Pending"
        )
    if configuration.get("LastUpdateStatus") == "InProgress":
        raise ResourceConflict(
            f"The operation cannot be performed at this time. An update is in progress for resource: {unqualified_arn}"
        )
