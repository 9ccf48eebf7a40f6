"""Invocation: from (function, qualifier, payload) to an outcome, synchronously or queued.

1. Resolve $LATEST, a version or an alias (by its weights) to one version record.
2. Refuse a function that is not Active, as Lambda does.
3. Take a concurrency lease (429 when the function or the account is at its limit).
4. Build (or reuse) the version's blueprint; check out an environment from the pool (429
   when a new one would outrun the function's scale-out rate or not fit the memory cap).
5. Run the invocation. `invoke` shapes the outcome into Lambda's response; `run` is the
   same path for the async worker. An Event invocation is stored in the queue first and
   answered 202 once it is durable.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from lambdabox.control import catalog
from lambdabox.control.catalog import FUNCTION, namespace
from lambdabox.control.env_secrets import EnvSecrets
from lambdabox.invoke import blueprint as blueprints
from lambdabox.invoke import lineage as lineages
from lambdabox.invoke.blueprint import Blueprint
from lambdabox.invoke.environment import Environment
from lambdabox.invoke.limits import ConcurrencyLimits
from lambdabox.invoke.output import TAIL_BYTES
from lambdabox.invoke.pool import EnvironmentPool
from lambdabox.invoke.provisioner import Provisioner
from lambdabox.invoke.snapshots import Snapshots
from lambdabox.invoke.streaming import StreamedRun
from lambdabox.model import json_text
from lambdabox.model.arns import LATEST, FunctionRef, Scope, existing_function_ref, function_arn
from lambdabox.model.errors import InvalidRequestContent, InvalidSubnetID, RequestTooLarge, ResourceConflict
from lambdabox.queue.api import EVENT, EventQueue, QueueItem
from lambdabox.runtime.api import InitFailed, Invocation, Outcome
from lambdabox.runtime.catalog import RuntimeCatalog
from lambdabox.runtime.streamed_response import Bandwidth, StreamedBody
from lambdabox.sandbox.api import SandboxError, UnknownNetwork
from lambdabox.store.records import RecordStore
from lambdabox.store.unpacked import UnpackedStore

log = logging.getLogger(__name__)

#: Environments tried for one invocation while their runtimes end before taking it (a runtime that died
#: idle is seen only when thawed); after the last, the invocation fails with Runtime.ExitError.
MAX_ENVIRONMENTS_TRIED = 3
#: Largest decoded ClientContext, in bytes.
MAX_CLIENT_CONTEXT_BYTES = 3583
#: Largest payload of an asynchronous invocation, in bytes (1 MB).
MAX_ASYNC_PAYLOAD_BYTES = 1_048_576
#: Largest payload whose JSON is checked on the event loop, in bytes; a larger one (up to
#: 6 MB, whose check may take a second if it nests deep) is checked in a worker thread.
INLINE_CHECK_BYTES = 65_536


@dataclass(frozen=True)
class InvokeReply:
    status: int
    payload: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class Run:
    """What one attempt of an invocation came to."""

    version: str
    outcome: Outcome
    log_lines: list[str]


class Invoker:
    def __init__(
        self,
        store: RecordStore,
        unpacked: UnpackedStore,
        runtimes: RuntimeCatalog,
        pool: EnvironmentPool,
        limits: ConcurrencyLimits,
        queue: EventQueue | None,
        endpoint_url: str,
        isolated: bool = True,
        provisioner: Provisioner | None = None,
        snapshots: Snapshots | None = None,
        *,
        secrets: EnvSecrets,
        stream_bandwidth: Bandwidth | None = Bandwidth(),
    ) -> None:
        """`secrets` opens the versions' sealed environment variables, for blueprints only; `stream_bandwidth`
        paces streamed responses (None: not at all)."""
        self._store = store
        self._secrets = secrets
        self._unpacked = unpacked
        self._runtimes = runtimes
        self._pool = pool
        self._limits = limits
        self._queue = queue
        self._endpoint_url = endpoint_url
        self._isolated = isolated
        self._provisioner = provisioner
        self._snapshots = snapshots
        self._stream_bandwidth = stream_bandwidth
        self._blueprints: dict[tuple, Blueprint] = {}
        self._reservations: dict[str, tuple[int, int]] = {}
        self._resolved: dict[tuple, tuple] = {}

    async def invoke(self, scope: Scope, request: dict[str, Any], trace_header: str | None = None) -> InvokeReply:
        """The Invoke API: RequestResponse, Event or DryRun."""
        invocation_type = request.get("InvocationType", "RequestResponse")
        ref, payload, client_context, resolved = await self._accept(scope, request, invocation_type == "Event")
        if invocation_type == "Event":
            request_id = await self.enqueue(ref, payload, lineages.from_trace_header(trace_header))
            return InvokeReply(202, b"", {"x-amzn-RequestId": request_id})
        version = _require_active(resolved[0]["config"])
        if invocation_type == "DryRun":
            return InvokeReply(204, b"", {"X-Amz-Executed-Version": version})
        request_id = str(uuid.uuid4())
        run = await self.run(ref, payload, request_id, client_context, resolved=resolved)
        # The answer carries the invocation's own request id (the function's context.aws_request_id), as on AWS.
        headers = {"X-Amz-Executed-Version": run.version, "x-amzn-RequestId": request_id}
        if run.outcome.error_type is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if request.get("LogType") == "Tail":
            headers["X-Amz-Log-Result"] = log_result(run.log_lines)
        return InvokeReply(200, run.outcome.payload, headers)

    async def invoke_streamed(self, scope: Scope, request: dict[str, Any]) -> tuple[str, str, StreamedRun | None]:
        """InvokeWithResponseStream: (executed version, request id, the run) once the function's response
        begins to stream or the run has ended; no run for DryRun. Refused (throttled, not found) as Invoke is."""
        ref, payload, client_context, resolved = await self._accept(scope, request)
        version = _require_active(resolved[0]["config"])
        request_id = str(uuid.uuid4())
        if request.get("InvocationType") == "DryRun":
            return version, request_id, None

        return version, request_id, await self.stream(ref, payload, request_id, client_context, resolved=resolved)

    async def stream(
        self, ref: FunctionRef, payload: bytes, request_id: str, client_context: str | None = None, resolved=None
    ) -> StreamedRun:
        """`run`, with a response that may stream (paced by the server's bandwidth for streams): returns once
        it begins to stream or the run has ended (see StreamedRun)."""

        def run(sink: StreamedBody) -> Any:
            return self.run(ref, payload, request_id, client_context, resolved=resolved, sink=sink)

        return await StreamedRun.start(run, self._stream_bandwidth)

    async def _accept(
        self, scope: Scope, request: dict[str, Any], queued: bool = False
    ) -> tuple[FunctionRef, bytes, str | None, tuple]:
        """What a synchronous or `queued` invoke runs: (reference, payload, client context, resolved records);
        RequestTooLarge, InvalidRequestContent for a payload that is not JSON or a bad client context, and
        ResourceNotFound."""
        ref = existing_function_ref(
            request["FunctionName"], scope, request.get("Qualifier"), shown_qualifier=request.get("Qualifier") or LATEST
        )
        payload = request.get("Payload") or b"{}"
        if queued and len(payload) > MAX_ASYNC_PAYLOAD_BYTES:
            raise RequestTooLarge(
                f"Request must be smaller than {MAX_ASYNC_PAYLOAD_BYTES} bytes for the InvokeFunction operation"
            )
        await _check_json(payload)
        client_context = _client_context(request.get("ClientContext"))
        return ref, payload, client_context, self._resolve(ref)

    async def enqueue(self, ref: FunctionRef, payload: bytes, lineage: str | None = None) -> str:
        """Store an asynchronous invocation durably; return its request id."""
        if self._queue is None:
            raise ResourceConflict("Asynchronous invocation is not available on this server.")
        request_id = str(uuid.uuid4())
        item = QueueItem(
            id=request_id, kind=EVENT, account=ref.scope.account, region=ref.scope.region, function=ref.name,
            qualifier=ref.qualifier, payload=payload, received_ms=int(time.time() * 1000), lineage=lineage,
        )
        await self._queue.put(item)
        return request_id

    async def run(
        self,
        ref: FunctionRef,
        payload: bytes,
        request_id: str,
        client_context: str | None = None,
        lineage: str | None = None,
        resolved: tuple[dict[str, Any], dict[str, Any]] | None = None,
        sink: StreamedBody | None = None,
    ) -> Run:
        """One attempt: raises TooManyRequests when throttled and ResourceNotFound/Conflict when it cannot run.

        `resolved` is the (version record, function record) pair when the caller has just read it. A
        response the function streams goes to `sink` as it arrives (see invoke/streaming.py); without
        one it is collected, as Invoke does.
        """
        record, function = resolved or self._resolve(ref)
        version = _require_active(record["config"])
        blueprint = await self.blueprint(ref.scope, record)
        invocation = Invocation(
            request_id=request_id,
            payload=payload,
            deadline_ms=0,  # set when the environment starts the invocation
            invoked_function_arn=function_arn(ref.scope, ref.name, ref.qualifier),
            trace_id=lineages.trace_id(lineage),
            client_context=client_context,
        )
        reserved = function.get("ReservedConcurrentExecutions")
        with self._limits.lease(ref.scope.account, ref.scope.region, ref.name, reserved, self._reserved_total(ref.scope)):
            try:
                for _ in range(MAX_ENVIRONMENTS_TRIED):
                    async with self._checkout(blueprint) as (environment, cold):
                        result = await environment.invoke(invocation, cold, sink)
                    if result.delivered:
                        break
            except InitFailed as failure:
                lines = self._pool.log_failed_invoke(blueprint, failure, request_id)
                return Run(version, Outcome(_answered(failure, request_id), failure.error_type), lines)
            except UnknownNetwork as error:
                # Stored with a network the operator has since removed (--network): AWS's answer for a bad subnet.
                raise InvalidSubnetID(f"Lambda was unable to configure the function's VPC: {error}.") from None
        return Run(version, result.outcome, result.log_lines)

    @asynccontextmanager
    async def _checkout(self, blueprint: Blueprint) -> AsyncIterator[tuple[Environment, bool]]:
        """A free provisioned environment of the version if there is one (never cold), else the pool's."""
        if self._provisioner is not None:
            async with self._provisioner.checkout(blueprint) as provisioned:
                if provisioned is not None:
                    yield provisioned, False
                    return
        async with self._pool.checkout(blueprint) as found:
            yield found

    def _resolve(self, ref: FunctionRef) -> tuple[dict[str, Any], dict[str, Any]]:
        """The version record to run (an alias with weights picks one of its two) and the function record.

        What a reference resolves to is cached until the next control-plane write; only the
        weighted pick between an alias's versions is made afresh each time.
        """
        key = (ref.scope, ref.name, ref.qualifier)
        cached = self._resolved.get(key)
        if cached is None or cached[0] != self._store.generation:
            cached = (self._store.generation, *self._read(ref))
            self._resolved[key] = cached
        _, function, record, weighted = cached
        for other, weight in weighted:
            if random.random() < weight:
                return other, function
        return record, function

    def _read(self, ref: FunctionRef) -> tuple[dict[str, Any], dict[str, Any], list[tuple[dict[str, Any], float]]]:
        """The function record, the version record a reference names, and an alias's weighted other versions."""
        with self._store.reading() as records:
            # Invoke names a missing function with the version it would have run, as AWS does: NAME:$LATEST.
            function = catalog.function(records, FunctionRef(ref.scope, ref.name, ref.qualifier or LATEST))
            record, alias_name = catalog.resolve(records, ref)
            weighted = []
            if alias_name is not None:
                alias = catalog.alias(records, ref, alias_name)
                for version, weight in alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}).items():
                    weighted.append((catalog.version(records, ref, version), weight))
            return function, record, weighted

    def _reserved_total(self, scope: Scope) -> int:
        cached = self._reservations.get(namespace(scope))
        if cached and cached[0] == self._store.generation:
            return cached[1]
        with self._store.reading() as records:
            total = sum(body.get("ReservedConcurrentExecutions") or 0 for _, body in records.scan(FUNCTION, namespace(scope)))
        self._reservations[namespace(scope)] = (self._store.generation, total)
        return total

    async def blueprint(self, scope: Scope, record: dict[str, Any]) -> Blueprint:
        """The (on-demand) blueprint of a version record, built once per version and revision.

        KMSAccessDeniedException when the record's environment variables do not open.
        """
        config = record["config"]
        key = (scope.account, scope.region, config["FunctionName"], config["Version"], config["RevisionId"])
        found = self._blueprints.get(key)
        if found is None:
            task_root = self._unpacked.tree(record["code_key"])
            layer_keys = [layer["key"] for layer in record.get("layers", [])]
            opt_root = self._unpacked.layered(layer_keys) if layer_keys else None
            variables = self._secrets.variables(scope, config)
            found = blueprints.build(
                scope, config, variables, task_root, opt_root, self._runtimes, self._endpoint_url, self._isolated
            )
            self._blueprints[key] = found
        return found

    async def take_snapshot(self, scope: Scope, record: dict[str, Any]) -> tuple[str, str] | None:
        """SnapStart at publish: run the version's INIT in its template. None, or why the version failed.

        The answer is a StateReasonCode and StateReason, as the activator records them.
        """
        if self._snapshots is None:
            return None
        plan = await self.blueprint(scope, record)
        if not plan.restores:
            return None
        try:
            await self._snapshots.template(plan)
        except InitFailed as failed:
            code = "FunctionError.InitTimeout" if failed.error_type == "Runtime.InitTimeout" else "FunctionError.RuntimeInitError"
            return code, failed.describe()
        except SandboxError as error:
            # Not the function's fault, but the version can't run without its snapshot: Failed, not Pending forever.
            log.error("could not make the SnapStart template of %s:%s: %s", plan.name, plan.version, error)
            return "InternalError", f"Lambdabox could not take the snapshot: {error}"
        return None

    async def function_changed(self, scope: Scope, name: str) -> None:
        """Retire environments of versions that changed or went away, after an update or delete."""
        self._reservations.pop(namespace(scope), None)
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
        if self._snapshots is not None:
            versions = {version for version, _ in current}
            await self._snapshots.retire(lambda key: key[:3] == (scope.account, scope.region, name) and key[3] not in versions)


