"""The ASGI application: one endpoint for Lambda, IAM, STS and CloudWatch Logs, as AWS tooling expects.

A request signed for the ``iam`` or ``sts`` service (or an unsigned form POST naming an
IAM or STS API Version) goes to the Query-protocol front; one signed for ``logs`` to the
CloudWatch Logs JSON 1.1 front (api/json_front.py); one signed for ``lambda``, or not
signed at all, to Lambda's REST-JSON API; one signed for any other service is told, in that
service's protocol, that Lambdabox does not serve it (api/unserved.py). Lambdabox's own routes live under /_lambdabox/: all but the health check
and the (self-signed) code download links need a signed request, and answer only about
the caller's own account.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from lambdabox.access.actions import Target, query_target
from lambdabox.access.gate import Denied, Gate
from lambdabox.access.signatures import Refused, signed_service
from lambdabox.api.bodies import read_bounded
from lambdabox.api.json_front import JsonApi
from lambdabox.api.query import QueryApi
from lambdabox.api.refusals import query_denied, query_error
from lambdabox.api.rest import Authenticate, RestJsonApi, authenticated, authorize, error_response, incoming, origin
from lambdabox.api.unserved import Unserved
from lambdabox.control.code_links import DOWNLOAD_PATH, CodeLinks
from lambdabox.model import numerals
from lambdabox.model.arns import Scope
from lambdabox.model.errors import AwsError
from lambdabox.model.iam import RequestEntityTooLarge
from lambdabox.observe.logs import LogStore, group_name
from lambdabox.settings import Settings
from lambdabox.store.blobs import BlobStore

log = logging.getLogger(__name__)

#: Largest IAM or STS form body read, in bytes: the largest policy document IAM takes is
#: 131,072 characters, which URL-encoding can triple; a hostile body past this is not buffered.
MAX_QUERY_BODY_BYTES = 1024 * 1024

#: How the access keys Lambdabox issues begin: long-term (AKIA) and session (ASIA) keys.

#: How the X-Amz-Target of a CloudWatch Logs request begins, for unsigned requests.
_LOGS_TARGET = "Logs_20140328."
#: The Query-protocol API versions, for unsigned requests.
_QUERY_VERSIONS = {"2010-05-08": "iam", "2011-06-15": "sts"}


@dataclass(frozen=True)
class Fronts:
    lambda_api: RestJsonApi
    query_api: QueryApi
    links: CodeLinks
    blobs: BlobStore
    logs: LogStore | None = None
    #: The queue of asynchronous invocations, for looking them up.
    events: Any = None
    #: Who signed a request (authn.Verified, or authn.Open with auth off).
    authenticate: Authenticate | None = None
    #: Auth is off: say so in every response.
    auth_off: bool = False
    #: Who may do what (None with auth off).
    gate: Gate | None = None
    #: IAM paths and key owners, for the resource ARNs of IAM calls (access.actions.IamNames).
    iam_names: Any = None
    #: The CloudWatch Logs API (JSON 1.1), for requests signed for `logs`.
    logs_api: JsonApi | None = None
    #: What each event source mapping processed, failed and lags (sources.mapping_stats.MappingStatsBook).
    mapping_stats: Any = None


#: The header every response carries while auth is off.
AUTH_OFF_HEADER = "x-lambdabox-warning"
AUTH_OFF_WARNING = "auth is off: this server accepts any request as the root of any account"


def build_asgi(settings: Settings, fronts: Fronts, lifespan: Callable[[Starlette], AbstractAsyncContextManager]) -> Starlette:
    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def archive(request: Request) -> Response:
        key = request.path_params["key"]
        expires = request.query_params.get("expires", "")
        signature = request.query_params.get("signature", "")
        if not fronts.links.valid(key, expires, signature) or not fronts.blobs.exists(key):
            return Response(b"Request has expired or its signature does not match.", status_code=403)
        data = await run_in_threadpool(fronts.blobs.read, key)
        return Response(data, media_type="application/zip")

    def own_scope(request: Request, action: str, resource: Callable[[Scope], str]) -> Scope:
        """Where one of our own routes acts: the caller's account (with auth off, ?account= may name
        another) and ?region=, else the signature's region; once the caller may do `action` on the
        `resource` (an ARN in that scope). Raises AwsError (403) for a refused signature or a denial."""
        caller = authenticated(request, b"", fronts.authenticate)
        account = caller.principal.account
        if fronts.auth_off:
            account = request.query_params.get("account") or account
        scope = Scope(account, request.query_params.get("region") or caller.region or settings.default_region)
        authorize(fronts.gate, caller.principal, Target(action, resource(scope), scope.account, scope.region), request)
        return scope

    def log_group(group: str) -> Callable[[Scope], str]:
        return lambda scope: f"arn:aws:logs:{scope.region}:{scope.account}:log-group:{group}:*"

    def function(name: str) -> Callable[[Scope], str]:
        return lambda scope: f"arn:aws:lambda:{scope.region}:{scope.account}:function:{name}"

    def own_route(route: Callable[[Request], Any]) -> Callable[[Request], Any]:
        """`route`, answering a refused signature as Lambda does."""

        async def guarded(request: Request) -> Response:
            try:
                return await route(request)
            except AwsError as error:
                return error_response(error, str(uuid.uuid4()))

        return guarded

    async def logs(request: Request) -> Response:
        """A function's oldest log events since a time, one page of them (at most 10,000 events and 1 MB):
        {"events": [{"timestamp", "message", "logStreamName"}], "truncated": whether later events were left
        out; ask again from the last event's timestamp}. ?group= reads that group of the caller's account (a
        function's LoggingConfig LogGroup), instead of /aws/lambda/NAME."""
        group = request.query_params.get("group") or group_name(request.path_params["name"])
        scope = own_scope(request, "logs:FilterLogEvents", log_group(group))
        since = numerals.natural(request.query_params.get("since")) or 0
        skip = numerals.natural(request.query_params.get("skip")) or 0
        page = await run_in_threadpool(
            fronts.logs.page,
            f"{scope.account}:{scope.region}",
            group,
            since,
            skip=skip,
        )
        events = [{"timestamp": e.timestamp, "message": e.message, "logStreamName": e.stream} for e in page.events]
        return JSONResponse({"events": events, "truncated": page.truncated})

    async def invocation(request: Request) -> Response:
        """What became of one asynchronous invocation: GET /_lambdabox/invocations/{request id}."""
        caller = authenticated(request, b"", fronts.authenticate)
        record = await run_in_threadpool(fronts.events.get, request.path_params["id"])
        if record is not None and not (fronts.auth_off or _belongs(record, caller.principal.account)):
            record = None
        if record is not None:
            name, scope = record["function"], Scope(record["account"], record["region"])
            authorize(fronts.gate, caller.principal, Target("lambda:GetFunction", function(name)(scope), scope.account,
                                                            scope.region), request)
        if record is None:
            return JSONResponse({"message": "No asynchronous invocation has this request id."}, status_code=404)
        return JSONResponse(record)

    async def invocations(request: Request) -> Response:
        """The newest asynchronous invocations of a function: GET /_lambdabox/invocations?function=NAME[&limit=N]."""
        name = request.query_params.get("function", "")
        scope = own_scope(request, "lambda:GetFunction", function(name))
        limit = numerals.natural(request.query_params.get("limit"))
        found = await run_in_threadpool(
            fronts.events.recent, scope.account, scope.region, name, min(20 if limit is None else limit, 1000)
        )
        return JSONResponse({"invocations": found})

    async def mapping_stats(request: Request) -> Response:
        """What the caller's event source mappings did since the server started, by UUID:
        GET /_lambdabox/event-source-mappings[?region=R] answers {"EventSourceMappings": {UUID: {RecordsProcessed,
        RecordsFailed, LagMillis, Backlog}}}, for the caller's own account only, once it may
        lambda:ListEventSourceMappings (kept off ListEventSourceMappings, whose shape is AWS's)."""
        scope = own_scope(request, "lambda:ListEventSourceMappings", lambda _: "*")
        shown = fronts.mapping_stats.shown(scope.account, scope.region) if fronts.mapping_stats is not None else {}
        return JSONResponse({"EventSourceMappings": shown})

    unserved = Unserved(fronts.authenticate, incoming)

    async def query(request: Request, service: str | None) -> Response:
        return await _query(request, service)

    async def lambda_api(request: Request, _: str | None) -> Response:
        return await fronts.lambda_api.handle(request)

    async def logs_api(request: Request, _: str | None) -> Response:
        return await fronts.logs_api.handle(request)

    #: The front of each service served, by the signing name of its requests.
    served: dict[str, Callable[[Request, str | None], Any]] = {"iam": query, "sts": query, "lambda": lambda_api}
    if fronts.logs_api is not None:
        served["logs"] = logs_api

    async def dispatch(request: Request) -> Response:
        service = signed_service(request.headers.get("authorization"), request.query_params.get("X-Amz-Credential"))
        if service is None:
            # Unsigned: refused by the front its shape suggests, in that front's protocol.
            front = query if request.method == "POST" and request.url.path == "/" else lambda_api
            if fronts.logs_api is not None and request.headers.get("x-amz-target", "").startswith(_LOGS_TARGET):
                front = logs_api
            return await front(request, None)
        front = served.get(service)
        if front is None:
            return await unserved.handle(request, service, str(uuid.uuid4()))
        return await front(request, service)

    async def _query(request: Request, service: str | None) -> Response:
        request_id = str(uuid.uuid4())
        try:
            form = await read_bounded(request, MAX_QUERY_BODY_BYTES)
        except ClientDisconnect:
            # The client went away mid-body: nothing was done, and there is no one to answer.
            log.debug("client left during %s %s", request.method, request.url.path)
            return Response(status_code=400)
        if form is None:
            too_large = RequestEntityTooLarge(f"Request body must be smaller than {MAX_QUERY_BODY_BYTES} bytes")
            status, body = fronts.query_api.refuse(service or "iam", too_large, request_id)
        else:
            params = dict(parse_qsl(form.decode("utf-8", "replace"), keep_blank_values=True))
            params.update(request.query_params)
            service = service or _QUERY_VERSIONS.get(params.get("Version", ""), "iam")
            try:
                caller = fronts.authenticate(incoming(request, form))
                _authorize_query(fronts.gate, service, params, caller.principal, request, fronts.iam_names)
            except Refused as refused:
                status, body = fronts.query_api.refuse(service, query_error(refused), request_id)
            except Denied as denied:
                status, body = fronts.query_api.refuse(service, query_denied(denied.message), request_id)
            else:
                status, body = await run_in_threadpool(
                    fronts.query_api.handle, service, caller.principal, params, request_id
                )
        return Response(body, status_code=status, media_type="text/xml", headers={"x-amzn-RequestId": request_id})

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    app = Starlette(
        routes=[
            Route("/_lambdabox/health", health),
            Route(DOWNLOAD_PATH + "{key}", archive),
            Route("/_lambdabox/logs/{name}", own_route(logs)),
            Route("/_lambdabox/invocations/{id}", own_route(invocation)),
            Route("/_lambdabox/invocations", own_route(invocations)),
            Route("/_lambdabox/event-source-mappings", own_route(mapping_stats)),
            Route("/{path:path}", dispatch, methods=methods),
        ],
        lifespan=lifespan,
    )
    return _Warning(app, AUTH_OFF_WARNING) if fronts.auth_off else app


def _authorize_query(
    gate: Gate | None, service: str, params: dict[str, str], principal: Any, request: Request, names: Any
) -> None:
    """Return if `principal` may make this IAM or STS call; Denied if not. An action Lambdabox does not know is
    let through, to be answered InvalidAction by its front."""
    if gate is None:
        return
    if params.get("Action") == "AssumeRole" and not params.get("RoleArn", "").startswith("arn:"):
        return  # not an ARN at all: refused by AssumeRole's own check ("Request ARN is invalid"), as on AWS
    try:
        target = query_target(
            service, params.get("Action") or "", params, principal.account, caller=principal.arn, names=names
        )
    except KeyError:
        return
    gate.check(principal, target, origin(request))


def _belongs(record: dict[str, Any], account: str) -> bool:
    """Whether an asynchronous invocation's record is the account's to see."""
    return record.get("account") == account


class _Warning:
    """ASGI middleware: adds a warning header to every HTTP response."""

    def __init__(self, app: Any, warning: str) -> None:
        self._app = app
        self._header = (AUTH_OFF_HEADER.encode(), warning.encode())

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def warned(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self._header]}
            await send(message)

        await self._app(scope, receive, warned)
