"""Resource-based policies: AddPermission, RemovePermission, GetPolicy (functions, versions,
aliases) and AddLayerVersionPermission, RemoveLayerVersionPermission, GetLayerVersionPolicy.

Records, in the namespace "ACCOUNT:REGION":
- ``policy``        NAME/ | NAME/7 | NAME/ALIAS   {"statements": [{"Sid", "text"}], "RevisionId"}
- ``layer_policy``  NAME/0000000003               {"statements": [...], "RevisionId"}
Each statement is kept as the JSON text AddPermission returned, so a document is assembled,
measured and served without re-encoding (see model/permissions.py).

Contract:
1. Every check (input, existence, RevisionId, statement id, size) runs before anything is
   written, inside the write transaction; a refused request changes nothing.
2. A function's policy and the RevisionId it is read with belong to what the qualifier names:
   no qualifier (or $LATEST, for reading and removing) is the function and its $LATEST
   RevisionId; a version number is that version; an alias name is that alias. Adding or
   removing a statement gives that version or alias a new RevisionId, and GetPolicy returns it.
   AddPermission refuses $LATEST, as Lambda does. The policy keeps the RevisionId its last change gave: GetPolicy
   returns it, and a RevisionId in Add/RemovePermission is checked against it, so publishing a version (which
   renews $LATEST's RevisionId) leaves the policy's unchanged, as recorded from AWS.
3. A layer version's policy has a RevisionId of its own, renewed by every change.
4. Deleting a function, version, alias or layer version deletes its policy in the same
   transaction (functions.py, aliases.py, layers.py).
5. `function_policy` and `layer_policy` return the parsed document for enforcement, or None
   when there is no statement. They read only what the qualifier names: a version's policy is
   not the function's, and the caller decides how they combine.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import ALIAS, FUNCTION, POLICY, VERSION, namespace, policy_key, version_key
from lambdabox.control.layers import LAYER_POLICY, LAYER_VERSION
from lambdabox.control.layers import version_key as layer_version_key
from lambdabox.control.versions import blobs_of
from lambdabox.model import permissions
from lambdabox.model.arns import (
    LATEST,
    FunctionRef,
    Scope,
    function_arn,
    layer_arn,
    parse_function_ref,
    parse_layer_name,
)
from lambdabox.model.errors import (
    AccessDenied,
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
)
from lambdabox.store.records import RecordStore, Records

#: Lambda's words for a stale RevisionId on AddPermission and RemovePermission. AWS's API reference
#: names only the exception; this wording is the one recorded from Lambda (it differs from the
#: GetFunction/GetAlias wording that UpdateFunctionConfiguration and UpdateAlias use).
POLICY_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetPolicy API to retrieve the latest Revision Id"
)
#: The same for a layer version's policy (AddLayerVersionPermission, RemoveLayerVersionPermission), as recorded.
LAYER_POLICY_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetLayerPolicy API to retrieve the latest Revision Id"
)
#: GetPolicy on a function, version or alias without a policy, and on a function or version that does
#: not exist (AWS's recorded answer: it does not say which).
NO_POLICY = "The resource you requested does not exist."
#: GetLayerVersionPolicy without a policy (the message users report from Lambda), and the
#: removal of a statement from a resource without any policy (assumed to be worded alike).
NO_ASSOCIATED_POLICY = "No policy is associated with the given resource."
LATEST_REFUSED = "We currently do not support adding policies for $LATEST."
#: A qualifier that could name an alias (not a number, no "$"): a missing one is reported as an alias.
_ALIAS_NAME = re.compile(r"[a-zA-Z0-9-_]+")


def _conflict(sid: str) -> ResourceConflict:
    return ResourceConflict(
        f"The statement id ({sid}) provided already exists. Please provide a new statement id, "
        "or remove the existing statement."
    )


def _missing_statement(sid: str) -> ResourceNotFound:
    return ResourceNotFound(f"Statement {sid} is not found in resource policy.")


def _texts(policy: dict[str, Any] | None) -> list[str]:
    return [entry["text"] for entry in (policy or {}).get("statements", [])]


def _parsed(policy: dict[str, Any] | None) -> dict[str, Any] | None:
    texts = _texts(policy)
    return json.loads(permissions.document(texts)) if texts else None


def _without(policy: dict[str, Any] | None, sid: str) -> list[dict[str, str]]:
    """The policy's statements but the one with Sid `sid`, or the right ResourceNotFoundException."""
    if not policy or not policy.get("statements"):
        raise ResourceNotFound(NO_ASSOCIATED_POLICY)
    kept = [entry for entry in policy["statements"] if entry["Sid"] != sid]
    if len(kept) == len(policy["statements"]):
        raise _missing_statement(sid)
    return kept