def log_result(lines: list[str]) -> str:
    """LogType Tail's answer: the last 4 KB of an invocation's log lines, base64-encoded."""
    tail = ("\n".join(lines) + "\n").encode()[-TAIL_BYTES:]
    return base64.b64encode(tail).decode()


def _answered(failure: InitFailed, request_id: str) -> bytes:
    """The error document an invoke that met a failed INIT answers: a runtime that exited during INIT is
    reported as at invoke time, "RequestId: ID Error: Runtime exited ..." (recorded from AWS)."""
    if failure.error_type != "Runtime.ExitError":
        return failure.payload
    try:
        document = json.loads(failure.payload)
        document["errorMessage"] = f"RequestId: {request_id} Error: {document['errorMessage']}"
    except (ValueError, TypeError, KeyError):
        return failure.payload
    return json.dumps(document).encode()


def _require_active(config: dict[str, Any]) -> str:
    if config.get("State") != "Active":
        raise ResourceConflict(
            "The operation cannot be performed at this time. "
            f"The function is currently in the following state: {config.get('State')}"
        )
    return config["Version"]


async def _check_json(payload: bytes) -> None:
    """InvalidRequestContent unless `payload` is JSON. Any depth and any number is accepted, as
    Lambda does, and passed on as sent; a large payload is checked off the event loop."""
    try:
        if len(payload) <= INLINE_CHECK_BYTES:
            json_text.check(payload)
        else:
            await asyncio.to_thread(json_text.check, payload)
    except ValueError as error:
        raise InvalidRequestContent(f"Could not parse request body into json: Could not parse payload into json: {error}") from None


def _client_context(encoded: str | None) -> str | None:
    """The ClientContext header's JSON text (UTF-8, any depth), or InvalidRequestContent; size first, then content."""
    if not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from None
    if len(decoded) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidRequestContent(f"Client context must be smaller than {MAX_CLIENT_CONTEXT_BYTES} bytes.")
    try:
        text = decoded.decode()
        json_text.check(text)
    except ValueError:
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON object.") from None
    return text
