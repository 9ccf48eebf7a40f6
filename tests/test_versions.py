"""Published versions through boto3: numbering, immutability, preconditions, listing."""

from __future__ import annotations

import time
import urllib.request

from support import REVISION_MISMATCH, arn, aws_error, make_zip


def settle(lam, name: str) -> None:
    """Wait for an update to finish; like boto3's function_updated_v2 waiter, but polling every 20 ms."""
    deadline = time.monotonic() + 10
    while lam.get_function_configuration(FunctionName=name)["LastUpdateStatus"] == "InProgress":
        assert time.monotonic() < deadline, f"{name} stayed InProgress"
        time.sleep(0.02)


def configure(lam, name: str, **settings) -> None:
    lam.update_function_configuration(FunctionName=name, **settings)
    settle(lam, name)


def without_metadata(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_publish_numbers_from_one(lam, create_function, unique):
    name = unique("fn")
    created = create_function(FunctionName=name)
    latest = lam.get_function_configuration(FunctionName=name)

    first = lam.publish_version(FunctionName=name, Description="first release")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (first["Version"], first["FunctionArn"]) == ("1", arn(name, "1"))
    assert first["State"] == "Active" and first["LastUpdateStatus"] == "Successful"
    assert first["CodeSha256"] == created["CodeSha256"]
    assert first["Description"] == "first release"
    assert first["RevisionId"] != latest["RevisionId"]
    after = lam.get_function_configuration(FunctionName=name)
    assert after["Description"] == "", "$LATEST keeps its description"
    # Publishing changes the function: $LATEST gets a RevisionId of its own, new (recorded on AWS).
    assert after["RevisionId"] not in (latest["RevisionId"], first["RevisionId"])

    configure(lam, name, MemorySize=256)
    second = lam.publish_version(FunctionName=name)
    assert (second["Version"], second["FunctionArn"], second["MemorySize"]) == ("2", arn(name, "2"), 256)


def test_publish_without_changes_returns_the_newest_version(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    first = without_metadata(lam.publish_version(FunctionName=name))
    again = without_metadata(lam.publish_version(FunctionName=name))
    assert again == first
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1"]

    # A change that is then undone still counts as "something changed" since version 1.
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    settle(lam, name)
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    assert lam.publish_version(FunctionName=name)["Version"] == "2"


def test_publish_code_sha256_precondition(lam, create_function, unique):
    name = unique("fn")
    created = create_function(FunctionName=name)
    wrong = "K7V0lPMgWpbMyXbwkFn5Io8XgJ4g+dNa0JzzHJSeR+4="
    assert aws_error(lam.publish_version, FunctionName=name, CodeSha256=wrong) == (
        400,
        "InvalidParameterValueException",
        f"CodeSHA256 ({wrong}) is different from current CodeSHA256 in $LATEST ({created['CodeSha256']}). "
        "Please try again with the CodeSHA256 in $LATEST.",
    )
    assert lam.list_versions_by_function(FunctionName=name)["Versions"][-1]["Version"] == "$LATEST"
    assert lam.publish_version(FunctionName=name, CodeSha256=created["CodeSha256"])["Version"] == "1"


def test_publish_revision_precondition(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    stale = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    configure(lam, name, Timeout=10)
    assert aws_error(lam.publish_version, FunctionName=name, RevisionId=stale) == (
        412,
        "PreconditionFailedException",
        REVISION_MISMATCH,
    )
    assert len(lam.list_versions_by_function(FunctionName=name)["Versions"]) == 1

    current = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    assert lam.publish_version(FunctionName=name, RevisionId=current)["Version"] == "1"


def test_versions_are_immutable(lam, create_function, unique):
    name = unique("fn")
    code = make_zip({"app.py": "def handler(e, c):\n    return 'one'\n"})
    create_function(FunctionName=name, Code={"ZipFile": code}, Environment={"Variables": {"VER": "1"}})
    lam.publish_version(FunctionName=name)
    version = lam.get_function(FunctionName=name, Qualifier="1")

    new_code = make_zip({"app.py": "def handler(e, c):\n    return 'two'\n"})
    lam.update_function_code(FunctionName=name, ZipFile=new_code)
    settle(lam, name)
    configure(lam, name, MemorySize=2048, Timeout=99, Environment={"Variables": {"VER": "2"}}, Description="changed")

    after = lam.get_function(FunctionName=name, Qualifier="1")
    assert after["Configuration"] == version["Configuration"]
    with urllib.request.urlopen(after["Code"]["Location"], timeout=10) as response:
        assert response.read() == code
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": {"VER": "2"}}

    # A version is not updated through its qualified name either.
    status, error, _ = aws_error(lam.update_function_configuration, FunctionName=f"{name}:1", Timeout=5)
    assert (status, error) == (400, "InvalidParameterValueException")
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Timeout"] == 3


def test_get_function_of_a_version(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name, Description="v1")
    published = without_metadata(lam.publish_version(FunctionName=name))
    configure(lam, name, Description="latest")

    got = lam.get_function(FunctionName=name, Qualifier="1")
    assert got["Configuration"] == published
    assert (got["Configuration"]["FunctionArn"], got["Configuration"]["Version"]) == (arn(name, "1"), "1")
    assert got["Configuration"]["Description"] == "v1"
    assert without_metadata(lam.get_function_configuration(FunctionName=arn(name, "1"))) == published


def test_list_versions_by_function_paginates(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    for timeout in (4, 5, 6, 7):
        lam.publish_version(FunctionName=name)
        configure(lam, name, Timeout=timeout)

    pages, marker = [], None
    while True:
        page = lam.list_versions_by_function(FunctionName=name, MaxItems=2, **({"Marker": marker} if marker else {}))
        pages.append(page["Versions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    listed = [v for p in pages for v in p]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2", "3", "4"]
    assert [v["FunctionArn"] for v in listed] == [arn(name, q) for q in ("$LATEST", "1", "2", "3", "4")]
    assert [v["Timeout"] for v in listed] == [7, 3, 4, 5, 6]
    assert all("State" not in v and "LastUpdateStatus" not in v for v in listed)

    everything = lam.list_versions_by_function(FunctionName=name)
    assert "NextMarker" not in everything
    assert everything["Versions"] == listed


def test_version_numbers_are_never_reused(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    lam.publish_version(FunctionName=name)
    configure(lam, name, Timeout=10)
    lam.publish_version(FunctionName=name)
    lam.delete_function(FunctionName=name, Qualifier="2")
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST"]

    configure(lam, name, Timeout=20)
    assert lam.publish_version(FunctionName=name)["Version"] == "3"
    assert aws_error(lam.get_function, FunctionName=name, Qualifier="2") == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn(name, '2')}",
    )


def test_versions_of_a_missing_function(lam, unique):
    name = unique("missing")
    assert aws_error(lam.list_versions_by_function, FunctionName=name) == (
        404,
        "ResourceNotFoundException",
        f"Function not found: {arn(name)}",
    )
    status, error, _ = aws_error(lam.publish_version, FunctionName=name)
    assert (status, error) == (404, "ResourceNotFoundException")


def test_create_with_publish_answers_version_1_under_the_unqualified_arn(lam, role, unique):
    """As AWS answers CreateFunction with Publish: true (recorded): Version "1", FunctionArn without a qualifier."""
    from support import make_zip

    name = unique("fn")
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                  Code={"ZipFile": make_zip()}, Publish=True)
    assert (created["Version"], created["FunctionArn"]) == ("1", arn(name))
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(item["Version"], item["FunctionArn"]) for item in versions] == [("$LATEST", arn(name, "$LATEST")), ("1", arn(name, "1"))]