def _with(policy: dict[str, Any] | None, sid: str, text: str) -> list[dict[str, str]]:
    """The policy's statements and a new one, or ResourceConflict / PolicyLengthExceeded."""
    statements = list((policy or {}).get("statements", []))
    if any(entry["Sid"] == sid for entry in statements):
        raise _conflict(sid)
    statements.append({"Sid": sid, "text": text})
    permissions.check_size(permissions.document(entry["text"] for entry in statements))
    return statements


def _qualifier(ref: FunctionRef) -> str | None:
    """The qualifier a policy is filed under: None for the function, a version number without
    leading zeros, or an alias name."""
    if ref.qualifier is None or ref.qualifier == LATEST:
        return None
    if catalog.is_version_number(ref.qualifier):
        return ref.qualifier.lstrip("0") or "0"
    return ref.qualifier


@dataclass
class _Target:
    """What a function policy belongs to: the function ($LATEST), a version or an alias."""

    ref: FunctionRef
    qualifier: str | None
    kind: str
    key: str
    record: dict[str, Any]

    @classmethod
    def find(cls, records: Records, ref: FunctionRef) -> "_Target":
        """The target `ref` names, or ResourceNotFoundException: "Function not found: ARN" for a
        function or version, "Cannot find alias arn: ARN" for a qualifier that could name an alias."""
        catalog.function(records, ref)
        qualifier = _qualifier(ref)
        if qualifier is None or catalog.is_version_number(qualifier):
            number = qualifier or LATEST
            record = catalog.version(records, ref, number)
            return cls(ref, qualifier, VERSION, version_key(ref.name, number), record)
        record = records.get(ALIAS, namespace(ref.scope), f"{ref.name}/{qualifier}")
        if record is None and _ALIAS_NAME.fullmatch(qualifier):
            record = catalog.alias(records, ref, qualifier)
        if record is None:
            raise catalog.not_found(ref, qualifier)
        return cls(ref, qualifier, ALIAS, f"{ref.name}/{qualifier}", record)

    @property
    def revision(self) -> str:
        return self.record["RevisionId"] if self.kind == ALIAS else self.record["config"]["RevisionId"]

    @property
    def policy_key(self) -> str:
        return policy_key(self.ref.name, self.qualifier)

    def policy_revision(self, policy: dict[str, Any] | None) -> str:
        """The RevisionId of the target's policy: the one its last change gave, or the target's own."""
        return (policy or {}).get("RevisionId") or self.revision

    def require_revision(self, policy: dict[str, Any] | None, expected: str | None) -> None:
        if expected and expected != self.policy_revision(policy):
            raise PreconditionFailed(POLICY_REVISION_MISMATCH)

    def renew(self, records: Records) -> str:
        """Give the version or alias a new RevisionId, as a change of its policy does on Lambda; return it."""
        revision = str(uuid.uuid4())
        if self.kind == ALIAS:
            self.record["RevisionId"] = revision
            records.put(ALIAS, namespace(self.ref.scope), self.key, self.record)
        else:
            self.record["config"]["RevisionId"] = revision
            records.put(VERSION, namespace(self.ref.scope), self.key, self.record, blobs=blobs_of(self.record))
        return revision


