"""The ASGI application: one endpoint for Lambda, IAM and STS, as AWS tooling expects.

A request signed for the ``iam`` or ``sts`` service (or an unsigned form POST naming an
IAM or STS API Version) goes to the Query-protocol front; everything else is Lambda's
REST-JSON API. Lambdabox's own routes live under /_lambdabox/.
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

from lambdabox.api import sigv4
from lambdabox.api.bodies import read_bounded
from lambdabox.api.query import QueryApi
from lambdabox.api.rest import RestJsonApi
from lambdabox.control.code_links import DOWNLOAD_PATH, CodeLinks
from lambdabox.model import numerals
from lambdabox.model.arns import Scope
from lambdabox.model.iam import RequestEntityTooLarge
from lambdabox.model.principals import Principal, root
from lambdabox.observe.logs import LogStore, group_name
from lambdabox.settings import Settings
from lambdabox.store.blobs import BlobStore

log = logging.getLogger(__name__)

#: Largest IAM or STS form body read, in bytes: the largest policy document IAM takes is
#: 131,072 characters, which URL-encoding can triple; a hostile body past this is not buffered.
MAX_QUERY_BODY_BYTES = 1024 * 1024

#: How the access keys Lambdabox issues begin: long-term (AKIA) and session (ASIA) keys.
_ISSUED_KEY_PREFIXES = ("AKIA", "ASIA")

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
    #: Who signed with (access key, session token), or None for a key Lambdabox did not issue. Signatures
    #: are not verified yet: this is the unverified lookup the authenticator will replace.
    identify: Callable[[str, str | None], Principal | None] | None = None


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

    def own_scope(request: Request) -> Scope:
        """Where one of our own routes acts: ?account= and ?region=, else as for a signed Lambda request."""
        caller = sigv4.caller(request.headers, request.query_params)
        account = request.query_params.get("account") or sigv4.account_for(
            caller.access_key, settings.accounts, settings.default_account
        )
        return Scope(account, request.query_params.get("region") or caller.region or settings.default_region)

    async def logs(request: Request) -> Response:
        """A function's oldest log events since a time, one page of them (at most 10,000 events and 1 MB):
        {"events": [{"timestamp", "message", "logStreamName"}], "truncated": whether later events were left
        out; ask again from the last event's timestamp}."""
        scope = own_scope(request)
        since = numerals.natural(request.query_params.get("since")) or 0
        skip = numerals.natural(request.query_params.get("skip")) or 0
        page = await run_in_threadpool(
            fronts.logs.page,
            f"{scope.account}:{scope.region}",
            group_name(request.path_params["name"]),
            since,
            skip=skip,
        )
        events = [{"timestamp": e.timestamp, "message": e.message, "logStreamName": e.stream} for e in page.events]
        return JSONResponse({"events": events, "truncated": page.truncated})

    async def invocation(request: Request) -> Response:
        """What became of one asynchronous invocation: GET /_lambdabox/invocations/{request id}."""
        record = await run_in_threadpool(fronts.events.get, request.path_params["id"])
        if record is None:
            return JSONResponse({"message": "No asynchronous invocation has this request id."}, status_code=404)
        return JSONResponse(record)

    async def invocations(request: Request) -> Response:
        """The newest asynchronous invocations of a function: GET /_lambdabox/invocations?function=NAME[&limit=N]."""
        scope = own_scope(request)
        function = request.query_params.get("function", "")
        limit = numerals.natural(request.query_params.get("limit"))
        found = await run_in_threadpool(
            fronts.events.recent, scope.account, scope.region, function, min(20 if limit is None else limit, 1000)
        )
        return JSONResponse({"invocations": found})

    async def principal_of(request: Request, caller: sigv4.Caller) -> Principal:
        """The principal of a key or session Lambdabox issued; else the root of the account the key names."""
        key = caller.access_key
        if fronts.identify is not None and key is not None and key.startswith(_ISSUED_KEY_PREFIXES):
            token = request.headers.get("x-amz-security-token") or request.query_params.get("X-Amz-Security-Token")
            found = await run_in_threadpool(fronts.identify, key, token)
            if found is not None:
                return found
        return root(sigv4.account_for(key, settings.accounts, settings.default_account))

    async def dispatch(request: Request) -> Response:
        caller = sigv4.caller(request.headers, request.query_params)
        principal = await principal_of(request, caller)
        service = caller.service
        if service in ("iam", "sts") or (service is None and request.method == "POST" and request.url.path == "/"):
            return await _query(request, service, principal)
        scope = Scope(principal.account, caller.region or settings.default_region)
        return await fronts.lambda_api.handle(request, scope)

    async def _query(request: Request, service: str | None, principal: Principal) -> Response:
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
            status, body = await run_in_threadpool(fronts.query_api.handle, service, principal, params, request_id)
        return Response(body, status_code=status, media_type="text/xml", headers={"x-amzn-RequestId": request_id})

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"]
    return Starlette(
        routes=[
            Route("/_lambdabox/health", health),
            Route(DOWNLOAD_PATH + "{key}", archive),
            Route("/_lambdabox/logs/{name}", logs),
            Route("/_lambdabox/invocations/{id}", invocation),
            Route("/_lambdabox/invocations", invocations),
            Route("/{path:path}", dispatch, methods=methods),
        ],
        lifespan=lifespan,
    )
