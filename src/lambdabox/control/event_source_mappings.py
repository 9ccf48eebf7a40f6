"""Event source mappings: Create, Get, Update, Delete, List, and tags on their ARNs.

Records: kind ``event-source-mapping``, namespace "ACCOUNT:REGION", key the mapping's UUID;
the body holds the public configuration (``config``), the function as named (``function``:
name and qualifier) and the mapping's ``Tags``.

Every operation checks all of its input before it writes, and writes in one transaction, so a
refused request changes nothing. After each commit that changes a mapping, `changed(scope, uuid)`
is called so that the pollers (sources/) start, restart or stop its poller.

Broker sources (NATS JetStream, Amazon MQ for RabbitMQ) take their settings from
control/broker_mappings.py; the rest (function, tags, duplicates, state) is as for SQS.

States: the stored state is where the mapping settles (Enabled or Disabled); the replies of
Create, Update and Delete say Creating, Updating and Deleting, as AWS's do, and a Get right after
shows the settled state.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Collection
from typing import Any

from lambdabox.access.identity_policies import ROLE, identity_policies
from lambdabox.access.policy import Effect, Request, identity_effect
from lambdabox.control import broker_mappings, catalog
from lambdabox.control import stream_mappings as streams
from lambdabox.control.catalog import namespace
from lambdabox.control.paging import page, with_marker
from lambdabox.control.tags import check_tag_count
from lambdabox.model import event_sources
from lambdabox.model.broker_sources import names_broker
from lambdabox.model.arns import FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lambdabox.model.event_patterns import parse_filter_criteria
from lambdabox.model.event_sources import QueueSource, mapping_arn
from lambdabox.model.principals import ASSUMED_ROLE, Principal
from lambdabox.model.stream_sources import StreamSource, parse_stream
from lambdabox.store.records import RecordStore, Records

MAPPING = "event-source-mapping"

#: What a function's execution role must be allowed on its queue, in the order AWS checks them.
SQS_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
#: The reason every state change made through the API gives, as AWS reports it for SQS.
USER_INITIATED = "USER_INITIATED"
#: Checks a FilterCriteria beyond its shape (the model checked that); raises an AwsError.
FilterCheck = Callable[[dict[str, Any]], None]
#: Called after a commit that created, changed or deleted a mapping: (scope, UUID).
Changed = Callable[[Scope, str], None]
#: Checks that a stream exists (blocking; raises AWS's "Stream not found" InvalidParameterValueException).
FindStream = Callable[[StreamSource], None]


def _not_found() -> ResourceNotFound:
    return ResourceNotFound("The resource you requested does not exist.")


def _check_patterns(criteria: dict[str, Any]) -> None:
    """FilterCriteria as Lambda checks it: at most 5 filters, each a pattern it can read (else AWS's
    InvalidParameterValueException "Invalid filter pattern definition.")."""
    parse_filter_criteria(criteria, source="sqs")


class EventSourceMappings:
    def __init__(self, store: RecordStore, changed: Changed = lambda scope, uuid: None,
                 check_filters: FilterCheck = _check_patterns, brokers: Collection[str] = (),
                 find_stream: FindStream = lambda source: None) -> None:
        """`brokers`: the Amazon MQ broker ARNs the operator configured (no other can be mapped);
        `find_stream` checks that a Kinesis or DynamoDB stream exists at its endpoint."""
        self._store = store
        self._brokers = brokers
        self._find_stream = find_stream
        self._changed = changed
        self._check_filters = check_filters

    # -- create -------------------------------------------------------------------------

    def create(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        if names_broker(request.get("EventSourceArn")):
            return self._create_broker(scope, request)
        stream = parse_stream(request.get("EventSourceArn"))
        if stream is not None:
            return self._create_stream(scope, request, stream)
        source = event_sources.parse_source(request.get("EventSourceArn"))
        event_sources.check_sqs_settings(request, source)
        _check_reach(scope, source)
        ref = parse_function_ref(request["FunctionName"], scope)
        batch_size = request.get("BatchSize", event_sources.SQS_DEFAULT_BATCH)
        window = request.get("MaximumBatchingWindowInSeconds", 0)
        event_sources.check_sqs_batching(batch_size, window, source.fifo)
        tags = request.get("Tags") or {}
        check_tag_count(tags)
        new_uuid = str(uuid.uuid4())
        config: dict[str, Any] = {
            "UUID": new_uuid,
            "BatchSize": batch_size,
            "MaximumBatchingWindowInSeconds": window,
            "EventSourceArn": source.arn,
            "FunctionArn": function_arn(ref.scope, ref.name, ref.qualifier),
            "LastModified": time.time(),
            "State": "Enabled" if request.get("Enabled", True) else "Disabled",
            "StateTransitionReason": USER_INITIATED,
            "FunctionResponseTypes": list(request.get("FunctionResponseTypes") or []),
            "EventSourceMappingArn": mapping_arn(scope, new_uuid),
        }
        self._optional_settings(config, request)
        with self._store.transaction() as records:
            _require_role_reads(records, _require_function(records, ref), source)
            _refuse_duplicate(records, scope, config, ref.name)
            records.put(MAPPING, namespace(scope), new_uuid, {
                "config": config, "function": {"name": ref.name, "qualifier": ref.qualifier}, "Tags": dict(tags),
            })
        self._changed(scope, new_uuid)
        return {**config, "State": "Creating"}

    def _create_broker(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        """A NATS or Amazon MQ mapping: its settings from control/broker_mappings.py, then as for SQS."""
        settings = broker_mappings.new_settings(scope, request, self._brokers)
        ref = parse_function_ref(request["FunctionName"], scope)
        tags = request.get("Tags") or {}
        check_tag_count(tags)
        new_uuid = str(uuid.uuid4())
        config: dict[str, Any] = {
            "UUID": new_uuid, **settings, "FunctionArn": function_arn(ref.scope, ref.name, ref.qualifier),
            "LastModified": time.time(), "State": "Enabled" if request.get("Enabled", True) else "Disabled",
            "StateTransitionReason": USER_INITIATED, "EventSourceMappingArn": mapping_arn(scope, new_uuid),
        }
        self._optional_settings(config, request)
        with self._store.transaction() as records:
            _require_function(records, ref)
            _refuse_duplicate(records, scope, config, ref.name)
            records.put(MAPPING, namespace(scope), new_uuid, {
                "config": config, "function": {"name": ref.name, "qualifier": ref.qualifier}, "Tags": dict(tags),
            })
        self._changed(scope, new_uuid)
        return {**config, "State": "Creating"}

    def _create_stream(self, scope: Scope, request: dict[str, Any], source: StreamSource) -> dict[str, Any]:
        """Create for a Kinesis or DynamoDB stream (control/stream_mappings.py holds what differs from SQS)."""
        streams.check_reach(scope, source)
        ref = parse_function_ref(request["FunctionName"], scope)
        tags = request.get("Tags") or {}
        check_tag_count(tags)
        new_uuid = str(uuid.uuid4())
        config = streams.new_config(request, source, new_uuid, mapping_arn(scope, new_uuid), ref)
        self._optional_settings(config, request)
        self._find_stream(source)
        with self._store.transaction() as records:
            streams.require_role(records, _require_function(records, ref), source, config)
            streams.refuse_duplicate(records, scope, config, ref.name)
            records.put(MAPPING, namespace(scope), new_uuid, {
                "config": config, "function": {"name": ref.name, "qualifier": ref.qualifier}, "Tags": dict(tags),
            })
        self._changed(scope, new_uuid)
        return {**config, "State": "Creating"}

    def _optional_settings(self, config: dict[str, Any], request: dict[str, Any]) -> None:
        """FilterCriteria and ScalingConfig, as a request sets them: an empty one removes the setting."""
        criteria = request.get("FilterCriteria")
        if criteria is not None:
            stream = parse_stream(config["EventSourceArn"])
            if stream is None:
                self._check_filters(criteria)
            else:
                parse_filter_criteria(criteria, source=stream.kind)
            if criteria.get("Filters"):
                config["FilterCriteria"] = criteria
            else:
                config.pop("FilterCriteria", None)
        scaling = request.get("ScalingConfig")
        if scaling is not None:
            if scaling.get("MaximumConcurrency") is not None:
                config["ScalingConfig"] = {"MaximumConcurrency": scaling["MaximumConcurrency"]}
            else:
                config.pop("ScalingConfig", None)

    # -- read ---------------------------------------------------------------------------

    def get(self, scope: Scope, mapping_uuid: str) -> dict[str, Any]:
        with self._store.reading() as records:
            return _load(records, scope, mapping_uuid)["config"]

    def list(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        source = request.get("EventSourceArn")
        named = request.get("FunctionName")
        ref = parse_function_ref(named, scope) if named else None
        with self._store.reading() as records:
            found = [body for _, body in records.scan(MAPPING, namespace(scope))]
        if source:
            found = [body for body in found if body["config"]["EventSourceArn"] == source]
        if ref is not None:
            found = [body for body in found if _names(body, ref)]
        found.sort(key=lambda body: body["config"]["UUID"])
        chosen, next_marker = page(found, lambda body: body["config"]["UUID"], request.get("Marker"), request.get("MaxItems"))
        return with_marker({"EventSourceMappings": [body["config"] for body in chosen]}, next_marker)

    # -- update and delete --------------------------------------------------------------

    def update(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        mapping_uuid = request["UUID"]
        named = request.get("FunctionName")
        ref = parse_function_ref(named, scope) if named else None
        with self._store.reading() as records:
            stream = parse_stream(_load(records, scope, mapping_uuid)["config"]["EventSourceArn"])
        if stream is not None:
            return self._update_stream_mapping(scope, mapping_uuid, request, stream, ref)
        with self._store.transaction() as records:
            body = _load(records, scope, mapping_uuid)
            config = dict(body["config"])
            broker = names_broker(config["EventSourceArn"])
            if broker:
                broker_mappings.update_settings(scope, config, {k: v for k, v in request.items() if k != "UUID"})
            else:
                source = event_sources.parse_source(config["EventSourceArn"])
                event_sources.check_sqs_settings({k: v for k, v in request.items() if k != "UUID"}, source)
                for name in ("BatchSize", "MaximumBatchingWindowInSeconds"):
                    if request.get(name) is not None:
                        config[name] = request[name]
                event_sources.check_sqs_batching(config["BatchSize"], config["MaximumBatchingWindowInSeconds"], source.fifo)
                if request.get("FunctionResponseTypes") is not None:
                    config["FunctionResponseTypes"] = list(request["FunctionResponseTypes"])
            self._optional_settings(config, request)
            if request.get("Enabled") is not None:
                config["State"] = "Enabled" if request["Enabled"] else "Disabled"
            if ref is not None:
                version = _require_function(records, ref)
                if not broker:
                    _require_role_reads(records, version, source)
                config["FunctionArn"] = function_arn(ref.scope, ref.name, ref.qualifier)
                _refuse_duplicate(records, scope, config, ref.name)
                body["function"] = {"name": ref.name, "qualifier": ref.qualifier}
            config.update(LastModified=time.time(), StateTransitionReason=USER_INITIATED)
            body["config"] = config
            records.put(MAPPING, namespace(scope), mapping_uuid, body)
        self._changed(scope, mapping_uuid)
        return {**config, "State": "Updating"}

    def _update_stream_mapping(self, scope: Scope, mapping_uuid: str, request: dict[str, Any], source: StreamSource,
                               ref: FunctionRef | None) -> dict[str, Any]:
        """Update for a Kinesis or DynamoDB stream: one transaction, then `changed` once it is committed."""
        with self._store.transaction() as records:
            body = _load(records, scope, mapping_uuid)
            body["config"] = self._update_stream(records, scope, body, dict(body["config"]), request, source, ref)
            records.put(MAPPING, namespace(scope), mapping_uuid, body)
        self._changed(scope, mapping_uuid)
        return {**body["config"], "State": "Updating"}

    def _update_stream(self, records: Records, scope: Scope, body: dict[str, Any], config: dict[str, Any],
                       request: dict[str, Any], source: StreamSource, ref: FunctionRef | None) -> dict[str, Any]:
        streams.update_config(config, {k: v for k, v in request.items() if k != "UUID"}, source)
        self._optional_settings(config, request)
        function = ref or FunctionRef(scope, body["function"]["name"], body["function"]["qualifier"])
        if ref is not None or request.get("DestinationConfig") is not None:
            streams.require_role(records, _require_function(records, function), source, config)
        if ref is not None:
            config["FunctionArn"] = function_arn(ref.scope, ref.name, ref.qualifier)
            streams.refuse_duplicate(records, scope, config, ref.name)
            body["function"] = {"name": ref.name, "qualifier": ref.qualifier}
        config.update(LastModified=time.time())
        return config

    def delete(self, scope: Scope, mapping_uuid: str) -> dict[str, Any]:
        with self._store.transaction() as records:
            body = _load(records, scope, mapping_uuid)
            records.delete(MAPPING, namespace(scope), mapping_uuid)
        self._changed(scope, mapping_uuid)
        return {**body["config"], "State": "Deleting"}

    # -- tags ---------------------------------------------------------------------------

    def tag(self, scope: Scope, arn: str, tags: dict[str, str]) -> None:
        if not tags:
            raise InvalidParameterValue("An error occurred and the request cannot be processed.")
        with self._store.transaction() as records:
            key, body = _tagged(records, scope, arn)
            merged = {**body.get("Tags", {}), **tags}
            check_tag_count(merged)
            body["Tags"] = merged
            records.put(MAPPING, namespace(scope), key, body)

    def untag(self, scope: Scope, arn: str, keys: list[str]) -> None:
        with self._store.transaction() as records:
            key, body = _tagged(records, scope, arn)
            body["Tags"] = {k: v for k, v in body.get("Tags", {}).items() if k not in keys}
            records.put(MAPPING, namespace(scope), key, body)

    def list_tags(self, scope: Scope, arn: str) -> dict[str, Any]:
        with self._store.reading() as records:
            _, body = _tagged(records, scope, arn)
        return {"Tags": body.get("Tags", {})}


# -- what pollers read and write ----------------------------------------------------------------


def stored(store: RecordStore, scope: Scope, mapping_uuid: str) -> dict[str, Any] | None:
    """A mapping's whole record, or None once it is deleted."""
    with store.reading() as records:
        return records.get(MAPPING, namespace(scope), mapping_uuid)


