"""scriptcost.py: Redis' own CPU per call of each session script (open, claim, 3 records), on a private redis-server.

Replays whole sessions (session_open, session_claim, three session_record, the last one
completing) with callback events shaped like resource-sim's, and reads Redis' own time per
EVALSHA from INFO commandstats, so the figure is Redis' work alone: no client, no network, no
other process of the stack in the way. With --compare, two script folders run in the same
redis-server, batch by batch, their order swapped every batch, so that the machine's changing
speed (a noisy VM) and the position within a batch fall on both alike. Every reply is checked:
a variant that behaves differently fails instead of looking fast.

    python3 bench/scriptcost.py [--sessions N] [--notes K] [--compare OTHER_DIR] [SCRIPTS_DIR]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from memory import Redis, RedisError, info

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "libagg", "scripts")
SOURCES = ["alpha", "beta", "gamma"]
PHASES = ["open", "claim", "record 1", "record 2", "record 3 (completes)"]
BATCH = 40


def start_redis(tmp):
    """A private redis-server on a Unix socket in tmp (no TCP port), configured as demo/stack.py
    runs it; returns (process, client)."""
    path = os.path.join(tmp, "redis.sock")
    proc = subprocess.Popen(["redis-server", "--port", "0", "--unixsocket", path, "--save", "",
                             "--appendonly", "no", "--dir", tmp, "--active-expire-effort", "10"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while True:
        try:
            r = Redis("unix://" + path, timeout=60)
            if r.cmd("PING") == "PONG":
                return proc, r
        except (OSError, RedisError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)


def evalsha_usec(r):
    """Redis' total time in EVALSHA so far, microseconds (INFO commandstats)."""
    stat = info(r, "commandstats").get("cmdstat_evalsha")
    return float(dict(kv.split("=", 1) for kv in stat.split(","))["usec"]) if stat else 0.0


class Variant:
    """One folder of scripts, loaded into the server; builds a session's five calls (PHASES)."""

    def __init__(self, r, folder, notes):
        self.folder = folder
        self.sha = {}
        for name in ("session_open", "session_claim", "session_record"):
            with open(os.path.join(folder, name + ".lua")) as f:
                self.sha[name] = r.cmd("SCRIPT", "LOAD", f.read()).decode()
        self.notes = notes

    def session(self, now):
        cid = str(uuid.uuid4())
        tag = "agg:{b%02d}:" % (int(cid[:2], 16) % 16)  # one of SESSION_BUCKETS (16), as libagg/session.h
        keys = [tag + cid + ":meta", tag + cid + ":out", tag + cid + ":log", tag + "deadlines",
                tag + "audit"]
        channel = tag + cid + ":ev"
        calls = [Redis.encode("EVALSHA", self.sha["session_open"], 5, *keys, cid, channel, "patient-1",
                              "SSE", now, now + 5000, json.dumps(SOURCES), 300, now,
                              uuid.uuid4().hex, "anonymous"),
                 Redis.encode("EVALSHA", self.sha["session_claim"], 1, keys[0],
                              "".join("%d:%s," % (len(s), s) for s in SOURCES))]
        for i, s in enumerate(SOURCES):
            event = {"source": s, "patientId": "patient-1", "correlationId": cid, "delayMs": 0,
                     "status": "ok", "notes": [
                         {"id": str(uuid.uuid4()), "date": "2026-12-01T10:00:%02dZ" % k,
                          "caregiverId": s + "-caregiver-%d" % k, "patientId": "patient-1",
                          "doctorId": "doctor-%d" % k,
                          "note": "Medication reviewed; dosage unchanged, renewal issued for 3 months."}
                         for k in range(self.notes)]}
            calls.append(Redis.encode("EVALSHA", self.sha["session_record"], 5, *keys, cid, channel, s,
                                      "ok", json.dumps(event, separators=(",", ":")), 300, "patient-1",
                                      now + 1 + i))
        return calls


# What each call answers in the stack (by PHASES); another reply ends the run.
EXPECTED = [lambda rep: rep == 1,
            lambda rep: isinstance(rep, list) and rep[:1] == [b"open"],
            lambda rep: isinstance(rep, list) and rep[:2] == [b"recorded", 1],
            lambda rep: isinstance(rep, list) and rep[:2] == [b"recorded", 2],
            lambda rep: isinstance(rep, list) and rep[:1] == [b"completed"]]


