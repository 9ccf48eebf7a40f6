"""The Lambda REST-JSON protocol: from an HTTP request to an operation's input, and back.

1. The router finds the operation by method and path (AWS's own paths, from the model).
2. The body is read up to the operation's size limit; JSON members, URI labels, query
   strings and headers are gathered into one input dict, typed by the model.
3. The input is checked against the model (shapes.decode, then shapes.check).
4. The operation's handler runs in a worker thread; its result is split back into
   status code, headers and JSON body following the output shape.
Any AwsError, at any step, becomes AWS's error response; nothing was written.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from botocore.model import OperationModel, ServiceModel
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from lambdabox.access import authn
from lambdabox.access.actions import Target, lambda_target
from lambdabox.access.gate import Denied, Gate, Origin
from lambdabox.access.signatures import Refused
from lambdabox.api import shapes
from lambdabox.api.bodies import read_bounded
from lambdabox.api.refusals import lambda_error
from lambdabox.api.routing import Router
from lambdabox.model import json_text, numerals
from lambdabox.model.arns import Scope
from lambdabox.model.errors import (
    AccessDenied,
    AwsError,
    InvalidRequestContent,
    RequestEntityTooLarge,
    RequestTooLarge,
    ServiceError,
    UnknownOperation,
    shortened,
)
from lambdabox.model.limits import MAX_CODE_REQUEST_BYTES, MAX_LAYERS, MAX_REQUEST_BYTES
from lambdabox.model.principals import Principal

log = logging.getLogger(__name__)

#: Operations whose bodies carry a whole zip, and so may be larger than others.
_CODE_OPERATIONS = frozenset({"CreateFunction", "UpdateFunctionCode", "PublishLayerVersion"})


#: Members whose failures Lambda reports itself, not through the model's ValidationException.
_EXEMPT = frozenset({"runtime", "recursiveLoop"})
#: Operations that check a FunctionName's pattern but not its length, as AWS does: a name that is well formed but
#: longer than any function's is not found (the control layer says so), a malformed one is invalid.
_LOOKUPS_BY_NAME = frozenset({"GetFunction", "GetFunctionConfiguration", "DeleteFunction", "Invoke", "InvokeWithResponseStream"})


@dataclass(frozen=True)
class Call:
    """One operation call, as a handler sees it."""

    scope: Scope
    input: dict[str, Any]
    #: Scheme, host and port the client reached us at, for links back to this server.
    base_url: str
    request_id: str
    #: The request's headers, for the few operations that read unmodelled ones (X-Amzn-Trace-Id).
    headers: Any = None
    #: Who is calling, as their signature proved (or as `--auth off` took them to be).
    principal: Principal | None = None


@dataclass
class Reply:
    """A handler result that sets more than the JSON body."""

    body: dict[str, Any] | bytes | None = None
    status: int | None = None
    headers: dict[str, str] | None = None


#: An operation's handler: a plain function (run in a worker thread) or a coroutine function (run on the loop).
#: It returns the output as a dict, a Reply, or a whole Response of its own.
Handler = Callable[[Call], Any]


def error_response(error: AwsError, request_id: str) -> Response:
    return Response(
        json.dumps(error.body(), separators=(",", ":")),
        status_code=error.status,
        media_type="application/json",
        headers={"x-amzn-ErrorType": error.code, "x-amzn-RequestId": request_id},
    )


#: Who signed a request: authn.Verified.authenticate or authn.Open.authenticate.
Authenticate = Callable[[authn.Request], authn.Caller]


def incoming(request: Request, body: bytes) -> authn.Request:
    """What authentication reads of `request`, whose body was `body`."""
    raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    headers = [(name.decode("latin-1").lower(), value.decode("latin-1")) for name, value in request.scope["headers"]]
    return authn.Request(request.method, raw_path, request.scope.get("query_string", b"").decode("latin-1"), headers, body)


def authenticated(request: Request, body: bytes, authenticate: Authenticate) -> authn.Caller:
    """The caller of `request`, whose body was `body`; AWS's 403 (as an AwsError) when refused."""
    try:
        return authenticate(incoming(request, body))
    except Refused as refused:
        raise lambda_error(refused) from None


def origin(request: Request) -> Origin:
    return Origin(request.client.host if request.client else None, request.url.scheme == "https")


def authorize(gate: Gate | None, principal: Principal, target: Target, request: Request) -> None:
    """Return if `principal` may act on `target`; AccessDeniedException (403) if not. No gate: auth is off."""
    if gate is None:
        return
    try:
        gate.check(principal, target, origin(request))
    except Denied as denied:
        raise AccessDenied(denied.message) from None


