"""netfault: network faults made inside the tests. Hard partitions: a network namespace whose
processes reach the host's loopback services through veth links, one link per kind of traffic,
and a link set down (the kernel here has no netem). Degraded links: Toxiproxy (latency, stalls,
resets, slow links) between two components, driven through its HTTP API."""

import fcntl
import json
import os
import random
import shutil
import signal
import subprocess
import time

import pytest
import requests

from aggtest import REPO, wait_until

NS_PREFIX = "aggnf-"
# Our links live in 10.213.0.0/16, one /30 each: 16384 of them, taken under a lock so that
# concurrent test runs on one machine never pick the same.
NET_A, NET_B = 10, 213
SLOTS = 16384
LOCK_PATH = "/run/lock/agg-netfault.lock"


def _ip(*args, check=True, ns=None):
    argv = ["ip"] + (["-n", ns] if ns else []) + [str(a) for a in args]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r


def _sysctl(ns, key, value):
    argv = ["ip", "netns", "exec", ns, "sysctl", "-qw", "%s=%s" % (key, value)] if ns else \
        ["sysctl", "-qw", "%s=%s" % (key, value)]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def require_netns():
    """Skips the test (with the reason) unless it can make namespaces: root and iproute2."""
    if os.geteuid() != 0:
        pytest.skip("network faults need root (ip netns, veth links)")
    if shutil.which("ip") is None:
        pytest.fail("iproute2 (ip) is missing: make deps-test installs it", pytrace=False)
    if shutil.which("sysctl") is None:
        pytest.fail("sysctl (procps) is missing: make deps-test installs it", pytrace=False)


