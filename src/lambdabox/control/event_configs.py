"""Asynchronous invocation settings: event invoke configs and recursion control.

Record kinds and keys, within the namespace "ACCOUNT:REGION":
- ``event_invoke_config``  NAME/QUALIFIER  one FunctionEventInvokeConfig, for $LATEST (also
                                           when the client named no qualifier), a version or an alias
- ``function``             NAME            gains ``RecursiveLoop`` once PutFunctionRecursionConfig sets it

The async worker reads both through the pure lookups at the bottom, `effective_config`
and `recursion_allowed`, inside a transaction of its own.
"""

from __future__ import annotations

import re
import time
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import ALIAS, FUNCTION, namespace
from lambdabox.control.paging import page, with_marker
from lambdabox.model.arns import LATEST, FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import InvalidParameterValue, ResourceNotFound, constraint, validation_failure
from lambdabox.store.records import RecordStore, Records

EVENT_INVOKE_CONFIG = "event_invoke_config"

#: Retries after a function error when no config sets MaximumRetryAttempts (AWS's default; range 0-2).
DEFAULT_MAXIMUM_RETRY_ATTEMPTS = 2
#: Seconds an event may stay queued, retries included, when no config sets MaximumEventAgeInSeconds
#: (6 hours: AWS's default and also its maximum).
DEFAULT_MAXIMUM_EVENT_AGE_S = 21600

#: RecursiveLoop values, in the order AWS lists them in its enum error.
ALLOW, TERMINATE = "Allow", "Terminate"
_RECURSIVE_LOOP_VALUES = (TERMINATE, ALLOW)

_SETTINGS = ("MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig")
_SIDES = ("OnSuccess", "OnFailure")

#: Services a destination ARN may name, and the sides that accept each. S3 buckets take
#: only failure records, as on AWS.
_DESTINATION_SIDES = {
    "lambda": _SIDES,
    "sqs": _SIDES,
    "sns": _SIDES,
    "events": _SIDES,
    "s3": ("OnFailure",),
}

_DESTINATION_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-zA-Z0-9-]*):(?P<service>[a-zA-Z0-9-]+):(?P<region>[a-z0-9-]*):"
    r"(?P<account>\d{12})?:(?P<resource>.*)$"
)
_FUNCTION_RESOURCE = re.compile(r"^function:(?P<name>[a-zA-Z0-9_-]+)(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?$")

_NOTHING_TO_SET = "You must specify at least one of error handling or destination setting."
_NO_FUNCTION = "The function doesn't exist."
_SELF_DESTINATION = "You can't specify the function as a destination for itself."


def _no_config(ref: FunctionRef, qualifier: str) -> ResourceNotFound:
    return ResourceNotFound(f"The function {function_arn(ref.scope, ref.name, qualifier)} doesn't have an EventInvokeConfig")


def _key(name: str, qualifier: str) -> str:
    return f"{name}/{qualifier}"


