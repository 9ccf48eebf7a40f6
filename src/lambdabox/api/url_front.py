"""Function URLs served on the API's port: ASGI middleware in front of the API, passing everything else through.

A request is a URL's when
- its Host is `ID.lambda-url.REGION.DOMAIN[:PORT]` (DOMAIN: --url-domain), the whole host and nothing more
  (`ID.lambda-url.us-east-1.localhost.evil.com` is not ours, and goes to the API), or
- its path is `/_lambdabox/urls/ID/...` (the path form, for clients that can't choose a host name); the function
  then sees the rest of the path, `/...`.

Serving one, in order:
1. Find the URL by its id (a URL of another region than the host names is not found). Not found: 403, as a
   forbidden request, so that ids can't be probed.
2. Read the body, at most 6 MB (413 beyond).
3. A CORS preflight (OPTIONS with Origin and Access-Control-Request-Method, on a URL with a Cors config) is
   answered here from the config, without authentication; the function never sees it.
4. Authorize (403 {"Message":"Forbidden"} if not):
   - AWS_IAM: a SigV4 signature for service `lambda` that verifies, by a principal allowed both
     `lambda:InvokeFunctionUrl` (with `lambda:FunctionUrlAuthType` = AWS_IAM) and `lambda:InvokeFunction`
     (with `lambda:InvokedViaFunctionUrl` = true) on the function (or alias) by the gate;
   - NONE: the function's (or alias's) resource policy must allow both actions to the anonymous principal
     `*`, with the same condition keys (AWS's rule for URLs made since October 2025). This holds with
     `--auth off` too: it needs no credentials.
5. Invoke through the Invoker with the URL's alias (the payload format 2.0 event, model/url_events.py).
6. Answer: the function's response mapped to HTTP; a function error, a timeout or a malformed response is
   502 {"Message":"Internal Server Error"}; a throttle 429; the CORS headers of the config are added.
A RESPONSE_STREAM URL whose function streams is answered as it streams (api/url_stream.py); one whose
function returns a buffered response is answered as a BUFFERED URL is.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from lambdabox.access.actions import Target, lambda_target
from lambdabox.access.gate import Denied, Gate
from lambdabox.access.policy import Caller, Effect, resource_effect
from lambdabox.access.policy import Request as PolicyRequest
from lambdabox.access.signatures import Refused, parse
from lambdabox.api import url_stream
from lambdabox.api.bodies import read_bounded
from lambdabox.api.rest import Authenticate, incoming, origin
from lambdabox.control.function_urls import AWS_IAM, RESPONSE_STREAM, FoundUrl, FunctionUrls
from lambdabox.invoke.invoker import Invoker
from lambdabox.model import url_events
from lambdabox.model.arns import Scope, function_arn
from lambdabox.model.errors import AwsError, TooManyRequests
from lambdabox.model.limits import MAX_REQUEST_BYTES

log = logging.getLogger(__name__)

#: Where the path form of a URL begins.
PATH_PREFIX = "/_lambdabox/urls/"
_ID = re.compile(r"[a-z0-9]{32}")
#: Who a NONE URL's caller is to resource policies: no account, no ARN; only Principal "*" names it.
_ANONYMOUS = Caller("anonymous", "anonymous")

#: The answers AWS gives (status, body).
FORBIDDEN = (403, {"Message": "Forbidden"})
BAD_GATEWAY = (502, {"Message": "Internal Server Error"})
THROTTLED = (429, {"Message": "Rate Exceeded."})
TOO_LARGE = (413, {"Message": "Request Entity Too Large"})

#: (target) -> the resource policy documents of its function, as the gate reads them.
Policies = Callable[[Target], Sequence[Mapping]]


class UrlFront:
    def __init__(
        self, app: Any, urls: FunctionUrls, invoker: Invoker, authenticate: Authenticate, gate: Gate | None,
        policies: Policies, domain: str,
    ) -> None:
        self._app = app
        self._urls = urls
        self._invoker = invoker
        self._authenticate = authenticate
        self._gate = gate
        self._policies = policies
        self._host = re.compile(
            r"(?P<id>[a-z0-9]{32})\.lambda-url\.(?P<region>[a-z0-9-]+)\."
            + re.escape(domain.lower())
            + r"(?::[0-9]{1,5})?"
        )

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        routed = self._route(scope)
        if routed is None:
            await self._app(scope, receive, send)
            return
        url_id, region, raw_path = routed
        response = await self._serve(Request(scope, receive), url_id, region, raw_path)
        await response(scope, receive, send)

    def _route(self, scope: dict) -> tuple[str, str | None, str] | None:
        """(url id, region or None, the path the function sees) of a URL's request; None for the API's."""
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        host = _header(scope, b"host").lower()
        found = self._host.fullmatch(host)
        if found is not None:
            return found["id"], found["region"], path or "/"
        if path.startswith(PATH_PREFIX):
            url_id, _, rest = path[len(PATH_PREFIX):].partition("/")
            return url_id, None, "/" + rest
        if path == PATH_PREFIX.rstrip("/"):
            return "", None, "/"
        return None

    async def _serve(self, request: Request, url_id: str, region: str | None, raw_path: str) -> Response:
        request_id = str(uuid.uuid4())
        found = await run_in_threadpool(self._urls.find, url_id) if _ID.fullmatch(url_id) else None
        if found is None or (region is not None and found.ref.scope.region != region):
            return _error(FORBIDDEN, request_id)
        try:
            body = await read_bounded(request, MAX_REQUEST_BYTES)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            return _error(TOO_LARGE, request_id)
        cors = found.config.get("Cors")
        if cors and _is_preflight(request):
            return _preflight(cors, request, request_id)
        allowed = await run_in_threadpool(self._allowed, request, body, found)
        if allowed is None:
            return _error(FORBIDDEN, request_id)
        account, iam = allowed
        host = request.headers.get("host", "").rsplit(":", 1)[0]
        url_request = url_events.UrlRequest(
            url_id=url_id, domain_name=host, method=request.method, raw_path=raw_path,
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=_forwarded(request),
            body=body, source_ip=request.client.host if request.client else "", request_id=request_id,
            protocol=f"HTTP/{request.scope.get('http_version', '1.1')}", account_id=account, iam=iam,
        )
        payload = json.dumps(url_events.event(url_request), separators=(",", ":")).encode()
        if len(payload) > MAX_REQUEST_BYTES:
            return _error(TOO_LARGE, request_id)
        origin_header = request.headers.get("origin")

        def finish_headers(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
            if cors:
                headers = [(n, v) for n, v in headers if not n.startswith("access-control-")]
                headers += _cors_headers(cors, origin_header)
            return [*headers, ("x-amzn-requestid", request_id)]

        try:
            if found.config.get("InvokeMode") == RESPONSE_STREAM:
                streamed = await self._invoker.stream(found.ref, payload, request_id)
                if streamed.streaming:
                    return await url_stream.respond(streamed, finish_headers, lambda: _error(BAD_GATEWAY, request_id))
                run = await streamed.finish()
            else:
                run = await self._invoker.run(found.ref, payload, request_id)
        except TooManyRequests:
            return _error(THROTTLED, request_id)
        except AwsError as error:
            log.info("function URL %s could not invoke %s: %s", url_id, found.ref.name, error)
            return _error(BAD_GATEWAY, request_id)
        if run.outcome.error_type is not None:
            return _error(BAD_GATEWAY, request_id)
        try:
            answered = url_events.answer(run.outcome.payload)
        except url_events.Malformed as malformed:
            log.info("function URL %s: %s's response is malformed: %s", url_id, found.ref.name, malformed)
            return _error(BAD_GATEWAY, request_id)
        headers = finish_headers(answered.headers)
        response = Response(answered.body, status_code=answered.status)
        response.raw_headers = url_stream.encoded(headers) + [
            (b"content-length", str(len(answered.body)).encode())
        ]
        return response

    def _allowed(self, request: Request, body: bytes, found: FoundUrl) -> tuple[str, dict | None] | None:
        """(the event's accountId, its authorizer.iam) if the caller may invoke the URL; None if not."""
        ref = found.ref
        resource = function_arn(ref.scope, ref.name, ref.qualifier)
        auth_type = found.config["AuthType"]
        context = {
            "lambda:FunctionUrlAuthType": [auth_type],
            "lambda:FunctionArn": [resource],
            "lambda:InvokedViaFunctionUrl": ["true"],
        }
        if auth_type != AWS_IAM:
            for action in ("lambda:InvokeFunctionUrl", "lambda:InvokeFunction"):
                target = Target(action, resource, ref.scope.account, ref.scope.region, context)
                documents = self._policies(target)
                if resource_effect(documents, _ANONYMOUS, PolicyRequest(action, resource, context)) is not Effect.ALLOW:
                    return None
            return "anonymous", None
        try:
            caller = self._authenticate(incoming(request, body))
        except Refused:
            return None
        if caller.service not in ("lambda", None) or (caller.service is None and self._gate is not None):
            return None
        principal = caller.principal
        if self._gate is not None:
            scope = Scope(principal.account, ref.scope.region)
            url_target = lambda_target("InvokeFunctionUrl", {"FunctionName": resource, "AuthType": auth_type}, scope)
            invoke_target = lambda_target("Invoke", {"FunctionName": resource}, scope)
            invoke_target = replace(invoke_target, context={**invoke_target.context, **context})
            try:
                self._gate.check(principal, url_target, origin(request))
                self._gate.check(principal, invoke_target, origin(request))
            except Denied:
                return None
        signature = _signature_key(request)
        iam = {
            "accessKey": signature or principal.access_key,
            "accountId": principal.account,
            "callerId": principal.user_id,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": principal.arn,
            "userId": principal.user_id,
        }
        return principal.account, iam


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _forwarded(request: Request) -> list[tuple[str, str]]:
    """The request's headers, and those AWS's front adds: the client's address appended to X-Forwarded-For,
    X-Forwarded-Proto and -Port, and an X-Amzn-Trace-Id when the client sent none."""
    headers = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in request.scope["headers"]]
    server = request.scope.get("server") or ("", 80)
    headers += [
        ("x-forwarded-for", request.client.host if request.client else ""),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-port", str(server[1])),
    ]
    if "x-amzn-trace-id" not in request.headers:
        headers.append(("x-amzn-trace-id", f"Root=1-{int(time.time()):08x}-{os.urandom(12).hex()}"))
    return headers


