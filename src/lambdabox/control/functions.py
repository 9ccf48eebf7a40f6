"""Functions: create, read, update code and configuration, delete, list.

Every operation checks all of its input before it writes anything, and writes in one
transaction, so a rejected request changes nothing. Code archives are made durable in
the blob store inside that transaction, before the records that name them commit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Collection
from typing import Any

from lambdabox.control import catalog, layers, states, versions
from lambdabox.control.catalog import ALIAS, FUNCTION, POLICY, VERSION, namespace, policy_key, version_key
from lambdabox.control.code_links import CodeLinks
from lambdabox.control.env_secrets import EnvSecrets
from lambdabox.control.event_configs import EVENT_INVOKE_CONFIG
from lambdabox.control.function_urls import FUNCTION_URL
from lambdabox.control.paging import decode_marker, encode_marker, with_marker
from lambdabox.control.provisioned import PROVISIONED_CONFIG
from lambdabox.control.roles import require_assumable
from lambdabox.control.tags import check_tag_count
from lambdabox.model import configuration, package
from lambdabox.model.arns import LATEST, FunctionRef, Scope, existing_function_ref, function_arn, parse_function_ref
from lambdabox.model.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    RequestEntityTooLarge,
    ResourceConflict,
)
from lambdabox.model.limits import DEFAULT_PAGE_SIZE, MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES
from lambdabox.model.timestamps import lambda_time, now
from lambdabox.store.blobs import BlobStore
from lambdabox.store.records import RecordStore, Records

#: Called after a commit that left a function Pending or InProgress, to finish the change.
Changed = Callable[[Scope, str], None]


def code_from(request: dict[str, Any]) -> bytes:
    """The zip a Create/UpdateFunctionCode request carries, or AWS's error for what it carries instead."""
    if request.get("S3Bucket") or request.get("S3Key"):
        raise InvalidParameterValue("Lambdabox does not read code from Amazon S3: send the package as ZipFile.")
    if request.get("ImageUri"):
        raise InvalidParameterValue("Please don't provide ImageUri when updating a function with packageType Zip.")
    data = request.get("ZipFile")
    if not data:
        raise InvalidParameterValue("Please provide a source for function code.")
    if len(data) > MAX_ZIPPED_BYTES:
        raise RequestEntityTooLarge(f"Zipped size must be smaller than {MAX_ZIPPED_BYTES} bytes")
    return data


def _check_total_size(code_unzipped: int, resolved_layers: list[dict[str, Any]]) -> None:
    total = code_unzipped + sum(layer["unzipped"] for layer in resolved_layers)
    if total > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValue(
            f"Function code combined with layers exceeds the maximum allowed size of {MAX_UNZIPPED_BYTES} bytes. "
            f"The actual size is {total} bytes."
        )