class EventInvokeConfigs:
    """Put/Update/Get/List/DeleteFunctionEventInvokeConfig and Get/PutFunctionRecursionConfig.

    Contract:
    1. A config belongs to one qualifier: $LATEST (what an unqualified name means), a
       published version or an alias. Configs never merge across qualifiers.
    2. Put replaces the whole config; Update changes only the members it names (and, in
       DestinationConfig, only the sides it names). Both refuse a request that sets nothing.
    3. Writes check everything first and commit one record in one transaction, so a
       rejected request changes nothing.
    4. Get and Delete look for the config alone: a missing function, version or alias gives
       the same "doesn't have an EventInvokeConfig" as a missing config, as on AWS.
    5. Deleting a function deletes its configs (functions.py does it, in its transaction).
    """

    def __init__(self, store: RecordStore) -> None:
        self._store = store

    # -- event invoke configs -----------------------------------------------------------

    def put(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        return self._write(scope, request, merge=False)

    def update(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        return self._write(scope, request, merge=True)

    def _write(self, scope: Scope, request: dict[str, Any], merge: bool) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        settings = {key: request[key] for key in _SETTINGS if key in request}
        if not settings:
            raise InvalidParameterValue(_NOTHING_TO_SET)
        qualifier = ref.qualifier or LATEST
        with self._store.transaction() as records:
            _require_qualifier(records, ref, qualifier)
            if "DestinationConfig" in settings:
                _check_destinations(records, ref, settings["DestinationConfig"])
            if merge:
                current = records.get(EVENT_INVOKE_CONFIG, namespace(ref.scope), _key(ref.name, qualifier))
                if current is None:
                    raise _no_config(ref, qualifier)
                settings = _merged(current, settings)
            config = {
                **{key: settings[key] for key in ("MaximumRetryAttempts", "MaximumEventAgeInSeconds") if key in settings},
                "DestinationConfig": _normalised(settings.get("DestinationConfig")),
                "FunctionArn": function_arn(ref.scope, ref.name, qualifier),
                # The model's Date: rest-json sends it as epoch seconds.
                "LastModified": time.time(),
            }
            records.put(EVENT_INVOKE_CONFIG, namespace(ref.scope), _key(ref.name, qualifier), config)
        return config

    def get(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        qualifier = ref.qualifier or LATEST
        with self._store.reading() as records:
            config = records.get(EVENT_INVOKE_CONFIG, namespace(ref.scope), _key(ref.name, qualifier))
        if config is None:
            raise _no_config(ref, qualifier)
        return config

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        """Every config of the function: $LATEST's, then versions' in number order, then aliases' by name."""
        ref = parse_function_ref(request["FunctionName"], scope)
        with self._store.reading() as records:
            if records.get(FUNCTION, namespace(ref.scope), ref.name) is None:
                raise ResourceNotFound(_NO_FUNCTION)
            found = [body for _, body in records.scan(EVENT_INVOKE_CONFIG, namespace(ref.scope), prefix=f"{ref.name}/")]
        found.sort(key=_listing_position)
        chosen, marker = page(found, _listing_position, request.get("Marker"), request.get("MaxItems"))
        return with_marker({"FunctionEventInvokeConfigs": chosen}, marker)

    def delete(self, scope: Scope, request: dict[str, Any]) -> None:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        qualifier = ref.qualifier or LATEST
        with self._store.transaction() as records:
            if not records.delete(EVENT_INVOKE_CONFIG, namespace(ref.scope), _key(ref.name, qualifier)):
                raise _no_config(ref, qualifier)

    # -- recursion control --------------------------------------------------------------

    def get_recursion(self, scope: Scope, function_name: str) -> dict[str, Any]:
        ref = parse_function_ref(function_name, scope)
        with self._store.reading() as records:
            function = catalog.function(records, ref)
        return {"RecursiveLoop": function.get("RecursiveLoop", TERMINATE)}

    def put_recursion(self, scope: Scope, function_name: str, recursive_loop: str) -> dict[str, Any]:
        # The model's enum check usually answers first; this one words it in AWS's order.
        if recursive_loop not in _RECURSIVE_LOOP_VALUES:
            rule = f"Member must satisfy enum value set: [{', '.join(_RECURSIVE_LOOP_VALUES)}]"
            raise validation_failure([constraint(recursive_loop, "recursiveLoop", rule)])
        ref = parse_function_ref(function_name, scope)
        with self._store.transaction() as records:
            function = catalog.function(records, ref)
            function["RecursiveLoop"] = recursive_loop
            records.put(FUNCTION, namespace(ref.scope), ref.name, function)
        return {"RecursiveLoop": recursive_loop}


# -- checks -------------------------------------------------------------------------------


def _require_qualifier(records: Records, ref: FunctionRef, qualifier: str) -> None:
    """The function and the version or alias a config is for must exist (Put and Update only)."""
    space = namespace(ref.scope)
    if records.get(FUNCTION, space, ref.name) is None:
        raise ResourceNotFound(_NO_FUNCTION)
    if qualifier == LATEST:
        return
    if catalog.is_version_number(qualifier):
        found = records.get(catalog.VERSION, space, catalog.version_key(ref.name, qualifier))
    else:
        found = records.get(ALIAS, space, f"{ref.name}/{qualifier}")
    if found is None:
        raise ResourceNotFound(_NO_FUNCTION)


def _check_destinations(records: Records, ref: FunctionRef, destinations: dict[str, Any]) -> None:
    """Each named destination must be an ARN of a service that side accepts; a function must exist and not be this one."""
    for side in _SIDES:
        arn = (destinations.get(side) or {}).get("Destination")
        if not arn:
            continue
        match = _DESTINATION_ARN.match(arn)
        if (
            match is None
            or side not in _DESTINATION_SIDES.get(match["service"], ())
            or (match["service"] == "events" and not match["resource"].startswith("event-bus/"))
        ):
            raise InvalidParameterValue(f"The provided destination config {_java_text(destinations)} is invalid.")
        if match["service"] == "lambda":
            _check_function_destination(records, ref, arn, match)


def _check_function_destination(records: Records, ref: FunctionRef, arn: str, match: re.Match[str]) -> None:
    invalid = InvalidParameterValue(f"The destination ARN {arn} is invalid.")
    function = _FUNCTION_RESOURCE.match(match["resource"])
    if function is None or not match["account"] or not match["region"]:
        raise invalid
    target = FunctionRef(Scope(match["account"], match["region"]), function["name"], function["qualifier"])
    if target.scope == ref.scope and target.name == ref.name:
        raise InvalidParameterValue(_SELF_DESTINATION)
    try:
        catalog.resolve(records, target)
    except ResourceNotFound:
        raise invalid from None


def _java_text(destinations: dict[str, Any]) -> str:
    """A DestinationConfig as AWS's Java front end prints it in its error message."""

    def side(name: str) -> str:
        if name not in destinations:
            return "null"
        destination = (destinations[name] or {}).get("Destination")
        return f"{name}(destination={destination if destination is not None else 'null'})"

    return f"DestinationConfig(onSuccess={side('OnSuccess')}, onFailure={side('OnFailure')})"


# -- shapes -------------------------------------------------------------------------------


def _normalised(destinations: dict[str, Any] | None) -> dict[str, Any]:
    """A DestinationConfig as AWS returns it: both sides present, empty when unset."""
    destinations = destinations or {}
    shown: dict[str, Any] = {}
    for side in _SIDES:
        arn = (destinations.get(side) or {}).get("Destination")
        shown[side] = {"Destination": arn} if arn else {}
    return shown


def _merged(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Update's semantics: the members named replace the stored ones; in DestinationConfig, side by side."""
    merged = {key: current[key] for key in _SETTINGS if key in current}
    for key, value in changes.items():
        if key == "DestinationConfig":
            value = {**current.get("DestinationConfig", {}), **{side: value[side] for side in _SIDES if side in value}}
        merged[key] = value
    return merged


def _listing_position(config: dict[str, Any]) -> str:
    """A sort key that puts $LATEST first, then versions by number, then aliases by name."""
    qualifier = config["FunctionArn"].rsplit(":", 1)[1]
    if qualifier == LATEST:
        return "0"
    if catalog.is_version_number(qualifier):
        return f"1{int(qualifier):010d}"
    return f"2{qualifier}"


# -- lookups for the async worker -------------------------------------------------------


def effective_config(
    records: Records, scope: Scope, name: str, qualifier_or_version: str, alias: str | None
) -> dict[str, Any]:
    """The settings that govern one asynchronous invocation, defaults filled in.

    `qualifier_or_version` is what the event runs ("$LATEST" or a version number; an alias
    name works too); `alias` is the alias it was invoked through, if any. The alias's own
    config wins when it has one, else the config of `qualifier_or_version`; a config is
    taken whole, never mixed with another. Returns MaximumRetryAttempts,
    MaximumEventAgeInSeconds and DestinationConfig ({"OnSuccess": {...}, "OnFailure": {...}},
    each side {} or {"Destination": ARN}).
    """
    space = namespace(scope)
    found = records.get(EVENT_INVOKE_CONFIG, space, _key(name, alias)) if alias else None
    if found is None:
        found = records.get(EVENT_INVOKE_CONFIG, space, _key(name, qualifier_or_version)) or {}
    return {
        "MaximumRetryAttempts": found.get("MaximumRetryAttempts", DEFAULT_MAXIMUM_RETRY_ATTEMPTS),
        "MaximumEventAgeInSeconds": found.get("MaximumEventAgeInSeconds", DEFAULT_MAXIMUM_EVENT_AGE_S),
        "DestinationConfig": _normalised(found.get("DestinationConfig")),
    }


def recursion_allowed(records: Records, scope: Scope, name: str) -> bool:
    """Whether the function's RecursiveLoop is Allow; Terminate (the default) and a missing function give False."""
    function = records.get(FUNCTION, namespace(scope), name)
    return bool(function) and function.get("RecursiveLoop", TERMINATE) == ALLOW
