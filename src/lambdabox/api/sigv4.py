"""Reading who is calling from an AWS Signature Version 4 request.

The credential scope of a SigV4 signature names the access key, the date, the region and
the service: ``Credential=AKID/20240101/us-east-1/lambda/aws4_request``. Lambdabox routes by
it: the region selects where resources live, the service tells Lambda from IAM and STS, and
the access key selects the account. This module only reads the scope, to route a request to
its front; access/signatures.py verifies it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request")


@dataclass(frozen=True)
class Caller:
    access_key: str | None
    region: str | None
    service: str | None


def caller(headers: Mapping[str, str], query: Mapping[str, str]) -> Caller:
    """The signer's access key, region and service, from the Authorization header or a presigned query."""
    credential = headers.get("authorization") or ""
    if "X-Amz-Credential" in query:
        credential = f"Credential={query['X-Amz-Credential']}"
    found = _CREDENTIAL.search(credential)
    if not found:
        return Caller(None, None, None)
    return Caller(found[1], found[3], found[4])
