"""Density: the memory each idle warm hello-world Python environment costs, and how many fit.

N concurrent invokes of a function that holds its environment for a second make the server
start N environments (none is free while the others run); once answered they sit idle and
frozen. Then, per environment, the PSS and RSS of the processes in its cgroup (from
/proc/<pid>/smaps_rollup) and the memory the kernel charges to the cgroup.

For the whole host, MemTotal - MemAvailable is read before the burst (t0), with the N idle
environments (t1), and after deleting the function has destroyed them (t2). Its growth and its
release, divided by N, also count what PSS cannot see: kernel memory for namespaces, mounts,
page tables and sockets, and the server's own bookkeeping. Other work on a shared host drifts
this figure, so the growth g = D + r(t1 - t0) and the release l = D - r(t2 - t1) are combined
to cancel a steady drift r: D = (g(t2 - t1) + l(t1 - t0)) / (t2 - t0).

Environments per host is an *extrapolation*: the memory available before the burst divided by
D, or by the median PSS where that is larger (an environment cannot cost the host less than its
own pages; a smaller D means other work on the host moved in steps the correction cannot
follow), or by the PSS alone where the drift is more than half the environments' own memory and
D is noise. It assumes the cost stays linear and nothing else (CPU, PIDs, file descriptors) runs
out first.
"""

from __future__ import annotations

import json
import time

from bench import deploy, sandboxes
from bench.loadgen import Target, burst
from bench.stats import percentile
from bench.suite import Context, Outcome, Row

#: How long each invoke holds its environment, in seconds: longer than it takes the whole burst to arrive.
HOLD_S = 1.0
#: Pause before each reading of /proc/meminfo, in seconds: the kernel folds its per-CPU counters
#: into those figures only every vm.stat_interval (1 s by default), and environments are frozen
#: and returned to the idle set just after their invoke is answered.
SETTLE_S = 1.5
#: Drift over the measurement, as a fraction of the environments' own PSS, past which the host delta is noise.
DROWNED_FRACTION = 0.5
#: How long to wait for the environments of earlier benchmarks to be destroyed, in seconds.
QUIET_TIMEOUT_S = 20.0
MIB = 1024 * 1024


