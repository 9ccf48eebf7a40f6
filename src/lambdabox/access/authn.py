"""Who is calling: a verified signature turned into a Principal.

Contract:
1. `authenticate` returns the caller (principal, region, service) of a request whose
   signature verifies under a key that exists and is active, or a session this server
   issued that has not expired; otherwise it raises signatures.Refused, having changed nothing.
2. Order of checks: a signature at all; the key (a session token must open and name the
   key it is sent with); the session's expiry; the clock; the signature and payload hash.
3. Long-term keys are cached per access key id for as long as the store has not been
   written by this process since, so a key deactivated or deleted stops working at once.
4. With auth off (`Open`), any request is the root of the account its key names: a
   12-digit key names that account, any other key (or none) the default account.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from lambdabox.access import signatures
from lambdabox.access.sessions import Sessions
from lambdabox.access.signatures import Failure, Refused
from lambdabox.control.credentials import ACTIVE, AccessKey, Credentials
from lambdabox.model.principals import Principal, root
from lambdabox.store.records import RecordStore

_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"
#: Long-term keys kept in memory between store writes.
_CACHE_LIMIT = 4096
_ACCOUNT_KEY = re.compile(r"\d{12}")


@dataclass(frozen=True)
class Request:
    """What authentication reads of an HTTP request: header names in lower case, path and query raw."""

    method: str
    raw_path: str
    raw_query: str
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Caller:
    principal: Principal
    #: The region and service the signature was scoped to (None when unsigned, with auth off).
    region: str | None
    service: str | None


class Verified:
    """Auth on: every request must be signed by a real key."""

    def __init__(
        self, store: RecordStore, credentials: Credentials, sessions: Sessions,
        user_principal: Callable[[AccessKey], Principal | None], clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._credentials = credentials
        self._sessions = sessions
        self._user_principal = user_principal
        self._clock = clock
        self._cache: dict[str, tuple[int, AccessKey]] = {}

    def authenticate(self, request: Request) -> Caller:
        signature = signatures.parse(request.headers, request.raw_query)
        if signature is None:
            raise Refused(Failure.MISSING)
        now = self._clock()
        if signature.token is not None:
            session = self._sessions.open(signature.token)
            if session is None or session.access_key != signature.access_key:
                raise Refused(Failure.UNKNOWN_KEY, _INVALID_TOKEN)
            if session.expires <= now:
                raise Refused(Failure.EXPIRED_TOKEN, _EXPIRED_TOKEN)
            secret, principal = session.secret, session.principal
        else:
            key = self._key(signature.access_key)
            if key is None or key.status != ACTIVE:
                raise Refused(Failure.UNKNOWN_KEY, _INVALID_TOKEN)
            found = root(key.account, key.access_key) if key.user_name is None else self._user_principal(key)
            if found is None:
                raise Refused(Failure.UNKNOWN_KEY, _INVALID_TOKEN)
            secret, principal = key.secret, found
        signatures.check_time(signature, datetime.fromtimestamp(now, timezone.utc))
        signatures.verify(
            signature, secret, request.method, request.raw_path, request.raw_query, request.headers, request.body
        )
        return Caller(principal, signature.region, signature.service)

    def _key(self, access_key: str) -> AccessKey | None:
        generation = self._store.generation
        cached = self._cache.get(access_key)
        if cached is not None and cached[0] == generation:
            return cached[1]
        key = self._credentials.find(access_key)
        if key is None:
            # Not remembered: another process (`lambdabox accounts create`) may make it at any time.
            return None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[access_key] = (generation, key)
        return key


class Open:
    """Auth off (`--auth off`): signatures are read for their scope, never checked."""

    def __init__(self, default_account: str) -> None:
        self._default_account = default_account

    def authenticate(self, request: Request) -> Caller:
        try:
            signature = signatures.parse(request.headers, request.raw_query)
        except Refused:
            signature = None
        if signature is None:
            return Caller(root(self._default_account), None, None)
        key = signature.access_key
        account = key if _ACCOUNT_KEY.fullmatch(key) else self._default_account
        return Caller(root(account, key), signature.region, signature.service)