def every_mapping(store: RecordStore) -> list[tuple[Scope, str]]:
    """(scope, UUID) of every stored mapping, in every account and region."""
    with store.reading() as records:
        found = records.scan_everywhere(MAPPING)
    return [(Scope(*space.split(":", 1)), key) for space, key, _ in found]


def record_result(store: RecordStore, scope: Scope, mapping_uuid: str, result: str) -> bool:
    """Set LastProcessingResult, unless it already says so or the mapping is gone; whether it changed."""
    if (stored(store, scope, mapping_uuid) or {}).get("config", {}).get("LastProcessingResult") == result:
        return False
    with store.transaction() as records:
        body = records.get(MAPPING, namespace(scope), mapping_uuid)
        if body is None:
            return False
        body["config"]["LastProcessingResult"] = result
        records.put(MAPPING, namespace(scope), mapping_uuid, body)
    return True


# -- helpers ------------------------------------------------------------------------------------


def _load(records: Records, scope: Scope, mapping_uuid: str) -> dict[str, Any]:
    found = records.get(MAPPING, namespace(scope), mapping_uuid)
    if found is None:
        raise _not_found()
    return found


def _tagged(records: Records, scope: Scope, arn: str) -> tuple[str, dict[str, Any]]:
    """The mapping a tag operation names by ARN (in the caller's account and region), by key."""
    mapping_uuid = arn.rsplit(":", 1)[-1]
    found = records.get(MAPPING, namespace(scope), mapping_uuid) if arn == mapping_arn(scope, mapping_uuid) else None
    if found is None:
        raise ResourceNotFound(f"Event source mapping not found: {arn}")
    return mapping_uuid, found


