"""Functions' environment variables, sealed at rest with the data dir's key.

A version record ($LATEST or published) keeps its configuration's Environment as
``{"Sealed": "v1:…"}``: the JSON of the Variables, sealed (store/sealed.py) with a context
naming the account, region, function and version, so that a sealed value copied into
another version's record does not open there. Everything else in the record is as before.

Contract:
1. `seal` is called on every configuration before it is written into a version record;
   `shown` (for API answers) or `variables` (for a function's environment) on every one
   read out of a record. Nothing else needs to know about sealing: code that reads and
   rewrites a record without looking at Environment (states, tags) carries the sealed
   value through unchanged.
2. `seal` leaves an already sealed Environment as it is, and keeps the previous sealed
   value when the variables did not change, so that a record's bytes (and PublishVersion's
   fingerprint of them) change only when the variables do.
3. Records written before sealing existed hold ``{"Variables": {…}}`` in the clear; both
   opening functions read those as they are, and `seal_plain` (run once at start-up) seals
   them in place, so no plaintext is left in any record after the server has started.
4. A sealed value that does not open (changed, moved, or sealed with another key) is shown
   as AWS shows undecryptable variables, Environment.Error, and refuses to run with AWS's
   KMSAccessDeniedException; it is never shown or run as garbage, nor as a 500.

KMSKeyArn: Lambdabox runs no KMS. It keeps and shows the ARN a request gives, as AWS
does, but seals every function's variables with its own key whatever KMSKeyArn says.
"""

from __future__ import annotations

import json
from typing import Any

from lambdabox.control.catalog import VERSION
from lambdabox.control.versions import blobs_of
from lambdabox.model.arns import LATEST, Scope
from lambdabox.model.configuration import fingerprint
from lambdabox.model.errors import KMSAccessDenied
from lambdabox.store.records import RecordStore
from lambdabox.store.sealed import SealBroken, Sealer

#: What Lambda says when it cannot decrypt a function's variables (the KMS part is ours: no KMS here).
UNDECRYPTABLE = (
    "Lambda was unable to decrypt the environment variables because KMS access was denied. "
    "Please check the function's KMS key settings. KMS Exception: InvalidCiphertextException "
    "KMS Message: the sealed variables were changed, or sealed with another data dir's key."
)
#: The ErrorCode of Environment.Error for that case: the exception KMS's Decrypt raises for a
#: ciphertext it cannot open (AWS does not document which code Lambda shows here).
UNDECRYPTABLE_CODE = "InvalidCiphertextException"


def _context(scope: Scope, config: dict[str, Any]) -> str:
    """Where a configuration's sealed variables belong: account, region, function, version."""
    return f"env/{scope.account}:{scope.region}/{config['FunctionName']}/{config['Version']}"


class EnvSecrets:
    """Seals and opens the Environment of function configurations (see the module's contract)."""

    def __init__(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def seal(self, scope: Scope, config: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        """A copy of `config` as it is written into its version record: Variables sealed.

        `previous`: the stored configuration `config` replaces, whose sealed value is kept
        when the variables are the same.
        """
        environment = config.get("Environment")
        if environment is None or "Variables" not in environment:
            return config
        variables = environment["Variables"]
        if previous is not None and previous.get("Environment", {}).get("Sealed"):
            try:
                if self.variables(scope, previous) == variables:
                    return {**config, "Environment": previous["Environment"]}
            except KMSAccessDenied:
                pass  # the old value is broken: seal the new variables afresh
        text = json.dumps(variables, sort_keys=True, separators=(",", ":"))
        return {**config, "Environment": {"Sealed": self._sealer.seal(text, _context(scope, config))}}

    def variables(self, scope: Scope, config: dict[str, Any]) -> dict[str, str]:
        """A stored configuration's variables in the clear, or KMSAccessDeniedException."""
        environment = config.get("Environment", {})
        if "Sealed" not in environment:
            return dict(environment.get("Variables", {}))
        try:
            return json.loads(self._sealer.open(environment["Sealed"], _context(scope, config)))
        except SealBroken:
            raise KMSAccessDenied(UNDECRYPTABLE) from None

    def shown(self, scope: Scope, config: dict[str, Any]) -> dict[str, Any]:
        """A copy of a stored configuration as the API answers it: Variables in the clear, or Error."""
        environment = config.get("Environment")
        if environment is None or "Sealed" not in environment:
            return config
        try:
            return {**config, "Environment": {"Variables": self.variables(scope, config)}}
        except KMSAccessDenied as denied:
            return {**config, "Environment": {"Error": {"ErrorCode": UNDECRYPTABLE_CODE, "Message": denied.message}}}

    def seal_plain(self, store: RecordStore) -> int:
        """Seal, in one transaction, every version record still holding plain Variables; how many.

        PublishVersion compares the newest version's fingerprint with $LATEST's; a newest
        version whose fingerprint matched plain $LATEST is given sealed $LATEST's, so sealing
        does not make an unchanged function publish anew. Other versions' fingerprints of
        plain configurations can never match again and are dropped with the plaintext.
        """
        with store.transaction() as records:
            changed: dict[tuple[str, str], dict[str, Any]] = {}
            renewed: dict[tuple[str, str], tuple[str, str]] = {}
            found = records.scan_everywhere(VERSION)
            for space, key, record in found:
                config = record["config"]
                if "Variables" not in config.get("Environment", {}):
                    continue
                record["config"] = self.seal(_scope_of(space), config)
                changed[(space, key)] = record
                if config["Version"] == LATEST:
                    renewed[(space, config["FunctionName"])] = (fingerprint(config), fingerprint(record["config"]))
            for space, key, record in found:
                if "fingerprint" not in record or (space, record["config"]["FunctionName"]) not in renewed:
                    continue
                plain, sealed = renewed[(space, record["config"]["FunctionName"])]
                if record["fingerprint"] == plain:
                    record["fingerprint"] = sealed
                else:
                    del record["fingerprint"]
                changed[(space, key)] = record
            for (space, key), record in changed.items():
                records.put(VERSION, space, key, record, blobs=blobs_of(record))
        return len(changed)


def _scope_of(space: str) -> Scope:
    account, region = space.split(":", 1)
    return Scope(account, region)