def run(variants, r, sessions):
    """Replays sessions (whole batches) with each variant; returns (sessions replayed, each
    variant's EVALSHA microseconds per phase)."""
    now = int(time.time() * 1000)
    usec = [[0.0] * len(PHASES) for _ in variants]
    done = 0
    while done < sessions:
        order = list(range(len(variants)))
        if (done // BATCH) % 2:
            order.reverse()
        batches = [[v.session(now) for _ in range(BATCH)] for v in variants]
        for phase, expected in enumerate(EXPECTED):
            for k in order:
                before = evalsha_usec(r)
                replies = r.pipeline([s[phase] for s in batches[k]])
                usec[k][phase] += evalsha_usec(r) - before
                bad = next((rep for rep in replies if not expected(rep)), None)
                if bad is not None:
                    raise RuntimeError("%s returned %r" % (PHASES[phase], bad))
        done += BATCH
    return done, usec


def measure(folders, sessions=20000, notes=3, warm_up=2000):
    """Replays sessions with the scripts of each folder (one or two, interleaved); returns
    {"sessions", "notes", "phases", "variants": [{"folder", "us_per_call": [...], "us_per_session"}]}."""
    if not shutil.which("redis-server"):
        raise RuntimeError("redis-server not found (make deps-test installs it)")
    tmp = tempfile.mkdtemp(prefix="scriptcost-")
    proc = None
    try:
        proc, r = start_redis(tmp)
        variants = [Variant(r, f, notes) for f in folders]
        run(variants, r, warm_up)
        n, usec = run(variants, r, sessions)
    except RedisError as e:
        raise RuntimeError("redis: %s" % e)
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return {"sessions": n, "notes": notes, "phases": PHASES,
            "variants": [{"folder": v.folder, "us_per_call": [round(x / n, 2) for x in u],
                          "us_per_session": round(sum(u) / n, 2)} for v, u in zip(variants, usec)]}


def summary_lines(res):
    """The summary.md section (profile `scripts`), or the screen table of main()."""
    if not res:
        return []
    vs = res["variants"]
    names = [os.path.basename(os.path.normpath(v["folder"])) or v["folder"] for v in vs]
    lines = ["", "## Redis' own time per script call (profile `scripts`, bench/scriptcost.py)", "",
             "%d sessions of 3 sources replayed alone on a private redis-server, %d notes per callback; "
             "microseconds of EVALSHA from `INFO commandstats`%s." % (
                 res["sessions"], res["notes"],
                 " (%s)" % res["machine"]["cpu_model"] if res.get("machine") else ""), "",
             "| call | " + " | ".join(names) + (" | ratio |" if len(vs) == 2 else " |"),
             "|---|" + "---|" * (len(vs) + (1 if len(vs) == 2 else 0))]
    for i, name in enumerate(res["phases"] + ["per session"]):
        vals = [v["us_per_session"] if i == len(res["phases"]) else v["us_per_call"][i] for v in vs]
        row = "| %s | " % name + " | ".join("%.1f us" % x for x in vals)
        if len(vals) == 2:
            row += " | %.3f" % (vals[0] / vals[1] if vals[1] else 0)
        lines.append(row + " |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scripts", nargs="?", default=SCRIPTS)
    ap.add_argument("--compare", help="a second scripts folder (e.g. of the version before)")
    ap.add_argument("--sessions", type=int, default=20000)
    ap.add_argument("--notes", type=int, default=3, help="notes per callback (resource-sim's default: 3)")
    ap.add_argument("--warm-up", type=int, default=2000, help="sessions replayed before counting")
    a = ap.parse_args()
    # A SIGTERM ends the run through measure()'s finally, so that no redis-server is left behind.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        res = measure([a.scripts] + ([a.compare] if a.compare else []), a.sessions, a.notes, a.warm_up)
    except RuntimeError as e:
        print("scriptcost: %s" % e, file=sys.stderr)
        return 1
    print("\n".join(summary_lines(res)[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