def run(context: Context) -> Outcome:
    server, count = context.server, context.profile.density
    with deploy.function(context.lam, context.role, "density", deploy.package(deploy.SLEEPER)) as name:
        leftover = _quiet(server.pid)
        time.sleep(SETTLE_S)
        t0, (used_before, available_before) = time.monotonic(), sandboxes.memory_in_use()
        server_before = sandboxes.footprint([server.pid])
        _, answers = burst(Target("127.0.0.1", server.port, name, credentials=server.root()), [json.dumps({"sleep": HOLD_S}).encode()] * count)
        time.sleep(SETTLE_S)
        t1, (used_idle, _) = time.monotonic(), sandboxes.memory_in_use()
        server_after = sandboxes.footprint([server.pid])
        groups = sandboxes.environments(server.pid, f"{name}-")
        footprints = [sandboxes.footprint(sandboxes.pids(group)) for group in groups.values()]
        charges = [sandboxes.charged(group) for group in groups.values()]
    # Deleting the function destroyed its environments.
    _quiet(server.pid)
    time.sleep(SETTLE_S)
    t2, (used_after, _) = time.monotonic(), sandboxes.memory_in_use()
    streams = {json.loads(answer.body)["stream"] for answer in answers if answer.ok}
    failed = [answer for answer in answers if not answer.ok]
    created = len(groups) or len(streams)
    growth, release = used_idle - used_before, used_idle - used_after
    host_per_env = (growth * (t2 - t1) + release * (t1 - t0)) / (t2 - t0) / created if created else 0.0

    pss_median = percentile([footprint.pss for footprint in footprints], 0.5) if footprints else 0
    charged_median = percentile(charges, 0.5) if charges else 0
    # An environment's own memory, firmly measured: the larger of its PSS and what its cgroup is charged.
    own = max(pss_median, charged_median)
    # g - l is the drift over the whole measurement; past half the signal, D is noise.
    drowned = bool(own) and abs(growth - release) > DROWNED_FRACTION * own * created
    firm = "PSS" if pss_median >= charged_median else "cgroup charge"
    if drowned:
        basis = f"{firm} (host delta drowned by other work)"
    else:
        basis = "host delta" if host_per_env >= own else f"{firm}, above the host delta"
    per_env = own if drowned else max(host_per_env, own)

    def mib(value: float) -> float:
        return round(value / MIB, 2)

    def median_p99(values: list[int]) -> dict[str, float]:
        return {"median_mib": mib(percentile(values, 0.5)), "p99_mib": mib(percentile(values, 0.99))} if values else {}

    results = {
        "requested": count,
        "environments": len(groups),
        "distinct_log_streams": len(streams),
        "failed_invokes": len(failed),
        "pss_per_env": median_p99([footprint.pss for footprint in footprints]),
        "rss_per_env": median_p99([footprint.rss for footprint in footprints]),
        "cgroup_charged_per_env": median_p99(charges),
        "host_memory_delta_per_env_mib": mib(host_per_env),
        "host_memory_growth_per_env_mib": mib(growth / created) if created else 0.0,
        "host_memory_release_per_env_mib": mib(release / created) if created else 0.0,
        # How fast the rest of the host's memory use moved meanwhile: r = (g - l) / (t2 - t0).
        "host_drift_mib_per_s": round((growth - release) / (t2 - t0) / MIB, 1),
        "server_rss_delta_per_env_kib": round((server_after.rss - server_before.rss) / created / 1024, 1) if created else 0.0,
        "host_memory_available_before_mib": mib(available_before),
        "extrapolated_from_mib_per_env": mib(per_env),
        "extrapolated_from": basis,
        "extrapolated_envs_per_host": int(available_before // per_env) if per_env > 0 else None,
        "own_memory_per_env_mib": mib(own),
        "extrapolated_envs_per_host_by_own_memory": int(available_before // own) if own else None,
        "leftover_environments_of_earlier_benchmarks": leftover,
    }
    rows = [
        Row("density_measured_environments", "envs", len(groups) or len(streams)),
        _row("density_pss_per_env", results["pss_per_env"], len(footprints)),
        _row("density_rss_per_env", results["rss_per_env"], len(footprints)),
        _row("density_cgroup_charged_per_env", results["cgroup_charged_per_env"], len(charges)),
        Row("density_host_delta_per_env (drift-corrected)", "MiB", results["host_memory_delta_per_env_mib"], n=created),
        Row("density_own_memory_per_env (max PSS, cgroup)", "MiB", results["own_memory_per_env_mib"], n=len(footprints)),
        Row("density_envs_per_host (extrapolated estimate)", "envs", results["extrapolated_envs_per_host"] or 0),
    ]
    notes = [
        f"density: {len(groups)} idle environments measured ({count} requested, {len(streams)} distinct log streams); "
        f"EXTRAPOLATED (an estimate, not a measurement: it assumes the cost stays linear and nothing else runs out) to "
        f"{results['extrapolated_envs_per_host']} per host from {mib(available_before):.0f} MiB available "
        f"/ {mib(per_env)} MiB per environment ({basis}; "
        f"{results['extrapolated_envs_per_host_by_own_memory']} by the environments' own memory alone)",
        f"  host memory per environment: {results['host_memory_growth_per_env_mib']} MiB growth when started, "
        f"{results['host_memory_release_per_env_mib']} MiB released when destroyed, {results['host_memory_delta_per_env_mib']} "
        f"MiB drift-corrected (other work moved the host by {results['host_drift_mib_per_s']} MiB/s meanwhile); "
        f"the server's RSS grew {results['server_rss_delta_per_env_kib']} KiB per environment",
    ]
    if drowned or host_per_env < own:
        notes.append("  density: other work on the host blurred the host delta; the PSS and cgroup figures are the firm ones")
    if not groups:
        notes.append("  density: no sandbox cgroups found (isolation off?): PSS/RSS per environment not measured")
    if failed:
        notes.append(f"  density: {len(failed)} invokes failed, e.g. {failed[0].status} {failed[0].body[:200]!r}")
    if leftover:
        notes.append(f"  density: {leftover} environments of earlier benchmarks were still alive and may blur the host delta")
    return Outcome({"density": results}, rows, notes)


def _row(name: str, figures: dict[str, float], n: int) -> Row:
    return Row(name, "MiB", figures.get("median_mib", 0.0), figures.get("p99_mib"), n)


def _quiet(server_pid: int) -> int:
    """Wait until the server has no environments left; return how many still have not gone."""
    deadline = time.monotonic() + QUIET_TIMEOUT_S
    while (left := len(sandboxes.environments(server_pid))) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
