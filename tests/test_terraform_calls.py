"""The calls Terraform's AWS provider makes, replayed with boto3 in the provider's order.

The provider cannot be downloaded here, so each resource's life cycle (create, read, update, read,
destroy) is replayed from its source (hashicorp/terraform-provider-aws, internal/service/lambda/
function.go, alias.go, layer_version.go, permission.go, function_url.go, event_source_mapping.go and
internal/service/iam/role.go,
role_policy_attachment.go, policy.go, tags.go). Each call must succeed, and each answer must hold what the
provider reads from it, in the shape it reads it.
"""

from __future__ import annotations

import datetime
import json
import time

import pytest
from botocore.exceptions import ClientError

from support import make_zip

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
LOGS = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "logs:*", "Resource": "*"}]})
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ACCOUNT, REGION = "000000000000", "us-east-1"
#: The page size the provider asks ListVersionsByFunction for (listVersionsMaxItems).
LIST_VERSIONS_MAX_ITEMS = 10000


def missing(call, **arguments) -> str:
    """The error code of a call that must fail (a "not found" the provider waits for)."""
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return raised.value.response["Error"]["Code"]


def until(check, timeout_s: float = 30):
    """Poll as the provider's waiters do, until `check()` is truthy; return its value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


# The provider's configure step


def test_provider_configure(server):
    identity = server.client("sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (ACCOUNT, f"arn:aws:iam::{ACCOUNT}:root")


# aws_iam_role, aws_iam_policy and aws_iam_role_policy_attachment


def read_role(iam, name: str) -> dict:
    """resourceRoleRead: GetRole, the inline policies (ListRolePolicies, GetRolePolicy each), ListAttachedRolePolicies."""
    role = iam.get_role(RoleName=name)["Role"]
    for key in ("Arn", "CreateDate", "MaxSessionDuration", "RoleName", "Path", "RoleId", "AssumeRolePolicyDocument"):
        assert key in role, key
    inline = {}
    for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        inline[policy_name] = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    attached = [p["PolicyArn"] for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
    return {"role": role, "inline": inline, "attached": attached}


def read_policy(iam, arn: str) -> dict:
    """resourcePolicyRead: GetPolicy, then GetPolicyVersion of its default version."""
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    version = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
    return {"policy": policy, "document": version["Document"]}


def test_iam_role_with_policies(server, unique):
    iam = server.client("iam")
    name, policy_name = unique("tf-role"), unique("tf-policy")

    # Create the role (with tags and an inline policy), then read it.
    created = iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST, Description="first",
                              Tags=[{"Key": "env", "Value": "dev"}])["Role"]
    assert created["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/{name}"
    iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=LOGS)
    state = read_role(iam, name)
    assert state["role"]["Tags"] == [{"Key": "env", "Value": "dev"}]
    assert state["role"]["Description"] == "first" and state["inline"] == {"inline": json.loads(LOGS)}

    # aws_iam_policy: CreatePolicy, then read.
    policy_arn = iam.create_policy(PolicyName=policy_name, PolicyDocument=LOGS,
                                   Tags=[{"Key": "env", "Value": "dev"}])["Policy"]["Arn"]
    assert read_policy(iam, policy_arn)["document"] == json.loads(LOGS)

    # aws_iam_role_policy_attachment (two of them): AttachRolePolicy, then read with ListAttachedRolePolicies.
    for arn in (policy_arn, BASIC_EXECUTION):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
        assert arn in read_role(iam, name)["attached"]

    # Update the role: trust policy, description, session duration, tags; then read.
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=TRUST)
    assert iam.update_role_description(RoleName=name, Description="second")["Role"]["Description"] == "second"
    iam.update_role(RoleName=name, MaxSessionDuration=7200)
    iam.untag_role(RoleName=name, TagKeys=["env"])
    iam.tag_role(RoleName=name, Tags=[{"Key": "env", "Value": "prod"}])
    state = read_role(iam, name)
    assert (state["role"]["Description"], state["role"]["MaxSessionDuration"]) == ("second", 7200)
    assert state["role"]["Tags"] == [{"Key": "env", "Value": "prod"}]
    assert iam.list_role_tags(RoleName=name)["Tags"] == [{"Key": "env", "Value": "prod"}]

    # Update the policy: prune versions when five exist (ListPolicyVersions, DeletePolicyVersion of the
    # oldest non-default), then CreatePolicyVersion as the default; then read.
    narrower = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]})
    for _ in range(5):
        versions = iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]
        if len(versions) >= 5:
            oldest = min((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=oldest["VersionId"])
        iam.create_policy_version(PolicyArn=policy_arn, PolicyDocument=narrower, SetAsDefault=True)
    state = read_policy(iam, policy_arn)
    assert state["document"] == json.loads(narrower) and state["policy"]["DefaultVersionId"] == "v6"
    # Its tags change with UntagPolicy and TagPolicy; the read takes them from GetPolicy.
    iam.untag_policy(PolicyArn=policy_arn, TagKeys=["env"])
    iam.tag_policy(PolicyArn=policy_arn, Tags=[{"Key": "env", "Value": "prod"}])
    assert read_policy(iam, policy_arn)["policy"]["Tags"] == [{"Key": "env", "Value": "prod"}]

    # Destroy the attachments: DetachRolePolicy; the read after shows them gone.
    for arn in (policy_arn, BASIC_EXECUTION):
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    assert read_role(iam, name)["attached"] == []

    # Destroy the policy: delete every non-default version, then DeletePolicy.
    for version in iam.list_policy_versions(PolicyArn=policy_arn)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=policy_arn, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=policy_arn)
    assert missing(iam.get_policy, PolicyArn=policy_arn) == "NoSuchEntity"

    # Destroy the role: instance profiles, attached and inline policies (force_detach_policies), then DeleteRole.
    assert iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"] == []
    for arn in read_role(iam, name)["attached"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=arn)
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=policy)
    iam.delete_role(RoleName=name)
    assert missing(iam.get_role, RoleName=name) == "NoSuchEntity"
    # A second destroy finds nothing, which the provider takes as done.
    assert missing(iam.list_instance_profiles_for_role, RoleName=name) == "NoSuchEntity"


# aws_lambda_function


def read_function(lam, name: str) -> dict:
    """resourceFunctionRead: GetFunction, the latest version (ListVersionsByFunction), GetFunctionCodeSigningConfig."""
    got = lam.get_function(FunctionName=name)
    assert got["Code"] and got["Configuration"]
    configuration = got["Configuration"]
    for key in ("FunctionArn", "CodeSha256", "Handler", "LastModified", "MemorySize", "PackageType", "Role",
                "Runtime", "Timeout", "CodeSize", "Architectures", "EphemeralStorage", "LoggingConfig",
                "TracingConfig"):
        assert key in configuration, key
    assert configuration["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    versions = lam.list_versions_by_function(FunctionName=name, MaxItems=LIST_VERSIONS_MAX_ITEMS)
    assert versions["Versions"] and "NextMarker" not in versions
    latest = versions["Versions"][-1]
    signing = lam.get_function_code_signing_config(FunctionName=name)
    assert (signing["FunctionName"], signing["CodeSigningConfigArn"]) == (name, "")
    return {"configuration": configuration, "tags": got.get("Tags", {}), "qualified_arn": latest["FunctionArn"],
            "version": latest["Version"], "concurrency": got.get("Concurrency")}


def test_lambda_function(server, role, unique):
    lam = server.client("lambda")
    name = unique("tf-fn")

    # Create (publish = true, reserved concurrency, tags); wait for it (GetFunction until Active).
    created = lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                  Code={"ZipFile": make_zip()}, Publish=True, Tags={"env": "dev"},
                                  Description="first", MemorySize=128, Timeout=3)
    assert created["Version"] == "1"
    assert lam.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
    assert until(lambda: lam.get_function(FunctionName=name)["Configuration"]["State"] == "Active")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    state = read_function(lam, name)
    assert (state["version"], state["qualified_arn"]) == ("1", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:1")
    assert state["tags"] == {"env": "dev"} and state["concurrency"] == {"ReservedConcurrentExecutions": 2}

    # Update configuration, wait (LastUpdateStatus), update code, wait, change tags and concurrency, publish,
    # wait for the version's configuration; then read.
    lam.update_function_configuration(FunctionName=name, Description="second", MemorySize=256,
                                      Environment={"Variables": {"STAGE": "two"}})
    assert until(lambda: lam.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "Successful")
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 2\n"}))
    assert until(lambda: lam.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "Successful")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    lam.untag_resource(Resource=arn, TagKeys=["env"])
    lam.tag_resource(Resource=arn, Tags={"env": "prod"})
    lam.delete_function_concurrency(FunctionName=name)
    published = lam.publish_version(FunctionName=name)
    assert (published["Version"], published["FunctionArn"]) == ("2", f"{arn}:2")
    settled = lam.get_function_configuration(FunctionName=published["FunctionArn"], Qualifier=published["Version"])
    assert (settled["State"], settled["LastUpdateStatus"]) == ("Active", "Successful")
    state = read_function(lam, name)
    assert (state["configuration"]["Description"], state["configuration"]["MemorySize"]) == ("second", 256)
    assert state["configuration"]["Environment"] == {"Variables": {"STAGE": "two"}}
    assert (state["version"], state["tags"], state["concurrency"]) == ("2", {"env": "prod"}, None)

    # Destroy: DeleteFunction, then GetFunction until ResourceNotFound.
    lam.delete_function(FunctionName=name)
    assert missing(lam.get_function, FunctionName=name) == "ResourceNotFoundException"
    assert missing(lam.get_function_code_signing_config, FunctionName=name) == "ResourceNotFoundException"
    # A second destroy finds nothing, which the provider takes as done.
    assert missing(lam.delete_function, FunctionName=name) == "ResourceNotFoundException"


# aws_lambda_alias


def test_lambda_alias(server, create_function, unique):
    lam = server.client("lambda")
    name = create_function(Publish=True)["FunctionName"]
    lam.update_function_configuration(FunctionName=name, Description="v2")
    until(lambda: lam.get_function(FunctionName=name)["Configuration"]["LastUpdateStatus"] == "Successful")
    assert lam.publish_version(FunctionName=name)["Version"] == "2"

    # Create: the provider always sends a Description and a RoutingConfig, empty when not configured.
    created = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="",
                               RoutingConfig={})
    alias_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live"
    assert created["AliasArn"] == alias_arn

    def read() -> dict:
        alias = lam.get_alias(FunctionName=name, Name="live")
        for key in ("AliasArn", "Description", "FunctionVersion", "Name"):
            assert key in alias, key
        return alias

    assert read()["FunctionVersion"] == "1"

    # Update with weights, read; update without, wait until the weights are cleared, read.
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="canary",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}})
    alias = read()
    assert (alias["Description"], alias["RoutingConfig"]) == ("canary", {"AdditionalVersionWeights": {"2": 0.25}})
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", Description="", RoutingConfig={})
    assert until(lambda: not read().get("RoutingConfig", {}).get("AdditionalVersionWeights"))
    assert read()["FunctionVersion"] == "2"

    # Destroy.
    lam.delete_alias(FunctionName=name, Name="live")
    assert missing(lam.get_alias, FunctionName=name, Name="live") == "ResourceNotFoundException"


# aws_lambda_layer_version


def test_lambda_layer_version(server, unique):
    lam = server.client("lambda")
    layer = unique("tf-layer")
    published = lam.publish_layer_version(
        LayerName=layer, Content={"ZipFile": make_zip({"python/helper.py": "X = 1\n"})},
        CompatibleRuntimes=["python3.12"], CompatibleArchitectures=["x86_64"], Description="helpers",
        LicenseInfo="MIT",
    )
    arn = published["LayerVersionArn"]
    assert arn == f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{layer}:1"

    # Read: the provider parses the name and number out of the ARN (its id), then GetLayerVersion.
    _, _, _, _, _, _, layer_name, number = arn.split(":")
    got = lam.get_layer_version(LayerName=layer_name, VersionNumber=int(number))
    assert (got["LayerVersionArn"], got["LayerArn"]) == (arn, arn.rsplit(":", 1)[0])
    assert (got["Description"], got["LicenseInfo"], got["CompatibleRuntimes"], got["CompatibleArchitectures"]) == (
        "helpers", "MIT", ["python3.12"], ["x86_64"])
    assert "CreatedDate" in got and got["Content"]["CodeSha256"] and got["Content"]["CodeSize"] > 0

    # Every change replaces the resource: destroy (DeleteLayerVersion) and publish anew.
    lam.delete_layer_version(LayerName=layer_name, VersionNumber=int(number))
    assert missing(lam.get_layer_version, LayerName=layer_name, VersionNumber=int(number)) == (
        "ResourceNotFoundException")


# aws_lambda_permission


def test_lambda_permission(server, create_function, unique):
    lam = server.client("lambda")
    name = create_function()["FunctionName"]
    source = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:abc123/*/GET/hello"

    lam.add_permission(FunctionName=name, StatementId="AllowAPIGateway", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com", SourceArn=source, SourceAccount=ACCOUNT)

    def statement(sid: str) -> dict | None:
        """findPolicyStatementByTwoPartKey: GetPolicy, the statement with this Sid."""
        try:
            policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
        except ClientError as error:
            assert error.response["Error"]["Code"] == "ResourceNotFoundException"
            return None
        return next((s for s in policy["Statement"] if s["Sid"] == sid), None)

    found = statement("AllowAPIGateway")
    # The provider reads Action, Resource, Effect and Sid as strings, Principal as a string or a map,
    # and each Condition as a map of strings to strings.
    assert found["Action"] == "lambda:InvokeFunction" and found["Effect"] == "Allow"
    assert found["Resource"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert found["Principal"] == {"Service": "apigateway.amazonaws.com"}
    assert found["Condition"]["ArnLike"] == {"AWS:SourceArn": source}
    assert found["Condition"]["StringEquals"] == {"AWS:SourceAccount": ACCOUNT}
    assert all(isinstance(value, str) for block in found["Condition"].values() for value in block.values())

    # Every change replaces it: RemovePermission, then GetPolicy until the statement is gone.
    lam.remove_permission(FunctionName=name, StatementId="AllowAPIGateway")
    assert until(lambda: statement("AllowAPIGateway") is None)
    assert missing(lam.remove_permission, FunctionName=name, StatementId="AllowAPIGateway") == (
        "ResourceNotFoundException")


# aws_lambda_event_source_mapping (an SQS queue in moto's server, which the mapping's server polls)


@pytest.fixture(scope="module")
def sqs_peer(tmp_path_factory):
    """moto's server as the SQS endpoint, and a Lambdabox server that polls it."""
    from support import Server, moto_server

    with moto_server(ACCOUNT) as url:
        server = Server(tmp_path_factory.mktemp("terraform-esm") / "data", extra_args=["--sqs-endpoint-url", url]).start()
        yield server, url
        server.stop()


