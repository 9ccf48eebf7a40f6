"""At start, the server removes archives and unpacked trees no record needs, and what an interrupted write
or unpacking left behind; it keeps what is referenced, and follows no link while sweeping."""

from __future__ import annotations

import json
from pathlib import Path

from support import Server, make_zip

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def files_under(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def test_unreferenced_archives_and_trees_are_swept_at_start(tmp_path):
    data = tmp_path / "data"
    first = Server(data).start()
    try:
        lam = first.client("lambda")
        role = first.client("iam").create_role(RoleName="sweep-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        lam.create_function(FunctionName="kept", Runtime="python3.12", Role=role, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 'kept'\n"})})
        lam.get_waiter("function_active_v2").wait(FunctionName="kept")
        assert lam.invoke(FunctionName="kept")["Payload"].read() == b'"kept"'
    finally:
        first.stop()

    archives, unpacked = data / "archives", data / "unpacked"
    kept_archives, kept_trees = files_under(archives), {path.name for path in unpacked.iterdir()}
    assert kept_archives and kept_trees
    shard = next(path for path in archives.iterdir() if path.is_dir())
    # Left behind: an archive nothing refers to, an interrupted upload, a tree of a deleted archive, an
    # interrupted unpacking, and a link planted where a tree would be (its target must survive the sweep).
    (shard / ("0" * 64)).write_bytes(b"orphan archive")
    (shard / ".incoming-123").write_bytes(b"half an upload")
    (unpacked / ("1" * 64)).mkdir()
    (unpacked / ("1" * 64) / "app.py").write_text("orphan tree\n")
    (unpacked / ".unpacking-456").mkdir()
    (unpacked / ".unpacking-456" / "half").write_text("half a tree\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious").write_text("not the server's to delete\n")
    (unpacked / ("2" * 64)).symlink_to(outside)

    second = Server(data).start()
    try:
        assert files_under(archives) == kept_archives
        assert {path.name for path in unpacked.iterdir()} == kept_trees
        assert (outside / "precious").read_text() == "not the server's to delete\n"
        lam = second.client("lambda")
        assert lam.invoke(FunctionName="kept")["Payload"].read() == b'"kept"'
    finally:
        second.stop()
