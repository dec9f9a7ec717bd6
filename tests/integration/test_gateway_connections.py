"""Connections that do not behave, on a gateway of its own (short deadlines, a small stream
buffer) against the stack's Kafka and Redis: 3,000 half-sent requests are reaped while normal
requests are served, and 1,000 stalled stream readers do not grow the gateway's memory."""

import json
import os
import resource
import selectors
import socket
import threading
import time

import pytest
import requests

from aggtest import (SSEStream, check_session_events, make_callback, parse_sse_bytes,
                     post_callback, start_session, wait_until)
from eventsource import resume_until_summary
from privateproc import PrivateGateway

HEADER_TIMEOUT_MS = 2000
HALF_SENT = 3000
STALLED = 1000
STREAM_LIMIT = 4096       # SSE_BUFFER_LIMIT_BYTES of the private gateway
NOTES_PER_EVENT = 150     # each callback event is about 30 KB: several times the limit


def _raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _status(pid):
    """VmRSS and VmHWM of pid in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out


@pytest.fixture
def private_gateway(stack):
    made = []

    def start(**env):
        g = PrivateGateway(stack, {k: str(v) for k, v in env.items()})
        made.append(g)
        return g
    yield start
    for g in made:
        rc = g.stop()
        assert rc == 0, "private gateway exited %s on SIGTERM; see %s" % (rc, g.log_path)


def _closed_by_peer(sock):
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return False
    except (ConnectionResetError, OSError):
        return True
    return data == b""


def test_3000_half_sent_requests_are_reaped_and_normal_requests_served(private_gateway):
    _raise_nofile(HALF_SENT + 1000)
    g = private_gateway(HTTP_HEADER_TIMEOUT_MS=HEADER_TIMEOUT_MS)
    fds_before = len(os.listdir("/proc/%d/fd" % g.popen.pid))
    served, failures, stop = [], [], threading.Event()

    def normal_client():
        with requests.Session() as s:
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = s.get(g.url + "/actuator/health/readiness", timeout=5)
                    (served if r.status_code == 200 else failures).append(time.monotonic() - t0)
                except requests.RequestException as e:
                    failures.append(repr(e))
                stop.wait(0.02)  # about 50 requests/s until the test ends
    client = threading.Thread(target=normal_client, daemon=True)
    client.start()
    socks = []
    try:
        for i in range(HALF_SENT):
            s = socket.create_connection(("127.0.0.1", g.port), timeout=10)
            s.sendall(b"GET /actuator/health HTTP/1.1\r\nHost: x\r\nX-Half-%d: " % i)
            s.setblocking(False)
            socks.append((s, time.monotonic()))
        opened = time.monotonic()
        open_socks = dict((s.fileno(), (s, t)) for s, t in socks)
        sel = selectors.DefaultSelector()
        for s, _ in socks:
            sel.register(s, selectors.EVENT_READ)
        closed_after = []
        end = opened + HEADER_TIMEOUT_MS / 1000.0 + 30

        def gone(fd):
            s, t = open_socks.pop(fd)
            sel.unregister(s)
            closed_after.append(time.monotonic() - t)
        while open_socks and time.monotonic() < end:
            # Waits for the gateway to close connections; each quiet 0.2 s, every connection
            # still open sends one more header byte (a slowloris).
            ready = sel.select(timeout=0.2)
            for key, _ in ready:
                if key.fd in open_socks and _closed_by_peer(open_socks[key.fd][0]):
                    gone(key.fd)
            if not ready:
                for fd, (s, _) in list(open_socks.items()):
                    try:
                        s.send(b"a")
                    except OSError:
                        gone(fd)
        sel.close()
        all_gone = time.monotonic() - opened
    finally:
        stop.set()
        client.join(10)
        for s, _ in socks:
            s.close()
    assert not open_socks, "%d half-sent connections still open" % len(open_socks)
    print("3000 half-sent connections: all closed %.2f s after the last one opened; "
          "each closed %.2f-%.2f s after it opened (HTTP_HEADER_TIMEOUT_MS=%d); "
          "%d normal requests served meanwhile, slowest %.3f s"
          % (all_gone, min(closed_after), max(closed_after), HEADER_TIMEOUT_MS, len(served),
             max(served)))
    # Each is gone within its deadline plus the reaper's tick and a loaded machine's slack.
    assert max(closed_after) <= HEADER_TIMEOUT_MS / 1000.0 + 3.0, max(closed_after)
    assert min(closed_after) >= HEADER_TIMEOUT_MS / 1000.0 * 0.9, min(closed_after)
    assert not failures, failures[:5]
    assert len(served) >= 10 and max(served) < 2.0, (len(served), max(served))
    assert g.metric("gateway_http_connections_reaped_total") >= HALF_SENT
    wait_until(lambda: len(os.listdir("/proc/%d/fd" % g.popen.pid)) <= fds_before + 5, 20,
               "the gateway's descriptors back to their baseline")


def _stalled_reader(port, cid):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)  # before connect: a small window
    s.connect(("127.0.0.1", port))
    # HTTP/1.0: the stream is not chunked, so its bytes parse as they are.
    s.sendall(b"GET /aggregate/stream?correlationId=%s HTTP/1.0\r\nAccept: text/event-stream"
              b"\r\n\r\n" % cid.encode())
    return s


def _read_to_end(s, timeout=10):
    s.settimeout(timeout)
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, OSError):
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


def test_1000_stalled_readers_keep_memory_bounded_and_resume(stack, gw, private_gateway):
    _raise_nofile(STALLED + 1000)
    # A stream over its limit ends after what it holds; one whose reader takes nothing is cut
    # after HTTP_IDLE_TIMEOUT_MS.
    g = private_gateway(SSE_BUFFER_LIMIT_BYTES=STREAM_LIMIT, HTTP_IDLE_TIMEOUT_MS=2000,
                        # What is measured is the gateway's memory, not the sanitizer's
                        # quarantine of freed blocks (256 MB by default).
                        ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                                      ":quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
                                      ).lstrip(":"))
    # The resources answer after 20 s; the test posts their answers itself, big ones.
    cid = start_session(gw[0], "20000,20000,20000", timeout_ms=27000)
    readers = [_stalled_reader(g.port, cid) for _ in range(STALLED)]
    try:
        wait_until(lambda: g.metric("sse_active_connections") >= STALLED, 60,
                   "%d streams open" % STALLED)
        pid = g.popen.pid
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")  # resets VmHWM: the peak is measured from here
        before = _status(pid)
        overflows0 = g.metric("gateway_stream_overflows_total")
        biggest = 0
        for src in ("resource-1", "resource-2", "resource-3"):
            body = make_callback(cid, src, n_notes=NOTES_PER_EVENT)
            biggest = max(biggest, len(json.dumps(body)))
            assert post_callback(gw[0], body).status_code == 202
        wait_until(lambda: g.metric("gateway_stream_overflows_total") >= overflows0 + STALLED,
                   90, "every stalled stream closed by its buffer limit")
        wait_until(lambda: g.metric("sse_active_connections") == 0, 30, "no stream left open")
        after = _status(pid)
        # Per stalled stream the gateway holds at most the limit plus one event (a frame is
        # the event's JSON plus a few dozen bytes), freed when the stream closes.
        per_stream = STREAM_LIMIT + biggest + 512
        bound = STALLED * per_stream + 16 * 1024 * 1024
        print("1000 stalled readers (SSE_BUFFER_LIMIT_BYTES=%d, events of %d bytes): VmRSS "
              "%.1f MB before, %.1f MB after, peak %.1f MB (bound %.1f MB above before)"
              % (STREAM_LIMIT, biggest, before["VmRSS"] / 1e6, after["VmRSS"] / 1e6,
                 after["VmHWM"] / 1e6, bound / 1e6))
        assert after["VmHWM"] - before["VmRSS"] <= bound, (before, after, bound)
        assert after["VmRSS"] - before["VmRSS"] <= bound, (before, after, bound)
        # A reader that stalled resumes with the last id it got, on a stack gateway.
        got = parse_sse_bytes(_read_to_end(readers[0]))
        last = got[-1].id if got else 0
        check_session_events(got + resume_until_summary(gw[1], cid, last), cid)
    finally:
        for s in readers:
            s.close()
