"""`lambdabox layers publish NAME PATH` / `layers list [NAME]`: layer versions, made from a directory or a zip."""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from lambdabox.cli.client import add_endpoint_options, client
from lambdabox.cli.package import IGNORE_FILE, package
from lambdabox.cli.progress import bars


def register(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("layers", help="publish and list layers", description="Publish and list layer versions.")
    actions = command.add_subparsers(dest="action", required=True, metavar="ACTION")
    publish = actions.add_parser(
        "publish",
        help="publish a new version of a layer from a directory or a zip",
        description="Publish a new version of layer NAME. A directory is zipped as `deploy` zips one (honouring "
        f"{IGNORE_FILE}); it should hold what the runtime looks for, e.g. python/ or nodejs/node_modules/. "
        "A .zip file is uploaded as it is.",
    )
    publish.add_argument("name", help="layer name")
    publish.add_argument("path", type=Path, metavar="PATH", help="a directory, or a .zip file")
    publish.add_argument("--runtime", action="append", default=[], metavar="RUNTIME",
                         help="a compatible runtime, e.g. python3.12; repeatable")
    publish.add_argument("--description", help="the version's description")
    add_endpoint_options(publish)
    publish.set_defaults(run=run_publish)
    listing = actions.add_parser(
        "list", help="the layers, or one layer's versions",
        description="List the layers with their latest version, or with NAME, that layer's versions.",
    )
    listing.add_argument("name", nargs="?", help="list this layer's versions")
    add_endpoint_options(listing)
    listing.set_defaults(run=run_list)


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def run_publish(arguments: argparse.Namespace) -> int:
    path: Path = arguments.path
    with bars() as shown:
        if path.is_dir():
            packaged = package(path, shown.step("zipping"))
            content = packaged.zip
            files = f"{packaged.files} file{'' if packaged.files == 1 else 's'}"
            print(f"zipped {files} ({len(content)} bytes); uploading", file=sys.stderr, flush=True)
        elif path.is_file() and zipfile.is_zipfile(path):
            content = path.read_bytes()
        else:
            print(f"lambdabox layers: {path} is neither a directory nor a zip file", file=sys.stderr)
            return 2
        request: dict = {"LayerName": arguments.name, "Content": {"ZipFile": content}}
        if arguments.runtime:
            request["CompatibleRuntimes"] = arguments.runtime
        if arguments.description is not None:
            request["Description"] = arguments.description
        lam = client("lambda", arguments)
        shown.follow_uploads(lam)
        published = lam.publish_layer_version(**request)
    print(f"published {published['LayerVersionArn']} ({published['Content']['CodeSize']} bytes)")
    return 0


def run_list(arguments: argparse.Namespace) -> int:
    lam = client("lambda", arguments)
    if arguments.name:
        versions = [
            version for page in lam.get_paginator("list_layer_versions").paginate(LayerName=arguments.name)
            for version in page["LayerVersions"]
        ]
        if not versions:
            # ListLayerVersions answers an unknown layer with no versions; say so, as for an unknown function.
            print(f"lambdabox layers: no layer {arguments.name}", file=sys.stderr)
            return 1
        rows = [["VERSION", "RUNTIMES", "CREATED", "ARN"]]
        rows += [[str(v["Version"]), ",".join(v.get("CompatibleRuntimes", [])) or "-", v["CreatedDate"], v["LayerVersionArn"]]
                 for v in versions]
    else:
        layers = [layer for page in lam.get_paginator("list_layers").paginate() for layer in page["Layers"]]
        rows = [["NAME", "LATEST", "RUNTIMES", "ARN"]]
        for layer in layers:
            latest = layer["LatestMatchingVersion"]
            rows.append([layer["LayerName"], str(latest["Version"]), ",".join(latest.get("CompatibleRuntimes", [])) or "-",
                         latest["LayerVersionArn"]])
    print(_table(rows))
    return 0
