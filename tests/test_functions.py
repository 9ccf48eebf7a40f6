"""Functions through boto3 against a real server: create, read, update, delete, list, and every rejection.

Error types and messages are AWS's, from recordings of the real service.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from lambdabox.model.aws_runtimes import CREATABLE
from support import ACCOUNT, REGION, REVISION_MISMATCH, Server, arn, aws_error, make_zip

LAST_MODIFIED = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000")

#: Every member of a zip function's configuration right after CreateFunction, as AWS answers it.
CREATE_KEYS = {
    "Architectures", "CodeSha256", "CodeSize", "Description", "EphemeralStorage", "FunctionArn", "FunctionName",
    "Handler", "LastModified", "LoggingConfig", "MemorySize", "PackageType", "RevisionId", "Role", "Runtime",
    "RuntimeVersionConfig", "SnapStart", "State", "StateReason", "StateReasonCode", "Timeout", "TracingConfig",
    "Version",
}  # fmt: skip

#: What the List operations leave out of a configuration.
UNLISTED = {
    "State", "StateReason", "StateReasonCode", "LastUpdateStatus", "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode", "RuntimeVersionConfig",
}  # fmt: skip


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def not_found(name: str, qualifier: str | None = None) -> tuple[int, str, str]:
    return 404, "ResourceNotFoundException", f"Function not found: {arn(name, qualifier)}"


def test_create_function_answers_201_pending_then_goes_active(lam, role, unique):
    name, code = unique("fn"), make_zip()
    created = lam.create_function(
        FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": code}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    created.pop("ResponseMetadata")
    assert set(created) == CREATE_KEYS
    assert created["State"] == "Pending"
    assert created["StateReason"] == "The function is being created."
    assert created["StateReasonCode"] == "Creating"
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == arn(name)
    assert created["Version"] == "$LATEST"
    assert created["Role"] == role
    assert created["CodeSha256"] == sha256_b64(code)
    assert created["CodeSize"] == len(code)
    assert LAST_MODIFIED.fullmatch(created["LastModified"]), created["LastModified"]
    assert uuid.UUID(created["RevisionId"])
    assert created["MemorySize"] == 128
    assert created["Timeout"] == 3
    assert created["Description"] == ""
    assert created["EphemeralStorage"] == {"Size": 512}
    assert created["PackageType"] == "Zip"
    assert created["TracingConfig"] == {"Mode": "PassThrough"}
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    assert created["SnapStart"] == {"ApplyOn": "None", "OptimizationStatus": "Off"}

    lam.get_waiter("function_active_v2").wait(FunctionName=name)

    active = lam.get_function_configuration(FunctionName=name)
    active.pop("ResponseMetadata")
    assert active["State"] == "Active"
    assert active["LastUpdateStatus"] == "Successful"
    assert not {"StateReason", "StateReasonCode", "LastUpdateStatusReason", "LastUpdateStatusReasonCode"} & set(active)
    # Going Active is a change of its own: AWS gives it a new RevisionId.
    assert active["RevisionId"] != created["RevisionId"]
    settled = {"State", "StateReason", "StateReasonCode", "LastUpdateStatus", "RevisionId"}
    assert {k: v for k, v in active.items() if k not in settled} == {
        k: v for k, v in created.items() if k not in settled
    }


def test_errors_are_shaped_as_aws_sends_them(lam, unique):
    name = unique("missing")
    with pytest.raises(ClientError) as caught:
        lam.get_function(FunctionName=name)
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ResourceNotFoundException"
    assert response["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/json"
    # ResourceNotFoundException writes "Message"; most other types write "message".
    assert (response["Type"], response["Message"]) == ("User", f"Function not found: {arn(name)}")

    with pytest.raises(ClientError) as caught:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    response = caught.value.response
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "InvalidParameterValueException"
    assert (response["Type"], response["message"]) == (
        "User",
        "$LATEST version cannot be deleted without deleting the function.",
    )


def test_create_function_with_settings(lam, role, unique, create_function):
    name = unique("fn")
    created = create_function(
        FunctionName=name,
        Runtime="nodejs20.x",
        Handler="index.handler",
        MemorySize=512,
        Timeout=30,
        Description="a test function",
        Environment={"Variables": {"GREETING": "hello", "Mode_2": "x"}},
        EphemeralStorage={"Size": 2048},
        Tags={"team": "core"},
    )
    assert created["Runtime"] == "nodejs20.x"
    got = lam.get_function_configuration(FunctionName=name)
    assert got["MemorySize"] == 512
    assert got["Timeout"] == 30
    assert got["Description"] == "a test function"
    assert got["Environment"] == {"Variables": {"GREETING": "hello", "Mode_2": "x"}}
    assert got["EphemeralStorage"] == {"Size": 2048}
    assert got["Handler"] == "index.handler"


def test_environment_appears_when_sent_even_empty(lam, create_function, unique):
    plain, empty = unique("fn"), unique("fn")
    assert "Environment" not in create_function(FunctionName=plain)
    assert create_function(FunctionName=empty, Environment={"Variables": {}})["Environment"] == {"Variables": {}}
    assert lam.get_function_configuration(FunctionName=empty)["Environment"] == {"Variables": {}}
    assert "Environment" not in lam.get_function_configuration(FunctionName=plain)


def test_environment_exactly_at_the_4kb_limit_is_accepted(lam, create_function, unique):
    # {"AB":"xxx…"} measures 9 bytes plus the value.
    variables = {"AB": "x" * (4096 - 9)}
    name = unique("fn")
    create_function(FunctionName=name, Environment={"Variables": variables})
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": variables}


# -- GetFunction / GetFunctionConfiguration ------------------------------------------------


def test_get_function_returns_configuration_and_a_code_link(lam, role, unique, create_function):
    name = unique("fn")
    code = make_zip({"app.py": "def handler(event, context):\n    return 42\n", "lib/data.txt": b"\x00\x01binary"})
    create_function(FunctionName=name, Code={"ZipFile": code})

    got = lam.get_function(FunctionName=name)
    assert set(got) - {"ResponseMetadata"} == {"Configuration", "Code"}, "no Tags or Concurrency unless set"
    assert got["Configuration"] == {
        k: v for k, v in lam.get_function_configuration(FunctionName=name).items() if k != "ResponseMetadata"
    }
    assert got["Configuration"]["FunctionArn"] == arn(name)
    assert got["Code"]["RepositoryType"] == "S3"
    assert download(got["Code"]["Location"]) == code


def test_code_location_cannot_be_tampered_with(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    forged = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 3600}", location)
    with pytest.raises(urllib.error.HTTPError) as caught:
        download(forged)
    assert caught.value.code == 403


def test_get_function_shows_tags_and_concurrency_only_when_set(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name, Tags={"env": "test", "owner": "me"})
    got = lam.get_function(FunctionName=name)
    assert got["Tags"] == {"env": "test", "owner": "me"}
    assert "Concurrency" not in got

    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 3}

    lam.delete_function_concurrency(FunctionName=name)
    lam.untag_resource(Resource=arn(name), TagKeys=["env", "owner"])
    got = lam.get_function(FunctionName=name)
    assert "Concurrency" not in got
    assert "Tags" not in got


def test_function_named_by_name_partial_arn_and_full_arn(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    for given in (name, f"{ACCOUNT}:function:{name}", arn(name)):
        config = lam.get_function_configuration(FunctionName=given)
        assert (config["FunctionName"], config["FunctionArn"]) == (name, arn(name)), given
        assert lam.get_function(FunctionName=given)["Configuration"]["FunctionArn"] == arn(name)
        updated = lam.update_function_configuration(FunctionName=given, Description=f"via {given}")
        assert updated["FunctionArn"] == arn(name)
        lam.get_waiter("function_updated_v2").wait(FunctionName=given)
        assert lam.get_function_configuration(FunctionName=name)["Description"] == f"via {given}"


def test_qualified_names_and_arns(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    lam.publish_version(FunctionName=name)

    latest = lam.get_function_configuration(FunctionName=arn(name, "$LATEST"))
    assert (latest["FunctionArn"], latest["Version"]) == (arn(name, "$LATEST"), "$LATEST")
    latest = lam.get_function(FunctionName=name, Qualifier="$LATEST")["Configuration"]
    assert latest["FunctionArn"] == arn(name, "$LATEST")

    for given, qualifier in ((f"{name}:1", None), (arn(name, "1"), None), (name, "1"), (arn(name, "1"), "1")):
        arguments = {"FunctionName": given} | ({"Qualifier": qualifier} if qualifier else {})
        config = lam.get_function_configuration(**arguments)
        assert (config["FunctionArn"], config["Version"]) == (arn(name, "1"), "1"), arguments

    assert aws_error(lam.get_function, FunctionName=arn(name, "1"), Qualifier="$LATEST") == (
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    )


def test_function_arn_of_another_region_or_account(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    status, code, message = aws_error(
        lam.get_function, FunctionName=f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{name}"
    )
    assert (status, code, message) == (
        404,
        "ResourceNotFoundException",
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')",
    )
    status, code, _ = aws_error(lam.get_function, FunctionName=f"arn:aws:lambda:{REGION}:123456789012:function:{name}")
    assert (status, code) == (403, "AccessDeniedException")


def test_missing_function_is_not_found(lam, create_function, unique):
    name = unique("missing")
    for call in (lam.get_function, lam.get_function_configuration, lam.delete_function):
        assert aws_error(call, FunctionName=name) == not_found(name)
    assert aws_error(lam.update_function_code, FunctionName=name, ZipFile=make_zip()) == not_found(name)
    assert aws_error(lam.update_function_configuration, FunctionName=name, Timeout=5) == not_found(name)
    assert aws_error(lam.get_function, FunctionName=name, Qualifier="$LATEST") == not_found(name, "$LATEST")
    assert aws_error(lam.get_function, FunctionName=arn(name, "$LATEST")) == not_found(name, "$LATEST")

    existing = unique("fn")
    create_function(FunctionName=existing)
    for call in (lam.get_function, lam.get_function_configuration):
        assert aws_error(call, FunctionName=existing, Qualifier="1221") == not_found(existing, "1221")
        assert aws_error(call, FunctionName=existing, Qualifier="nosuchalias") == not_found(existing, "nosuchalias")


# -- UpdateFunctionCode ------------------------------------------------------------------


def test_update_function_code(lam, create_function, unique):
    name = unique("fn")
    created = create_function(FunctionName=name)
    before = lam.get_function_configuration(FunctionName=name)
    code = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})

    updated = lam.update_function_code(FunctionName=name, ZipFile=code)
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert updated["CodeSha256"] == sha256_b64(code) != created["CodeSha256"]
    assert updated["CodeSize"] == len(code)
    assert updated["State"] == "Active"
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["LastUpdateStatusReason"] == "The function is being created."
    assert updated["LastUpdateStatusReasonCode"] == "Creating"
    assert updated["RevisionId"] != before["RevisionId"]
    assert LAST_MODIFIED.fullmatch(updated["LastModified"])

    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert not {"LastUpdateStatusReason", "LastUpdateStatusReasonCode"} & set(got["Configuration"])
    assert got["Configuration"]["CodeSha256"] == sha256_b64(code)
    assert got["Configuration"]["RevisionId"] != updated["RevisionId"]
    assert download(got["Code"]["Location"]) == code


def test_update_function_code_revision_precondition(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    stale = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    lam.update_function_configuration(FunctionName=name, Description="moves the revision on")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    current = lam.get_function_configuration(FunctionName=name)

    code = make_zip({"app.py": "def handler(e, c):\n    return 3\n"})
    assert aws_error(lam.update_function_code, FunctionName=name, ZipFile=code, RevisionId=stale) == (
        412,
        "PreconditionFailedException",
        REVISION_MISMATCH,
    )
    assert lam.get_function_configuration(FunctionName=name)["CodeSha256"] == current["CodeSha256"]

    updated = lam.update_function_code(FunctionName=name, ZipFile=code, RevisionId=current["RevisionId"])
    assert updated["CodeSha256"] == sha256_b64(code)


def test_update_function_code_dry_run_changes_nothing(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    before = lam.get_function(FunctionName=name)
    code = make_zip({"app.py": "def handler(e, c):\n    return 'dry'\n"})

    answer = lam.update_function_code(FunctionName=name, ZipFile=code, DryRun=True)
    assert answer["CodeSha256"] == sha256_b64(code)

    after = lam.get_function(FunctionName=name)
    assert after["Configuration"] == before["Configuration"]
    assert download(after["Code"]["Location"]) == download(before["Code"]["Location"])
    assert aws_error(lam.get_function, FunctionName=name, Qualifier="1") == not_found(name, "1")


def test_update_function_code_with_publish(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    code = make_zip({"app.py": "def handler(e, c):\n    return 'published'\n"})

    published = lam.update_function_code(FunctionName=name, ZipFile=code, Publish=True)
    assert (published["Version"], published["FunctionArn"]) == ("1", arn(name, "1"))
    assert published["CodeSha256"] == sha256_b64(code)

    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.get_waiter("function_active_v2").wait(FunctionName=f"{name}:1")
    version = lam.get_function(FunctionName=name, Qualifier="1")
    assert version["Configuration"]["State"] == "Active"
    assert version["Configuration"]["CodeSha256"] == sha256_b64(code)
    assert download(version["Code"]["Location"]) == code


def test_update_while_an_update_is_in_progress_conflicts(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    # Thousands of files take the server about a second to unpack; the next request comes
    # within milliseconds, while the first update is certainly still InProgress.
    code = make_zip({f"pkg{i % 40}/m{i}.py": f"X = {i}\n" for i in range(3000)} | {"app.py": "def handler(e, c): pass\n"})
    updated = lam.update_function_code(FunctionName=name, ZipFile=code)
    assert updated["LastUpdateStatus"] == "InProgress"

    message = f"The operation cannot be performed at this time. An update is in progress for resource: {arn(name)}"
    assert aws_error(lam.update_function_configuration, FunctionName=name, Timeout=9) == (
        409,
        "ResourceConflictException",
        message,
    )
    assert aws_error(lam.update_function_code, FunctionName=name, ZipFile=make_zip()) == (
        409,
        "ResourceConflictException",
        message,
    )

    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["Timeout"], config["CodeSha256"]) == (3, sha256_b64(code))


# -- UpdateFunctionConfiguration ---------------------------------------------------------


def test_update_function_configuration(lam, create_function, unique):
    name = unique("fn")
    created = create_function(FunctionName=name)
    before = lam.get_function_configuration(FunctionName=name)

    updated = lam.update_function_configuration(
        FunctionName=name,
        MemorySize=1024,
        Timeout=120,
        Description="updated",
        Environment={"Variables": {"STAGE": "prod"}},
        EphemeralStorage={"Size": 4096},
    )
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["RevisionId"] != before["RevisionId"]
    assert updated["CodeSha256"] == created["CodeSha256"]
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)

    got = lam.get_function_configuration(FunctionName=name)
    assert got["LastUpdateStatus"] == "Successful"
    assert (got["MemorySize"], got["Timeout"], got["Description"]) == (1024, 120, "updated")
    assert got["Environment"] == {"Variables": {"STAGE": "prod"}}
    assert got["EphemeralStorage"] == {"Size": 4096}
    assert got["Handler"] == "app.handler" and got["Runtime"] == "python3.12", "untouched settings stay"
    assert LAST_MODIFIED.fullmatch(got["LastModified"])

    # Only what the request names changes.
    lam.update_function_configuration(FunctionName=name, Timeout=60)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    got = lam.get_function_configuration(FunctionName=name)
    assert (got["MemorySize"], got["Timeout"], got["Environment"]) == (1024, 60, {"Variables": {"STAGE": "prod"}})


def test_update_function_configuration_revision_precondition(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    current = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    assert aws_error(
        lam.update_function_configuration, FunctionName=name, MemorySize=256, RevisionId=str(uuid.uuid4())
    ) == (412, "PreconditionFailedException", REVISION_MISMATCH)
    assert lam.get_function_configuration(FunctionName=name)["MemorySize"] == 128

    assert lam.update_function_configuration(FunctionName=name, MemorySize=256, RevisionId=current)["MemorySize"] == 256


def test_rejected_configuration_update_changes_nothing(raw_lam, lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    before = lam.get_function_configuration(FunctionName=name)
    status, code, _ = aws_error(raw_lam.update_function_configuration, FunctionName=name, MemorySize=128, Timeout=901)
    assert (status, code) == (400, "ValidationException")
    assert aws_error(raw_lam.update_function_configuration, FunctionName=name, Runtime="python3.8")[1] == (
        "InvalidParameterValueException"
    )
    after = lam.get_function_configuration(FunctionName=name)
    after.pop("ResponseMetadata"), before.pop("ResponseMetadata")
    assert after == before


# -- DeleteFunction ----------------------------------------------------------------------


def test_delete_function(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")

    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert aws_error(lam.get_function, FunctionName=name) == not_found(name)
    assert aws_error(lam.get_function, FunctionName=name, Qualifier="1") == not_found(name, "1")
    assert aws_error(lam.delete_function, FunctionName=name) == not_found(name)
    assert aws_error(lam.delete_function, FunctionName=name, Qualifier="1233") == not_found(name)

    # The name is free again, and the new function's versions start from 1, with no old aliases.
    create_function(FunctionName=name)
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


def test_delete_function_with_a_qualifier(lam, create_function, unique):
    name = unique("fn")
    create_function(FunctionName=name)
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="two")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName=name)
    lam.update_function_configuration(FunctionName=name, Description="three")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    lam.create_alias(FunctionName=name, Name="canary", FunctionVersion="1", RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})

    latest = "$LATEST version cannot be deleted without deleting the function."
    assert aws_error(lam.delete_function, FunctionName=name, Qualifier="$LATEST") == (
        400, "InvalidParameterValueException", latest
    )  # fmt: skip
    assert aws_error(lam.delete_function, FunctionName=arn(name, "$LATEST")) == (
        400, "InvalidParameterValueException", latest
    )  # fmt: skip
    # Checked before the function is even looked up.
    assert aws_error(lam.delete_function, FunctionName=unique("missing"), Qualifier="$LATEST") == (
        400, "InvalidParameterValueException", latest
    )  # fmt: skip
    # But after a qualifier in the name that contradicts the Qualifier (recorded on AWS).
    assert aws_error(lam.delete_function, FunctionName=f"{name}:1", Qualifier="$LATEST") == (
        400, "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    )  # fmt: skip

    assert aws_error(lam.delete_function, FunctionName=name, Qualifier="1") == (
        409,
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [canary, live]",
    )
    assert aws_error(lam.delete_function, FunctionName=name, Qualifier="2") == (
        409,
        "ResourceConflictException",
        "Unable to delete version because the following aliases reference it: [canary]",
    )

    assert lam.delete_function(FunctionName=name, Qualifier="1233")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.delete_function(FunctionName=name, Qualifier="3")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert aws_error(lam.get_function, FunctionName=name, Qualifier="3") == not_found(name, "3")
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    assert lam.get_function(FunctionName=name)["Configuration"]["Description"] == "three"


# -- ListFunctions -----------------------------------------------------------------------


def _own_role(server: Server) -> str:
    return server.client("iam").create_role(
        RoleName="lister",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
        '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
    )["Role"]["Arn"]


def test_list_functions_paginates(fresh_server):
    lam = fresh_server.client("lambda")
    assert lam.list_functions()["Functions"] == []
    role = _own_role(fresh_server)
    names = [f"list-{i}" for i in range(7)]
    for name in names:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip()})
    for name in names:
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName="list-0")

    pages, marker = [], None
    while True:
        page = lam.list_functions(MaxItems=3, **({"Marker": marker} if marker else {}))
        pages.append(page["Functions"])
        marker = page.get("NextMarker")
        if not marker:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    listed = [f for p in pages for f in p]
    assert sorted(f["FunctionName"] for f in listed) == names
    for function in listed:
        assert function["FunctionArn"] == arn(function["FunctionName"])
        assert function["Version"] == "$LATEST"
        assert not UNLISTED & set(function)
        assert {"CodeSha256", "CodeSize", "Handler", "Runtime", "Role", "LastModified", "RevisionId"} <= set(function)

    everything = lam.list_functions(MaxItems=50)
    assert "NextMarker" not in everything
    assert sorted(f["FunctionName"] for f in everything["Functions"]) == names
    paginated = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}) for f in page["Functions"]]
    assert sorted(paginated) == names


def test_list_functions_every_version(fresh_server):
    lam = fresh_server.client("lambda")
    role = _own_role(fresh_server)
    for name in ("all-a", "all-b"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code={"ZipFile": make_zip()})
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
    lam.publish_version(FunctionName="all-a")
    lam.update_function_configuration(FunctionName="all-a", Timeout=10)
    lam.get_waiter("function_updated_v2").wait(FunctionName="all-a")
    lam.publish_version(FunctionName="all-a")

    listed, marker = [], None
    while True:
        page = lam.list_functions(FunctionVersion="ALL", MaxItems=2, **({"Marker": marker} if marker else {}))
        assert len(page["Functions"]) <= 2
        listed += page["Functions"]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(f["FunctionArn"] for f in listed) == sorted(
        [arn("all-a", "$LATEST"), arn("all-a", "1"), arn("all-a", "2"), arn("all-b", "$LATEST")]
    )
    by_arn = {f["FunctionArn"]: f for f in listed}
    assert by_arn[arn("all-a", "1")]["Timeout"] == 3
    assert by_arn[arn("all-a", "2")]["Timeout"] == 10
    assert all(not UNLISTED & set(f) for f in listed)
    # Without FunctionVersion=ALL, one unqualified entry per function.
    assert sorted(f["FunctionArn"] for f in lam.list_functions()["Functions"]) == [arn("all-a"), arn("all-b")]


# -- Validation --------------------------------------------------------------------------

_DESCRIPTION = "d" * 257
_LARGE_ENV = {"SMALL_VAR": "ok", "LARGE_VAR": "x" * 4100}
_LONG_NAME = "a" * 65
_ROLE_PATTERN = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
_NAME_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
    r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)


def _validation(value: object, path: str, rule: str) -> tuple[int, str, str]:
    return 400, "ValidationException", f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {rule}"


def _invalid(message: str) -> tuple[int, str, str]:
    return 400, "InvalidParameterValueException", message


REJECTED_CREATES = {
    "memory-too-small": ({"MemorySize": 127}, _validation(127, "memorySize", "Member must have value greater than or equal to 128")),
    "memory-too-large": ({"MemorySize": 10241}, _validation(10241, "memorySize", "Member must have value less than or equal to 10240")),
    "timeout-zero": ({"Timeout": 0}, _validation(0, "timeout", "Member must have value greater than or equal to 1")),
    "timeout-too-long": ({"Timeout": 901}, _validation(901, "timeout", "Member must have value less than or equal to 900")),
    "storage-too-small": (
        {"EphemeralStorage": {"Size": 511}},
        _validation(511, "ephemeralStorage.size", "Member must have value greater than or equal to 512"),
    ),
    "storage-too-large": (
        {"EphemeralStorage": {"Size": 10241}},
        _validation(10241, "ephemeralStorage.size", "Member must have value less than or equal to 10240"),
    ),
    "description-too-long": (
        {"Description": _DESCRIPTION},
        _validation(_DESCRIPTION, "description", "Member must have length less than or equal to 256"),
    ),
    "environment-over-4kb": (
        {"Environment": {"Variables": _LARGE_ENV}},
        _invalid(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided exceeded the 4KB limit. String measured: "
            '{"SMALL_VAR":"ok","LARGE_VAR":"' + "x" * 4100 + '"}'
        ),
    ),
    "environment-reserved-key": (
        {"Environment": {"Variables": {"AWS_REGION": "eu-west-1", "OK_KEY": "v"}}},
        _invalid(
            "Lambda was unable to configure your environment variables because the environment variables you have "
            "provided contains reserved keys that are currently not supported for modification. "
            "Reserved keys used in this request: AWS_REGION"
        ),
    ),
    "environment-bad-key": (
        {"Environment": {"Variables": {"fs-cloud_bucket_name": "b"}}},
        (
            400,
            "ValidationException",
            "1 validation error detected: Value at 'environment.variables' failed to satisfy constraint: "
            "Map keys must satisfy constraint: [Member must satisfy regular expression pattern: [a-zA-Z]([a-zA-Z0-9_])+]",
        ),
    ),
    "handler-with-whitespace": (
        {"Handler": "app handler"},
        _validation("app handler", "handler", r"Member must satisfy regular expression pattern: [^\s]+"),
    ),
    "python-handler-without-dot": (
        {"Handler": "handler"},
        _invalid("The handler 'handler' is not valid for python3.12: it must name a file and a function, as in 'app.handler'."),
    ),
    "unknown-runtime": (
        {"Runtime": "cobol85"},
        _invalid(
            "Value cobol85 at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: "
            f"[{', '.join(CREATABLE)}] or be a valid ARN"
        ),
    ),
    "a-runtime-aws-runs-and-lambdabox-does-not": (
        {"Runtime": "java21"},
        _invalid(
            "Lambdabox does not run the java21 runtime. It runs: python3.9, python3.10, python3.11, python3.12, "
            "python3.13, python3.14, nodejs18.x, nodejs20.x, nodejs22.x, nodejs24.x, provided.al2023, provided.al2."
        ),
    ),
    "deprecated-runtime": (
        {"Runtime": "python3.8"},
        _invalid(
            "The runtime parameter of python3.8 is no longer supported for creating or updating AWS Lambda functions. "
            "We recommend you use a supported runtime while creating or updating functions."
        ),
    ),
    "name-too-long": (
        {"FunctionName": _LONG_NAME},
        _invalid(
            f"1 validation error detected: Value '{_LONG_NAME}' at 'functionName' failed to satisfy constraint: "
            "Member must have length less than or equal to 64"
        ),
    ),
    "name-bad-pattern": (
        {"FunctionName": "invalid:function:name"},
        _validation("invalid:function:name", "functionName", f"Member must satisfy regular expression pattern: {_NAME_PATTERN}"),
    ),
    "role-missing": (
        {"Role": f"arn:aws:iam::{ACCOUNT}:role/no-such-role"},
        _invalid("The role defined for the function cannot be assumed by Lambda."),
    ),
    "role-of-another-account": (
        {"Role": "arn:aws:iam::123456789012:role/someone-elses"},
        _invalid("The role defined for the function cannot be assumed by Lambda."),
    ),
    "role-bad-pattern": (
        {"Role": "r1"},
        _validation("r1", "role", f"Member must satisfy regular expression pattern: {_ROLE_PATTERN}"),
    ),
    "not-a-zip": (
        {"Code": {"ZipFile": b"this is not a zip"}},
        _invalid("Could not unzip uploaded file. Please check your file, then try to upload again."),
    ),
    "code-without-source": ({"Code": {}}, _invalid("Please provide a source for function code.")),
}


@pytest.mark.parametrize("overrides, expected", REJECTED_CREATES.values(), ids=REJECTED_CREATES.keys())
def test_rejected_create_stores_nothing(server, raw_lam, lam, role, unique, overrides, expected):
    # A package no other test uploads, so finding its blob would mean this request stored it.
    code = make_zip({"app.py": f"def handler(e, c):\n    return {unique('only-here')!r}\n"})
    arguments = {
        "FunctionName": unique("bad"),
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "app.handler",
        "Code": {"ZipFile": code},
    } | overrides
    assert aws_error(raw_lam.create_function, **arguments) == expected
    assert not list(server.data_dir.rglob(f"*{hashlib.sha256(code).hexdigest()}*"))

    name = arguments["FunctionName"]
    if re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", name):
        assert aws_error(lam.get_function, FunctionName=name) == not_found(name)
    listed = [f["FunctionName"] for page in lam.get_paginator("list_functions").paginate() for f in page["Functions"]]
    assert name not in listed


def test_create_existing_function_conflicts(lam, create_function, unique):
    name = unique("fn")
    first = create_function(FunctionName=name, Description="first")
    status, code, message = aws_error(
        lam.create_function,
        FunctionName=name,
        Runtime="nodejs22.x",
        Role=first["Role"],
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.js": "exports.handler = async () => 1;"})},
    )
    assert (status, code, message) == (409, "ResourceConflictException", f"Function already exist: {name}")
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["Runtime"], config["Description"], config["CodeSha256"]) == (
        "python3.12",
        "first",
        first["CodeSha256"],
    )


def test_a_json_log_format_defaults_its_levels_to_info(lam, create_function):
    """As AWS answers (recorded): LogFormat JSON without levels shows ApplicationLogLevel and SystemLogLevel INFO."""
    name = create_function(LoggingConfig={"LogFormat": "JSON"})["FunctionName"]
    shown = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert shown == {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                     "LogGroup": f"/aws/lambda/{name}"}
    updated = lam.update_function_configuration(FunctionName=name, LoggingConfig={"ApplicationLogLevel": "DEBUG"})
    assert updated["LoggingConfig"]["ApplicationLogLevel"] == "DEBUG"
    assert updated["LoggingConfig"]["SystemLogLevel"] == "INFO"


def test_the_runtime_list_in_messages_is_awss():
    """The names an unknown runtime's message lists are AWS's own (its service model's Runtime enum)."""
    import botocore.session

    from lambdabox.model.runtimes import AWS_RUNTIMES

    enum = botocore.session.get_session().get_service_model("lambda").shape_for("Runtime").enum
    assert [name for name in enum if name in AWS_RUNTIMES] == list(AWS_RUNTIMES)


@pytest.mark.parametrize("name", ["x" * 65, "y" * 171], ids=["65", "171"])
def test_get_and_delete_of_a_name_no_function_could_have_are_not_found(lam, name):
    """Recorded on AWS: Get and Delete answer a well-formed name longer than any function's with ResourceNotFound,
    "Function not found: <arn>", not a validation error (a malformed one is invalid: tests/test_recorded_shapes.py)."""
    message = f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}"
    for call in (lam.get_function, lam.get_function_configuration, lam.delete_function):
        assert aws_error(call, FunctionName=name) == (404, "ResourceNotFoundException", message)


def test_a_huge_unknown_name_is_quoted_back_shortened(lam):
    name = "z" * 5000
    status, code, message = aws_error(lam.get_function, FunctionName=name)
    assert (status, code) == (404, "ResourceNotFoundException")
    assert message == f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{'z' * 256}..."
