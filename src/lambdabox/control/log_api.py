"""The CloudWatch Logs operations, over Lambdabox's log store.

Each operation takes its input as botocore's model shaped it (already checked against the model's
shapes) and the caller's scope; it returns the output dict, or raises a model.log_errors error and
changes nothing. A caller acts only in its own namespace (account:region): a group named by the ARN
of another account or region is a group that does not exist.

Tokens (nextToken) are opaque to clients: base64 of a small JSON record. A token that does not
decode, or decodes to the wrong kind, is InvalidParameterException.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from lambdabox.model.arns import Scope
from lambdabox.model.log_errors import InvalidParameter, LogGroupNotFound, ResourceAlreadyExists
from lambdabox.observe import log_catalog
from lambdabox.observe.logs import RETENTION_DAYS, LogStore

#: Most tags a log group holds.
_MAX_TAGS = 50
#: Groups and streams one Describe page lists when the request names no limit.
_DESCRIBE_LIMIT = 50

BAD_TOKEN = "The specified nextToken is invalid."


def namespace(scope: Scope) -> str:
    return f"{scope.account}:{scope.region}"


def group_arn(scope: Scope, name: str) -> str:
    """The log group's ARN as DescribeLogGroups' `arn` names it (with the trailing ":*")."""
    return f"arn:aws:logs:{scope.region}:{scope.account}:log-group:{name}:*"


def group_of_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, group name) of a log group ARN, with or without the trailing ":*"; None if it is not one."""
    parts = arn.split(":", 6)
    if len(parts) < 7 or parts[:3] != ["arn", "aws", "logs"] or parts[5] != "log-group":
        return None
    name = parts[6].removesuffix(":*")
    return (parts[3], parts[4], name) if name and ":" not in name else None


def encode_token(record: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(record, separators=(",", ":")).encode()).decode()


def decode_token(token: str | None, kind: str) -> dict[str, Any] | None:
    """The record of a token of `kind`; None for no token; InvalidParameter for anything else."""
    if token is None:
        return None
    try:
        record = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        raise InvalidParameter(BAD_TOKEN) from None
    if not isinstance(record, dict) or record.get("k") != kind:
        raise InvalidParameter(BAD_TOKEN)
    return record


def token_number(record: dict[str, Any], key: str) -> int:
    value = record.get(key)
    if type(value) is not int or value < 0:
        raise InvalidParameter(BAD_TOKEN)
    return value


