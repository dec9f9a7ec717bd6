"""tables.py: helpers of the benchmark report (bench/harness.py): lookups in results, number formatting, CPU per completed session."""

# Process-name prefixes (demo/stack.py) of each component in the CPU tables; services are the product.
COMPONENTS = [("gateway", "gateway"), ("worker", "worker"), ("redis", "redis"), ("kafka", "kafka"),
              ("resources", "resource"), ("loadgen", "loadgen")]
SERVICES = ("gateway", "worker", "redis", "kafka")


def g(d, *path, default=None):
    """d[path[0]][path[1]]..., or default where a step is missing."""
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def fmt(v, unit="", nd=1):
    """v with nd decimals and unit; "n/a" for None."""
    if v is None:
        return "n/a"
    return ("%." + str(nd) + "f%s") % (v, unit)


def cpu_ms_per_session(cpu_pct, sessions_per_s):
    """CPU ms per completed session of each component, the services and all, from the % of one
    core each process used in the window; None without throughput."""
    if not cpu_pct or not sessions_per_s:
        return None
    out = {}
    for comp, prefix in COMPONENTS:
        out[comp] = sum(v for k, v in cpu_pct.items() if k.startswith(prefix)) / 100 / sessions_per_s * 1000
    out["services"] = sum(out[c] for c in SERVICES)
    out["all"] = sum(v for v in cpu_pct.values()) / 100 / sessions_per_s * 1000
    return {k: round(v, 4) for k, v in out.items()}


def sweep_point(res, prof, conc):
    """The summarised sweep point of prof at concurrency conc, or None."""
    for pt in g(res, prof, "sweep") or []:
        if pt["concurrency"] == conc:
            return pt
    return None


def point_cpu(pt):
    """CPU ms per session of a sweep point (computed for results stored before it was recorded)."""
    if not pt:
        return None
    return pt.get("cpu_ms_per_session") or cpu_ms_per_session(pt.get("cpu_pct"), pt["sessions_per_s"])


def cpu_table(res):
    """summary.md's table of CPU per completed session, SSE and WAIT_FOR_EVERYONE closed loops."""
    comps = [c for c, _ in COMPONENTS]
    lines = ["", "## CPU ms per completed session (process CPU in the window / sessions completed in it)", "",
             "services = gateway + worker + redis + kafka; all = every process on the machine the harness names "
             "(with the resource simulators and the load generator). Time to summary from the intended start.", "",
             "| profile | c | sessions/s | failed | summary p50 / p99 ms | " + " | ".join(comps) +
             " | **services** | all |", "|---|---|---|---|---|" + "---|" * (len(comps) + 2)]
    for prof in ("closed-1x1", "wfe-closed"):
        for pt in g(res, prof, "sweep") or []:
            cpu = point_cpu(pt)
            if not cpu:
                continue
            lines.append("| %s | %d | %.0f | %d | %s / %s | %s | **%.3f** | %.3f |" % (
                prof, pt["concurrency"], pt["sessions_per_s"], pt["failed"], fmt(pt.get("summary_p50_ms")),
                fmt(pt.get("summary_p99_ms")), " | ".join("%.3f" % cpu[c] for c in comps), cpu["services"], cpu["all"]))
    return lines


OPEN_PROFILES = ["open-500", "open-1000", "open-1500", "open-2000"]
# One 2,000/s run is no evidence: over eight runs of make bench it gave p99 37 to 135 ms.
OPEN_2000_RUNS = 5
