"""Secrets at rest: AES-GCM with one key kept in the data dir.

A sealed value is text, ``v1:`` followed by URL-safe base64 of a 12-byte random nonce and the
ciphertext with its tag. The associated data binds each value to where it belongs (for
example ``access-key/AKIA…`` or ``env/000000000000:us-east-1/fn``), so a sealed value copied
into another record does not open there.

Contract:
1. `seal` never returns the plaintext in any form; `open` returns exactly what was sealed.
2. `open` raises SealBroken for anything not sealed by this key with this context: a
   tampered value, another context, another key.
3. The key file is created once, mode 0600, without following a link at its path; an
   existing key file of the wrong size is an error, never silently replaced.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: Bytes of key: AES-256.
KEY_BYTES = 32
#: Bytes of nonce: GCM's standard 96 bits, random per value.
NONCE_BYTES = 12
_PREFIX = "v1:"


class SealBroken(Exception):
    """A sealed value that this key cannot open in this context."""


def load_key(path: Path) -> bytes:
    """The key at `path`, created (0600, exclusively, no link followed) when there is none."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as existing:
            key = existing.read(KEY_BYTES + 1)
        if len(key) != KEY_BYTES:
            raise ValueError(f"{path} is not a {KEY_BYTES}-byte key; move it away to make a new one")
        return key
    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    with os.fdopen(fd, "wb") as created:
        created.write(key)
        created.flush()
        os.fsync(created.fileno())
    return key


class Sealer:
    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8", "surrogatepass"), context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, value: str, context: str) -> str:
        if not value.startswith(_PREFIX):
            raise SealBroken("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(value[len(_PREFIX):].encode("ascii"))
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, ValueError, UnicodeError) as error:
            raise SealBroken("the value was not sealed here, or was changed") from error
        return plain.decode("utf-8", "surrogatepass")
