"""Tags on functions: Tags on CreateFunction, TagResource, UntagResource, ListTags."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from support import ACCOUNT, REGION, error_of

QUALIFIED = "Tags on function aliases and versions are not supported. Please specify a function ARN."
TOO_MANY = "Number of tags exceeds resource tag limit."


def arn_of(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def tags_of(lam, arn: str) -> dict[str, str]:
    return lam.list_tags(Resource=arn)["Tags"]


def test_tags_given_at_creation(lam, create_function):
    created = create_function(Tags={"team": "blue", "stage": "dev"})
    arn = created["FunctionArn"]

    assert tags_of(lam, arn) == {"team": "blue", "stage": "dev"}
    assert lam.get_function(FunctionName=created["FunctionName"])["Tags"] == {"team": "blue", "stage": "dev"}


def test_a_function_without_tags(lam, create_function):
    created = create_function()
    listed = lam.list_tags(Resource=created["FunctionArn"])
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert listed["Tags"] == {}
    assert "Tags" not in lam.get_function(FunctionName=created["FunctionName"])


def test_tag_and_untag_lifecycle(lam, create_function):
    created = create_function(Tags={"keep": "1", "change": "old"})
    arn, name = created["FunctionArn"], created["FunctionName"]

    tagged = lam.tag_resource(Resource=arn, Tags={"change": "new", "added": "yes"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(lam, arn) == {"keep": "1", "change": "new", "added": "yes"}

    untagged = lam.untag_resource(Resource=arn, TagKeys=["change", "added"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(lam, arn) == {"keep": "1"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"keep": "1"}

    # Untagging a key that is not there changes nothing and succeeds.
    assert lam.untag_resource(Resource=arn, TagKeys=["absent"])["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert tags_of(lam, arn) == {"keep": "1"}

    lam.untag_resource(Resource=arn, TagKeys=["keep"])
    assert tags_of(lam, arn) == {}
    assert "Tags" not in lam.get_function(FunctionName=name)


def test_tagging_changes_only_the_revision_id(lam, create_function):
    """Recorded on AWS (LocalStack snapshot TestLambdaTags::test_tag_lifecycle): every tag and
    untag gives $LATEST a new RevisionId; LastModified and the rest stay."""
    created = create_function()
    name = created["FunctionName"]

    def configuration() -> dict:
        config = lam.get_function_configuration(FunctionName=name)
        config.pop("ResponseMetadata")
        return config

    before = configuration()
    lam.tag_resource(Resource=created["FunctionArn"], Tags={"a": "b"})
    tagged = configuration()
    lam.untag_resource(Resource=created["FunctionArn"], TagKeys=["a"])
    untagged = configuration()

    assert len({before["RevisionId"], tagged["RevisionId"], untagged["RevisionId"]}) == 3
    for after in (tagged, untagged):
        assert {**after, "RevisionId": None} == {**before, "RevisionId": None}

    # A client holding the old RevisionId is told the function changed.
    with pytest.raises(ClientError) as raised:
        lam.update_function_configuration(FunctionName=name, Description="x", RevisionId=before["RevisionId"])
    assert error_of(raised)[:2] == (412, "PreconditionFailedException")


def test_qualified_arns_are_refused(lam, create_function):
    created = create_function(Tags={"a": "1"})
    name, arn = created["FunctionName"], created["FunctionArn"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)

    for qualified in (f"{arn}:{version}", f"{arn}:$LATEST", f"{arn}:live", f"{arn}:99"):
        for call in (
            lambda: lam.tag_resource(Resource=qualified, Tags={"b": "2"}),
            lambda: lam.untag_resource(Resource=qualified, TagKeys=["a"]),
            lambda: lam.list_tags(Resource=qualified),
        ):
            with pytest.raises(ClientError) as raised:
                call()
            assert error_of(raised) == (400, "InvalidParameterValueException", QUALIFIED)
    assert tags_of(lam, arn) == {"a": "1"}


def test_missing_function_is_not_found(lam, unique):
    arn = arn_of(unique("nofn"))
    for call in (
        lambda: lam.tag_resource(Resource=arn, Tags={"a": "1"}),
        lambda: lam.untag_resource(Resource=arn, TagKeys=["a"]),
        lambda: lam.list_tags(Resource=arn),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert error_of(raised) == (404, "ResourceNotFoundException", f"Function not found: {arn}")


def test_a_resource_that_is_not_a_lambda_arn_is_invalid(lam, create_function):
    created = create_function()
    for resource in ("arn:aws:something", created["FunctionName"]):
        with pytest.raises(ClientError) as raised:
            lam.list_tags(Resource=resource)
        status, code, message = error_of(raised)
        assert (status, code) == (400, "ValidationException")
        assert message.startswith(
            f"1 validation error detected: Value '{resource}' at 'resource' failed to satisfy constraint: "
            "Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:"
        )


def test_empty_tags_are_refused(lam, create_function):
    created = create_function(Tags={"a": "1"})
    arn = created["FunctionArn"]

    with pytest.raises(ClientError) as raised:
        lam.tag_resource(Resource=arn, Tags={})
    assert error_of(raised) == (
        400,
        "InvalidParameterValueException",
        "An error occurred and the request cannot be processed.",
    )

    with pytest.raises(ClientError) as raised:
        lam.untag_resource(Resource=arn, TagKeys=[])
    assert error_of(raised) == (
        400,
        "ValidationException",
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: Member must not be null",
    )
    assert tags_of(lam, arn) == {"a": "1"}


def test_at_most_fifty_tags(lam, create_function):
    fifty = {f"k{i}": str(i) for i in range(50)}
    arn = create_function(Tags=fifty)["FunctionArn"]
    assert tags_of(lam, arn) == fifty

    # Overwriting existing keys keeps the count at 50.
    lam.tag_resource(Resource=arn, Tags={"k0": "changed"})
    assert len(tags_of(lam, arn)) == 50

    with pytest.raises(ClientError) as raised:
        lam.tag_resource(Resource=arn, Tags={"k50": "one too many"})
    assert error_of(raised) == (400, "InvalidParameterValueException", TOO_MANY)
    assert tags_of(lam, arn) == {**fifty, "k0": "changed"}


def test_more_than_fifty_tags_in_one_call(lam, create_function):
    arn = create_function(Tags={"first": "1"})["FunctionArn"]
    with pytest.raises(ClientError) as raised:
        lam.tag_resource(Resource=arn, Tags={f"k{i}": str(i) for i in range(51)})
    assert error_of(raised) == (400, "InvalidParameterValueException", TOO_MANY)
    assert tags_of(lam, arn) == {"first": "1"}


def test_more_than_fifty_tags_at_creation(lam, create_function, unique):
    name = unique("fn")
    with pytest.raises(ClientError) as raised:
        create_function(FunctionName=name, Tags={f"k{i}": str(i) for i in range(51)})
    assert error_of(raised) == (400, "InvalidParameterValueException", TOO_MANY)
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing) == (404, "ResourceNotFoundException", f"Function not found: {arn_of(name)}")
