#!/usr/bin/env python3
"""check_images.py: checks what the images built by `make images` hold (make images-check).

    python3 tests/images/check_images.py [--negative] [--image PROGRAM=IMAGE ...]

For every program with a <program>/Dockerfile: the configured user is 10001:10001, the entrypoint
is the program, the HEALTHCHECK probes the exposed port with a client present in the image, the
OCI labels name the program and CMake's version; inside a container of the image (buildah run,
as the image's user): `id -u` is 10001, ldd resolves every library of the binary, `--version`
prints "<program> <version>", and no compiler or -dev package is installed. The web image runs
web-server and holds exactly web/index.html, app.css and app.js, byte for byte, and no other HTTP
server (busybox httpd, lighttpd, nginx).

--negative is the checker's own test: it exits 0 only if the checker rejects, for the reasons it
must, the Debian base posing as gateway and as web, the build stage (compilers, -dev packages)
and a gateway image without libhiredis. Containers cannot be
started here by podman (the sandbox refuses setrlimit), but buildah run --isolation chroot works.
Python 3 standard library only.
"""

import argparse
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projectinfo import REPO, project_version  # noqa: E402
UID = 10001
WEB_FILES = ("index.html", "app.css", "app.js")
WEB_ROOT = "/srv/web"
# The program an image runs, where it is not the image's name.
BINARIES = {"web": "web-server"}
# Build tools that must stay in the build stage (besides every *-dev package).
BUILD_TOOLS = re.compile(r"^(gcc|g\+\+|cpp|cc|clang|make|cmake|binutils|build-essential|"
                         r"pkg-config|pkgconf|libc6-dev)(-[0-9.]+)?$")
BASE_IMAGE_FROM = re.compile(r"^FROM\s+(\S+)", re.M)

os.environ.setdefault("STORAGE_DRIVER", "vfs")
os.environ.setdefault("BUILDAH_ISOLATION", "chroot")




def programs():
    return sorted(os.path.basename(os.path.dirname(p))
                  for p in glob.glob(os.path.join(REPO, "*", "Dockerfile")))


