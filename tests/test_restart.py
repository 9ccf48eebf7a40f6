"""Everything the control plane stores survives a restart: stop the server, start another on its data dir."""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

from support import Server, make_zip

TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


INLINE = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"lambda:InvokeFunction",'
    '"Resource":"arn:aws:lambda:us-east-1:000000000000:function:alpha"}]}'
)


def download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def settle(lam, name: str) -> None:
    """Wait until the function and all its versions are Active and no update is in progress."""
    deadline = time.monotonic() + 10
    while True:
        configs = lam.list_versions_by_function(FunctionName=name)["Versions"]
        states = [lam.get_function_configuration(FunctionName=c["FunctionArn"]) for c in configs]
        if all(s["State"] == "Active" and s["LastUpdateStatus"] == "Successful" for s in states):
            return
        assert time.monotonic() < deadline, f"{name} did not settle"
        time.sleep(0.02)


def build(server: Server) -> dict[str, bytes]:
    """Create functions, versions, aliases, layers, tags and concurrency; return the zips by where to find them."""
    lam = server.client("lambda")
    role = server.client("iam").create_role(RoleName="restart-role", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    uploaded: dict[str, bytes] = {}

    for number in (1, 2):
        content = make_zip({f"python/lib{number}.py": f"VERSION = {number}\n", "bin/tool": b"\x7fELF\x00" * 50})
        layer = lam.publish_layer_version(
            LayerName="shared",
            Content={"ZipFile": content},
            Description=f"layer {number}",
            CompatibleRuntimes=["python3.12", "python3.13"],
            CompatibleArchitectures=["x86_64"],
            LicenseInfo="MIT",
        )
        uploaded[f"layer:shared:{layer['Version']}"] = content

    first = make_zip({"app.py": "def handler(event, context):\n    return 1\n", "data/blob.bin": bytes(range(256)) * 40})
    lam.create_function(
        FunctionName="alpha",
        Runtime="python3.12",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": first},
        Description="alpha function",
        MemorySize=512,
        Timeout=20,
        Environment={"Variables": {"STAGE": "test", "COLOR": "blue"}},
        EphemeralStorage={"Size": 1024},
        Layers=["arn:aws:lambda:us-east-1:000000000000:layer:shared:1"],
        Tags={"team": "platform", "cost-center": "42"},
    )
    settle(lam, "alpha")
    uploaded["alpha:$LATEST"] = uploaded["alpha:1"] = first
    lam.publish_version(FunctionName="alpha", Description="first")

    second = make_zip({"app.py": "def handler(event, context):\n    return 2\n"})
    lam.update_function_code(FunctionName="alpha", ZipFile=second)
    settle(lam, "alpha")
    lam.update_function_configuration(
        FunctionName="alpha", Timeout=30, Layers=["arn:aws:lambda:us-east-1:000000000000:layer:shared:2"]
    )
    settle(lam, "alpha")
    lam.publish_version(FunctionName="alpha")
    uploaded["alpha:$LATEST"] = uploaded["alpha:2"] = second
    lam.create_alias(
        FunctionName="alpha",
        Name="live",
        FunctionVersion="1",
        Description="weighted",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.25}},
    )
    lam.create_alias(FunctionName="alpha", Name="head", FunctionVersion="$LATEST")
    lam.tag_resource(Resource="arn:aws:lambda:us-east-1:000000000000:function:alpha", Tags={"added": "later"})
    lam.put_function_concurrency(FunctionName="alpha", ReservedConcurrentExecutions=7)

    node = make_zip({"index.mjs": "export const handler = async () => 'beta';\n"})
    lam.create_function(
        FunctionName="beta", Runtime="nodejs20.x", Role=role, Handler="index.handler", Code={"ZipFile": node}
    )
    settle(lam, "beta")
    lam.publish_version(FunctionName="beta")
    lam.update_function_configuration(FunctionName="beta", MemorySize=256)
    settle(lam, "beta")
    lam.publish_version(FunctionName="beta")
    lam.delete_function(FunctionName="beta", Qualifier="2")
    uploaded["beta:$LATEST"] = uploaded["beta:1"] = node

    # Asynchronous settings, recursion control and the resource policy.
    lam.put_function_event_invoke_config(
        FunctionName="alpha", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:beta"}},
    )
    lam.put_function_event_invoke_config(FunctionName="alpha", Qualifier="live", MaximumRetryAttempts=0)
    lam.put_function_recursion_config(FunctionName="alpha", RecursiveLoop="Allow")
    lam.add_permission(
        FunctionName="alpha", StatementId="from-partner", Action="lambda:InvokeFunction", Principal="111122223333",
    )
    # IAM policies: attached and inline, on the role and on a user.
    iam = server.client("iam")
    iam.attach_role_policy(RoleName="restart-role", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")
    iam.put_role_policy(RoleName="restart-role", PolicyName="inline", PolicyDocument=INLINE)
    managed = iam.create_policy(PolicyName="invoke-alpha", PolicyDocument=INLINE)["Policy"]["Arn"]
    iam.create_user(UserName="operator")
    iam.attach_user_policy(UserName="operator", PolicyArn=managed)
    iam.put_user_policy(UserName="operator", PolicyName="own", PolicyDocument=INLINE)
    key = iam.create_access_key(UserName="operator")["AccessKey"]
    uploaded["operator key"] = f"{key['AccessKeyId']}:{key['SecretAccessKey']}".encode()
    return uploaded


def observe(server: Server) -> tuple[dict[str, Any], dict[str, str]]:
    """Everything the API shows, with download links set apart (they name the server's port)."""
    lam = server.client("lambda")
    seen: dict[str, Any] = {}
    links: dict[str, str] = {}
    for name in ("alpha", "beta"):
        versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
        seen[f"{name} versions"] = versions
        aliases = lam.list_aliases(FunctionName=name)["Aliases"]
        seen[f"{name} aliases"] = aliases
        for qualifier in [v["Version"] for v in versions] + [a["Name"] for a in aliases]:
            got = lam.get_function(FunctionName=name, Qualifier=qualifier)
            links[f"{name}:{qualifier}"] = got.pop("Code").pop("Location")
            got.pop("ResponseMetadata")
            seen[f"{name}:{qualifier}"] = got
        got = lam.get_function(FunctionName=name)
        got.pop("Code"), got.pop("ResponseMetadata")
        seen[name] = got
        seen[f"{name} tags"] = lam.list_tags(Resource=f"arn:aws:lambda:us-east-1:000000000000:function:{name}")["Tags"]
        concurrency = lam.get_function_concurrency(FunctionName=name)
        concurrency.pop("ResponseMetadata")
        seen[f"{name} concurrency"] = concurrency
    for number in (1, 2):
        layer = lam.get_layer_version(LayerName="shared", VersionNumber=number)
        layer.pop("ResponseMetadata")
        links[f"layer:shared:{number}"] = layer["Content"].pop("Location")
        seen[f"layer {number}"] = layer
    seen["layer versions"] = lam.list_layer_versions(LayerName="shared")["LayerVersions"]
    seen["layers"] = lam.list_layers()["Layers"]
    seen["functions"] = lam.list_functions(FunctionVersion="ALL")["Functions"]
    settings = lam.get_account_settings()
    settings.pop("ResponseMetadata")
    seen["account"] = settings
    for qualifier in (None, "live"):
        config = lam.get_function_event_invoke_config(FunctionName="alpha", **({"Qualifier": qualifier} if qualifier else {}))
        config.pop("ResponseMetadata")
        seen[f"alpha event config {qualifier}"] = config
    seen["alpha recursion"] = lam.get_function_recursion_config(FunctionName="alpha")["RecursiveLoop"]
    seen["alpha policy"] = lam.get_policy(FunctionName="alpha")["Policy"]
    iam = server.client("iam")
    seen["role attached"] = iam.list_attached_role_policies(RoleName="restart-role")["AttachedPolicies"]
    seen["role inline"] = iam.get_role_policy(RoleName="restart-role", PolicyName="inline")["PolicyDocument"]
    seen["user attached"] = iam.list_attached_user_policies(UserName="operator")["AttachedPolicies"]
    seen["user inline"] = iam.get_user_policy(UserName="operator", PolicyName="own")["PolicyDocument"]
    return seen, links


def test_everything_survives_a_restart(tmp_path: Path):
    data_dir = tmp_path / "data"
    first = Server(data_dir).start()
    try:
        uploaded = build(first)
        before, links = observe(first)
    finally:
        first.stop()

    # What was built is what was observed (so the comparison below compares something).
    assert before["alpha"]["Tags"] == {"team": "platform", "cost-center": "42", "added": "later"}
    assert before["alpha"]["Concurrency"] == {"ReservedConcurrentExecutions": 7}
    assert before["alpha concurrency"] == {"ReservedConcurrentExecutions": 7}
    assert before["beta concurrency"] == {}
    assert [v["Version"] for v in before["alpha versions"]] == ["$LATEST", "1", "2"]
    assert [v["Version"] for v in before["beta versions"]] == ["$LATEST", "1"]
    assert [(a["Name"], a["FunctionVersion"], a.get("RoutingConfig")) for a in before["alpha aliases"]] == [
        ("head", "$LATEST", None),
        ("live", "1", {"AdditionalVersionWeights": {"2": 0.25}}),
    ]
    assert before["alpha:1"]["Configuration"]["Layers"][0]["Arn"].endswith(":layer:shared:1")
    assert before["alpha:$LATEST"]["Configuration"]["Layers"][0]["Arn"].endswith(":layer:shared:2")
    assert before["alpha:$LATEST"]["Configuration"]["Environment"] == {"Variables": {"STAGE": "test", "COLOR": "blue"}}
    assert before["alpha:live"]["Configuration"]["Version"] == "1"
    operator = tuple(uploaded.pop("operator key").decode().split(":"))
    assert set(links) == set(uploaded) | {"alpha:live", "alpha:head"}
    assert before["alpha event config None"]["MaximumRetryAttempts"] == 1
    assert before["alpha event config None"]["DestinationConfig"]["OnFailure"]["Destination"].endswith(":function:beta")
    assert before["alpha event config live"]["MaximumRetryAttempts"] == 0
    assert before["alpha recursion"] == "Allow"
    assert '"Sid":"from-partner"' in before["alpha policy"]
    assert [p["PolicyName"] for p in before["role attached"]] == ["AWSLambdaBasicExecutionRole"]
    assert [p["PolicyName"] for p in before["user attached"]] == ["invoke-alpha"]
    assert before["role inline"]["Statement"][0]["Action"] == "lambda:InvokeFunction"

    second = Server(data_dir).start()
    try:
        assert second.port != first.port
        after, new_links = observe(second)
        assert after == before
        for where, link in new_links.items():
            expected = uploaded[where] if where in uploaded else uploaded[{"alpha:live": "alpha:1", "alpha:head": "alpha:$LATEST"}[where]]
            assert download(link) == expected, where

        # Counters survive too: version 2 of beta was deleted, so the next one is 3.
        lam = second.client("lambda")
        lam.update_function_configuration(FunctionName="beta", MemorySize=384)
        settle(lam, "beta")
        assert lam.publish_version(FunctionName="beta")["Version"] == "3"
        layer = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": make_zip({"python/x.py": "X = 3\n"})})
        assert layer["Version"] == 3
        # The user's key and policies still hold: it may invoke alpha, and nothing else.
        as_operator = second.client("lambda", credentials=operator)
        assert as_operator.invoke(FunctionName="alpha")["Payload"].read() == b"2"
        try:
            as_operator.get_function(FunctionName="alpha")
        except as_operator.exceptions.ClientError as error:
            assert error.response["Error"]["Code"] == "AccessDeniedException"
        else:
            raise AssertionError("the operator may only invoke")
        # The role lives on as well: a new function can still be created with it.
        lam.create_function(
            FunctionName="gamma",
            Runtime="python3.13",
            Role="arn:aws:iam::000000000000:role/restart-role",
            Handler="app.handler",
            Code={"ZipFile": make_zip()},
        )
    finally:
        second.stop()
