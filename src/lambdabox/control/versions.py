"""Published versions: immutable snapshots of $LATEST, numbered from 1 and never reused."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lambdabox.control import catalog, states
from lambdabox.control.catalog import FUNCTION, VERSION, namespace, version_key
from lambdabox.control.paging import page, with_marker
from lambdabox.model.arns import LATEST, FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.configuration import fingerprint
from lambdabox.model.errors import InvalidParameterValue, PreconditionFailed
from lambdabox.model.timestamps import lambda_time, now
from lambdabox.store.records import RecordStore, Records

if TYPE_CHECKING:
    from lambdabox.control.env_secrets import EnvSecrets

REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


def blobs_of(record: dict[str, Any]) -> list[str]:
    """The archive keys a version record needs kept: its code and its layers."""
    return [record["code_key"], *(layer["key"] for layer in record.get("layers", []))]


def publish(records: Records, ref: FunctionRef, secrets: EnvSecrets, description: str | None = None) -> dict[str, Any]:
    """Publish $LATEST as a new version, or return the newest version if nothing changed since it.

    The answer is the version's configuration as the API shows it (variables in the clear);
    the record holds them sealed for the new version. A version of a function with SnapStart
    stays Pending until its snapshot is taken (the activator takes it, after INIT), and
    shows OptimizationStatus On.
    """
    function = catalog.function(records, ref)
    latest = catalog.version(records, ref, LATEST)
    current = fingerprint(latest["config"])
    if function["last_version"]:
        newest = records.scan(VERSION, namespace(ref.scope), prefix=f"{ref.name}/", limit=None)[-1][1]
        if newest["config"]["Version"] != LATEST and newest.get("fingerprint") == current:
            return secrets.shown(ref.scope, newest["config"])
    number = function["last_version"] + 1
    function["last_version"] = number
    # Opened as $LATEST's, sealed again below as the new version's: each sealed value opens in its own record only.
    variables = secrets.variables(ref.scope, latest["config"]) if "Environment" in latest["config"] else None
    config = dict(latest["config"])
    config.update(
        FunctionArn=function_arn(ref.scope, ref.name, str(number)),
        Version=str(number),
        RevisionId=str(uuid.uuid4()),
        LastModified=lambda_time(now()),
    )
    if description is not None:
        config["Description"] = description
    snap_start = config.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions"
    if snap_start:
        config["SnapStart"] = {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    if states.settled(latest["config"]) and not snap_start:
        config.update(State="Active", LastUpdateStatus="Successful")
    else:
        # The version goes Active together with $LATEST, once its code is unpacked (and snapshot).
        states.creating(config)
    if variables is not None:
        config["Environment"] = {"Variables": variables}
    record = {**latest, "config": secrets.seal(ref.scope, config), "fingerprint": current}
    # Publishing is a change to the function: $LATEST gets a new RevisionId too, as on AWS.
    latest_key = version_key(ref.name, LATEST)
    renewed = {**latest, "config": {**latest["config"], "RevisionId": str(uuid.uuid4())}}
    records.put(VERSION, namespace(ref.scope), latest_key, renewed, blobs=blobs_of(latest))
    records.put(FUNCTION, namespace(ref.scope), ref.name, function)
    records.put(VERSION, namespace(ref.scope), version_key(ref.name, str(number)), record, blobs=blobs_of(record))
    return config


class Versions:
    def __init__(
        self, store: RecordStore, secrets: EnvSecrets, settle: Callable[[Scope, str], None] = lambda scope, name: None
    ) -> None:
        self._store = store
        self._secrets = secrets
        #: Asks the activator to settle a version published Pending (a SnapStart one).
        self._settle = settle

    def publish(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        with self._store.transaction() as records:
            latest = catalog.version(records, ref, LATEST)["config"]
            states.require_settled(latest, function_arn(ref.scope, ref.name))
            given_sha = request.get("CodeSha256")
            if given_sha and given_sha != latest["CodeSha256"]:
                raise InvalidParameterValue(
                    f"CodeSHA256 ({given_sha}) is different from current CodeSHA256 in $LATEST "
                    f"({latest['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST."
                )
            if request.get("RevisionId") and request["RevisionId"] != latest["RevisionId"]:
                raise PreconditionFailed(REVISION_MISMATCH)
            config = publish(records, ref, self._secrets, request.get("Description"))
        if not states.settled(config):
            self._settle(ref.scope, ref.name)
        return config

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        with self._store.reading() as records:
            catalog.function(records, ref)
            found = catalog.versions(records, ref)
        configs = [listed(self._secrets.shown(ref.scope, record["config"]), qualify_latest=True) for record in found]
        chosen, marker = page(configs, _position, request.get("Marker"), request.get("MaxItems"))
        return with_marker({"Versions": chosen}, marker)


def _position(config: dict[str, Any]) -> str:
    version = config["Version"]
    return "0" * 10 if version == LATEST else f"{int(version):010d}"


#: Members ListFunctions and ListVersionsByFunction leave out; GetFunction has them.
_UNLISTED = (
    "State",
    "StateReason",
    "StateReasonCode",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "RuntimeVersionConfig",
)


def listed(config: dict[str, Any], qualify_latest: bool = False) -> dict[str, Any]:
    """A configuration as the List operations show it."""
    shown = {key: value for key, value in config.items() if key not in _UNLISTED}
    if qualify_latest and config["Version"] == LATEST:
        shown["FunctionArn"] = f"{config['FunctionArn']}:{LATEST}"
    return shown