def sweep_stale():
    """Deletes namespaces left by test runs that died (their pid is in the name)."""
    r = _ip("netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(NS_PREFIX):
            continue
        try:
            pid = int(name[len(NS_PREFIX):].split("-")[0])
        except ValueError:
            continue
        try:
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        _ip("netns", "del", name, check=False)


class Link:
    """One veth pair: host end <host_dev> (host_ip) and namespace end <ns_dev> (ns_ip), a /30."""

    def __init__(self, ns, slot, name):
        self.ns, self.slot, self.name = ns, slot, name
        base = slot * 4
        net = "%d.%d.%d.%d" % (NET_A, NET_B, base // 256, base % 256)
        self.net = net + "/30"
        self.host_ip = "%d.%d.%d.%d" % (NET_A, NET_B, base // 256, base % 256 + 1)
        self.ns_ip = "%d.%d.%d.%d" % (NET_A, NET_B, base // 256, base % 256 + 2)
        self.host_dev = "nfh%d" % slot
        self.ns_dev = "nfn%d" % slot
        self.is_cut = False

    def cut(self):
        """Sets the host end down: the namespace end loses its carrier and keeps its routes, so
        everything sent over the link is dropped in silence (no reset, no ICMP), as when a
        cable or a switch port dies; on the host, the /30's blackhole route catches replies."""
        _ip("link", "set", self.host_dev, "down")
        self.is_cut = True

    def restore(self):
        _ip("link", "set", self.host_dev, "up")
        self.is_cut = False

        def carrier():
            return "LOWER_UP" in _ip("link", "show", self.ns_dev, ns=self.ns.name).stdout
        wait_until(carrier, 10, "link %s back up" % self.name)


class Namespace:
    """A network namespace of the test's own. Its loopback is down, so 127.0.0.1 is not local in
    it: connections to 127.0.0.1 (the stack's Redis, Kafka and resources, which listen there)
    leave by a link and reach the host's loopback (route_localnet on both ends). link(name,
    ports) adds a link for the TCP destination ports given; the first link made without ports
    carries every other destination and is the host's way in (address)."""

    def __init__(self, tag):
        require_netns()
        sweep_stale()
        self.name = "%s%d-%s-%s" % (NS_PREFIX, os.getpid(), tag, os.urandom(2).hex())
        self.links = []
        self.default = None
        self._tables = 100
        _ip("netns", "add", self.name)
        try:
            _sysctl(self.name, "net.ipv4.conf.all.rp_filter", 0)
            _sysctl(self.name, "net.ipv4.conf.default.rp_filter", 0)
        except BaseException:
            self.close()
            raise

    @property
    def address(self):
        """Where the host reaches the namespace's listeners."""
        return self.default.ns_ip

    def exec_prefix(self):
        return ["ip", "netns", "exec", self.name]

    def link(self, name, ports=None):
        slot = self._take_slot()
        ln = Link(self, slot, name)
        self.links.append(ln)
        try:
            self._make(ln, ports)
        except BaseException:
            self.close()
            raise
        return ln

    def _take_slot(self):
        os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
        with open(LOCK_PATH, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            used = set()
            for line in _ip("-o", "link", "show").stdout.splitlines():
                dev = line.split(":")[1].strip().split("@")[0]
                if dev.startswith("nfh") and dev[3:].isdigit():
                    used.add(int(dev[3:]))
            start = random.randrange(SLOTS)
            for k in range(SLOTS):
                slot = (start + k) % SLOTS
                if slot in used:
                    continue
                # Created under the lock: the next taker sees the device.
                _ip("link", "add", "nfh%d" % slot, "type", "veth", "peer", "name", "nfn%d" % slot)
                return slot
        raise RuntimeError("no free link slot in 10.213.0.0/16")

    def _make(self, ln, ports):
        _ip("link", "set", ln.ns_dev, "netns", self.name)
        _ip("addr", "add", ln.host_ip + "/30", "dev", ln.host_dev)
        _ip("route", "add", "blackhole", ln.net, "metric", 4000)
        _sysctl(None, "net.ipv4.conf.%s.route_localnet" % ln.host_dev, 1)
        _ip("link", "set", ln.host_dev, "up")
        n = self.name
        _ip("addr", "add", ln.ns_ip + "/30", "dev", ln.ns_dev, ns=n)
        _ip("link", "set", ln.ns_dev, "up", ns=n)
        _sysctl(n, "net.ipv4.conf.%s.route_localnet" % ln.ns_dev, 1)
        _sysctl(n, "net.ipv4.conf.%s.rp_filter" % ln.ns_dev, 0)
        route = ["127.0.0.1/32", "via", ln.host_ip, "dev", ln.ns_dev, "src", ln.ns_ip, "onlink"]
        if ports is None:
            assert self.default is None, "one default link per namespace"
            self.default = ln
            _ip("route", "add", *route, ns=n)
        else:
            self._tables += 1
            _ip("route", "add", *route, "table", self._tables, ns=n)
            for p in ports:
                _ip("rule", "add", "ipproto", "tcp", "dport", p, "table", self._tables, ns=n)

    def close(self):
        """Deletes the namespace (its veth pairs go with it) and the host's routes. The
        processes in it must have been stopped first."""
        _ip("netns", "del", self.name, check=False)
        for ln in self.links:
            _ip("route", "del", "blackhole", ln.net, "metric", 4000, check=False)
            _ip("link", "del", ln.host_dev, check=False)


# ---- Toxiproxy -------------------------------------------------------------------------------

def toxiproxy_binary():
    """Toxiproxy's server from AGG_TOXIPROXY, else <AGG_TOOLS_DIR or build/tools>/toxiproxy/server
    (make deps-test installs it there); the test fails with the command to run when missing."""
    path = os.environ.get("AGG_TOXIPROXY") or os.path.join(
        os.environ.get("AGG_TOOLS_DIR") or os.path.join(REPO, "build", "tools"),
        "toxiproxy", "server")
    if not os.access(path, os.X_OK):
        pytest.fail("toxiproxy server not found at %s: run make deps-test (or set AGG_TOXIPROXY)"
                    % path, pytrace=False)
    return path


class Toxiproxy:
    """A toxiproxy-server of the test's own on a free loopback port. proxy(name, upstream)
    listens on a free port and forwards to upstream (host:port); toxic() degrades it."""

    def __init__(self, log_dir, seed=None):
        import stack as stackmod  # demo/stack.py, on the path from conftest
        self.port = stackmod.free_port()
        self.api = "http://127.0.0.1:%d" % self.port
        self.log_path = os.path.join(log_dir, "toxiproxy-%d.log" % self.port)
        argv = [toxiproxy_binary(), "-host", "127.0.0.1", "-port", str(self.port)]
        if seed is not None:
            argv += ["-seed", str(seed)]
        with open(self.log_path, "ab") as out:
            self.popen = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self._free_port = stackmod.free_port
        wait_until(lambda: self.popen.poll() is not None or self._up(), 30, "toxiproxy's API")
        assert self.popen.poll() is None, "toxiproxy exited; see %s" % self.log_path

    def _up(self):
        try:
            return requests.get(self.api + "/version", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def _call(self, method, path, body=None):
        r = requests.request(method, self.api + path, timeout=10,
                             data=None if body is None else json.dumps(body))
        assert r.status_code in (200, 201, 204), "toxiproxy %s %s: %d %s" % (
            method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def proxy(self, name, upstream):
        """Creates proxy name to upstream ("host:port"); returns its listen address host:port."""
        listen = "127.0.0.1:%d" % self._free_port()
        self._call("POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream,
                                        "enabled": True})
        return listen

    def toxic(self, proxy, kind, stream="downstream", toxicity=1.0, **attributes):
        """Adds a toxic (latency, bandwidth, slow_close, timeout, reset_peer, slicer,
        limit_data) to proxy; toxicity is the share of connections it affects, drawn for each
        connection when it opens. Returns the toxic's name."""
        name = "%s-%s-%s" % (kind, stream, os.urandom(3).hex())
        self._call("POST", "/proxies/%s/toxics" % proxy,
                   {"name": name, "type": kind, "stream": stream, "toxicity": toxicity,
                    "attributes": attributes})
        return name

    def remove_toxic(self, proxy, name):
        self._call("DELETE", "/proxies/%s/toxics/%s" % (proxy, name))

    def set_enabled(self, proxy, enabled):
        """Disabling a proxy closes its connections and refuses new ones (a hard, loud cut)."""
        self._call("POST", "/proxies/%s" % proxy, {"enabled": enabled})

    def reset(self):
        """Every proxy enabled, every toxic removed."""
        self._call("POST", "/reset")

    def stop(self):
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)


def wait_ready(proc, up, timeout, what):
    """Waits until proc's readiness is UP (up=True) or DOWN (False) and returns the seconds it
    took; the process must stay alive meanwhile (no restart: the same pid throughout)."""
    t0 = time.monotonic()

    def state():
        assert proc.popen.poll() is None, "%s exited (%s); see %s" % (
            proc.prog, proc.popen.returncode, proc.log_path)
        status, body = proc.health()
        return (status == 200) == up and status is not None
    wait_until(state, timeout, what, interval=0.1)
    return time.monotonic() - t0