class LogsApi:
    def __init__(self, store: LogStore) -> None:
        self._store = store

    # Groups --------------------------------------------------------------------------------

    def group_named(self, scope: Scope, params: dict[str, Any]) -> str:
        """The group a request names (logGroupName or logGroupIdentifier), which must exist in the caller's scope."""
        name = params.get("logGroupName")
        identifier = params.get("logGroupIdentifier")
        if name is not None and identifier is not None:
            raise InvalidParameter("LogGroup name and LogGroup ARN are mutually exclusive parameters.")
        if identifier is not None:
            name = identifier
            if identifier.startswith("arn:"):
                found = group_of_arn(identifier)
                if found is None or found[:2] != (scope.region, scope.account):
                    raise LogGroupNotFound()
                name = found[2]
        if name is None:
            raise InvalidParameter("Either LogGroup name or LogGroup ARN must be specified.")
        if log_catalog.group(self._store, namespace(scope), name) is None:
            raise LogGroupNotFound()
        return name

    def create_log_group(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        if params["logGroupName"].lower().startswith("aws/"):
            raise InvalidParameter("Log groups starting with AWS/ are reserved for AWS.")
        tags = params.get("tags") or {}
        if len(tags) > _MAX_TAGS:
            raise InvalidParameter(f"A log group can have at most {_MAX_TAGS} tags.")
        if not self._store.create_group(namespace(scope), params["logGroupName"], tags):
            raise ResourceAlreadyExists("The specified log group already exists")
        return {}

    def delete_log_group(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        if not self._store.delete_group(namespace(scope), self.group_named(scope, params)):
            raise LogGroupNotFound()
        return {}

    def describe_log_groups(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        prefix, pattern = params.get("logGroupNamePrefix"), params.get("logGroupNamePattern")
        if prefix is not None and pattern is not None:
            raise InvalidParameter("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        token = decode_token(params.get("nextToken"), "groups")
        after = token.get("after") if token else None
        if token is not None and not isinstance(after, str):
            raise InvalidParameter(BAD_TOKEN)
        limit = params.get("limit") or _DESCRIBE_LIMIT
        identifiers = set(params.get("logGroupIdentifiers") or ())
        listed = []
        for info in log_catalog.groups(self._store, namespace(scope)):
            if after is not None and info.name <= after:
                continue
            if prefix is not None and not info.name.startswith(prefix):
                continue
            if pattern is not None and pattern.lower() not in info.name.lower():
                continue
            if identifiers and info.name not in identifiers and group_arn(scope, info.name)[:-2] not in identifiers:
                continue
            listed.append(info)
            if len(listed) > limit:
                break
        out: dict[str, Any] = {"logGroups": [self._describe_group(scope, info) for info in listed[:limit]]}
        if len(listed) > limit:
            out["nextToken"] = encode_token({"k": "groups", "after": listed[limit - 1].name})
        return out

    @staticmethod
    def _describe_group(scope: Scope, info: log_catalog.GroupInfo) -> dict[str, Any]:
        described: dict[str, Any] = {
            "logGroupName": info.name,
            "creationTime": info.creation_time,
            "metricFilterCount": 0,
            "arn": group_arn(scope, info.name),
            "storedBytes": info.stored_bytes,
            "logGroupClass": "STANDARD",
            "logGroupArn": group_arn(scope, info.name)[:-2],
        }
        if info.retention_days is not None:
            described["retentionInDays"] = info.retention_days
        return described

    def put_retention_policy(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        days = params["retentionInDays"]
        if days not in RETENTION_DAYS:
            raise InvalidParameter(
                f"1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(map(str, RETENTION_DAYS))}]"
            )
        name = self.group_named(scope, params)
        self._update(scope, name, lambda record: {**record, "retentionInDays": days})
        return {}

    def delete_retention_policy(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        name = self.group_named(scope, params)
        self._update(scope, name, lambda record: {**record, "retentionInDays": None})
        return {}

    def _update(self, scope: Scope, name: str, change: Callable[[dict], dict]) -> None:
        if not self._store.update_group(namespace(scope), name, change):
            raise LogGroupNotFound()

    # Tags ----------------------------------------------------------------------------------

    def _tagged_group(self, scope: Scope, arn: str) -> str:
        found = group_of_arn(arn)
        if found is None or found[:2] != (scope.region, scope.account):
            raise LogGroupNotFound(f"The specified resource does not exist: {arn[:200]}")
        return self.group_named(scope, {"logGroupName": found[2]})

    def _tag(self, scope: Scope, name: str, tags: dict[str, str]) -> None:
        def tagged(record: dict) -> dict:
            merged = {**(record.get("tags") or {}), **tags}
            if len(merged) > _MAX_TAGS:
                raise InvalidParameter(f"A log group can have at most {_MAX_TAGS} tags.")
            return {**record, "tags": merged}

        self._update(scope, name, tagged)

    def _untag(self, scope: Scope, name: str, keys: list[str]) -> None:
        dropped = set(keys)
        self._update(scope, name, lambda record: {
            **record, "tags": {k: v for k, v in (record.get("tags") or {}).items() if k not in dropped}
        })

    def _tags(self, scope: Scope, name: str) -> dict[str, Any]:
        info = log_catalog.group(self._store, namespace(scope), name)
        if info is None:
            raise LogGroupNotFound()
        return {"tags": dict(info.tags)}

    def tag_resource(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        self._tag(scope, self._tagged_group(scope, params["resourceArn"]), params["tags"])
        return {}

    def untag_resource(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        self._untag(scope, self._tagged_group(scope, params["resourceArn"]), params["tagKeys"])
        return {}

    def list_tags_for_resource(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        return self._tags(scope, self._tagged_group(scope, params["resourceArn"]))

    def tag_log_group(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        self._tag(scope, self.group_named(scope, params), params["tags"])
        return {}

    def untag_log_group(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        self._untag(scope, self.group_named(scope, params), params["tags"])
        return {}

    def list_tags_log_group(self, scope: Scope, params: dict[str, Any]) -> dict[str, Any]:
        return self._tags(scope, self.group_named(scope, params))
