"""Function URL requests and answers as data: the payload format 2.0 event, and the HTTP answer a function's
response makes. Pure functions of their inputs (AWS's "Invoking Lambda function URLs": "Request payload format",
"Response payload format").

The event, field for field: version "2.0", routeKey "$default", rawPath, rawQueryString, cookies (only when
the request has any), headers (names lower-cased, a repeated header's values joined with ","; Cookie is given
as `cookies` instead), queryStringParameters (repeated values joined with ","; only when there is a query),
requestContext {accountId, apiId, authorizer.iam (AWS_IAM only), domainName, domainPrefix, http {method, path,
protocol, sourceIp, userAgent}, requestId, routeKey, stage, time, timeEpoch}, body and isBase64Encoded (a body
that is not text by its Content-Type, or not UTF-8, is base64-encoded; no body, no `body`).

The answer: a JSON object with a `statusCode` is a response object {statusCode, headers, cookies, body,
isBase64Encoded}; any other JSON is the body of a 200 application/json answer (AWS's inference). Anything
else — an object whose members have the wrong types, a status outside 100-599, base64 that does not decode —
is Malformed, which the front answers 502 as AWS does.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from lambdabox.model import json_text

#: Content types whose bodies the event carries as text (when they are UTF-8); the rest are base64-encoded.
_TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml",
               "application/x-www-form-urlencoded", "application/graphql")
_TEXT_SUFFIXES = ("+json", "+xml")
#: The content type of a streamed answer whose prelude names none.
STREAMED_CONTENT_TYPE = "application/octet-stream"
#: An HTTP header name (RFC 9110's token).
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class Malformed(ValueError):
    """The function's response is no answer a URL can give."""


@dataclass(frozen=True)
class UrlRequest:
    """One HTTP request to a function URL, as the front read it."""

    url_id: str
    #: The host name the client used (without the port), or the API's host for the path form.
    domain_name: str
    method: str
    raw_path: str
    raw_query: str
    #: (name, value) pairs in the order received; names in any case.
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    request_id: str
    protocol: str = "HTTP/1.1"
    #: The account the event names: the URL's caller for AWS_IAM, "anonymous" for NONE.
    account_id: str = "anonymous"
    #: authorizer.iam of AWS_IAM URLs; None for NONE.
    iam: dict[str, Any] | None = None
    #: Seconds since the epoch the request arrived.
    received: float = field(default_factory=time.time)


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    #: (name, value) pairs; Set-Cookie may repeat.
    headers: list[tuple[str, str]]
    body: bytes


def event(request: UrlRequest) -> dict[str, Any]:
    """The payload format 2.0 event of `request`."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    received_ms = int(request.received * 1000)
    context: dict[str, Any] = {
        "accountId": request.account_id,
        "apiId": request.url_id,
        "domainName": request.domain_name,
        "domainPrefix": request.url_id,
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(request.received)),
        "timeEpoch": received_ms,
    }
    if request.iam is not None:
        context["authorizer"] = {"iam": request.iam}
    built: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        built["cookies"] = cookies
    built["headers"] = headers
    parameters = _joined(parse_qsl(request.raw_query, keep_blank_values=True))
    if parameters:
        built["queryStringParameters"] = parameters
    built["requestContext"] = context
    if request.body:
        text = _as_text(request.body, headers.get("content-type", ""))
        built["body"] = text if text is not None else base64.b64encode(request.body).decode()
        built["isBase64Encoded"] = text is None
    else:
        built["isBase64Encoded"] = False
    return built


def answer(payload: bytes) -> HttpAnswer:
    """The HTTP answer a function's (successful) response makes; Malformed if it makes none."""
    try:
        value = json_text.loads(payload)
    except json_text.TooDeep:
        # Deeper than any response object can be: a bare value, which is answered as JSON as it is.
        return HttpAnswer(200, [("content-type", "application/json")], payload)
    except ValueError:
        raise Malformed("the response is not JSON") from None
    if not isinstance(value, dict) or "statusCode" not in value:
        return HttpAnswer(200, [("content-type", "application/json")], payload)
    status = value["statusCode"]
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise Malformed("statusCode is not an HTTP status")
    headers = value.get("headers") or {}
    cookies = value.get("cookies") or []
    body = value.get("body")
    if not isinstance(headers, dict) or not isinstance(cookies, list) or not (body is None or isinstance(body, str)):
        raise Malformed("headers, cookies or body have the wrong type")
    if not all(_TOKEN.fullmatch(name) for name in headers):
        raise Malformed("a header name is not a token")
    pairs = [(name.lower(), _header_value(item)) for name, item in headers.items()]
    if not any(name == "content-type" for name, _ in pairs):
        pairs.append(("content-type", "application/json"))
    pairs.extend(("set-cookie", _header_value(cookie)) for cookie in cookies)
    data = (body or "").encode()
    if value.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("the body is not base64") from None
    return HttpAnswer(status, pairs, data)


def prelude(data: bytes) -> HttpAnswer:
    """The status and headers a streamed answer's prelude gives (the JSON object a function writes before the
    8 NUL bytes, as awslambda.HttpResponseStream.from does: {statusCode, headers, cookies}); Malformed if it
    gives none. The body is what follows the prelude, so it is empty here."""
    try:
        value = json_text.loads(data)
    except ValueError:
        raise Malformed("the prelude is not JSON, or nests too deep") from None
    if not isinstance(value, dict):
        raise Malformed("the prelude is not a JSON object")
    status = value.get("statusCode", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise Malformed("statusCode is not an HTTP status")
    headers = value.get("headers")
    cookies = value.get("cookies")
    headers = {} if headers is None else headers
    cookies = [] if cookies is None else cookies
    if not isinstance(headers, dict) or not isinstance(cookies, list):
        raise Malformed("headers or cookies have the wrong type")
    if not all(_TOKEN.fullmatch(name) for name in headers):
        raise Malformed("a header name is not a token")
    pairs = [(name.lower(), _header_value(item)) for name, item in headers.items()]
    if not any(name == "content-type" for name, _ in pairs):
        pairs.append(("content-type", STREAMED_CONTENT_TYPE))
    pairs.extend(("set-cookie", _header_value(cookie)) for cookie in cookies)
    return HttpAnswer(status, pairs, b"")


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
    else:
        raise Malformed("a header value is not text")
    if any(c in text for c in "\r\n\0"):
        raise Malformed("a header value holds a line break")
    return text


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _as_text(body: bytes, content_type: str) -> str | None:
    """The body as text if its Content-Type is a text type and it is UTF-8; else None."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if not (kind.startswith(_TEXT_TYPES) or kind.endswith(_TEXT_SUFFIXES)):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None
