"""Cold start and warm latency of hello-world functions, measured at the client through boto3.

Cold start: the first invoke of a new environment. Each run changes the function's
configuration, which retires the warm environment, so the next invoke starts a new one.
Beside it, the same handler run by `python3 -c` in a fresh interpreter: what a process per
cold start would cost; and a handler that imports the runtime's boto3 in INIT, as most real ones do. Warm: sequential invokes of an environment that is already up.
"""

from __future__ import annotations

import base64
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

from bench import deploy
from bench.stats import summary
from bench.suite import Context, Outcome, Row
from lambdabox.runtime.catalog import RuntimeCatalog

NODE_HELLO = "exports.handler = async () => ({hello: 'world'});\n"
#: A handler that uses the runtime's own AWS SDK, as most real Python functions do: it imports boto3 in INIT.
BOTO3_HELLO = "import boto3\n\ndef handler(event, context):\n    return {'boto3': boto3.__version__}\n"
#: The same, making a client in INIT too, as most do (botocore loads the service's model then).
BOTO3_CLIENT = "import boto3\nlam = boto3.client('lambda')\n\ndef handler(event, context):\n    return {'boto3': boto3.__version__}\n"


def run(context: Context) -> Outcome:
    lam, role, profile = context.lam, context.role, context.profile
    with ExitStack() as stack:
        # 128 MB gets 0.072 vCPU once INIT is over, as on Lambda; 1769 MB gets one full vCPU.
        python = stack.enter_context(deploy.function(lam, role, "python", deploy.package(deploy.HELLO)))
        python_1vcpu = stack.enter_context(
            deploy.function(lam, role, "python_1vcpu", deploy.package(deploy.HELLO), memory_mb=deploy.ONE_VCPU_MB)
        )
        python_boto3 = stack.enter_context(deploy.function(lam, role, "python_boto3", deploy.package(BOTO3_HELLO)))
        python_client = stack.enter_context(deploy.function(lam, role, "python_client", deploy.package(BOTO3_CLIENT)))
        nodejs = stack.enter_context(
            deploy.function(lam, role, "nodejs", deploy.package(NODE_HELLO, "index.js"), "nodejs20.x", "index.handler")
        )
        results = {
            "cold_start_python_128mb": summary(cold_starts(lam, python, profile.cold_runs)),
            "cold_start_python_1769mb": summary(cold_starts(lam, python_1vcpu, profile.cold_runs)),
            "cold_start_python_boto3_128mb": summary(cold_starts(lam, python_boto3, profile.cold_runs)),
            "cold_start_python_boto3_client_128mb": summary(cold_starts(lam, python_client, profile.cold_runs)),
            "cold_start_nodejs_128mb": summary(cold_starts(lam, nodejs, profile.cold_runs)),
            "python3_c_same_handler": summary(fresh_interpreter(profile.cold_runs)),
            "warm_invoke_python_128mb": summary(warm_invokes(lam, python, profile.warm_runs)),
            "warm_invoke_python_1769mb": summary(warm_invokes(lam, python_1vcpu, profile.warm_runs)),
        }
    ratio = round(results["cold_start_python_128mb"]["median_ms"] / results["python3_c_same_handler"]["median_ms"], 2)
    results["cold_start_vs_python3_c"] = ratio
    rows = [Row(name, "ms", value["median_ms"], value["p99_ms"], value["n"]) for name, value in results.items() if isinstance(value, dict)]
    boto3_ratio = round(
        results["cold_start_python_boto3_128mb"]["median_ms"] / results["cold_start_python_128mb"]["median_ms"], 2
    )
    results["cold_start_boto3_vs_hello"] = boto3_ratio
    notes = [f"cold start (python, 128 MB) / python3 -c: {ratio}x", f"cold start importing boto3 / hello: {boto3_ratio}x"]
    return Outcome(results, rows, notes)


def cold_starts(lam, name: str, runs: int) -> list[float]:
    samples = []
    for run in range(runs):
        lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"RUN": str(run)}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400})
        began = time.perf_counter()
        answer = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
        answer["Payload"].read()
        samples.append((time.perf_counter() - began) * 1000)
        # A sample counts only if it succeeded and was really cold: its REPORT line has an Init Duration.
        succeeded(answer, name)
        if "Init Duration: " not in base64.b64decode(answer["LogResult"]).decode(errors="replace"):
            raise RuntimeError(f"{name}: a 'cold' invoke reused a warm environment (no Init Duration)")
    return samples


def succeeded(answer: dict, name: str) -> None:
    """Raise unless the invoke ran the function without error."""
    if answer.get("FunctionError") or answer["StatusCode"] != 200:
        raise RuntimeError(f"{name}: invoke failed ({answer.get('FunctionError')}, status {answer['StatusCode']})")


def warm_invokes(lam, name: str, runs: int) -> list[float]:
    lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        answer = lam.invoke(FunctionName=name, Payload=b"{}")
        answer["Payload"].read()
        samples.append((time.perf_counter() - began) * 1000)
        succeeded(answer, name)
    return samples


def fresh_interpreter(runs: int) -> list[float]:
    code = deploy.HELLO + "import json; print(json.dumps(handler({}, None)))"
    # The very interpreter Lambdabox runs python3.12 functions with.
    interpreter = RuntimeCatalog().launch("python3.12", Path("/")).argv[0]
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([interpreter, "-c", code], check=True, capture_output=True)
        samples.append((time.perf_counter() - began) * 1000)
    return samples
