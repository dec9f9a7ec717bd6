#!/usr/bin/env bash
# make dashboard-snapshot: runs the stack (real Kafka) under a known workload, scrapes it with a private Prometheus and draws the dashboard into docs/images/dashboard.png.
#
#   scripts/dashboard-snapshot.sh [BUILD_DIR] [OUT.png]     (SNAPSHOT_SECONDS, default 60)
#
# Grafana is not in Debian: scripts/dashboard-page.html draws the panels of
# helm/aggregator/files/grafana-dashboard.json from Prometheus' query_range API instead.
set -euo pipefail
build_dir=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/docs/images/dashboard.png}
cd "$root"
case "$build_dir" in /*) ;; *) build_dir="$root/$build_dir" ;; esac
seconds=${SNAPSHOT_SECONDS:-60}
for b in gateway worker resource-sim; do
  [ -x "$build_dir/$b" ] || { echo "dashboard-snapshot: $build_dir/$b not found (make build)" >&2; exit 2; }
done
command -v prometheus >/dev/null || { echo "dashboard-snapshot: prometheus not found (make deps-test)" >&2; exit 2; }

work=$(mktemp -d "$build_dir/dashboard-snapshot.XXXXXX")
stack_pid="" prom_pid=""
cleanup() {
  [ -n "$prom_pid" ] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null
  [ -n "$stack_pid" ] && kill "$stack_pid" 2>/dev/null && wait "$stack_pid" 2>/dev/null
  true
}
trap cleanup EXIT

# Waits until the command succeeds, or fails after $1 seconds saying $2.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )) what=$2; shift 2
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || { echo "dashboard-snapshot: timed out waiting for $what (logs: $work)" >&2; return 1; }
    sleep 0.5
  done
}

echo "dashboard-snapshot: starting the stack (real Kafka; logs in $work)"
# A 5-failure breaker with a 5 s cooldown: the faulty window below opens and reopens a circuit.
python3 demo/stack.py --build-dir "$build_dir" --kafka real --free-ports --gateways 2 --workers 2 \
  --json-out "$work/stack.json" --env BREAKER_FAILURES=5 --env BREAKER_COOLDOWN_MS=5000 \
  >"$work/stack.out" 2>"$work/stack.err" &
stack_pid=$!
stack_up() { kill -0 "$stack_pid" || { tail -20 "$work/stack.err" >&2; exit 1; }; test -s "$work/stack.json"; }
wait_until 240 "the stack" stack_up

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 - "$work/stack.json" >"$work/prometheus.yml" <<'PY'
import json, sys, urllib.parse
info = json.load(open(sys.argv[1]))
def hosts(urls):
    return [urllib.parse.urlsplit(u).netloc for u in urls]
print("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:")
for job, urls in (("aggregator", info["gateways"]), ("aggregator-worker", info["workers"]),
                  ("aggregator-resource", info["resources"])):
    print("  - job_name: %s\n    metrics_path: /actuator/prometheus\n    static_configs:\n      - targets: %s"
          % (job, json.dumps(hosts(urls))))
PY
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$port" --log.level=warn >"$work/prometheus.log" 2>&1 &
prom_pid=$!
wait_until 30 "Prometheus" curl -fs "http://127.0.0.1:$port/-/ready"

echo "dashboard-snapshot: workload for ${seconds} s"
start=$(date +%s)
python3 - "$work/stack.json" "$seconds" <<'PY'
# The known workload: 4 sessions/s through both gateways, SSE streams read to their summary, and
# in every 10: slow answers, a timeout, a refusal, a resource error, a bad request and an unknown
# route; from 1/3 to 2/3 of the run the third resource answers every call with 500 (its circuit opens).
import concurrent.futures, json, sys, threading, time, urllib.error, urllib.request
info, seconds = json.load(open(sys.argv[1])), float(sys.argv[2])
gateways = info["gateways"]
ROWS = [("500,1000,2000", 5000, "SSE"), ("100,300,800", 5000, "WAIT_FOR_EVERYONE"), ("0,0,0", 5000, "SSE"),
        ("200,1500,3000", 2000, "SSE"), ("-1,0,0", 5000, "WAIT_FOR_EVERYONE"), ("0,-2,1500", 5000, "SSE"),
        ("50,50,50", 5000, "WAIT_FOR_EVERYONE"), ("0,400,2500", 5000, "SSE"), ("bad", 0, ""), ("404", 0, "")]
def call(url, body=None, timeout=30):
    req = urllib.request.Request(url, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
def session(i, faulty):
    base = gateways[i % len(gateways)]
    delays, timeout, strategy = ROWS[i % len(ROWS)]
    if delays == "bad":
        return call(base + "/aggregate/journals", {"patientId": "", "delays": "x"})[0]
    if delays == "404":
        return call(base + "/no/such/route")[0]
    d = [int(x) for x in delays.split(",")]
    if faulty:
        d[2] = -2
    status, body = call(base + "/aggregate/journals",
                        {"patientId": "patient-%d" % i, "delays": d, "timeoutMs": timeout, "strategy": strategy})
    if strategy == "SSE" and status == 202:
        cid = json.loads(body)["correlationId"]
        call(base + "/aggregate/stream?correlationId=" + cid, timeout=timeout / 1000 + 10)
    return status
statuses = {}
with concurrent.futures.ThreadPoolExecutor(64) as pool:
    t0, futures, i = time.monotonic(), [], 0
    while time.monotonic() - t0 < seconds:
        phase = (time.monotonic() - t0) / seconds
        futures.append(pool.submit(session, i, 1 / 3 <= phase < 2 / 3))
        i += 1
        time.sleep(max(0.0, t0 + i * 0.25 - time.monotonic()))
    for f in futures:
        s = f.result()
        statuses[s] = statuses.get(s, 0) + 1
print("dashboard-snapshot: %d requests, statuses %s" % (i, dict(sorted(statuses.items()))))
PY
end=$(date +%s)
# The last scrape after the workload: Prometheus' newest sample of up is at or after the end.
scraped() {
  curl -fs "http://127.0.0.1:$port/api/v1/query?query=min(timestamp(up))" \
    | python3 -c "import json,sys; r=json.load(sys.stdin)['data']['result']; sys.exit(0 if r and float(r[0]['value'][1]) >= $end else 1)"
}
wait_until 20 "the last scrape" scraped
node scripts/dashboard-render.mjs "http://127.0.0.1:$port" "$start" "$end" "$out"
echo "dashboard-snapshot: $(du -k "$out" | cut -f1) KiB"
