"""Layers: PublishLayerVersion, Get/List/Delete, and resolving a function's layer ARNs.

Records, in the namespace "ACCOUNT:REGION":
- ``layer``          NAME               the layer's last version number (never reused)
- ``layer_version``  NAME/0000000003    the LayerVersion document, its archive key and unzipped size
- ``layer_policy``   NAME/0000000003    the version's resource-based policy (control/permissions.py)

A deleted layer version stays usable by the functions that already reference it, as on
AWS: each function version keeps the archive keys of its layers, so the blob lives on.
"""

from __future__ import annotations

import zipfile
from typing import Any

from lambdabox.control.catalog import namespace
from lambdabox.control.code_links import CodeLinks
from lambdabox.control.paging import page, with_marker
from lambdabox.model import package
from lambdabox.model.arns import Scope, layer_arn, parse_layer_name, parse_layer_version_arn
from lambdabox.model.errors import InvalidParameterValue, ResourceNotFound
from lambdabox.model.limits import MAX_LAYERS
from lambdabox.model.package_tree import Tree
from lambdabox.model.timestamps import lambda_time, now
from lambdabox.store.blobs import BlobStore
from lambdabox.store.records import RecordStore, Records

LAYER, LAYER_VERSION, LAYER_POLICY = "layer", "layer_version", "layer_policy"

_MISSING = "The resource you requested does not exist."


def version_key(name: str, version: int) -> str:
    return f"{name}/{version:010d}"


def resolve(records: Records, scope: Scope, arns: list[str]) -> list[dict[str, Any]]:
    """The layers a function references, in order: [{Arn, CodeSize, key, unzipped}], or AWS's error."""
    if len(arns) > MAX_LAYERS:
        raise InvalidParameterValue(f"Cannot reference more than {MAX_LAYERS} layers.")
    seen: dict[str, str] = {}
    resolved = []
    for arn in arns:
        ref = parse_layer_version_arn(arn)
        if ref is None:
            raise InvalidParameterValue(f"Layer version {arn} does not exist.")
        layer = arn.rsplit(":", 1)[0]
        if layer in seen:
            raise InvalidParameterValue(
                "Two different versions of the same layer are not allowed to be referenced in the same function. "
                f"{seen[layer]} and {arn} are versions of the same layer."
            )
        seen[layer] = arn
        if ref.scope.region != scope.region:
            raise InvalidParameterValue(
                f"Layers are not in the same region as the function. Layers are expected to be in region {scope.region}."
            )
        found = records.get(LAYER_VERSION, namespace(ref.scope), version_key(ref.name, ref.version))
        if found is None:
            raise InvalidParameterValue(f"Layer version {arn} does not exist.")
        resolved.append(
            {"Arn": arn, "CodeSize": found["info"]["Content"]["CodeSize"], "key": found["key"], "unzipped": found["unzipped"]}
        )
    return resolved


def check_merged(blobs: BlobStore, resolved: list[dict[str, Any]]) -> None:
    """Refuse, with InvalidParameterValueException, layers whose symlinks leave /opt once merged.

    Each layer's links were checked alone at publish, but /opt is the layers merged in order
    (a later entry replaces an earlier one), so a link of one layer can lead through a link
    of another: `a/up -> ..` in one and `x -> a/up/..` in the next each stay inside their
    own layer and together climb out of /opt. The merge itself never follows links
    (`store.unpacked`), so this check is the friendly error, not the only guard.
    """
    trees = []
    for origin, layer in enumerate(resolved):
        with zipfile.ZipFile(blobs.path(layer["key"])) as archive:
            try:
                trees.append(package.tree_of(archive, origin))
            except InvalidParameterValue as error:
                # A layer published before these checks existed.
                raise InvalidParameterValue(f"Layer version {layer['Arn']} cannot be used: {error.message}") from None
    if not any(next(tree.links(), None) for tree in trees):
        return
    problem = Tree.merged(trees).bad_link()
    if problem is not None:
        raise InvalidParameterValue(
            package.describe(
                problem,
                whose=f" of layer version {resolved[problem.origin]['Arn']}",
                where="/opt once the function's layers are merged in order",
            )
        )


