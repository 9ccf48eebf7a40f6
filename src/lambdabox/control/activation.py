"""Finishing creates and updates in the background: Pending -> Active, InProgress -> Successful.

Contract:
1. `submit` only queues; the API answers at once with State Pending / LastUpdateStatus
   InProgress, as AWS does, and clients poll (boto3's function_active_v2 and
   function_updated_v2 waiters).
2. The worker unpacks the function's code and layers into the unpacked store, has the
   snapshot of every unsettled SnapStart version taken (`snapshot(scope, record)`, which
   returns None, or the StateReasonCode and reason of a failed INIT), then marks every
   unsettled version of the function Active/Successful in one transaction, or Failed with
   the reason if unpacking or its snapshot failed.
3. `start` first re-queues every function a crash left unsettled, so none stays Pending.
4. After each job, `settled(scope, name)` is called, whether or not anything changed
   (a deleted function is submitted too, so its environments can be retired).
5. `stop` lets the current job finish, then the worker exits; queued jobs are picked up
   again by `start` after the next restart, since their state is stored.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from lambdabox.control.catalog import VERSION, namespace
from lambdabox.control import states
from lambdabox.control.versions import blobs_of
from lambdabox.model.arns import Scope
from lambdabox.store.records import RecordStore
from lambdabox.store.unpacked import UnpackedStore

log = logging.getLogger(__name__)

_STOP = None


class Activator:
    def __init__(
        self,
        store: RecordStore,
        unpacked: UnpackedStore,
        settled: Callable[[Scope, str], None] = lambda scope, name: None,
        snapshot: Callable[[Scope, dict[str, Any]], tuple[str, str] | None] = lambda scope, record: None,
    ) -> None:
        self._store = store
        self._unpacked = unpacked
        self._snapshot = snapshot
        #: Told after every job, so environments of versions that changed can be retired.
        self._settled = settled
        self._jobs: queue.Queue[tuple[Scope, str] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="lambdabox-activator", daemon=True)

    def submit(self, scope: Scope, name: str) -> None:
        self._jobs.put((scope, name))

    def start(self) -> None:
        with self._store.reading() as records:
            unsettled = {
                (space, key.split("/")[0])
                for space, key, body in records.scan_everywhere(VERSION)
                if not states.settled(body["config"])
            }
        for space, name in sorted(unsettled):
            account, region = space.split(":")
            self.submit(Scope(account, region), name)
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not _STOP:
            try:
                self._settle(*job)
            except Exception:
                log.exception("could not settle function %s", job[1])
            self._settled(*job)

    def _settle(self, scope: Scope, name: str) -> None:
        with self._store.reading() as records:
            pending = [body for _, body in records.scan(VERSION, namespace(scope), prefix=f"{name}/")]
        failure = None
        try:
            for record in pending:
                if not states.settled(record["config"]):
                    for key in blobs_of(record):
                        self._unpacked.tree(key)
        except Exception as error:  # an archive that passed inspection but cannot be unpacked here
            failure = f"Lambdabox could not unpack the function's code: {error}"
        snapshot_failures = {}
        for record in pending:
            config = record["config"]
            if not failure and not states.settled(config) and config.get("SnapStart", {}).get("OptimizationStatus") == "On":
                snapshot_failures[config["Version"]] = self._snapshot(scope, record)
        with self._store.transaction() as records:
            for key, record in records.scan(VERSION, namespace(scope), prefix=f"{name}/"):
                config = record["config"]
                if states.settled(config):
                    continue
                if failure:
                    states.fail(config, failure)
                elif snapshot_failures.get(config["Version"]):
                    code, reason = snapshot_failures[config["Version"]]
                    states.fail(config, reason, code)
                else:
                    states.succeed(config)
                records.put(VERSION, namespace(scope), key, record, blobs=blobs_of(record))