def buildah(*args, check=True):
    r = subprocess.run(["buildah"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    if check and r.returncode != 0:
        raise RuntimeError("buildah %s: %s" % (" ".join(args), r.stderr.strip()))
    return r


class Container:
    """A working container of an image, removed on exit; run() executes as the image's user."""

    def __init__(self, image):
        self.image = image
        self.name = None

    def __enter__(self):
        self.name = buildah("from", "--pull=never", self.image).stdout.strip().splitlines()[-1]
        return self

    def __exit__(self, *exc):
        buildah("rm", self.name, check=False)

    def run(self, *cmd):
        r = buildah("run", "--isolation", "chroot", self.name, "--", *cmd, check=False)
        return r.returncode, r.stdout + r.stderr


def check_image(prog, image, version):
    """The list of what is wrong with image as the image of prog (empty: nothing)."""
    problems = []
    r = buildah("inspect", "--type", "image", image, check=False)
    if r.returncode != 0:
        return ["image %s not found (run make images): %s" % (image, r.stderr.strip())]
    cfg = json.loads(r.stdout).get("Docker", {}).get("config") or {}

    user = cfg.get("User") or ""
    if user != "%d:%d" % (UID, UID):
        problems.append("user is %r, not %d:%d" % (user or "root", UID, UID))

    entry = cfg.get("Entrypoint") or []
    name = BINARIES.get(prog, prog)
    binary = "/usr/local/bin/%s" % name
    if entry != [binary]:
        problems.append("entrypoint is %r, not [%r]" % (entry, binary))

    ports = sorted(p.split("/")[0] for p in (cfg.get("ExposedPorts") or {}))
    health = (cfg.get("Healthcheck") or {}).get("Test") or []
    probe = " ".join(health[1:]) if health[:1] in (["CMD"], ["CMD-SHELL"]) else ""
    if not probe:
        problems.append("no HEALTHCHECK")
    elif not ports or not all(p in probe for p in ports):
        problems.append("HEALTHCHECK %r does not probe the exposed ports %s" % (probe, ports))

    labels = cfg.get("Labels") or {}
    for key, want in (("org.opencontainers.image.title", prog),
                      ("org.opencontainers.image.version", version)):
        if labels.get(key) != want:
            problems.append("label %s is %r, not %r" % (key, labels.get(key), want))
    if not labels.get("org.opencontainers.image.source"):
        problems.append("label org.opencontainers.image.source is empty")

    with Container(image) as c:
        rc, out = c.run("id", "-u")
        if rc != 0 or out.strip() != str(UID):
            problems.append("processes run as uid %r, not %d" % (out.strip(), UID))
        if probe:
            client = probe.split()[0]
            rc, out = c.run("sh", "-c", "command -v %s" % client)
            if rc != 0:
                problems.append("the HEALTHCHECK's client %r is not in the image" % client)
        rc, out = c.run("dpkg-query", "-W", "-f", "${Package}\n")
        build_pkgs = [p for p in out.split() if p.endswith("-dev") or BUILD_TOOLS.match(p)]
        if build_pkgs:
            problems.append("build packages in the image: %s" % " ".join(build_pkgs))
        if prog == "web":
            problems += check_web_files(c)
            rc, out = c.run("sh", "-c", "for p in busybox httpd lighttpd nginx; do command -v $p; done; true")
            if out.strip():
                problems.append("another HTTP server in the image: %s" % " ".join(out.split()))
        rc, out = c.run("ldd", binary)
        if rc != 0 or "not found" in out:
            problems.append("ldd %s: %s" % (binary, out.strip().splitlines()[-5:]))
        rc, out = c.run(binary, "--version")
        if rc != 0 or out.strip() != "%s %s" % (name, version):
            problems.append("%s --version printed %r (rc %d), not %r"
                            % (binary, out.strip()[-200:], rc, "%s %s" % (name, version)))
    return problems


def check_web_files(c):
    problems = []
    rc, out = c.run("find", WEB_ROOT, "-mindepth", "1", "-printf", "%P\n")
    found = sorted(out.split()) if rc == 0 else []
    if found != sorted(WEB_FILES):
        return ["%s holds %r, not exactly %r" % (WEB_ROOT, found, sorted(WEB_FILES))]
    for name in WEB_FILES:
        with open(os.path.join(REPO, "web", name), "rb") as f:
            want = hashlib.sha256(f.read()).hexdigest()
        rc, out = c.run("sha256sum", "%s/%s" % (WEB_ROOT, name))
        if rc != 0 or out.split()[:1] != [want]:
            problems.append("%s/%s differs from web/%s" % (WEB_ROOT, name, name))
    return problems


def base_image():
    with open(os.path.join(REPO, "gateway", "Dockerfile")) as f:
        return BASE_IMAGE_FROM.search(f.read()).group(1)


def expect_rejected(what, prog, image, version, must):
    """Checks image as prog's; True when every reason in must is among the problems found."""
    problems = check_image(prog, image, version)
    missing = [m for m in must if not any(m in p for p in problems)]
    print("negative: %s: %d problems%s" % (what, len(problems),
                                           "; NOT reported: %s" % missing if missing else ""))
    for p in problems:
        print("  - %s" % p)
    return not missing


def negative(version):
    """The checker must reject the bare base image (as gateway and as web), the build stage (it
    holds the compilers) and a gateway image that lost one of its libraries."""
    base = base_image()
    bare = ("user is", "entrypoint is", "no HEALTHCHECK", "label org.opencontainers.image.title")
    gateway = "localhost/aggregator/gateway:%s" % version
    stage = "localhost/aggregator-negative/build-stage:%s" % version
    broken = "localhost/aggregator-negative/gateway-without-hiredis:%s" % version
    ok = expect_rejected("the base as gateway", "gateway", base, version,
                         bare + ("ldd", "--version printed"))
    ok &= expect_rejected("the base as web", "web", base, version,
                          bare + ("holds", "ldd", "--version printed"))
    try:
        # The build stage comes from the layer cache of make images (same build argument as
        # scripts/images.sh gives): no compilation.
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                                text=True).stdout.strip() or "unknown"
        r = subprocess.run(["buildah", "bud", "--quiet", "--layers", "--pull=never", "--target",
                            "build", "--build-arg", "AGG_GIT_COMMIT=" + commit, "-f", os.path.join(REPO, "gateway", "Dockerfile"), "-t",
                            stage, REPO], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("building the build stage: %s" % r.stderr.strip()[-500:])
        ok &= expect_rejected("the build stage as gateway", "gateway", stage, version,
                              ("build packages in the image", "entrypoint is"))
        ctr = buildah("from", "--pull=never", gateway).stdout.strip().splitlines()[-1]
        try:
            buildah("run", "--isolation", "chroot", "--user", "0:0", ctr, "--", "sh", "-c",
                    "rm /usr/lib/x86_64-linux-gnu/libhiredis.so.*")
            buildah("commit", "--quiet", "--format", "docker", ctr, broken)
        finally:
            buildah("rm", ctr, check=False)
        ok &= expect_rejected("gateway without libhiredis", "gateway", broken, version,
                              ("ldd", "--version printed"))
    finally:
        buildah("rmi", stage, broken, check=False)
    print("negative: %s" % ("the checker rejects every wrong image" if ok
                            else "FAILED: the checker accepted what it must reject"))
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="Check the images built by make images.")
    ap.add_argument("--negative", action="store_true",
                    help="check that the base image is rejected (the checker's own test)")
    ap.add_argument("--image", action="append", default=[], metavar="PROGRAM=IMAGE",
                    help="check IMAGE as PROGRAM's image (default: every program's built image)")
    a = ap.parse_args(argv)
    version = project_version()
    if a.negative:
        return negative(version)
    targets = dict(kv.split("=", 1) for kv in a.image) or {
        p: "localhost/aggregator/%s:%s" % (p, version) for p in programs()}
    failed = 0
    for prog, image in sorted(targets.items()):
        problems = check_image(prog, image, version)
        print("%-40s %s" % (image, "ok" if not problems else "FAILED"))
        for p in problems:
            print("  - %s" % p)
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
