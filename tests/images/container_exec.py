#!/usr/bin/env python3
"""container_exec.py: runs a program from its image in place of the binary (make images-smoke).

Linked as <dir>/gateway, <dir>/worker, <dir>/resource-sim, it makes <dir> a build directory for
demo/stack.py: each start is a fresh container of localhost/aggregator/<program>:<version>,
run with `buildah run --isolation chroot` (host network, the image's user), because podman
cannot start containers in this sandbox. Arguments go to the program; of the environment, the
variables the program's --help names (read once from the image into <dir>/<program>.env-names).

SIGTERM/SIGINT go to the program itself (buildah run would SIGKILL it); the wrapper exits with the
program's status and removes the container, after writing what the program changed outside /tmp
(podman diff; the chart's root filesystem is read-only) to <dir>/<container>.writes. If the wrapper is killed (SIGKILL), a janitor process
it forked notices (its pipe closes), kills the program and removes the container. Python 3
standard library only.
"""

import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
from projectinfo import help_env_names, project_version  # noqa: E402
NEVER_FORWARDED = {"PATH", "HOME", "HOSTNAME", "TERM"}

os.environ.setdefault("STORAGE_DRIVER", "vfs")
os.environ.setdefault("BUILDAH_ISOLATION", "chroot")


def buildah(*args):
    return subprocess.run(["buildah"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


def env_names(prog, image, cache):
    """The environment variables prog's --help names, cached in the wrapper's directory."""
    try:
        with open(cache) as f:
            return f.read().split()
    except OSError:
        pass
    r = buildah("from", "--pull=never", image)
    if r.returncode != 0 or not r.stdout.strip():
        raise SystemExit("container_exec: buildah from %s: %s" % (image, r.stderr.strip()))
    ctr = r.stdout.strip().splitlines()[-1]
    try:
        r = buildah("run", "--isolation", "chroot", ctr, "--", "/usr/local/bin/" + prog, "--help")
    finally:
        buildah("rm", ctr)
    if r.returncode != 0:
        raise SystemExit("container_exec: %s --help in %s exited with %d: %s"
                         % (prog, image, r.returncode, r.stderr.strip()))
    out = r.stdout
    try:
        names = sorted(help_env_names(out))
    except ValueError:
        names = []
    if not names:
        raise SystemExit("container_exec: %s --help names no environment variable" % prog)
    with open(cache + ".tmp%d" % os.getpid(), "w") as f:
        f.write("\n".join(names) + "\n")
    os.replace(cache + ".tmp%d" % os.getpid(), cache)
    return names


def children():
    """pid -> list of child pids, from /proc."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def program_pids(runner_pid):
    """The processes buildah run started in the container: its first descendants that are not
    buildah's own helpers."""
    kids, found, pending = children(), [], [runner_pid]
    while pending:
        for k in kids.get(pending.pop(), []):
            try:
                with open("/proc/%d/comm" % k) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if "buildah" in comm:
                pending.append(k)
            else:
                found.append(k)
    return found


def signal_program(runner_pid, sig):
    for pid in program_pids(runner_pid):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def writes_outside_tmp(ctr):
    """What the container changed outside /tmp (podman diff reads buildah's containers): the
    chart runs the images with a read-only root filesystem, so this must stay empty."""
    r = subprocess.run(["podman", "diff", ctr], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if r.returncode != 0:
        return ["podman diff %s failed: %s" % (ctr, r.stderr.strip())]
    entries = [line.split(" ", 1) for line in r.stdout.splitlines() if " " in line]
    paths = [p for _, p in entries]
    bad = []
    for kind, path in entries:
        if path == "/tmp" or path.startswith("/tmp/"):
            continue
        # A directory is "C" when something in it changed; that something is listed itself.
        if kind == "C" and any(q.startswith(path.rstrip("/") + "/") for q in paths):
            continue
        bad.append("%s %s" % (kind, path))
    return bad


def janitor(watch_fd, runner_pid, ctr):
    """Blocks until the wrapper is gone: a byte means it cleaned up; end of file (it was killed)
    means the janitor kills the program and removes the container."""
    os.setsid()
    try:
        if os.read(watch_fd, 1):
            os._exit(0)
    except OSError:
        pass
    signal_program(runner_pid, signal.SIGKILL)
    end = time.monotonic() + 10
    while time.monotonic() < end:
        try:
            os.kill(runner_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    buildah("rm", ctr)
    os._exit(0)


def main():
    prog = os.path.basename(sys.argv[0])
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    image = "localhost/aggregator/%s:%s" % (prog, project_version())
    names = env_names(prog, image, os.path.join(here, prog + ".env-names"))
    env_args = []
    for n in names:
        if n in os.environ and n not in NEVER_FORWARDED:
            env_args += ["--env", "%s=%s" % (n, os.environ[n])]
    r = buildah("from", "--pull=never", "--name", "agg-smoke-%s-%d" % (prog, os.getpid()), image)
    if r.returncode != 0:
        sys.stderr.write("container_exec: buildah from %s: %s\n" % (image, r.stderr))
        return 125
    ctr = r.stdout.strip().splitlines()[-1]
    runner = subprocess.Popen(["buildah", "run", "--isolation", "chroot"] + env_args +
                              [ctr, "--", "/usr/local/bin/" + prog] + sys.argv[1:])
    watch_r, watch_w = os.pipe()
    if os.fork() == 0:
        os.close(watch_w)
        janitor(watch_r, runner.pid, ctr)
    os.close(watch_r)

    # A signal is passed on once the program exists (it may come while buildah still starts).
    pending = []
    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, lambda signum, frame: pending.append(signum))
    while runner.poll() is None:
        if pending and program_pids(runner.pid):
            signal_program(runner.pid, pending.pop(0))
        try:
            runner.wait(0.05)
        except subprocess.TimeoutExpired:
            pass
    bad = writes_outside_tmp(ctr)
    if bad:
        # make images-smoke fails on these files.
        with open(os.path.join(here, ctr + ".writes"), "w") as f:
            f.write("\n".join(bad) + "\n")
    buildah("rm", ctr)
    os.write(watch_w, b"x")
    return runner.returncode


if __name__ == "__main__":
    sys.exit(main())
