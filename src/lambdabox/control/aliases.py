"""Aliases: named pointers to a version, optionally splitting traffic with a second one."""

from __future__ import annotations

import uuid
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import ALIAS, POLICY, namespace, policy_key
from lambdabox.control.event_configs import EVENT_INVOKE_CONFIG
from lambdabox.control.function_urls import FUNCTION_URL
from lambdabox.control.paging import page, with_marker
from lambdabox.control.provisioned import PROVISIONED_CONFIG
from lambdabox.control.versions import REVISION_MISMATCH
from lambdabox.model.arns import LATEST, FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    UntypedInvalidParameterValue,
)
from lambdabox.store.records import Records


class Aliases:
    def __init__(self, store) -> None:
        self._store = store

    def create(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        name = request["Name"]
        with self._store.transaction() as records:
            version = request["FunctionVersion"]
            if records.get(catalog.FUNCTION, namespace(ref.scope), ref.name) is None:
                raise catalog.not_found(ref, version)
            if records.get(ALIAS, namespace(ref.scope), f"{ref.name}/{name}") is not None:
                raise ResourceConflict(f"Alias already exists: {function_arn(ref.scope, ref.name, name)}")
            routing = _check_target(records, ref, version, request.get("RoutingConfig"))
            alias = {
                "AliasArn": function_arn(ref.scope, ref.name, name),
                "Name": name,
                "FunctionVersion": version,
                "Description": request.get("Description", ""),
                "RevisionId": str(uuid.uuid4()),
            }
            if routing:
                alias["RoutingConfig"] = routing
            records.put(ALIAS, namespace(ref.scope), f"{ref.name}/{name}", alias)
        return alias

    def get(self, scope: Scope, function_name: str, name: str) -> dict[str, Any]:
        ref = parse_function_ref(function_name, scope)
        with self._store.reading() as records:
            catalog.function(records, ref)
            return catalog.alias(records, ref, name)

    def update(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        name = request["Name"]
        with self._store.transaction() as records:
            catalog.function(records, ref)
            alias = records.get(ALIAS, namespace(ref.scope), f"{ref.name}/{name}")
            if alias is None:
                raise ResourceNotFound(f"Alias not found: {function_arn(ref.scope, ref.name, name)}")
            if request.get("RevisionId") and request["RevisionId"] != alias["RevisionId"]:
                raise PreconditionFailed(REVISION_MISMATCH)
            version = request.get("FunctionVersion", alias["FunctionVersion"])
            routing_request = request.get("RoutingConfig", alias.get("RoutingConfig"))
            routing = _check_target(records, ref, version, routing_request)
            alias = {**alias, "FunctionVersion": version, "RevisionId": str(uuid.uuid4())}
            if "Description" in request:
                alias["Description"] = request["Description"]
            alias.pop("RoutingConfig", None)
            if routing:
                alias["RoutingConfig"] = routing
            records.put(ALIAS, namespace(ref.scope), f"{ref.name}/{name}", alias)
        return alias

    def delete(self, scope: Scope, function_name: str, name: str) -> None:
        ref = parse_function_ref(function_name, scope)
        with self._store.transaction() as records:
            catalog.function(records, ref)
            records.delete(ALIAS, namespace(ref.scope), f"{ref.name}/{name}")
            # The alias's asynchronous settings go with it, or a new alias of that name would inherit them.
            records.delete(EVENT_INVOKE_CONFIG, namespace(ref.scope), f"{ref.name}/{name}")
            records.delete(PROVISIONED_CONFIG, namespace(ref.scope), f"{ref.name}/{name}")
            records.delete(POLICY, namespace(ref.scope), policy_key(ref.name, name))
            records.delete(FUNCTION_URL, namespace(ref.scope), f"{ref.name}/{name}")

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        with self._store.reading() as records:
            catalog.function(records, ref)
            found = catalog.aliases(records, ref)
        version = request.get("FunctionVersion")
        if version:
            found = [alias for alias in found if alias["FunctionVersion"] == version]
        chosen, marker = page(found, lambda alias: alias["Name"], request.get("Marker"), request.get("MaxItems"))
        return with_marker({"Aliases": chosen}, marker)


def _check_target(records: Records, ref: FunctionRef, version: str, routing: dict[str, Any] | None) -> dict[str, Any] | None:
    """Check the versions an alias would point to; return the RoutingConfig to store, if any."""
    catalog.version(records, ref, version)
    weights = (routing or {}).get("AdditionalVersionWeights") or {}
    if not weights:
        return None
    if len(weights) > 1:
        raise InvalidParameterValue("Number of items in AdditionalVersionWeights cannot be greater than 1")
    if version == LATEST:
        # AWS sends this one without a Type in the body.
        raise UntypedInvalidParameterValue("$LATEST is not supported for an alias pointing to more than 1 version")
    for extra in weights:
        if extra == version:
            raise InvalidParameterValue(
                f"Invalid function version {extra}. Function version {extra} is already included in routing configuration."
            )
        catalog.version(records, ref, extra)
    return {"AdditionalVersionWeights": dict(weights)}
