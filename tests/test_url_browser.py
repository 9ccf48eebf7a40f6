"""Function URLs' CORS in a real browser: headless Chromium (Debian's `chromium`, driven by Playwright) loads a page
from one origin that fetch()es a function URL on another, by the URL's host name (`ID.lambda-url.REGION.localhost`,
which Chromium resolves to loopback).

The page is served by a plain HTTP server on 127.0.0.1; the same server reached as `localhost` is a second origin,
which the URL's Cors config does not allow. Each case asserts on the text the page shows, and saves a screenshot of
the page to `tests/artifacts/url_browser/CASE.png` (git-ignored; the directory is printed, so a CI log names it).

Hostile tenant: the function answers with CORS headers of its own that allow everything (`Access-Control-Allow-Origin:
*`, any header, any method). With a Cors config on the URL they must not widen it: a disallowed origin stays
refused, and a preflight for a header the config does not allow is refused (it never reaches the function).

Playwright's own browser builds are never used: the browser is the system's `chromium`. Without it (or without
Playwright) the tests are skipped on a laptop and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from support import Server, free_port, lambda_role, make_zip

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "url_browser"

HANDLER = r'''
def handler(event, context):
    headers = event["headers"]
    answer = {"content-type": "text/plain"}
    if (event.get("queryStringParameters") or {}).get("mode") == "hostile":
        # A tenant that tries to open its URL to every origin, header and method.
        answer.update({"access-control-allow-origin": "*", "access-control-allow-headers": "*",
                       "access-control-allow-methods": "*", "access-control-expose-headers": "*"})
    method = event["requestContext"]["http"]["method"]
    return {"statusCode": 200, "headers": answer,
            "body": f"hello from lambda: {method} x-custom={headers.get('x-custom', '-')} body={event.get('body') or '-'}"}
'''

#: The page: call(url, init) fetches and shows what came back, or the error the browser raised.
PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>function URL CORS</title></head>
<body style="font: 16px monospace">
<h1>fetch() from <span id="origin"></span></h1>
<p id="request">no request yet</p>
<pre id="result">waiting</pre>
<script>
document.getElementById("origin").textContent = location.origin;
async function call(url, init) {
  document.getElementById("request").textContent = (init.method || "GET") + " " + url + " " + JSON.stringify(init.headers || {});
  const out = document.getElementById("result");
  try {
    const response = await fetch(url, {...init, cache: "no-store"});
    out.textContent = "status " + response.status + ": " + await response.text();
  } catch (error) {
    out.textContent = "failed: " + error.name + ": " + error.message;
  }
  return out.textContent;
}
</script>
</body></html>
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *arguments) -> None:
        pass


@pytest.fixture(scope="module")
def page_port() -> Iterator[int]:
    """The page's HTTP server on 127.0.0.1, in a thread, for the module's tests."""
    pages = ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    thread = threading.Thread(target=pages.serve_forever, daemon=True)
    thread.start()
    yield pages.server_address[1]
    pages.shutdown()
    pages.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium under Playwright; skipped on a laptop without them, failed in CI."""
    executable = shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if executable is None or sync_playwright is None:
        missing = "Debian's chromium" if executable is None else "Playwright (the test extras)"
        (pytest.fail if os.environ.get("CI") else pytest.skip)(f"needs {missing}: run scripts/setup.sh test as root")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the function-URL CORS pages: {ARTIFACTS}")
    with sync_playwright() as playwright:
        # --no-sandbox: Chromium's own sandbox refuses to run as root, as CI does; the page is our own.
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def cors_url(server: Server, page_port: int) -> str:
    """A public (NONE) URL whose Cors config allows the page's 127.0.0.1 origin only."""
    lam = server.client("lambda")
    name = f"url-browser-{os.urandom(4).hex()}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=lambda_role(server, name),
                        Handler="app.handler", Code={"ZipFile": make_zip({"app.py": HANDLER})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    url = lam.create_function_url_config(
        FunctionName=name, AuthType="NONE",
        Cors={"AllowOrigins": [f"http://127.0.0.1:{page_port}"], "AllowMethods": ["GET", "POST", "PUT"],
              "AllowHeaders": ["x-custom", "content-type"], "MaxAge": 0},
    )["FunctionUrl"]
    # AuthType NONE: the resource policy must allow both actions to everyone (see the README's quick start).
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    lam.add_permission(FunctionName=name, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*",
                       InvokedViaFunctionUrl=True)
    assert ".lambda-url.us-east-1.localhost:" in url
    return url


def fetch_from(browser, origin: str, url: str, init: dict, case: str) -> str:
    """Load the page from `origin`, fetch `url` with `init` in it, screenshot it; the text the page shows."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(origin + "/")
        shown = page.evaluate("([url, init]) => call(url, init)", [url, init])
        assert page.text_content("#result") == shown
        page.screenshot(path=str(ARTIFACTS / f"{case}.png"), full_page=True)
        return shown
    finally:
        context.close()


def test_an_allowed_origin_reads_the_answer(browser, page_port, cors_url):
    shown = fetch_from(browser, f"http://127.0.0.1:{page_port}", cors_url + "hi", {}, "allowed_origin")
    assert shown == "status 200: hello from lambda: GET x-custom=- body=-"


def test_another_origin_is_refused_by_the_browser(browser, page_port, cors_url):
    shown = fetch_from(browser, f"http://localhost:{page_port}", cors_url + "hi", {}, "disallowed_origin")
    assert shown.startswith("failed: TypeError")


def test_a_preflighted_request_with_an_allowed_header_works(browser, page_port, cors_url):
    init = {"method": "PUT", "headers": {"X-Custom": "from-the-page", "Content-Type": "application/json"},
            "body": '{"n": 1}'}
    shown = fetch_from(browser, f"http://127.0.0.1:{page_port}", cors_url + "put", init, "preflight_allowed")
    assert shown == 'status 200: hello from lambda: PUT x-custom=from-the-page body={"n": 1}'


def test_a_preflight_for_a_header_not_allowed_fails(browser, page_port, cors_url):
    init = {"method": "PUT", "headers": {"X-Other": "nope"}, "body": "x"}
    shown = fetch_from(browser, f"http://127.0.0.1:{page_port}", cors_url + "put", init, "preflight_header_refused")
    assert shown.startswith("failed: TypeError")


def test_a_preflight_for_a_method_not_allowed_fails(browser, page_port, cors_url):
    shown = fetch_from(browser, f"http://127.0.0.1:{page_port}", cors_url + "gone", {"method": "DELETE"},
                       "preflight_method_refused")
    assert shown.startswith("failed: TypeError")


def test_the_functions_own_cors_headers_do_not_widen_the_config(browser, page_port, cors_url):
    """The function says `Access-Control-Allow-Origin: *` and allows every header: the URL's config still rules."""
    allowed, other = f"http://127.0.0.1:{page_port}", f"http://localhost:{page_port}"
    hostile = cors_url + "h?mode=hostile"
    assert fetch_from(browser, other, hostile, {}, "hostile_other_origin").startswith("failed: TypeError")
    refused = fetch_from(browser, allowed, hostile, {"method": "PUT", "headers": {"X-Other": "nope"}, "body": "x"},
                         "hostile_preflight_header")
    assert refused.startswith("failed: TypeError")
    # The allowed origin still reads the answer, with the config's headers rather than the function's.
    assert fetch_from(browser, allowed, hostile, {}, "hostile_allowed_origin") == (
        "status 200: hello from lambda: GET x-custom=- body=-"
    )
