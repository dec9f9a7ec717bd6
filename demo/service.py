#!/usr/bin/env python3
"""service.py: the local stand-in for a Kubernetes Service in front of the gateways.

    python3 demo/service.py --port PORT --backends http://127.0.0.1:8080,http://127.0.0.1:8180

A TCP load balancer, Python 3 standard library only. Each new connection goes to the next
backend, round robin, among those whose /actuator/health/readiness answers 200 (probed every
PROBE_S), as a Service routes only to ready endpoints; when none is ready it tries them all, and
a backend that refuses the connection is skipped. A connection stays with its backend until
either side closes it, so a draining gateway finishes what it was sent. make demo and the
integration tests give its URL to every gateway as AGGREGATOR_CALLBACK_URL, so a resource's
answer reaches any live gateway. It prints "SERVICE_PORT=<port>" when it listens.
"""

import argparse
import itertools
import select
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import urllib.parse

PROBE_S = 0.2
CONNECT_TIMEOUT_S = 1.0
CHUNK = 65536


class Backends:
    """The backends and which of them are ready; probed by one thread."""

    def __init__(self, urls):
        self.addrs = []
        for u in urls:
            p = urllib.parse.urlsplit(u)
            self.addrs.append((p.hostname, p.port or 80))
        self.urls = urls
        self.ready = [False] * len(urls)
        self._rr = itertools.count()
        self._lock = threading.Lock()

    def probe_forever(self):
        while True:
            for i, u in enumerate(self.urls):
                ok = False
                try:
                    with urllib.request.urlopen(u + "/actuator/health/readiness",
                                                timeout=0.5) as r:
                        ok = r.status == 200
                except (urllib.error.URLError, OSError, ValueError):
                    ok = False
                with self._lock:
                    self.ready[i] = ok
            time.sleep(PROBE_S)

    def order(self):
        """Backends to try for a new connection: the ready ones round robin, then the rest."""
        with self._lock:
            n = len(self.addrs)
            start = next(self._rr) % n
            idx = [(start + k) % n for k in range(n)]
            return ([self.addrs[i] for i in idx if self.ready[i]] +
                    [self.addrs[i] for i in idx if not self.ready[i]])


def pump(client, backend):
    """Copies bytes both ways until one side closes; then closes both."""
    socks = [client, backend]
    peer = {client: backend, backend: client}
    try:
        while True:
            readable, _, _ = select.select(socks, [], [])
            for s in readable:
                data = s.recv(CHUNK)
                if not data:
                    return
                peer[s].sendall(data)
    except OSError:
        pass
    finally:
        for s in socks:
            try:
                s.close()
            except OSError:
                pass


def serve(client, backends):
    for addr in backends.order():
        try:
            b = socket.create_connection(addr, timeout=CONNECT_TIMEOUT_S)
        except OSError:
            continue
        b.settimeout(None)
        b.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pump(client, b)
        return
    client.close()  # no backend took it: the client sees a closed connection and retries


def main(argv=None):
    ap = argparse.ArgumentParser(description="Round-robin TCP balancer over ready gateways.")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--backends", required=True, help="comma-separated base URLs")
    a = ap.parse_args(argv)
    urls = [u.strip().rstrip("/") for u in a.backends.split(",") if u.strip()]
    if not urls:
        ap.error("--backends is empty")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    backends = Backends(urls)
    threading.Thread(target=backends.probe_forever, daemon=True).start()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.bind, a.port))
    ls.listen(1024)
    sys.stdout.write("SERVICE_PORT=%d\n" % ls.getsockname()[1])
    sys.stdout.flush()
    while True:
        c, _ = ls.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve, args=(c, backends), daemon=True).start()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
