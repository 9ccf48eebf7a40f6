"""Lambda's package limits at their edges, and the package types Lambdabox refuses, through a real server.

50 MB zipped (52,428,800 bytes) for a ZipFile upload, 262,144,000 bytes unzipped for the code and all its
layers together; code from S3 and container images are refused plainly until they exist. Each refusal
leaves nothing behind.
"""

from __future__ import annotations

import io
import os
import zipfile

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from support import make_zip

ZIPPED_LIMIT = 52_428_800
UNZIPPED_LIMIT = 262_144_000


def error_of(raised) -> tuple[int, str, str]:
    response = raised.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def stored_zip(files: dict[str, bytes]) -> bytes:
    """A zip that stores its files as they are: its size is theirs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def zeros_zip(name: str, size: int, extra: dict[str, str] | None = None) -> bytes:
    """A small zip that unpacks to `size` bytes of zeros (and `extra` files)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for extra_name, content in (extra or {}).items():
            archive.writestr(extra_name, content)
        with archive.open(name, "w", force_zip64=True) as entry:
            block = bytes(1 << 20)
            for _ in range(size >> 20):
                entry.write(block)
            entry.write(bytes(size % (1 << 20)))
    return buffer.getvalue()


@pytest.fixture
def patient_lam(server):
    """A client that waits long enough to upload tens of megabytes."""
    return server.client("lambda", config=Config(read_timeout=120))


def test_a_zip_over_50_mb_is_too_large_and_creates_nothing(patient_lam, role, unique):
    package = stored_zip({"app.py": b"def handler(e, c):\n    return 1\n", "blob.bin": os.urandom(ZIPPED_LIMIT - 1000)})
    package += b"\0" * (ZIPPED_LIMIT + 1 - len(package))  # a zip may carry trailing bytes; this one is 1 byte over
    assert len(package) == ZIPPED_LIMIT + 1
    name = unique("big")
    with pytest.raises(ClientError) as raised:
        patient_lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler",
                                    Code={"ZipFile": package})
    assert error_of(raised) == (413, "RequestEntityTooLargeException", f"Zipped size must be smaller than {ZIPPED_LIMIT} bytes")
    with pytest.raises(ClientError) as missing:
        patient_lam.get_function(FunctionName=name)
    assert error_of(missing)[:2] == (404, "ResourceNotFoundException")


def test_a_zip_just_under_50_mb_is_taken(patient_lam, role, unique):
    package = stored_zip({"app.py": b"def handler(e, c):\n    return 1\n", "blob.bin": os.urandom(ZIPPED_LIMIT - 2000)})
    assert len(package) <= ZIPPED_LIMIT
    created = patient_lam.create_function(FunctionName=unique("edge"), Runtime="python3.12", Role=role,
                                          Handler="app.handler", Code={"ZipFile": package})
    assert created["CodeSize"] == len(package)


def test_code_and_layers_over_the_unzipped_limit_are_refused_and_change_nothing(lam, create_function, unique):
    third = UNZIPPED_LIMIT // 3
    layers = [
        lam.publish_layer_version(LayerName=unique("heavy"), Content={"ZipFile": zeros_zip("data.bin", third)})
        for _ in range(2)
    ]
    arns = [layer["LayerVersionArn"] for layer in layers]
    assert all(layer["Content"]["CodeSize"] < 1_000_000 for layer in layers)  # small zips, large trees
    code = zeros_zip("blob.bin", third + 1000, {"app.py": "def handler(e, c):\n    return 1\n"})
    unzipped = third + 1000 + len("def handler(e, c):\n    return 1\n")
    total = unzipped + 2 * third
    expected = (
        f"Function code combined with layers exceeds the maximum allowed size of {UNZIPPED_LIMIT} bytes. "
        f"The actual size is {total} bytes."
    )

    # At create: refused, nothing made.
    name = unique("heavy-fn")
    with pytest.raises(ClientError) as raised:
        create_function(FunctionName=name, Code={"ZipFile": code}, Layers=arns)
    assert error_of(raised) == (400, "InvalidParameterValueException", expected)
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[:2] == (404, "ResourceNotFoundException")

    # Adding the layers to a function whose own code is large: refused, its configuration unchanged.
    create_function(FunctionName=name, Code={"ZipFile": code}, Layers=arns[:1])
    before = lam.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as raised:
        lam.update_function_configuration(FunctionName=name, Layers=arns)
    assert error_of(raised) == (400, "InvalidParameterValueException", expected)
    after = lam.get_function_configuration(FunctionName=name)
    assert [layer["Arn"] for layer in after["Layers"]] == arns[:1]
    assert after["RevisionId"] == before["RevisionId"]


@pytest.mark.parametrize(
    "code, message",
    [
        ({"S3Bucket": "my-bucket", "S3Key": "code.zip"},
         "Lambdabox does not read code from Amazon S3: send the package as ZipFile."),
        ({"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"},
         "Please don't provide ImageUri when updating a function with packageType Zip."),
    ],
)
def test_code_from_s3_and_images_are_refused_plainly(lam, role, unique, code, message):
    name = unique("elsewhere")
    with pytest.raises(ClientError) as raised:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=role, Handler="app.handler", Code=code)
    assert error_of(raised) == (400, "InvalidParameterValueException", message)
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[:2] == (404, "ResourceNotFoundException")


def test_an_image_package_type_is_refused(lam, role, unique):
    name = unique("image")
    with pytest.raises(ClientError) as raised:
        lam.create_function(FunctionName=name, Role=role, PackageType="Image",
                            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"})
    status, code, message = error_of(raised)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert "image" in message.lower(), message
    with pytest.raises(ClientError) as missing:
        lam.get_function(FunctionName=name)
    assert error_of(missing)[:2] == (404, "ResourceNotFoundException")
