"""perf.py: perf record of one process of the stack during a benchmark run, and its top symbols (BENCH_PERF=1)."""

import os
import shutil
import subprocess
import tempfile


def start(pid, name, seconds):
    """perf record -g of pid for seconds; returns a handle for report(), or None without perf."""
    if not shutil.which("perf"):
        return None
    data = os.path.join(tempfile.gettempdir(), "bench-perf-%s.data" % name)
    p = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-p", str(pid), "-o", data,
                          "--", "sleep", str(seconds)], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    return p, data, name


def report(handle, results_dir):
    """Waits for the recording of start(); writes its top symbols to results_dir/perf-<name>.txt
    and returns the first 25 lines, or None when perf failed."""
    if not handle:
        return None
    p, data, name = handle
    try:
        p.wait(120)
    except subprocess.TimeoutExpired:
        p.kill()
        return None
    if p.returncode != 0 or not os.path.exists(data):
        return None
    r = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio", "--sort", "dso,symbol",
                        "--percent-limit", "1.5", "-g", "none"], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    lines = [l for l in r.stdout.decode(errors="replace").splitlines() if l.strip() and not l.startswith("#")]
    with open(os.path.join(results_dir, "perf-%s.txt" % name), "w") as f:
        f.write("\n".join(lines[:40]) + "\n")
    os.unlink(data)
    return lines[:25]