class Functions:
    def __init__(
        self,
        store: RecordStore,
        blobs: BlobStore,
        links: CodeLinks,
        secrets: EnvSecrets,
        changed: Changed,
        architecture: str,
        runtime_problem: Callable[[str], str | None] = lambda runtime: None,
        networks: Collection[str] = (),
    ) -> None:
        """`networks`: names of the private networks the operator defined (VpcConfig's subnets)."""
        self._runtime_problem = runtime_problem
        self._networks = frozenset(networks)
        self._store = store
        self._blobs = blobs
        self._links = links
        #: Configurations go into records through `seal` and come out through `shown`.
        self._secrets = secrets
        self._changed = changed
        self._architecture = architecture

    # -- create -------------------------------------------------------------------------

    def create(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        configuration.check_input(request, self._architecture, self._networks)
        data = code_from(request["Code"])
        info = package.inspect(data)
        config = configuration.defaults(ref.name, self._architecture)
        config["FunctionArn"] = function_arn(ref.scope, ref.name)
        config = configuration.apply(config, request)
        configuration.check_handler(config)
        configuration.check_snap_start(config)
        configuration.check_logging(config, request)
        self._check_runtime(config["Runtime"])
        tags = request.get("Tags", {})
        check_tag_count(tags)
        with self._store.transaction() as records:
            if records.get(FUNCTION, namespace(ref.scope), ref.name) is not None:
                raise ResourceConflict(f"Function already exist: {ref.name}")
            require_assumable(records, ref.scope.account, request["Role"])
            resolved = layers.resolve(records, ref.scope, request.get("Layers", []))
            _check_total_size(info.unzipped_size, resolved)
            layers.check_merged(self._blobs, resolved)
            if resolved:
                config["Layers"] = layers.public_layers(resolved)
            config.update(
                CodeSha256=info.code_sha256,
                CodeSize=info.size,
                LastModified=lambda_time(now()),
                RevisionId=str(uuid.uuid4()),
            )
            states.creating(config)
            key = self._blobs.put(data)
            record = {
                "config": self._secrets.seal(ref.scope, config), "code_key": key, "unzipped": info.unzipped_size,
                "layers": resolved,
            }
            records.put(FUNCTION, namespace(ref.scope), ref.name, {"Tags": tags, "last_version": 0})
            records.put(VERSION, namespace(ref.scope), version_key(ref.name, LATEST), record, blobs=versions.blobs_of(record))
            answer = config
            if request.get("Publish"):
                # AWS answers with version 1's configuration under the function's unqualified ARN.
                answer = {**versions.publish(records, ref, self._secrets), "FunctionArn": function_arn(ref.scope, ref.name)}
        self._changed(ref.scope, ref.name)
        return answer

    # -- read ---------------------------------------------------------------------------

    def get(self, scope: Scope, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        ref = existing_function_ref(
            request["FunctionName"], scope, request.get("Qualifier"), shown_qualifier=request.get("Qualifier")
        )
        with self._store.reading() as records:
            function = catalog.function(records, ref)
            record, _ = catalog.resolve(records, ref)
        body: dict[str, Any] = {
            "Configuration": _as_requested(self._secrets.shown(ref.scope, record["config"]), ref),
            "Code": {"RepositoryType": "S3", "Location": self._links.url(base_url, record["code_key"])},
        }
        if function.get("Tags"):
            body["Tags"] = function["Tags"]
        if function.get("ReservedConcurrentExecutions") is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": function["ReservedConcurrentExecutions"]}
        return body

    def code_signing_config(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        """GetFunctionCodeSigningConfig. Lambdabox keeps no code signing configs, so every function has none:
        {"CodeSigningConfigArn": "", "FunctionName": NAME} (both members are required in AWS's model);
        ResourceNotFoundException for a function that does not exist."""
        ref = parse_function_ref(request["FunctionName"], scope, None)
        with self._store.reading() as records:
            catalog.function(records, ref)
        return {"CodeSigningConfigArn": "", "FunctionName": ref.name}

    def get_configuration(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = existing_function_ref(
            request["FunctionName"], scope, request.get("Qualifier"), shown_qualifier=request.get("Qualifier")
        )
        with self._store.reading() as records:
            record, _ = catalog.resolve(records, ref)
        return _as_requested(self._secrets.shown(ref.scope, record["config"]), ref)

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        every_version = request.get("FunctionVersion") == "ALL"
        size = request.get("MaxItems") or DEFAULT_PAGE_SIZE
        after = decode_marker(request.get("Marker"))
        with self._store.reading() as records:
            if every_version:
                found = records.scan(VERSION, namespace(scope), after=after, limit=size + 1)
            else:
                names = records.scan(FUNCTION, namespace(scope), after=after, limit=size + 1)
                found = [
                    (name, records.get(VERSION, namespace(scope), version_key(name, LATEST))) for name, _ in names
                ]
        chosen = [(key, body) for key, body in found if body is not None][:size]
        functions = [
            versions.listed(self._secrets.shown(scope, body["config"]), qualify_latest=every_version) for _, body in chosen
        ]
        marker = encode_marker(chosen[-1][0]) if len(found) > size and chosen else None
        return with_marker({"Functions": functions}, marker)

    # -- update -------------------------------------------------------------------------

    def update_code(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        configuration.check_input(request, self._architecture, self._networks)
        data = code_from(request)
        info = package.inspect(data)
        with self._store.transaction() as records:
            record = self._latest_for_update(records, ref, request.get("RevisionId"))
            _check_total_size(info.unzipped_size, record.get("layers", []))
            config = dict(record["config"], CodeSha256=info.code_sha256, CodeSize=info.size)
            if "Architectures" in request:
                config["Architectures"] = request["Architectures"]
            if request.get("DryRun"):
                return self._secrets.shown(ref.scope, config)
            config["LastModified"] = lambda_time(now())
            states.updating(config)
            record = {**record, "config": config, "code_key": self._blobs.put(data), "unzipped": info.unzipped_size}
            records.put(VERSION, namespace(ref.scope), version_key(ref.name, LATEST), record, blobs=versions.blobs_of(record))
            answer = versions.publish(records, ref, self._secrets) if request.get("Publish") else config
        self._changed(ref.scope, ref.name)
        return self._secrets.shown(ref.scope, answer)

    def update_configuration(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        ref = parse_function_ref(request["FunctionName"], scope)
        configuration.check_input(request, self._architecture, self._networks)
        with self._store.transaction() as records:
            record = self._latest_for_update(records, ref, request.get("RevisionId"))
            config = configuration.apply(record["config"], request)
            configuration.check_handler(config)
            configuration.check_snap_start(config)
            configuration.check_logging(config, request)
            if "Runtime" in request:
                self._check_runtime(config["Runtime"])
            if "Role" in request:
                require_assumable(records, ref.scope.account, request["Role"])
            resolved = record.get("layers", [])
            if "Layers" in request:
                resolved = layers.resolve(records, ref.scope, request["Layers"])
                _check_total_size(record["unzipped"], resolved)
                layers.check_merged(self._blobs, resolved)
                config.pop("Layers", None)
                if resolved:
                    config["Layers"] = layers.public_layers(resolved)
            config["LastModified"] = lambda_time(now())
            states.updating(config)
            record = {**record, "config": self._secrets.seal(ref.scope, config, record["config"]), "layers": resolved}
            records.put(VERSION, namespace(ref.scope), version_key(ref.name, LATEST), record, blobs=versions.blobs_of(record))
        self._changed(ref.scope, ref.name)
        return self._secrets.shown(ref.scope, config)

    def _check_runtime(self, runtime: str) -> None:
        """Refuse at create or update time a runtime this host cannot run, not at invoke time."""
        problem = self._runtime_problem(runtime)
        if problem:
            raise InvalidParameterValue(problem)

    def _latest_for_update(self, records: Records, ref: FunctionRef, revision_id: str | None) -> dict[str, Any]:
        if ref.qualifier:
            raise InvalidParameterValue("Updates apply to $LATEST: name the function without a qualifier.")
        catalog.function(records, ref)
        record = catalog.version(records, ref, LATEST)
        states.require_settled(record["config"], function_arn(ref.scope, ref.name))
        if revision_id and revision_id != record["config"]["RevisionId"]:
            raise PreconditionFailed(versions.REVISION_MISMATCH)
        return record

    # -- delete -------------------------------------------------------------------------

    def delete(self, scope: Scope, request: dict[str, Any]) -> None:
        # A qualifier in the name that contradicts the Qualifier is refused first, as AWS does.
        ref = existing_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        if ref.qualifier == LATEST:
            raise InvalidParameterValue("$LATEST version cannot be deleted without deleting the function.")
        if ref.qualifier and _ALIAS_NAME.fullmatch(ref.qualifier) and not catalog.is_version_number(ref.qualifier):
            # An alias name is refused before the function is looked up, as recorded from AWS.
            raise InvalidParameterValue(_NO_ALIAS_DELETION)
        with self._store.transaction() as records:
            catalog.function(records, FunctionRef(ref.scope, ref.name))
            if ref.qualifier is None:
                for kind in (VERSION, ALIAS, EVENT_INVOKE_CONFIG, PROVISIONED_CONFIG, POLICY, FUNCTION_URL):
                    records.delete_prefix(kind, namespace(ref.scope), f"{ref.name}/")
                records.delete(FUNCTION, namespace(ref.scope), ref.name)
            else:
                self._delete_version(records, ref)
        self._changed(ref.scope, ref.name)

    def _delete_version(self, records: Records, ref: FunctionRef) -> None:
        if not catalog.is_version_number(ref.qualifier):
            raise InvalidParameterValue(_NO_ALIAS_DELETION)
        users = sorted(alias["Name"] for alias in catalog.aliases(records, ref) if _routes_to(alias, ref.qualifier))
        if users:
            raise ResourceConflict(
                f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]"
            )
        # Deleting a version that does not exist succeeds, as on AWS.
        records.delete(VERSION, namespace(ref.scope), version_key(ref.name, ref.qualifier))
        records.delete(EVENT_INVOKE_CONFIG, namespace(ref.scope), f"{ref.name}/{ref.qualifier}")
        records.delete(PROVISIONED_CONFIG, namespace(ref.scope), f"{ref.name}/{ref.qualifier}")
        records.delete(POLICY, namespace(ref.scope), policy_key(ref.name, ref.qualifier))


#: DeleteFunction's answer to a qualifier that is not a version number (AWS's words, recorded).
_NO_ALIAS_DELETION = "Deletion of aliases is not currently supported."
#: A qualifier that could name an alias.
_ALIAS_NAME = re.compile(r"[a-zA-Z0-9_-]+")


def _routes_to(alias: dict[str, Any], version: str) -> bool:
    weights = alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})
    return alias["FunctionVersion"] == version or version in weights


def _as_requested(config: dict[str, Any], ref: FunctionRef) -> dict[str, Any]:
    """A configuration with the ARN the client asked by: qualified when it named a qualifier."""
    if ref.qualifier:
        return {**config, "FunctionArn": function_arn(ref.scope, ref.name, ref.qualifier)}
    return config

