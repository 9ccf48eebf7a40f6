"""SnapStart's snapshots: one initialized template environment per published version.

Guarantees:
1. `template(blueprint)` returns the version's template, starting it (INIT and the
   before-snapshot hooks, once) if there is none or the last one died. Concurrent callers
   share one start. An INIT failure raises InitFailed and leaves nothing behind, so the
   next call tries again.
2. Templates are keyed by version, not revision: a published version's code and
   configuration never change, only its state does.
3. `retire(gone)` shuts down the templates of versions `gone` picks (deleted versions and
   functions); their clones die with them, so retire their environments first.
4. `close()` shuts every template down.
5. A template's INIT may run `init_timeout_s` seconds, or the function's timeout if longer;
   past that it raises InitFailed (Runtime.InitTimeout).
6. A template runs INIT with credentials of the execution role of its own; its clones are
   each given new ones when restored (see environment.py), never the template's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from lambdabox.invoke.blueprint import Blueprint
from lambdabox.invoke.environment import SNAPSHOT_INIT_TIMEOUT_S, Environment
from lambdabox.invoke.role_credentials import RoleCredentials
from lambdabox.observe.logs import LogStore
from lambdabox.sandbox.api import SandboxFactory

log = logging.getLogger(__name__)

#: (account, region, function name, version).
VersionKey = tuple[str, str, str, str]


def version_key(blueprint: Blueprint) -> VersionKey:
    return (blueprint.scope.account, blueprint.scope.region, blueprint.name, blueprint.version)


class Snapshots:
    def __init__(
        self, factory: SandboxFactory, logs: LogStore, credentials: RoleCredentials,
        init_timeout_s: float = SNAPSHOT_INIT_TIMEOUT_S,
    ) -> None:
        self._factory = factory
        self._init_timeout_s = init_timeout_s
        self._logs = logs
        self._credentials = credentials
        self._templates: dict[VersionKey, asyncio.Future[Environment]] = {}

    async def template(self, blueprint: Blueprint) -> Environment:
        key = version_key(blueprint)
        starting = self._templates.get(key)
        if starting is None or (starting.done() and (starting.exception() is not None or starting.result().exited)):
            starting = self._templates[key] = asyncio.ensure_future(
                Environment.start(
                    blueprint, self._factory, self._logs, as_template=True,
                    credentials=self._credentials.issue(blueprint), template_init_s=self._init_timeout_s,
                )
            )
        try:
            return await asyncio.shield(starting)
        except BaseException:
            if starting.done() and self._templates.get(key) is starting:
                del self._templates[key]
            raise

    def memory_mb(self) -> int:
        """The MemorySize of every template started or starting."""
        return sum(
            starting.result().blueprint.memory_mb
            for starting in self._templates.values()
            if starting.done() and starting.exception() is None
        )

    async def retire(self, gone: Callable[[VersionKey], bool]) -> None:
        for key in [key for key in self._templates if gone(key)]:
            await self._shut_down(self._templates.pop(key))

    async def close(self) -> None:
        while self._templates:
            await self._shut_down(self._templates.pop(next(iter(self._templates))))

    async def _shut_down(self, starting: asyncio.Future[Environment]) -> None:
        try:
            template = await starting
        except BaseException:
            return
        try:
            await template.destroy()
        except Exception:
            log.exception("could not shut down the SnapStart template %s", template.id)