def public_layers(layers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A function configuration's Layers member."""
    return [{"Arn": layer["Arn"], "CodeSize": layer["CodeSize"]} for layer in layers]


class Layers:
    def __init__(self, store: RecordStore, blobs: BlobStore, links: CodeLinks) -> None:
        self._store = store
        self._blobs = blobs
        self._links = links

    def publish(self, scope: Scope, request: dict[str, Any], base_url: str) -> dict[str, Any]:
        scope, name = parse_layer_name(request["LayerName"], scope)
        content = request["Content"]
        if content.get("S3Bucket") or content.get("S3Key"):
            raise InvalidParameterValue("Lambdabox does not read code from Amazon S3: send the archive as Content.ZipFile.")
        data = content.get("ZipFile")
        if not data:
            raise InvalidParameterValue("Please provide a source for layer content.")
        info = package.inspect(data)
        with self._store.transaction() as records:
            layer = records.get(LAYER, namespace(scope), name) or {"LayerName": name, "last_version": 0}
            number = layer["last_version"] + 1
            layer["last_version"] = number
            body = {
                "Content": {"CodeSha256": info.code_sha256, "CodeSize": info.size},
                "LayerArn": layer_arn(scope, name),
                "LayerVersionArn": layer_arn(scope, name, number),
                "Description": request.get("Description", ""),
                "CreatedDate": lambda_time(now()),
                "Version": number,
                "CompatibleRuntimes": request.get("CompatibleRuntimes", []),
                "CompatibleArchitectures": request.get("CompatibleArchitectures", []),
            }
            if "LicenseInfo" in request:
                body["LicenseInfo"] = request["LicenseInfo"]
            key = self._blobs.put(data)
            records.put(LAYER, namespace(scope), name, layer)
            records.put(
                LAYER_VERSION,
                namespace(scope),
                version_key(name, number),
                {"info": body, "key": key, "unzipped": info.unzipped_size},
                blobs=[key],
            )
        return self._with_location(body, key, base_url)

    def get(self, scope: Scope, layer_name: str, number: int, base_url: str) -> dict[str, Any]:
        scope, name = parse_layer_name(layer_name, scope)
        if number < 1:
            raise InvalidParameterValue("Layer Version Cannot be less than 1")
        with self._store.reading() as records:
            found = records.get(LAYER_VERSION, namespace(scope), version_key(name, number))
        if found is None:
            raise ResourceNotFound(_MISSING)
        return self._with_location(found["info"], found["key"], base_url)

    def get_by_arn(self, scope: Scope, arn: str, base_url: str) -> dict[str, Any]:
        ref = parse_layer_version_arn(arn)
        if ref is None:
            raise ResourceNotFound(_MISSING)
        return self.get(ref.scope if ref.scope.region == scope.region else scope, ref.name, ref.version, base_url)

    def delete(self, scope: Scope, layer_name: str, number: int) -> None:
        """Idempotent, as on AWS: deleting what is not there succeeds."""
        scope, name = parse_layer_name(layer_name, scope)
        if number < 1:
            raise InvalidParameterValue("Layer Version Cannot be less than 1")
        with self._store.transaction() as records:
            records.delete(LAYER_VERSION, namespace(scope), version_key(name, number))
            records.delete(LAYER_POLICY, namespace(scope), version_key(name, number))

    def list_versions(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        scope, name = parse_layer_name(request["LayerName"], scope)
        with self._store.reading() as records:
            found = [body["info"] for _, body in records.scan(LAYER_VERSION, namespace(scope), prefix=f"{name}/")]
        found = [info for info in reversed(found) if _compatible(info, request)]
        chosen, marker = page(found, lambda info: f"{10**10 - info['Version']:010d}", request.get("Marker"), request.get("MaxItems"))
        return with_marker({"LayerVersions": [_summary(info) for info in chosen]}, marker)

    def list_layers(self, scope: Scope, request: dict[str, Any]) -> dict[str, Any]:
        with self._store.reading() as records:
            versions = records.scan(LAYER_VERSION, namespace(scope))
        latest: dict[str, dict[str, Any]] = {}
        for key, body in versions:
            if _compatible(body["info"], request):
                latest[key.split("/")[0]] = body["info"]
        layers = [
            {"LayerName": name, "LayerArn": info["LayerArn"], "LatestMatchingVersion": _summary(info)}
            for name, info in sorted(latest.items())
        ]
        chosen, marker = page(layers, lambda layer: layer["LayerName"], request.get("Marker"), request.get("MaxItems"))
        return with_marker({"Layers": chosen}, marker)

    def _with_location(self, info: dict[str, Any], key: str, base_url: str) -> dict[str, Any]:
        return {**info, "Content": {**info["Content"], "Location": self._links.url(base_url, key)}}


def _compatible(info: dict[str, Any], request: dict[str, Any]) -> bool:
    runtime = request.get("CompatibleRuntime")
    architecture = request.get("CompatibleArchitecture")
    if runtime and runtime not in info.get("CompatibleRuntimes", []):
        return False
    return not architecture or architecture in info.get("CompatibleArchitectures", [])


def _summary(info: dict[str, Any]) -> dict[str, Any]:
    """A LayerVersionsListItem: the version without its Content."""
    return {key: value for key, value in info.items() if key not in ("Content", "LayerArn")}