def _check_reach(scope: Scope, source: QueueSource) -> None:
    """A mapping polls with the server's own SQS credentials: only the caller's own queues, in its region.

    On AWS the execution role decides; here no tenant's role reaches SQS, so another account's
    queue is refused as AWS refuses one the role cannot read.
    """
    if source.scope.account != scope.account:
        raise InvalidParameterValue("The provided execution role does not have permissions to call ReceiveMessage on SQS")
    if source.scope.region != scope.region:
        raise InvalidParameterValue(
            f"The event source arn ({source.arn}) is in region {source.scope.region}; "
            f"the function is in region {scope.region}. They must be in the same region."
        )


def _require_function(records: Records, ref: FunctionRef) -> dict[str, Any]:
    """The version record the mapping's function (maybe qualified) resolves to."""
    try:
        return catalog.resolve(records, ref)[0]
    except ResourceNotFound:
        raise InvalidParameterValue("Function does not exist") from None


def _require_role_reads(records: Records, version: dict[str, Any], source: QueueSource) -> None:
    """The function's execution role must be allowed to read and delete from the queue, as AWS checks it.

    The server polls with its own SQS credentials, so this check is what keeps a tenant's mapping to
    the queues its role is granted. Evaluated with the role's identity policies, as a session of it.
    """
    role_arn = version["config"].get("Role", "")
    name = role_arn.rsplit("/", 1)[-1]
    role = records.get(ROLE, source.scope.account, name)
    documents: list[dict[str, Any]] = []
    if role is not None and role.get("Arn") == role_arn:
        session = Principal(
            source.scope.account, f"arn:aws:sts::{source.scope.account}:assumed-role/{name}/event-source-mapping",
            f"{role['RoleId']}:event-source-mapping", ASSUMED_ROLE, name=name, role_arn=role_arn,
        )
        documents = identity_policies(records, session)
    for action in SQS_ACTIONS:
        if identity_effect(documents, Request(f"sqs:{action}", source.arn)) != Effect.ALLOW:
            raise InvalidParameterValue(f"The provided execution role does not have permissions to call {action} on SQS")


def _refuse_duplicate(records: Records, scope: Scope, config: dict[str, Any], name: str) -> None:
    for key, body in records.scan(MAPPING, namespace(scope)):
        other = body["config"]
        if key != config["UUID"] and (other["EventSourceArn"], other["FunctionArn"]) == (
            config["EventSourceArn"], config["FunctionArn"]
        ):
            raise ResourceConflict(
                f'An event source mapping with SQS arn (" {config["EventSourceArn"]} ") and function (" {name} ") '
                f"already exists. Please update or delete the existing mapping with UUID {key}"
            )


def _names(body: dict[str, Any], ref: FunctionRef) -> bool:
    """Whether a ListEventSourceMappings FunctionName filter names this mapping's function."""
    function = body["function"]
    return function["name"] == ref.name and (ref.qualifier is None or function["qualifier"] == ref.qualifier)
