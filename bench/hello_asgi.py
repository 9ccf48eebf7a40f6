"""The baseline of the warm-throughput benchmark: a bare ASGI hello world on Lambdabox's HTTP stack.

Run as `python bench/hello_asgi.py PORT`. It is served exactly as `lambdabox server` serves
the API (see lambdabox.cli.server.run): `uvicorn.run` on 127.0.0.1 with log_level="info" and
access_log=False, everything else uvicorn's default. It answers every request with the body a
hello-world function returns, so the same client and the same request bytes drive both.
"""

from __future__ import annotations

import sys

#: The hello-world function's response body, byte for byte.
BODY = b'{"hello": "world"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    # Read the request body to its end, as the API does before invoking.
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import uvicorn

    print(f"hello-world ASGI app listening on http://127.0.0.1:{sys.argv[1]}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info", access_log=False)
