"""Provisioned concurrency configs: Put/Get/Delete/ListProvisionedConcurrencyConfig(s).

Record kinds and keys, within the namespace "ACCOUNT:REGION":
- ``provisioned_config``  NAME/QUALIFIER  one config, on a published version or an alias (never $LATEST)

The API writes what the client asked for (Requested, LastModified) and resets Status to
IN_PROGRESS; the provisioner (invoke/provisioner.py) brings environments up and writes
Allocated, Available, Status and StatusReason through `record_allocation`, each time in a
transaction of its own. The lookups at the bottom are what it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import ALIAS, FUNCTION, VERSION, namespace
from lambdabox.control.paging import page, with_marker
from lambdabox.model import limits
from lambdabox.model.arns import LATEST, FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import (
    InvalidParameterValue,
    ProvisionedConcurrencyConfigNotFound,
    ResourceConflict,
    ResourceNotFound,
    UntypedInvalidParameterValue,
)
from lambdabox.model.timestamps import now
from lambdabox.store.records import RecordStore, Records

PROVISIONED_CONFIG = "provisioned_config"

#: Status values (ProvisionedConcurrencyStatusEnum).
IN_PROGRESS, READY, FAILED = "IN_PROGRESS", "READY", "FAILED"
#: StatusReason AWS gives when the function's INIT keeps failing in provisioned environments.
INIT_FAILURE_REASON = "FUNCTION_ERROR_INIT_FAILURE"

_REQUESTED = "RequestedProvisionedConcurrentExecutions"
_AVAILABLE = "AvailableProvisionedConcurrentExecutions"
_ALLOCATED = "AllocatedProvisionedConcurrentExecutions"

_NOT_FOUND = "No Provisioned Concurrency Config found for this function"
_LATEST_ON_PUT = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
_LATEST_ELSEWHERE = "The function resource provided must be an alias or a published version."
_OVER_RESERVED = "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function"
_ALIAS_ON_PROVISIONED_VERSION = (
    "Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version"
)
_VERSION_UNDER_PROVISIONED_ALIAS = "Version is pointed by a Provisioned Concurrency alias"

#: Called after a config was written or deleted, so the provisioner acts at once.
Changed = Callable[[Scope, str], None]


def _key(name: str, qualifier: str) -> str:
    return f"{name}/{qualifier}"


def _timestamp() -> str:
    """LastModified as AWS prints it for these configs: 2019-12-31T20:28:49+0000 (no milliseconds)."""
    return now().strftime("%Y-%m-%dT%H:%M:%S+0000")


class ProvisionedConcurrency:
    """The four provisioned concurrency operations.

    Contract:
    1. A config belongs to one published version or one alias; $LATEST is refused with
       AWS's words (Put has its own). The function and the qualifier must exist.
    2. Put replaces Requested, validates against the function's reserved concurrency (when
       set) or else the account's unreserved pool (which must keep its minimum of 100), and
       answers 202 with Status IN_PROGRESS; a version and an alias pointing to it cannot both
       have one.
    3. Get answers ProvisionedConcurrencyConfigNotFoundException (404) when the qualifier
       exists but has no config; Delete of a missing config succeeds (204), as on AWS.
    4. Writes check everything first and commit in one transaction; `changed` is called
       after the commit. Deleting a function, version or alias deletes its configs (in
       functions.py and aliases.py, in their transactions).
    """

    def __init__(self, store: RecordStore, account_limit: int, changed: Changed = lambda scope, name: None) -> None:
        self._store = store
        self._account_limit = account_limit
        self._changed = changed

    def put(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        qualifier = _published_qualifier(ref, _LATEST_ON_PUT)
        requested = request["ProvisionedConcurrentExecutions"]
        space = namespace(ref.scope)
        with self._store.transaction() as records:
            function = _require_qualifier(records, ref, qualifier)
            self._check_capacity(records, ref, qualifier, function, requested)
            _check_overlap(records, ref, qualifier)
            current = records.get(PROVISIONED_CONFIG, space, _key(ref.name, qualifier)) or {}
            config = {
                "FunctionArn": function_arn(ref.scope, ref.name, qualifier),
                _REQUESTED: requested,
                # Environments already up keep counting until the provisioner recounts them.
                _AVAILABLE: current.get(_AVAILABLE, 0),
                _ALLOCATED: current.get(_ALLOCATED, 0),
                "Status": IN_PROGRESS,
                "LastModified": _timestamp(),
            }
            records.put(PROVISIONED_CONFIG, space, _key(ref.name, qualifier), config)
        self._changed(ref.scope, ref.name)
        return _shown(config)

    def get(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        qualifier = _published_qualifier(ref, _LATEST_ELSEWHERE)
        with self._store.reading() as records:
            _require_qualifier(records, ref, qualifier)
            config = records.get(PROVISIONED_CONFIG, namespace(ref.scope), _key(ref.name, qualifier))
        if config is None:
            raise ProvisionedConcurrencyConfigNotFound(_NOT_FOUND)
        return _shown(config)

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        """Every config of the function: versions' in number order, then aliases' by name."""
        ref = parse_function_ref(request["FunctionName"], scope)
        with self._store.reading() as records:
            catalog.function(records, FunctionRef(ref.scope, ref.name))
            found = [body for _, body in records.scan(PROVISIONED_CONFIG, namespace(ref.scope), prefix=f"{ref.name}/")]
        found.sort(key=_listing_position)
        chosen, marker = page(found, _listing_position, request.get("Marker"), request.get("MaxItems"))
        return with_marker({"ProvisionedConcurrencyConfigs": chosen}, marker)

    def delete(self, scope: Scope, request: dict[str, Any]) -> None:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        qualifier = _published_qualifier(ref, _LATEST_ELSEWHERE)
        with self._store.transaction() as records:
            _require_qualifier(records, ref, qualifier)
            records.delete(PROVISIONED_CONFIG, namespace(ref.scope), _key(ref.name, qualifier))
        self._changed(ref.scope, ref.name)

    def _check_capacity(
        self, records: Records, ref: FunctionRef, qualifier: str, function: dict[str, Any], requested: int
    ) -> None:
        """The function's provisioned total must fit its reservation, or else leave the account's unreserved pool its minimum."""
        total = requested + sum(
            body[_REQUESTED]
            for key, body in records.scan(PROVISIONED_CONFIG, namespace(ref.scope), prefix=f"{ref.name}/")
            if key != _key(ref.name, qualifier)
        )
        reserved = function.get("ReservedConcurrentExecutions")
        if reserved is not None:
            if total > reserved:
                raise InvalidParameterValue(_OVER_RESERVED)
            return
        unreserved = self._account_limit - set_aside(records, ref.scope, ref.name)
        if total > unreserved:
            raise UntypedInvalidParameterValue(
                f"Specified ConcurrentExecutions for function is greater than account's unreserved concurrency [{unreserved}]."
            )
        if unreserved - total < limits.MIN_UNRESERVED_CONCURRENCY:
            raise UntypedInvalidParameterValue(
                "Specified ConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
                f"below its minimum value of [{limits.MIN_UNRESERVED_CONCURRENCY}]."
            )


# -- checks -------------------------------------------------------------------------------


def _published_qualifier(ref: FunctionRef, latest_message: str) -> str:
    qualifier = ref.qualifier or LATEST
    if qualifier == LATEST:
        raise InvalidParameterValue(latest_message)
    return qualifier


def _require_qualifier(records: Records, ref: FunctionRef, qualifier: str) -> dict[str, Any]:
    """The function's record, once the version or alias is known to exist; AWS's 404 otherwise.

    A missing function is reported as its missing version or alias, as AWS words it.
    """
    space = namespace(ref.scope)
    function = records.get(FUNCTION, space, ref.name)
    if catalog.is_version_number(qualifier):
        if function is None or records.get(VERSION, space, catalog.version_key(ref.name, qualifier)) is None:
            raise catalog.not_found(ref, qualifier)
    elif function is None or records.get(ALIAS, space, _key(ref.name, qualifier)) is None:
        raise ResourceNotFound(f"Cannot find alias arn: {function_arn(ref.scope, ref.name, qualifier)}")
    return function


def _check_overlap(records: Records, ref: FunctionRef, qualifier: str) -> None:
    """A version and an alias that points to it cannot both be provisioned."""
    space = namespace(ref.scope)
    if catalog.is_version_number(qualifier):
        for alias in catalog.aliases(records, ref):
            if alias["FunctionVersion"] == qualifier and records.get(
                PROVISIONED_CONFIG, space, _key(ref.name, alias["Name"])
            ):
                raise ResourceConflict(_VERSION_UNDER_PROVISIONED_ALIAS)
        return
    alias = catalog.alias(records, ref, qualifier)
    if records.get(PROVISIONED_CONFIG, space, _key(ref.name, alias["FunctionVersion"])) is not None:
        raise ResourceConflict(_ALIAS_ON_PROVISIONED_VERSION)


def set_aside(records: Records, scope: Scope, excluding: str | None = None) -> int:
    """Concurrency the functions (but `excluding`) hold: each one's reservation, or else its provisioned total."""
    space = namespace(scope)
    provisioned: dict[str, int] = {}
    for key, body in records.scan(PROVISIONED_CONFIG, space):
        owner = key.split("/", 1)[0]
        provisioned[owner] = provisioned.get(owner, 0) + body[_REQUESTED]
    held = 0
    for key, function in records.scan(FUNCTION, space):
        if key == excluding:
            continue
        reserved = function.get("ReservedConcurrentExecutions")
        held += reserved if reserved is not None else provisioned.get(key, 0)
    return held


