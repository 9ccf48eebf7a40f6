"""Checking an AWS Signature Version 4, header-signed or presigned, with botocore's own signer.

The expected signature is computed by botocore's SigV4Auth over the request exactly as it
arrived: the raw path and query, the headers the client says it signed (SignedHeaders), the
timestamp it signed at (X-Amz-Date) and the scope it named. Nothing here canonicalizes a
request itself; it only hands botocore the pieces a signer would have had.

Contract:
1. `parse` reads the signature's parts, or returns None when the request carries none; a
   signature that is there but malformed raises Refused(INCOMPLETE).
2. `check_time` raises Refused(SKEW) for a timestamp more than 15 minutes from now, and
   Refused(SKEW) for a presigned request past its X-Amz-Expires.
3. `verify` raises Refused(BAD_SIGNATURE) unless the signature matches under `secret`,
   and when the client sent x-amz-content-sha256 (other than UNSIGNED-PAYLOAD), unless it is
   the hash of the body that arrived.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from botocore.auth import UNSIGNED_PAYLOAD, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

#: How far a request's timestamp may be from the server's clock (AWS: 15 minutes).
MAX_SKEW = timedelta(minutes=15)
#: Longest a presigned request may be valid, in seconds (AWS: 7 days).
MAX_PRESIGN_S = 7 * 24 * 3600
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_ALGORITHM = "AWS4-HMAC-SHA256"
_CREDENTIAL = re.compile(r"([^/]{1,128})/(\d{8})/([^/]{1,64})/([^/]{1,64})/aws4_request")
_PART = re.compile(r"(Credential|SignedHeaders|Signature)=([^,\s]*)")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_STAMP = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z")
_STREAMING = "STREAMING-"


class Failure(enum.Enum):
    """Why a request was refused before anything else was looked at."""

    MISSING = "missing"
    INCOMPLETE = "incomplete"
    UNKNOWN_KEY = "unknown key"
    BAD_SIGNATURE = "bad signature"
    EXPIRED_TOKEN = "expired token"
    SKEW = "skew"


class Refused(Exception):
    def __init__(self, failure: Failure, message: str = "") -> None:
        super().__init__(message or failure.value)
        self.failure = failure
        self.message = message


@dataclass(frozen=True)
class Signature:
    access_key: str
    #: The credential scope's date, region and service.
    date: str
    region: str
    service: str
    #: X-Amz-Date, as signed.
    timestamp: str
    signed_headers: tuple[str, ...]
    signature: str
    token: str | None
    #: For a presigned request: X-Amz-Expires, in seconds.
    expires_s: int | None = None
    #: The timestamp, read.
    signed_at: datetime | None = None

    @property
    def presigned(self) -> bool:
        return self.expires_s is not None


def _query_pairs(raw_query: str) -> list[tuple[str, str]]:
    return [(unquote(key), unquote(value)) for key, _, value in (part.partition("=") for part in raw_query.split("&") if part)]


def parse(headers: Sequence[tuple[str, str]], raw_query: str) -> Signature | None:
    """The signature a request carries in its Authorization header or its query, or None if neither has one."""
    header = {name: value for name, value in headers}
    authorization = header.get("authorization")
    query = dict(_query_pairs(raw_query)) if "X-Amz-" in raw_query else {}
    if authorization is not None:
        algorithm, _, rest = authorization.strip().partition(" ")
        if algorithm != _ALGORITHM:
            raise Refused(Failure.INCOMPLETE, f"Authorization header requires the '{_ALGORITHM}' algorithm.")
        parts = dict(_PART.findall(rest))
        missing = [name for name in ("Credential", "Signature", "SignedHeaders") if name not in parts]
        if missing or "x-amz-date" not in header:
            needs = [f"Authorization header requires '{name}' parameter." for name in missing]
            if "x-amz-date" not in header:
                needs.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
            raise Refused(Failure.INCOMPLETE, " ".join(needs) + f" Authorization={shown(authorization)}")
        return _signature(
            parts["Credential"], parts["SignedHeaders"], parts["Signature"], header["x-amz-date"],
            header.get("x-amz-security-token"), None,
        )
    if "X-Amz-Signature" in query or "X-Amz-Credential" in query or "X-Amz-Algorithm" in query:
        needed = ["X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"]
        missing = [name for name in needed if name not in query]
        if missing or query["X-Amz-Algorithm"] != _ALGORITHM:
            raise Refused(Failure.INCOMPLETE, "AWS query-string parameters must include " + ", ".join(
                f"'{name}'" for name in needed) + ". Re-examine the query-string parameters.")
        expires = query.get("X-Amz-Expires", "")
        if not (expires.isascii() and expires.isdigit() and 0 < len(expires) <= 7 and 1 <= int(expires) <= MAX_PRESIGN_S):
            raise Refused(Failure.INCOMPLETE, f"X-Amz-Expires must be a whole number of seconds from 1 to {MAX_PRESIGN_S}.")
        return _signature(
            query["X-Amz-Credential"], query["X-Amz-SignedHeaders"], query["X-Amz-Signature"], query["X-Amz-Date"],
            query.get("X-Amz-Security-Token"), int(expires),
        )
    return None


def signed_service(authorization: str | None, query_credential: str | None) -> str | None:
    """The service a request's signature is scoped to ("lambda", "iam", "sts", ...), read without judging the
    signature, to route the request to its front; None when there is no credential scope to read."""
    credential = query_credential
    if credential is None and authorization is not None:
        credential = dict(_PART.findall(authorization)).get("Credential")
    found = _CREDENTIAL.fullmatch(credential) if credential is not None else None
    return found[4] if found else None


def _signature(credential: str, signed: str, signature: str, timestamp: str, token: str | None,
               expires_s: int | None) -> Signature:
    found = _CREDENTIAL.fullmatch(credential)
    if not found:
        raise Refused(Failure.INCOMPLETE, f"Credential should be scoped to a valid region. Credential={shown(credential)}")
    names = tuple(signed.split(";"))
    if "host" not in names:
        raise Refused(Failure.INCOMPLETE, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    signed_at = _parse_time(timestamp)
    if signed_at is None:
        raise Refused(Failure.INCOMPLETE, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
    if found[2] != timestamp[:8]:
        raise Refused(
            Failure.BAD_SIGNATURE,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{found[2]}' != '{timestamp[:8]}', from '{timestamp}'.",
        )
    return Signature(found[1], found[2], found[3], found[4], timestamp, names, signature, token, expires_s, signed_at)


def _parse_time(text: str) -> datetime | None:
    """An ISO 8601 basic timestamp (20240101T120000Z) as a UTC datetime, or None. (strptime would do, at ten times
    the cost, on every request.)"""
    found = _STAMP.fullmatch(text)
    if not found:
        return None
    try:
        return datetime(*(int(part) for part in found.groups()), tzinfo=timezone.utc)
    except ValueError:
        return None


def check_time(signature: Signature, now: datetime) -> None:
    signed = signature.signed_at
    assert signed is not None  # parse() refused any other
    if signature.presigned:
        if now > signed + timedelta(seconds=signature.expires_s or 0):
            limit = (now - timedelta(seconds=signature.expires_s or 0)).strftime(_TIMESTAMP)
            raise Refused(
                Failure.SKEW,
                f"Signature expired: {signature.timestamp} is now earlier than {limit} "
                f"({now.strftime(_TIMESTAMP)} - {signature.expires_s} sec.)",
            )
        if signed > now + MAX_SKEW:
            raise Refused(Failure.SKEW, _not_yet(signature.timestamp, now))
        return
    if signed < now - MAX_SKEW:
        raise Refused(
            Failure.SKEW,
            f"Signature expired: {signature.timestamp} is now earlier than "
            f"{(now - MAX_SKEW).strftime(_TIMESTAMP)} ({now.strftime(_TIMESTAMP)} - 15 min.)",
        )
    if signed > now + MAX_SKEW:
        raise Refused(Failure.SKEW, _not_yet(signature.timestamp, now))


def _not_yet(timestamp: str, now: datetime) -> str:
    return (
        f"Signature not yet current: {timestamp} is still later than {(now + MAX_SKEW).strftime(_TIMESTAMP)} "
        f"({now.strftime(_TIMESTAMP)} + 15 min.)"
    )


class _AsSigned(SigV4Auth):
    """botocore's signer, told which headers and payload hash the client signed."""

    def __init__(self, secret: str, signature: Signature, headers: HTTPHeaders, payload_hash: str) -> None:
        super().__init__(Credentials(signature.access_key, secret, signature.token), signature.service, signature.region)
        self._headers = headers
        self._payload_hash = payload_hash

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._headers

    def payload(self, request: AWSRequest) -> str:
        return self._payload_hash