def _signature_key(request: Request) -> str | None:
    try:
        signature = parse(
            [(n.decode("latin-1").lower(), v.decode("latin-1")) for n, v in request.scope["headers"]],
            request.scope.get("query_string", b"").decode("latin-1"),
        )
    except Refused:
        return None
    return signature.access_key if signature is not None else None


def _error(answer: tuple[int, dict], request_id: str) -> Response:
    status, body = answer
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json",
        headers={"x-amzn-RequestId": request_id},
    )


def _is_preflight(request: Request) -> bool:
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def _allowed_origin(cors: Mapping[str, Any], requested: str | None) -> str | None:
    """The Access-Control-Allow-Origin value for a request from `requested`, or None when it is not allowed."""
    if not requested:
        return None
    origins = cors.get("AllowOrigins") or []
    if "*" in origins:
        return requested if cors.get("AllowCredentials") else "*"
    return requested if requested.lower() in (origin.lower() for origin in origins) else None


def _cors_headers(cors: Mapping[str, Any], requested: str | None) -> list[tuple[str, str]]:
    allowed = _allowed_origin(cors, requested)
    if allowed is None:
        return []
    headers = [("access-control-allow-origin", allowed)]
    if cors.get("AllowCredentials"):
        headers.append(("access-control-allow-credentials", "true"))
    if cors.get("ExposeHeaders"):
        headers.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
    if allowed != "*":
        headers.append(("vary", "Origin"))
    return headers


def _preflight(cors: Mapping[str, Any], request: Request, request_id: str) -> Response:
    """The answer to a CORS preflight: the config's rules for an allowed origin, none for another."""
    headers = _cors_headers(cors, request.headers.get("origin"))
    if headers:
        methods = cors.get("AllowMethods") or []
        wanted = request.headers.get("access-control-request-method", "")
        if methods:
            headers.append(("access-control-allow-methods", wanted if "*" in methods else ",".join(methods)))
        allow_headers = cors.get("AllowHeaders") or []
        asked = request.headers.get("access-control-request-headers", "")
        if allow_headers:
            headers.append(("access-control-allow-headers", asked if "*" in allow_headers else ",".join(allow_headers)))
        if cors.get("MaxAge") is not None:
            headers.append(("access-control-max-age", str(cors["MaxAge"])))
    headers.append(("x-amzn-RequestId", request_id))
    return Response(b"", status_code=200, headers=dict(headers))