# -- shapes -------------------------------------------------------------------------------


def _shown(config: dict[str, Any]) -> dict[str, Any]:
    """Get's and Put's answer: the stored config without its FunctionArn (List's items keep it)."""
    return {key: value for key, value in config.items() if key != "FunctionArn"}


def _listing_position(config: dict[str, Any]) -> str:
    qualifier = config["FunctionArn"].rsplit(":", 1)[1]
    if catalog.is_version_number(qualifier):
        return f"1{int(qualifier):010d}"
    return f"2{qualifier}"


# -- lookups and status updates for the provisioner ------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """One stored config as the provisioner needs it."""

    scope: Scope
    name: str
    qualifier: str
    requested: int
    #: The version its environments serve: the version itself, or the alias's primary version.
    version: str
    #: That version's record (configuration and code), to build environments from.
    record: dict[str, Any]
    #: Changes on every Put: a new one clears an earlier FAILED.
    last_modified: str
    #: The config as stored.
    config: dict[str, Any]


def wanted(records: Records) -> list[Wanted]:
    """Every stored config, in every account and region, with the version it serves.

    A config whose version or alias is gone (deleted in the same moment) is left out.
    """
    found = []
    for space, key, body in records.scan_everywhere(PROVISIONED_CONFIG):
        account, region = space.split(":", 1)
        name, qualifier = key.split("/", 1)
        version = qualifier
        if not catalog.is_version_number(qualifier):
            alias = records.get(ALIAS, space, key)
            if alias is None:
                continue
            version = alias["FunctionVersion"]
        record = records.get(VERSION, space, catalog.version_key(name, version))
        if record is None:
            continue
        found.append(
            Wanted(
                Scope(account, region), name, qualifier, body[_REQUESTED], version, record, body.get("LastModified", ""), body
            )
        )
    return found


