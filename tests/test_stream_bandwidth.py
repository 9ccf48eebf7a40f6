"""A streamed response's bandwidth, as Lambda paces it: its first 6 MB at once, the rest at the server's
--stream-bandwidth (Lambda's 2 MiB/s by default). The tests' shared server runs uncapped, so that the 200 MB
limit tests take seconds; this server keeps a cap.

The figures asserted are lower bounds only (a cap can make a stream slower, never faster), so a slow host
cannot fail them."""

from __future__ import annotations

import time

import pytest

from support import Server, lambda_role
from test_response_streaming import BOOTSTRAP, read_stream
from test_runtimes import executable_zip

#: The capped server's bandwidth past the first 6 MB, in MiB a second.
CAP_MIB_S = 4

#: 64 KB blocks in 6 MiB: the part a stream sends uncapped.
UNCAPPED_BLOCKS = 96


@pytest.fixture(scope="module")
def capped(tmp_path_factory) -> Server:
    running = Server(tmp_path_factory.mktemp("capped") / "data", extra_args=["--stream-bandwidth", str(CAP_MIB_S)])
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def streamer(capped: Server) -> tuple:
    lam = capped.client("lambda")
    name = "bandwidth"
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Role=lambda_role(capped, "bandwidth-role"),
                        Handler="stream.handler", Timeout=30, MemorySize=1024,
                        Code={"ZipFile": executable_zip({"bootstrap": BOOTSTRAP}, {"bootstrap"})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2})
    return lam, name


def test_past_its_first_6_mb_a_stream_goes_at_the_cap(streamer):
    lam, name = streamer
    started = time.monotonic()
    _, chunks, complete = read_stream(lam, name, {"blocks": UNCAPPED_BLOCKS + 128})  # 6 MiB + 8 MiB
    took = time.monotonic() - started
    assert complete == {} and sum(len(chunk) for _, chunk in chunks) == (UNCAPPED_BLOCKS + 128) * 65536
    # 8 MiB past the uncapped part at 4 MiB/s: at least 2 s (less a block's worth of slack).
    assert took >= 8 / CAP_MIB_S - 0.1, f"14 MiB streamed in {took:.2f} s"
    # The uncapped part came at once: the 8 MiB after it took most of the time.
    uncapped_bytes = 0
    for arrived, chunk in chunks:
        uncapped_bytes += len(chunk)
        if uncapped_bytes >= UNCAPPED_BLOCKS * 65536:
            assert chunks[-1][0] - arrived >= 8 / CAP_MIB_S - 0.1
            break


def test_the_server_refuses_a_bandwidth_that_is_not_a_number(tmp_path):
    import subprocess
    import sys

    answer = subprocess.run([sys.executable, "-m", "lambdabox", "server", "--data-dir", str(tmp_path),
                             "--stream-bandwidth", "fast"], capture_output=True, text=True, timeout=60)
    assert answer.returncode != 0 and "--stream-bandwidth takes a positive number, not 'fast'" in answer.stderr
