"""Code.Location links expire, as AWS's presigned URLs do after ten minutes: a link whose time has passed is
refused even though its signature is the server's own."""

from __future__ import annotations

import time
import urllib.error
import urllib.parse
import urllib.request
from unittest import mock

import pytest

from lambdabox.control.code_links import LINK_LIFETIME_S, CodeLinks, load_secret


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_an_expired_link_is_refused_though_its_signature_is_good(server, lam, create_function):
    name = create_function()["FunctionName"]
    location = lam.get_function(FunctionName=name)["Code"]["Location"]
    assert fetch(location)[0] == 200
    parsed = urllib.parse.urlparse(location)
    expires = int(urllib.parse.parse_qs(parsed.query)["expires"][0])
    assert LINK_LIFETIME_S - 60 <= expires - time.time() <= LINK_LIFETIME_S  # ten minutes, as on AWS

    # The same archive's link, signed with the server's own secret, as it was issued eleven minutes ago.
    links = CodeLinks(load_secret(server.data_dir / "link-secret"))
    key = parsed.path.rsplit("/", 1)[1]
    base = f"{parsed.scheme}://{parsed.netloc}"
    with mock.patch("time.time", return_value=time.time() - LINK_LIFETIME_S - 60):
        old = links.url(base, key)
    with mock.patch("time.time", return_value=time.time() - 60):
        recent = links.url(base, key)
    assert fetch(recent)[0] == 200  # the signing here is the server's (so the refusal below is the expiry's)
    status, body = fetch(old)
    assert status == 403
    assert body == b"Request has expired or its signature does not match."


@pytest.mark.parametrize("expires", ["", "-1", "9" * 40, "1e10", "nan"])
def test_malformed_expiries_are_refused(server, lam, create_function, expires):
    location = lam.get_function(FunctionName=create_function()["FunctionName"])["Code"]["Location"]
    forged = location.replace("expires=", f"expires={expires}&was=", 1)
    assert fetch(forged)[0] == 403