class RestJsonApi:
    def __init__(
        self, model: ServiceModel, handlers: dict[str, Handler], authenticate: Authenticate, default_region: str,
        gate: Gate | None = None,
    ) -> None:
        self._router = Router(model)
        self._handlers = handlers
        self._authenticate = authenticate
        self._default_region = default_region
        self._gate = gate

    async def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            return await self._handle(request, request_id)
        except AwsError as error:
            return error_response(error, request_id)
        except ClientDisconnect:
            # The client went away mid-body: nothing was done, and there is no one to answer.
            log.debug("client left during %s %s", request.method, request.url.path)
            return Response(status_code=400)
        except Exception:
            log.exception("internal error in %s %s", request.method, request.url.path)
            return error_response(ServiceError("Lambdabox hit an internal error; see the server log."), request_id)

    async def _handle(self, request: Request, request_id: str) -> Response:
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1").split("?", 1)[0]
        query = {key: values for key, values in parse_qs(request.url.query, keep_blank_values=True).items()}
        found = self._router.find(request.method, raw_path, {key: values[-1] for key, values in query.items()})
        # The signature is checked before anything else is said about the request, and it covers the body.
        body = await _read_body(request, found[0].name if found else None)
        caller = authenticated(request, body, self._authenticate)
        if found is None:
            raise UnknownOperation(f"No Lambda operation matches {request.method} {request.url.path}")
        operation, labels = found
        handler = self._handlers.get(operation.name)
        if handler is None:
            raise _not_implemented(operation.name)
        params = _gather(operation, labels, query, request.headers, body)
        scope = Scope(caller.principal.account, caller.region or self._default_region)
        target = lambda_target(operation.name, params, scope)
        authorize(self._gate, caller.principal, target, request)
        # More layers than a function may have are refused by the handler: checking the first few is enough.
        for layer in (params.get("Layers") or ())[:MAX_LAYERS + 1]:
            # Using a layer version in a function needs permission to get it, from its owner if another account's.
            authorize(self._gate, caller.principal, lambda_target("GetLayerVersionByArn", {"Arn": layer}, scope), request)
        # Allowed to act on another account's resource: the call acts in that account.
        scope = Scope(target.account, scope.region)
        call = Call(scope, params, str(request.base_url).rstrip("/"), request_id, request.headers, caller.principal)
        if inspect.iscoroutinefunction(handler):
            result = await handler(call)
        else:
            result = await run_in_threadpool(handler, call)
        return _render(operation, result, request_id)


def _not_implemented(name: str) -> AwsError:
    error = AwsError(f"Lambdabox does not implement the {name} operation yet.")
    error.status, error.code = 501, "NotImplementedException"
    return error


async def _read_body(request: Request, operation: str | None) -> bytes:
    """The body, read up to the operation's limit (an unknown operation's: any request's)."""
    limit = MAX_CODE_REQUEST_BYTES if operation in _CODE_OPERATIONS else MAX_REQUEST_BYTES
    if operation is None:
        too_large: AwsError = RequestEntityTooLarge(f"Request must be smaller than {limit} bytes")
    elif operation in ("Invoke", "InvokeWithResponseStream"):
        too_large = RequestTooLarge(f"Request must be smaller than {limit} bytes for the InvokeFunction operation")
    else:
        too_large = RequestEntityTooLarge(f"Request must be smaller than {limit} bytes for the {operation} operation")
    body = await read_bounded(request, limit)
    if body is None:
        raise too_large
    return body


def _gather(
    operation: OperationModel, labels: dict[str, str], query: dict[str, list[str]], headers: Any, body: bytes
) -> dict[str, Any]:
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload = shape.serialization.get("payload")
    if payload:
        params[payload] = body
    elif body.strip():
        try:
            document = json_text.loads(body)
        # ValueError covers bad JSON, bad UTF-8, nesting deeper than any request shape and
        # integers past Python's digit limit.
        except ValueError as error:
            raise InvalidRequestContent(f"Could not parse request body into json: {error}") from None
        params.update(shapes.decode(shape, document, ""))
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri" and wire in labels:
            # Labels are typed too: GetLayerVersion's {VersionNumber} is a long.
            params[name] = _scalar(member, [labels[wire]], wire)
        elif location == "querystring" and wire in query:
            params[name] = _scalar(member, query[wire], wire)
        elif location == "header" and wire in headers:
            params[name] = _scalar(member, [headers[wire]], wire)
    shapes.check(shape, params, _EXEMPT, frozenset({"functionName"}) if operation.name in _LOOKUPS_BY_NAME else frozenset())
    return params


def _scalar(member: Any, values: list[str], wire: str) -> Any:
    """A query-string or header value read as its member's type."""
    kind = member.type_name
    if kind == "list":
        return values
    value = values[-1]
    if kind in ("integer", "long"):
        number = numerals.integer(value)
        if number is None:
            raise InvalidRequestContent(f"Could not parse {wire}: '{shortened(value)}' is not an integer")
        return number
    if kind == "boolean":
        if value.lower() not in ("true", "false"):
            raise InvalidRequestContent(f"Could not parse {wire}: '{value}' is not a boolean")
        return value.lower() == "true"
    return value


def _render(operation: OperationModel, result: dict[str, Any] | Reply | Response | None, request_id: str) -> Response:
    if isinstance(result, Response):
        # A handler that answers itself (InvokeWithResponseStream streams its answer).
        return result
    reply = result if isinstance(result, Reply) else Reply(result)
    status = reply.status or operation.http.get("responseCode", 200)
    headers = {"x-amzn-RequestId": request_id, **(reply.headers or {})}
    if isinstance(reply.body, bytes):
        return Response(reply.body, status_code=status, headers=headers, media_type="application/json")
    if reply.body is None:
        return Response(b"" if status == 204 else b"{}", status_code=status, headers=headers, media_type="application/json")
    return Response(
        json.dumps(reply.body, separators=(",", ":")), status_code=status, headers=headers, media_type="application/json"
    )
