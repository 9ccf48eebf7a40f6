"""Presigned download links for code and layer archives, as GetFunction's Code.Location.

AWS hands out a presigned S3 URL valid for ten minutes. Lambdabox hands out a URL on its
own server whose query carries an expiry and an HMAC of (archive key, expiry) under a
secret kept in the data dir, so a link cannot be forged or extended.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import time
from pathlib import Path

from lambdabox.model import numerals
from lambdabox.store.sealed import load_key

#: How long a link stays valid, in seconds (AWS's presigned URLs last 10 minutes).
LINK_LIFETIME_S = 600

#: Path prefix under which the server serves archives.
DOWNLOAD_PATH = "/_lambdabox/archives/"


def load_secret(path: Path) -> bytes:
    """The server's link secret: 32 random bytes made on first start, 0600, kept across restarts.

    It is made as the data dir's sealing key is (`load_key`: exclusively, 0600 from the start,
    no link followed). A secret an older Lambdabox left readable by others (it wrote the file,
    then changed its mode) is made 0600 here.
    """
    secret = load_key(path)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return secret


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