def read_mapping(lam, uuid: str) -> dict:
    """resourceEventSourceMappingRead: GetEventSourceMapping, then ListTags on its EventSourceMappingArn."""
    found = lam.get_event_source_mapping(UUID=uuid)
    found["Tags"] = lam.list_tags(Resource=found["EventSourceMappingArn"])["Tags"]
    # What the provider sets from the answer, in the types it reads them as.
    assert isinstance(found["BatchSize"], int) and isinstance(found["MaximumBatchingWindowInSeconds"], int)
    assert isinstance(found["LastModified"], datetime.datetime)
    assert found["State"] in ("Enabled", "Disabled")  # the provider maps these to `enabled`
    assert found["StateTransitionReason"] and found["UUID"] == uuid
    return found


def test_lambda_event_source_mapping(sqs_peer, unique):
    import boto3

    server, moto_url = sqs_peer
    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION, aws_access_key_id="x",
                       aws_secret_access_key="x")
    queue_url = sqs.create_queue(QueueName=unique("tf-queue"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    iam, lam = server.client("iam"), server.client("lambda")
    role_name = unique("tf-esm-role")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    iam.attach_role_policy(RoleName=role_name,
                           PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole")
    name = unique("tf-consumer")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                        Code={"ZipFile": make_zip()})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)

    # Create: CreateEventSourceMapping (tags in the request), then GetEventSourceMapping until the state leaves
    # Creating (waitEventSourceMappingCreated), then Read.
    created = lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName=name, BatchSize=5, Enabled=True,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"kind": ["order"]}})}]},
        ScalingConfig={"MaximumConcurrency": 3}, Tags={"stack": "terraform"},
    )
    uuid = created["UUID"]
    assert created["State"] == "Creating"
    assert until(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled")
    found = read_mapping(lam, uuid)
    assert found["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert found["EventSourceArn"] == queue_arn and found["BatchSize"] == 5
    assert found["ScalingConfig"] == {"MaximumConcurrency": 3} and found["Tags"] == {"stack": "terraform"}

    # Update: only what changed; a removed filter_criteria or scaling_config is sent as an empty object (AWS keeps
    # the old value for a missing one). Then GetEventSourceMapping until no longer Updating, then Read.
    lam.update_event_source_mapping(UUID=uuid, BatchSize=8, Enabled=False, FilterCriteria={}, ScalingConfig={})
    assert until(lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled")
    found = read_mapping(lam, uuid)
    assert found["BatchSize"] == 8
    assert "FilterCriteria" not in found and "ScalingConfig" not in found
    # Tags: UntagResource and TagResource on the mapping's ARN.
    arn = found["EventSourceMappingArn"]
    lam.untag_resource(Resource=arn, TagKeys=["stack"])
    lam.tag_resource(Resource=arn, Tags={"owner": "platform"})
    assert read_mapping(lam, uuid)["Tags"] == {"owner": "platform"}

    # Delete: DeleteEventSourceMapping, then GetEventSourceMapping until ResourceNotFoundException.
    deleting = lam.delete_event_source_mapping(UUID=uuid)
    assert deleting["State"] == "Deleting"
    assert until(lambda: missing(lam.get_event_source_mapping, UUID=uuid) == "ResourceNotFoundException")
    # A second delete (a destroy after drift) is ResourceNotFoundException, which the provider takes as done.
    assert missing(lam.delete_event_source_mapping, UUID=uuid) == "ResourceNotFoundException"


# aws_lambda_function_url (function_url.go)


def test_lambda_function_url(server, create_function):
    lam = server.client("lambda")
    name = create_function()["FunctionName"]
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    # Create: CreateFunctionUrlConfig (expandFunctionUrlCorsConfigs always sends AllowCredentials), then for NONE
    # the public AddPermission, then the read.
    cors = {"AllowCredentials": False, "AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"]}
    lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE", Cors=cors)
    lam.add_permission(FunctionName=name, Action="lambda:InvokeFunctionUrl", FunctionUrlAuthType="NONE",
                       Principal="*", StatementId="FunctionURLAllowPublicAccess")
    read = lam.get_function_url_config(FunctionName=name, Qualifier="live")
    assert read["AuthType"] == "NONE" and read["Cors"] == cors
    assert read["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live"
    assert read["FunctionUrl"].startswith("http://") and read["FunctionUrl"].endswith("/")
    # Update: only what changed, then the read.
    changed = {"AllowCredentials": True, "AllowOrigins": ["*"], "MaxAge": 600}
    lam.update_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM", Cors=changed)
    read = lam.get_function_url_config(FunctionName=name, Qualifier="live")
    assert (read["AuthType"], read["Cors"]) == ("AWS_IAM", changed)
    # Cors removed: the provider sends an empty Cors.
    lam.update_function_url_config(FunctionName=name, Qualifier="live", Cors={})
    assert not lam.get_function_url_config(FunctionName=name, Qualifier="live").get("Cors")
    # Delete, then the read finds nothing (ResourceNotFoundException removes it from state).
    lam.delete_function_url_config(FunctionName=name, Qualifier="live")
    assert missing(lam.get_function_url_config, FunctionName=name, Qualifier="live") == "ResourceNotFoundException"
    assert missing(lam.delete_function_url_config, FunctionName=name, Qualifier="live") == "ResourceNotFoundException"
