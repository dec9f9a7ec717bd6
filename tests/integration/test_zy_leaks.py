"""No leaks (issue 9, point 8). Identical rounds of sessions, including sessions nobody watches,
streams dropped mid-stream (a plain close and a reset), and WAIT_FOR_EVERYONE requests whose
client resets the connection before the answer. After each round every gateway, worker and
resource-sim returns to its descriptor baseline, RSS does not grow from one round to the next,
and at the end every Redis key has a TTL.

Marked late: it runs after the other tests (so it also sees what they left in Redis) and before
the destructive ones (which restart processes and would reset the baselines)."""

import json
import os
import re
import socket
import struct
import threading
import time
import urllib.parse

import pytest

from aggtest import (SOURCES, SSEStream, check_session_events, read_stream, session_done,
                     start_session, wait_until)

ROUNDS = 3
WATCHED = 10         # streamed to the summary
UNWATCHED = 10       # never streamed: half complete, half end at their deadline (-4)
ABANDONED = 6        # streams dropped before the summary, half with a reset
WFE_RESET = 3        # WAIT_FOR_EVERYONE requests reset before their answer
CONCURRENT_CALLS = WATCHED + UNWATCHED + ABANDONED + WFE_RESET  # sessions open at once

# Descriptors. Every descriptor a round opens must be closed after it, except idle keep-alive
# connections between the stack's own HTTP clients and servers, which are pooled on purpose:
# libcurl keeps finished connections (HTTPC_MAX_CONNECTS 256, at most 64 per host) and the
# servers keep their side until MHD's 120 s idle timeout. So each process's descriptors are
# split in two: "pool", the TCP connections from a worker to a resource or from a resource to a
# gateway (both ends are stack processes), and "own", everything else (files, pipes, eventfds,
# listeners, Redis and Kafka connections, the test's client connections). "own" must return to
# its baseline (+OWN_JITTER: librdkafka may hold one more broker connection for a moment).
# "pool" grows to the most calls in flight at once and stays: a round adds at most
# CONCURRENT_CALLS connections per server to what the earlier tests left in the pools (its
# end: per resource for a worker, per resource for the gateway that takes the answers), and it
# must stay within that in every round, although the rounds add up to ROUNDS *
# CONCURRENT_CALLS calls per resource, so a connection leaked per call would pass it by
# round 2.
N_RES = len(SOURCES)
OWN_JITTER = 2
POOL_MAX = {"worker": N_RES * CONCURRENT_CALLS, "resource": 2 * CONCURRENT_CALLS,
            "gateway": N_RES * CONCURRENT_CALLS}
SETTLE_S = 30
# A bucket's audit outbox (docs/architecture.md, "Audit outbox").
AUDIT_OUTBOX = re.compile(r"agg:\{b[0-9]{2}\}:audit")

# RSS: malloc keeps freed pages and ASan keeps freed blocks in its quarantine (256 MiB by
# default) before reusing them, so RSS never returns to a baseline and grows during the first
# rounds whatever the code does. What a leak shows is growth that does not stop: an identical
# round 3 must not add more than RSS_STEP_KB over round 2, nor more than round 2 added over
# round 1 plus that step.
RSS_STEP_KB = 12 * 1024


def _procs(stack):
    out = {}
    for name, p in sorted(stack.procs.items()):
        if p.kind in ("gateway", "worker", "resource") and p.alive():
            out[name] = p
    assert any(p.kind == "gateway" for p in out.values()) and \
        any(p.kind == "worker" for p in out.values()) and \
        any(p.kind == "resource" for p in out.values()), sorted(out)
    return out


TCP_STATES = {"01": "ESTABLISHED", "06": "TIME_WAIT", "08": "CLOSE_WAIT", "0A": "LISTEN",
              "04": "FIN_WAIT1", "05": "FIN_WAIT2", "07": "CLOSE", "09": "LAST_ACK"}


def _scan(pid):
    """A process's descriptors: (number of descriptors, its TCP sockets as (local port, remote
    port, state), what the others are by kind)."""
    inodes, kinds, n = set(), {}, 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, fd))
        except OSError:
            continue  # closed meanwhile
        n += 1
        if t.startswith("socket:["):
            inodes.add(t[8:-1])
        else:
            k = t.split(":")[0] if ":" in t else t
            kinds[k] = kinds.get(k, 0) + 1
    tcp = []
    for name in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        with open(name) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[9] in inodes:
                    inodes.discard(cols[9])
                    tcp.append((int(cols[1].split(":")[1], 16), int(cols[2].split(":")[1], 16),
                                TCP_STATES.get(cols[3], cols[3])))
    kinds["other sockets"] = len(inodes)
    return n, tcp, kinds


def _count(stack, procs):
    """{name: (own, pool, detail)} for every process (see the comment on descriptors)."""
    # The callbacks' balancer (demo/service.py) pools like the programs: its port is a server,
    # and its connections to the gateways are a client's ends.
    balancer = [stack.service_url] if stack.service_url else []
    servers = {urllib.parse.urlsplit(u).port for u in stack.gateway_urls + stack.resource_urls + balancer}
    scans = {name: _scan(p.pid) for name, p in procs.items()}
    ends = list(scans.values()) + ([_scan(stack.pid("service"))] if balancer else [])
    # The client ends of connections to the stack's HTTP servers, opened by a stack process.
    clients = {lp for _, tcp, _ in ends for lp, rp, _ in tcp if rp in servers}
    out = {}
    for name, (n, tcp, kinds) in scans.items():
        pool = [t for t in tcp if t[1] in servers or (t[0] in servers and t[1] in clients)]
        out[name] = (n - len(pool), len(pool), {"tcp": sorted(set(tcp) - set(pool)),
                                                "files": kinds})
    return out


