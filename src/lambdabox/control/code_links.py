"""Presigned download links for code and layer archives, as GetFunction's Code.Location.

AWS hands out a presigned S3 URL valid for ten minutes. Lambdabox hands out a URL on its
own server whose query carries an expiry and an HMAC of (archive key, expiry) under a
secret kept in the data dir, so a link cannot be forged or extended.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from pathlib import Path

from lambdabox.model import numerals

#: How long a link stays valid, in seconds (AWS's presigned URLs last 10 minutes).
LINK_LIFETIME_S = 600

#: Path prefix under which the server serves archives.
DOWNLOAD_PATH = "/_lambdabox/archives/"


def load_secret(path: Path) -> bytes:
    """The server's link secret, created on first start and kept across restarts."""
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


class CodeLinks:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, base_url: str, key: str) -> str:
        expires = int(time.time()) + LINK_LIFETIME_S
        return f"{base_url.rstrip('/')}{DOWNLOAD_PATH}{key}?expires={expires}&signature={self._signature(key, expires)}"

    def valid(self, key: str, expires: str, signature: str) -> bool:
        """Whether a link's `expires` and `signature` (any text a client sent) are ours and still current."""
        when = numerals.natural(expires)
        if when is None or when < time.time():
            return False
        # Compared as bytes: compare_digest refuses str with non-ASCII characters.
        return hmac.compare_digest(self._signature(key, when).encode(), signature.encode("utf-8", "surrogatepass"))
