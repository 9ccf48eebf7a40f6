"""Functions' environment variables are sealed at rest: nothing in the data dir but the key opens them.

Each test runs a server of its own on a fresh data dir, reads the data dir's files as an
attacker who stole them (all but the key file) would, and looks for the secret in every
form it could be written in.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from support import Server, aws_error, lambda_role, make_zip
from wire import log_alarms

HANDLER = (
    "import os\n"
    "def handler(event, context):\n"
    "    return {'secret': os.environ.get('SECRET'), 'plain': os.environ.get('PLAIN')}\n"
)
KEY_FILE = "secrets.key"
DECRYPT_FAILED = "Lambda was unable to decrypt the environment variables because KMS access was denied."


def new_secret() -> str:
    """A secret whose JSON-escaped form differs from its UTF-8 (a quote, a backslash, non-ASCII)."""
    return f's3cr3t-{os.urandom(8).hex()}-"\\-\u00e9\u2603'


def forms(secret: str) -> list[bytes]:
    """Every spelling of `secret` a careless store might keep: UTF-8, JSON escapes, hex, base64 at each offset."""
    raw = secret.encode()
    spelled = [
        raw,
        json.dumps(secret)[1:-1].encode(),
        json.dumps(secret, ensure_ascii=False)[1:-1].encode(),
        raw.hex().encode(),
        raw.hex().upper().encode(),
        secret.encode("utf-16-le"),
    ]
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        for shift in range(3):
            # The secret's base64 inside a longer text depends on its offset: drop the characters the
            # padding and the end share with their neighbours.
            encoded = encode(b"\0" * shift + raw)
            spelled.append(encoded[(shift * 4 + 2) // 3 + 1 : -4])
    return spelled


def leaks(data_dir: Path, secret: str) -> list[str]:
    """Files of the data dir (the key file excepted) that hold `secret` in any form."""
    found = []
    spelled = forms(secret)
    for root, _, names in os.walk(data_dir):
        for name in names:
            path = Path(root) / name
            if path == data_dir / KEY_FILE or not stat.S_ISREG(path.lstat().st_mode):
                continue
            content = path.read_bytes()
            found += [f"{path.relative_to(data_dir)}: {form[:24]!r}" for form in spelled if form in content]
    return found


def database(data_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(data_dir / "lambdabox.db", timeout=10)


def version_records(data_dir: Path, name: str) -> dict[str, dict]:
    with database(data_dir) as db:
        rows = db.execute("SELECT key, body FROM records WHERE kind = 'version' AND key LIKE ? ORDER BY key", (f"{name}/%",))
        return {key: json.loads(body) for key, body in rows}


def rewrite(data_dir: Path, key: str, body: dict) -> None:
    with database(data_dir) as db:
        db.execute("UPDATE records SET body = ? WHERE kind = 'version' AND key = ?", (json.dumps(body, sort_keys=True), key))


def invoked(lam, name: str, qualifier: str = "$LATEST") -> dict:
    response = lam.invoke(FunctionName=name, Qualifier=qualifier)
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    return json.loads(response["Payload"].read())


def create(server: Server, name: str, variables: dict[str, str], **config) -> None:
    lam = server.client("lambda")
    lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=lambda_role(server, f"role-{name}"), Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": HANDLER})}, Environment={"Variables": variables}, **config,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


@pytest.fixture
def own_server(tmp_path: Path):
    running = Server(tmp_path / "data").start()
    yield running
    running.stop()


def test_no_file_of_the_data_dir_holds_a_variable_in_any_form(own_server: Server):
    first, second = new_secret(), new_secret()
    lam = own_server.client("lambda")
    create(own_server, "sealed", {"SECRET": first, "PLAIN": "visible"})
    assert lam.publish_version(FunctionName="sealed")["Environment"]["Variables"]["SECRET"] == first
    updated = lam.update_function_configuration(FunctionName="sealed", Environment={"Variables": {"SECRET": second}})
    assert updated["Environment"] == {"Variables": {"SECRET": second}}
    lam.get_waiter("function_updated_v2").wait(FunctionName="sealed", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    lam.update_function_code(FunctionName="sealed", ZipFile=make_zip({"app.py": HANDLER + "\n"}), Publish=True)
    lam.get_waiter("function_updated_v2").wait(FunctionName="sealed", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})

    # The function sees them, every read shows them.
    assert invoked(lam, "sealed", "1") == {"secret": first, "plain": "visible"}
    assert invoked(lam, "sealed") == {"secret": second, "plain": None}
    assert lam.get_function_configuration(FunctionName="sealed", Qualifier="1")["Environment"]["Variables"]["SECRET"] == first
    assert lam.get_function(FunctionName="sealed")["Configuration"]["Environment"]["Variables"] == {"SECRET": second}
    listed = [c for c in lam.list_functions()["Functions"] if c["FunctionName"] == "sealed"]
    assert listed[0]["Environment"]["Variables"] == {"SECRET": second}
    versions = lam.list_versions_by_function(FunctionName="sealed")["Versions"]
    assert [v["Environment"]["Variables"]["SECRET"] for v in versions] == [second, first, second]

    # The running server's files (the database with its WAL), then the stopped one's.
    assert leaks(own_server.data_dir, first) == [] and leaks(own_server.data_dir, second) == []
    records = version_records(own_server.data_dir, "sealed")
    assert all(set(record["config"]["Environment"]) == {"Sealed"} for record in records.values())
    own_server.stop()
    assert leaks(own_server.data_dir, first) == [] and leaks(own_server.data_dir, second) == []
    assert stat.S_IMODE((own_server.data_dir / KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((own_server.data_dir / "link-secret").stat().st_mode) == 0o600

    own_server.start()
    lam = own_server.client("lambda")
    assert lam.get_function_configuration(FunctionName="sealed")["Environment"]["Variables"] == {"SECRET": second}
    assert invoked(lam, "sealed", "1") == {"secret": first, "plain": "visible"}


def test_unchanged_variables_keep_their_sealed_value_so_publish_sees_no_change(own_server: Server):
    lam = own_server.client("lambda")
    create(own_server, "steady", {"SECRET": new_secret()})
    assert lam.publish_version(FunctionName="steady")["Version"] == "1"
    before = version_records(own_server.data_dir, "steady")["steady/$LATEST"]["config"]["Environment"]
    variables = lam.get_function_configuration(FunctionName="steady")["Environment"]["Variables"]
    lam.update_function_configuration(FunctionName="steady", Environment={"Variables": variables})
    lam.get_waiter("function_updated_v2").wait(FunctionName="steady", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert version_records(own_server.data_dir, "steady")["steady/$LATEST"]["config"]["Environment"] == before
    assert lam.publish_version(FunctionName="steady")["Version"] == "1"


def test_a_tampered_or_moved_sealed_value_is_refused_as_aws_refuses_undecryptable_variables(own_server: Server):
    lam = own_server.client("lambda")
    create(own_server, "tampered", {"SECRET": new_secret()})
    create(own_server, "moved", {"SECRET": new_secret()})
    records = version_records(own_server.data_dir, "tampered")
    record = records["tampered/$LATEST"]
    sealed = record["config"]["Environment"]["Sealed"]
    flipped = sealed[:20] + ("A" if sealed[20] != "A" else "B") + sealed[21:]
    record["config"]["Environment"]["Sealed"] = flipped
    rewrite(own_server.data_dir, "tampered/$LATEST", record)
    # A value sealed for one function, put into another's record, does not open there either.
    other = version_records(own_server.data_dir, "moved")["moved/$LATEST"]
    other["config"]["Environment"]["Sealed"] = sealed
    rewrite(own_server.data_dir, "moved/$LATEST", other)
    start = own_server.log.stat().st_size

    for name in ("tampered", "moved"):
        status, code, message = aws_error(lam.invoke, FunctionName=name)
        assert (status, code) == (502, "KMSAccessDeniedException")
        assert message.startswith(DECRYPT_FAILED)
        environment = lam.get_function_configuration(FunctionName=name)["Environment"]
        assert "Variables" not in environment
        assert environment["Error"]["ErrorCode"] == "InvalidCiphertextException"
        assert environment["Error"]["Message"].startswith(DECRYPT_FAILED)
        assert lam.get_function(FunctionName=name)["Configuration"]["Environment"] == environment

    # New variables replace the broken ones; the function runs again.
    lam.update_function_configuration(FunctionName="tampered", Environment={"Variables": {"SECRET": "fresh"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName="tampered", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert invoked(lam, "tampered") == {"secret": "fresh", "plain": None}
    with own_server.log.open("rb") as log:
        log.seek(start)
        assert log_alarms(log.read().decode("utf-8", "replace")) == []


def test_variables_stored_in_the_clear_before_sealing_are_sealed_at_start(own_server: Server):
    from lambdabox.model.configuration import fingerprint

    secret = new_secret()
    lam = own_server.client("lambda")
    create(own_server, "legacy", {"SECRET": secret})
    lam.publish_version(FunctionName="legacy")
    own_server.stop()
    # As a Lambdabox before sealing stored them: plain Variables, fingerprints of plain configurations.
    for key, record in version_records(own_server.data_dir, "legacy").items():
        record["config"]["Environment"] = {"Variables": {"SECRET": secret}}
        if key.endswith("/$LATEST"):
            plain = fingerprint(record["config"])
        else:
            record["fingerprint"] = plain
        rewrite(own_server.data_dir, key, record)
    with database(own_server.data_dir) as db:
        db.execute("VACUUM")
    assert leaks(own_server.data_dir, secret) != []

    own_server.start()
    lam = own_server.client("lambda")
    assert lam.get_function_configuration(FunctionName="legacy")["Environment"]["Variables"] == {"SECRET": secret}
    assert invoked(lam, "legacy", "1")["secret"] == secret
    # Nothing changed since version 1: sealing did not make PublishVersion see a change.
    assert lam.publish_version(FunctionName="legacy")["Version"] == "1"
    records = version_records(own_server.data_dir, "legacy")
    assert all(set(record["config"]["Environment"]) == {"Sealed"} for record in records.values())
    own_server.stop()
    assert leaks(own_server.data_dir, secret) == []


def test_kms_key_arn_is_kept_and_shown_as_aws_shows_it(own_server: Server):
    lam = own_server.client("lambda")
    key = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    create(own_server, "kms", {"SECRET": "x"}, KMSKeyArn=key)
    assert lam.get_function_configuration(FunctionName="kms")["KMSKeyArn"] == key
    other = key.replace("1234abcd", "5678abcd")
    assert lam.update_function_configuration(FunctionName="kms", KMSKeyArn=other)["KMSKeyArn"] == other
    lam.get_waiter("function_updated_v2").wait(FunctionName="kms", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    assert lam.publish_version(FunctionName="kms")["KMSKeyArn"] == other
    assert lam.get_function_configuration(FunctionName="kms", Qualifier="1")["KMSKeyArn"] == other
    # An empty string goes back to the default key: KMSKeyArn is no longer shown.
    assert "KMSKeyArn" not in lam.update_function_configuration(FunctionName="kms", KMSKeyArn="")
    lam.get_waiter("function_updated_v2").wait(FunctionName="kms", WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    shown = lam.get_function_configuration(FunctionName="kms")
    assert "KMSKeyArn" not in shown and shown["Environment"]["Variables"] == {"SECRET": "x"}
    assert invoked(lam, "kms")["secret"] == "x"


def test_a_link_secret_left_readable_by_an_older_server_is_made_0600(tmp_path: Path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "link-secret").write_bytes(os.urandom(32))
    (data_dir / "link-secret").chmod(0o644)
    running = Server(data_dir).start()
    try:
        assert stat.S_IMODE((data_dir / "link-secret").stat().st_mode) == 0o600
        assert stat.S_IMODE((data_dir / KEY_FILE).stat().st_mode) == 0o600
    finally:
        running.stop()
