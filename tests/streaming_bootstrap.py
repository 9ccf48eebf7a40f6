#!/usr/bin/python3
"""A custom runtime (provided.*) that streams its response as the event says; the tests' hostile tenant.

Event keys: "chunks" (strings, sent one chunk each), "sleep" (seconds between chunks), "prelude" (a JSON
object, sent as a function URL's prelude with its 8 NUL bytes), "raw_prelude" (bytes as latin-1, sent as
is after the content type of a prelude), "error" ([type, base64 body] trailers), "forever" (stream 64 KB
chunks until cut), "tiny" (that many 1-byte chunks), "stall" (sleep that long mid-stream), "buffered"
(post the chunks joined as a plain response), "content_type", "stamped" (that many JSON lines {"at": the time it was sent}), "blocks" (that many 64 KB chunks). Through a function URL, the request's body holds the event.
"""
import base64
import http.client
import json
import os
import time

HOST, PORT = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
BASE = "/2018-06-01/runtime/invocation/"
PRELUDE_TYPE = "application/vnd.awslambda.http-integration-response"


def next_event():
    connection = http.client.HTTPConnection(HOST, int(PORT))
    connection.request("GET", BASE + "next")
    answer = connection.getresponse()
    event = json.loads(answer.read())
    if isinstance(event, dict) and "requestContext" in event:
        # A function URL's event: the instructions are its body.
        body = event.get("body") or "{}"
        event = json.loads(base64.b64decode(body) if event.get("isBase64Encoded") else body)
    request_id = answer.getheader("Lambda-Runtime-Aws-Request-Id")
    connection.close()
    return request_id, event


def serve(request_id, event):
    chunks = [piece.encode() for piece in event.get("chunks", [])]
    if event.get("buffered"):
        connection = http.client.HTTPConnection(HOST, int(PORT))
        connection.request("POST", BASE + request_id + "/response", body=b"".join(chunks))
        connection.getresponse().read()
        return
    connection = http.client.HTTPConnection(HOST, int(PORT))
    connection.putrequest("POST", BASE + request_id + "/response")
    connection.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    connection.putheader("Transfer-Encoding", "chunked")
    content_type = event.get("content_type", "application/octet-stream")
    if "prelude" in event or "raw_prelude" in event:
        content_type = PRELUDE_TYPE
    connection.putheader("Content-Type", content_type)
    connection.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    connection.endheaders()

    def send(data):
        connection.send(b"%x\r\n" % len(data) + data + b"\r\n")

    try:
        if "prelude" in event:
            send(json.dumps(event["prelude"]).encode() + b"\0" * 8)
        if "raw_prelude" in event:
            send(event["raw_prelude"].encode("latin-1"))
        for piece in chunks:
            send(piece)
            time.sleep(event.get("sleep", 0))
        for _ in range(event.get("stamped", 0)):
            # The wall clock is the host's too: the tests compare it with when each line reached them.
            send(json.dumps({"at": time.time()}).encode() + b"\n")
            time.sleep(event.get("sleep", 0))
        for _ in range(event.get("tiny", 0)):
            send(b"y")
        if event.get("stall"):
            time.sleep(event["stall"])
        for _ in range(event.get("blocks", 0)):
            send(b"b" * 65536)
        if event.get("forever"):
            block = b"f" * 65536
            while True:
                send(block)
        trailers = b""
        if "error" in event:
            error_type, body = event["error"]
            trailers = b"Lambda-Runtime-Function-Error-Type: %s\r\nLambda-Runtime-Function-Error-Body: %s\r\n" % (
                error_type.encode(), body.encode())
        connection.send(b"0\r\n" + trailers + b"\r\n")
        connection.getresponse().read()
    except (BrokenPipeError, ConnectionResetError):
        pass  # cut by the server
    connection.close()


while True:
    serve(*next_event())