class Permissions:
    def __init__(self, store: RecordStore) -> None:
        self._store = store

    # -- functions ----------------------------------------------------------------------

    def add(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        if ref.qualifier == LATEST:
            raise InvalidParameterValue(LATEST_REFUSED)
        resource = function_arn(ref.scope, ref.name, _qualifier(ref))
        text = permissions.render(permissions.function_statement(request, resource))
        with self._store.transaction() as records:
            target = _Target.find(records, ref)
            policy = records.get(POLICY, namespace(ref.scope), target.policy_key)
            target.require_revision(policy, request.get("RevisionId"))
            statements = _with(policy, request["StatementId"], text)
            revision = target.renew(records)
            records.put(POLICY, namespace(ref.scope), target.policy_key, {"statements": statements, "RevisionId": revision})
        return {"Statement": text}

    def remove(self, scope: Scope, request: dict[str, Any]) -> None:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        with self._store.transaction() as records:
            if records.get(FUNCTION, namespace(ref.scope), ref.name) is None:
                raise ResourceNotFound(f"No policy found for: {function_arn(ref.scope, ref.name, _qualifier(ref))}")
            target = _Target.find(records, ref)
            policy = records.get(POLICY, namespace(ref.scope), target.policy_key)
            target.require_revision(policy, request.get("RevisionId"))
            kept = _without(policy, request["StatementId"])
            revision = target.renew(records)
            if kept:
                records.put(POLICY, namespace(ref.scope), target.policy_key, {"statements": kept, "RevisionId": revision})
            else:
                records.delete(POLICY, namespace(ref.scope), target.policy_key)

    def get(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        with self._store.reading() as records:
            try:
                target = _Target.find(records, ref)
            except ResourceNotFound:
                raise ResourceNotFound(NO_POLICY) from None
            policy = records.get(POLICY, namespace(ref.scope), target.policy_key)
        texts = _texts(policy)
        if not texts:
            raise ResourceNotFound(NO_POLICY)
        return {"Policy": permissions.document(texts), "RevisionId": target.policy_revision(policy)}

    def function_policy(self, scope: Scope, name: str, qualifier: str | None) -> dict | None:
        """The parsed policy of a function (qualifier None or $LATEST), version or alias; None if none."""
        with self._store.reading() as records:
            return _parsed(records.get(POLICY, namespace(scope), policy_key(name, qualifier)))

    # -- layers -------------------------------------------------------------------------

    def add_layer(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        scope, name, number = _layer_version(scope, request["LayerName"], request["VersionNumber"])
        statement = permissions.layer_statement(request, layer_arn(scope, name, number))
        text = permissions.render(statement)
        key = layer_version_key(name, number)
        with self._store.transaction() as records:
            _require_layer_version(records, scope, name, number)
            policy = records.get(LAYER_POLICY, namespace(scope), key)
            _require_layer_revision(policy, request.get("RevisionId"))
            statements = _with(policy, request["StatementId"], text)
            revision = str(uuid.uuid4())
            records.put(LAYER_POLICY, namespace(scope), key, {"statements": statements, "RevisionId": revision})
        return {"Statement": text, "RevisionId": revision}

    def remove_layer(self, scope: Scope, request: dict[str, Any]) -> None:
        scope, name, number = _layer_version(scope, request["LayerName"], request["VersionNumber"])
        key = layer_version_key(name, number)
        with self._store.transaction() as records:
            _require_layer_version(records, scope, name, number)
            policy = records.get(LAYER_POLICY, namespace(scope), key)
            _require_layer_revision(policy, request.get("RevisionId"))
            kept = _without(policy, request["StatementId"])
            if kept:
                records.put(LAYER_POLICY, namespace(scope), key, {"statements": kept, "RevisionId": str(uuid.uuid4())})
            else:
                records.delete(LAYER_POLICY, namespace(scope), key)

    def get_layer(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        scope, name, number = _layer_version(scope, request["LayerName"], request["VersionNumber"])
        with self._store.reading() as records:
            _require_layer_version(records, scope, name, number)
            policy = records.get(LAYER_POLICY, namespace(scope), layer_version_key(name, number))
        texts = _texts(policy)
        if not texts:
            raise ResourceNotFound(NO_ASSOCIATED_POLICY)
        return {"Policy": permissions.document(texts), "RevisionId": policy["RevisionId"]}

    def layer_policy(self, scope: Scope, name: str, version: int) -> dict | None:
        """The parsed policy of a layer version of `scope`'s account; None if it has none."""
        with self._store.reading() as records:
            return _parsed(records.get(LAYER_POLICY, namespace(scope), layer_version_key(name, version)))


def _layer_version(scope: Scope, layer_name: str, number: int) -> tuple[Scope, str, int]:
    """The layer a request names, which must be the caller's own, and its version number."""
    owner, name = parse_layer_name(layer_name, scope)
    if owner.account != scope.account:
        raise AccessDenied(f"The caller's account {scope.account} cannot change policies of account {owner.account}.")
    if number < 1:
        raise InvalidParameterValue("Layer Version Cannot be less than 1")
    return owner, name, number


def _require_layer_version(records: Records, scope: Scope, name: str, number: int) -> None:
    if records.get(LAYER_VERSION, namespace(scope), layer_version_key(name, number)) is None:
        raise ResourceNotFound(f"Layer version {layer_arn(scope, name, number)} does not exist.")


def _require_layer_revision(policy: dict[str, Any] | None, expected: str | None) -> None:
    if expected and expected != (policy or {}).get("RevisionId"):
        raise PreconditionFailed(LAYER_POLICY_REVISION_MISMATCH)