def verify(
    signature: Signature, secret: str, method: str, raw_path: str, raw_query: str,
    headers: Sequence[tuple[str, str]], body: bytes,
) -> None:
    """Refused(BAD_SIGNATURE) unless `signature` is what `secret` signs this request into."""
    signed = HTTPHeaders()
    present = set()
    for name, value in headers:
        if name in signature.signed_headers:
            signed[name] = value
            present.add(name)
    if present != set(signature.signed_headers):
        raise Refused(Failure.BAD_SIGNATURE, BAD_SIGNATURE_MESSAGE)
    claimed = next((value for name, value in headers if name == "x-amz-content-sha256"), None)
    body_hash = hashlib.sha256(body).hexdigest()
    if claimed is not None and claimed != UNSIGNED_PAYLOAD and not claimed.startswith(_STREAMING):
        if not _HEX64.fullmatch(claimed) or not hmac.compare_digest(claimed, body_hash):
            raise Refused(Failure.BAD_SIGNATURE, "The provided 'x-amz-content-sha256' header does not match what was computed.")
    if signature.presigned:
        # The signature covers every query parameter but itself.
        raw_query = "&".join(part for part in raw_query.split("&") if not part.startswith("X-Amz-Signature="))
    request = AWSRequest(method=method, url=f"http://lambdabox{raw_path}" + (f"?{raw_query}" if raw_query else ""))
    request.context["timestamp"] = signature.timestamp
    signer = _AsSigned(secret, signature, signed, claimed if claimed is not None else body_hash)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected.encode(), signature.signature.encode("utf-8", "surrogatepass")):
        raise Refused(Failure.BAD_SIGNATURE, BAD_SIGNATURE_MESSAGE)


BAD_SIGNATURE_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details."
)


def shown(text: str, limit: int = 256) -> str:
    """`text` as quoted back in an error: at most `limit` characters."""
    return text if len(text) <= limit else text[:limit] + "..."
