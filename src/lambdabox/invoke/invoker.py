"""Synchronous invocation: from (function, qualifier, payload) to Lambda's response.

1. Resolve $LATEST, a version or an alias (by its weights) to one version record.
2. Refuse a function that is not Active, as Lambda does.
3. Build (or reuse) the version's blueprint; check out an environment from the pool.
4. Run the invocation; shape the outcome into Lambda's status, headers and body.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
import uuid
from dataclasses import dataclass
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import namespace
from lambdabox.invoke import blueprint as blueprints
from lambdabox.invoke.blueprint import Blueprint
from lambdabox.invoke.environment import Environment
from lambdabox.invoke.pool import EnvironmentPool
from lambdabox.model.arns import FunctionRef, Scope, function_arn, parse_function_ref
from lambdabox.model.errors import InvalidParameterValue, InvalidRequestContent, ResourceConflict
from lambdabox.runtime.api import InitFailed, Invocation
from lambdabox.runtime.catalog import RuntimeCatalog
from lambdabox.store.records import RecordStore
from lambdabox.store.unpacked import UnpackedStore

#: Bytes of log returned by LogType=Tail (Lambda's 4 KB).
TAIL_BYTES = 4096
#: Largest decoded ClientContext, in bytes.
MAX_CLIENT_CONTEXT_BYTES = 3583


@dataclass(frozen=True)
class InvokeReply:
    status: int
    payload: bytes
    headers: dict[str, str]


class Invoker:
    def __init__(
        self,
        store: RecordStore,
        unpacked: UnpackedStore,
        runtimes: RuntimeCatalog,
        pool: EnvironmentPool,
        endpoint_url: str,
        isolated: bool = True,
    ) -> None:
        self._isolated = isolated
        self._store = store
        self._unpacked = unpacked
        self._runtimes = runtimes
        self._pool = pool
        self._endpoint_url = endpoint_url
        self._blueprints: dict[tuple, Blueprint] = {}

    async def invoke(self, scope: Scope, request: dict[str, Any]) -> InvokeReply:
        ref = parse_function_ref(request["FunctionName"], scope, request.get("Qualifier"))
        invocation_type = request.get("InvocationType", "RequestResponse")
        payload = request.get("Payload") or b"{}"
        _check_json(payload)
        client_context = _client_context(request.get("ClientContext"))
        record = self._resolve(ref)
        config = record["config"]
        if config.get("State") != "Active":
            raise ResourceConflict(
                "The operation cannot be performed at this time. "
                f"The function is currently in the following state: {config.get('State')}"
            )
        version = config["Version"]
        if invocation_type == "DryRun":
            return InvokeReply(204, b"", {"X-Amz-Executed-Version": version})
        if invocation_type == "Event":
            raise InvalidParameterValue("Lambdabox does not run asynchronous (Event) invocations yet; use RequestResponse.")
        blueprint = await self._blueprint(ref.scope, record)
        request_id = str(uuid.uuid4())
        invocation = Invocation(
            request_id=request_id,
            payload=payload,
            deadline_ms=0,  # set when the environment starts the invocation
            invoked_function_arn=function_arn(ref.scope, ref.name, ref.qualifier),
            trace_id=_trace_id(),
            client_context=client_context,
        )
        headers = {"X-Amz-Executed-Version": version}
        try:
            async with self._pool.checkout(blueprint) as (environment, cold):
                result = await environment.invoke(invocation, cold)
        except InitFailed as failure:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return InvokeReply(200, failure.payload, headers)
        if result.outcome.error_type is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.get("LogType") == "Tail":
            tail = ("\n".join(result.log_lines) + "\n").encode()[-TAIL_BYTES:]
            headers["X-Amz-Log-Result"] = base64.b64encode(tail).decode()
        return InvokeReply(200, result.outcome.payload, headers)

    def _resolve(self, ref: FunctionRef) -> dict[str, Any]:
        """The version record to run; an alias with weights picks one of its two versions."""
        with self._store.reading() as records:
            record, alias_name = catalog.resolve(records, ref)
            if alias_name is None:
                return record
            alias = catalog.alias(records, ref, alias_name)
            for version, weight in alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}).items():
                if random.random() < weight:
                    return catalog.version(records, ref, version)
            return record

    async def _blueprint(self, scope: Scope, record: dict[str, Any]) -> Blueprint:
        config = record["config"]
        key = (scope.account, scope.region, config["FunctionName"], config["Version"], config["RevisionId"])
        found = self._blueprints.get(key)
        if found is None:
            task_root = self._unpacked.tree(record["code_key"])
            layer_keys = [layer["key"] for layer in record.get("layers", [])]
            opt_root = self._unpacked.layered(layer_keys) if layer_keys else None
            found = blueprints.build(
                scope, config, task_root, opt_root, self._runtimes, self._endpoint_url, self._isolated
            )
            self._blueprints[key] = found
        return found

    async def function_changed(self, scope: Scope, name: str) -> None:
        """Retire environments of versions that changed or went away, after an update or delete."""
        with self._store.reading() as records:
            current = {
                (body["config"]["Version"], body["config"]["RevisionId"])
                for _, body in records.scan(catalog.VERSION, namespace(scope), prefix=f"{name}/")
            }

        def stale(environment: Environment) -> bool:
            plan = environment.blueprint
            return plan.scope == scope and plan.name == name and (plan.version, plan.revision) not in current

        for key in [key for key, plan in self._blueprints.items() if plan.scope == scope and plan.name == name]:
            if (key[3], key[4]) not in current:
                del self._blueprints[key]
        await self._pool.retire(stale)


def _check_json(payload: bytes) -> None:
    try:
        json.loads(payload)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidRequestContent(f"Could not parse request body into json: Could not parse payload into json: {error}") from None


def _client_context(encoded: str | None) -> str | None:
    if not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True)
        json.loads(decoded)
    except (binascii.Error, ValueError):
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from None
    if len(decoded) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidRequestContent(f"Client context must be smaller than {MAX_CLIENT_CONTEXT_BYTES} bytes.")
    return decoded.decode()


def _trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"