def _rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def _reset_close(sock):
    """Closes with a TCP reset (SO_LINGER 0): a client that vanishes abruptly."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _wfe_reset(base):
    """Sends a WAIT_FOR_EVERYONE request and resets the connection before the answer."""
    u = urllib.parse.urlsplit(base)
    body = json.dumps({"patientId": "patient-123", "delays": "400,400,400",
                       "strategy": "WAIT_FOR_EVERYONE", "timeoutMs": 8000}).encode()
    s = socket.create_connection((u.hostname, u.port), timeout=10)
    s.sendall(b"POST /aggregate/journals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
              b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    _reset_close(s)


def _abandon(base, cid, reset):
    """Opens the session's stream, reads its first event, then drops the socket."""
    st = SSEStream(base, cid, timeout=20)
    assert st.status == 200
    st.next_event(time.monotonic() + 20)
    if reset:
        _reset_close(st.sock)
    else:
        st.sock.close()
    st.conn.close()


def _round(gw, redis):
    """One round; returns once every session of it is done in Redis."""
    cids, errors, threads = [], [], []

    def run(fn, *args):
        def go():
            try:
                fn(*args)
            except Exception as e:  # reported below, with the others
                errors.append(repr(e))
        t = threading.Thread(target=go)
        t.start()
        threads.append(t)

    def watched(i):
        cid = start_session(gw[i % 2], "0,50,100", timeout_ms=8000)
        cids.append(cid)
        st = read_stream(gw[(i + 1) % 2], cid, timeout=30)
        by_source, summary = check_session_events(st.events, cid)
        assert sorted(by_source) == list(SOURCES) and summary["respondents"] == 3

    for i in range(WATCHED):
        run(watched, i)
    for i in range(UNWATCHED):
        cids.append(start_session(gw[i % 2], "0,0,0" if i % 2 else "0,-4,0", timeout_ms=1500))
    for i in range(ABANDONED):
        cid = start_session(gw[i % 2], "0,1500,1500", timeout_ms=8000)
        cids.append(cid)
        run(_abandon, gw[(i + 1) % 2], cid, i % 2 == 0)
    for i in range(WFE_RESET):
        run(_wfe_reset, gw[i % 2])
    for t in threads:
        t.join(60)
    assert not errors, errors
    wait_until(lambda: all(session_done(redis, c) for c in cids), 40,
               "every session of the round done")


def _settle(stack, procs, base, what):
    """Waits until every process's own descriptors are back to base and its pool within
    POOL_MAX of the pool at base; returns {name: (own, pool)}."""
    last = {}
    pool_max = {n: base[n][1] + POOL_MAX[procs[n].kind] for n in procs}

    def ok():
        last.clear()
        last.update(_count(stack, procs))
        return all(last[n][0] <= base[n][0] + OWN_JITTER and
                   last[n][1] <= pool_max[n] for n in procs)
    try:
        wait_until(ok, SETTLE_S, what, interval=0.2)
    except AssertionError:
        bad = {n: {"own": (last[n][0], base[n][0]), "pool": (last[n][1], pool_max[n]),
                   "own now": last[n][2], "own before": base[n][2]}
               for n in procs if last[n][0] > base[n][0] + OWN_JITTER or
               last[n][1] > pool_max[n]}
        raise AssertionError("%s: descriptors not back within %d s: %r" % (what, SETTLE_S, bad))
    return {n: last[n][:2] for n in procs}


@pytest.mark.late
def test_descriptors_and_rss_return_and_every_key_expires(stack, gw, redis):
    procs = _procs(stack)
    base = _count(stack, procs)
    fds, rss = [], []
    for r in range(ROUNDS):
        _round(gw, redis)
        fds.append(_settle(stack, procs, base, "round %d" % (r + 1)))
        rss.append({n: _rss_kb(p.pid) for n, p in procs.items()})
    for n in procs:
        print("%-11s fds own/pool: base %d/%d, after rounds %s; RSS KiB after rounds %s"
              % (n, base[n][0], base[n][1], ["%d/%d" % f[n] for f in fds], [x[n] for x in rss]))
    for n in procs:
        step2, step3 = rss[1][n] - rss[0][n], rss[2][n] - rss[1][n]
        assert step3 <= RSS_STEP_KB and step3 <= max(step2, 0) + RSS_STEP_KB, \
            "%s: RSS grows round after round: %r KiB" % (n, [x[n] for x in rss])

    # Every key expires: SCAN the whole keyspace (the other tests' sessions are in it too). The
    # audit outboxes are the exception: an audit record must never expire unpublished, so they
    # are bounded by the workers' relay instead (an entry is deleted once Kafka has it): each
    # must be empty once the relay caught up.
    cursor, keys, no_ttl, outboxes = "0", 0, [], []
    while True:
        cursor, batch = redis.cmd("SCAN", cursor, "COUNT", 1000)
        for k in batch:
            keys += 1
            if AUDIT_OUTBOX.fullmatch(k):
                outboxes.append(k)
            elif redis.cmd("TTL", k) == -1:
                no_ttl.append(k)
        if cursor == "0":
            break
    assert keys > 0
    assert not no_ttl, "%d of %d keys have no TTL: %r" % (len(no_ttl), keys, no_ttl[:20])
    wait_until(lambda: all(redis.cmd("XLEN", k) == 0 for k in outboxes), SETTLE_S,
               "the audit outboxes to be empty")