def record_allocation(
    records: Records, scope: Scope, name: str, qualifier: str, allocated: int, failure: str | None = None
) -> None:
    """Write how many environments are up (see `with_allocation`). Does nothing when the config is gone or says the same."""
    space = namespace(scope)
    config = records.get(PROVISIONED_CONFIG, space, _key(name, qualifier))
    if config is None:
        return
    updated = with_allocation(config, allocated, failure)
    if updated != config:
        records.put(PROVISIONED_CONFIG, space, _key(name, qualifier), updated)


def with_allocation(config: dict[str, Any], allocated: int, failure: str | None = None) -> dict[str, Any]:
    """The config with `allocated` environments up: READY once they match Requested, FAILED with `failure` short of it."""
    requested = config[_REQUESTED]
    if failure is not None and allocated < requested:
        status = FAILED
    else:
        status = READY if allocated == requested else IN_PROGRESS
    updated = {
        **{key: value for key, value in config.items() if key != "StatusReason"},
        _ALLOCATED: allocated,
        _AVAILABLE: min(allocated, requested),
        "Status": status,
    }
    if status == FAILED:
        updated["StatusReason"] = failure
    return updated


def provisioned_total(records: Records, scope: Scope, name: str) -> int:
    """The sum of Requested over the function's configs."""
    return sum(body[_REQUESTED] for _, body in records.scan(PROVISIONED_CONFIG, namespace(scope), prefix=f"{name}/"))
