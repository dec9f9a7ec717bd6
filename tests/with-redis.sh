#!/usr/bin/env bash
# with-redis: runs a command against a throwaway redis-server (REDIS_TEST_URL) and a 3-master Redis Cluster (REDIS_CLUSTER_TEST_NODES) on free loopback ports.
set -u

if [ "$#" -eq 0 ]; then
    echo "usage: $0 command [args...]" >&2
    exit 2
fi
command -v redis-server >/dev/null 2>&1 || { echo "with-redis: redis-server not found" >&2; exit 2; }
command -v redis-cli >/dev/null 2>&1 || { echo "with-redis: redis-cli not found" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-redis.XXXXXX") || exit 2
pid=""
cluster_pids=()
cluster_ports=()

stop_cluster() {
    local p
    for p in "${cluster_pids[@]}"; do
        kill "$p" 2>/dev/null
    done
    for p in "${cluster_pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    cluster_pids=()
}
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    stop_cluster
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints N distinct free loopback ports (all held open together while chosen, so none repeats).
free_ports() {
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# Starts redis-server with these arguments in the background ($! is its pid). The child drops
# this script's traps first: a TERM that lands before the exec must not run cleanup there.
start_server() {
    (
        trap - EXIT INT TERM
        exec redis-server "$@" >/dev/null 2>&1
    ) &
}

# True when redis-cli gets PONG from 127.0.0.1:$1.
pong() {
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]
}

# Prints the cluster's create output and every node's log, then exits 2.
cluster_fail() {
    echo "with-redis: $1" >&2
    local f
    for f in "$dir/cluster/create.log" "$dir"/cluster/*/redis.log; do
        [ -f "$f" ] || continue
        echo "---- $f" >&2
        tail -n 40 "$f" >&2
    done
    exit 2
}

# Cluster nodes: 3 masters, each with its own data dir and an explicit bus port (port+10000 may
# be past 65535). Started first: a master refuses cluster_state:ok for its first 2 s, so the
# single server and the cluster creation run inside that delay. A node pings a peer when its
# last pong is older than half the node timeout: 1 s while forming spreads the gossip in well
# under a second (the default 15 s takes 1-5 s of redis-cli's one-second polls); it goes back
# to 15 s once the cluster is whole, so a busy test machine never looks like a failed node.
# The port may be taken between choosing and binding: try a few.
mkdir -p "$dir/cluster" || exit 2
for attempt in 1 2 3 4 5; do
    read -r -a ports <<<"$(free_ports 6)" || true
    [ "${#ports[@]}" -eq 6 ] || { echo "with-redis: cannot pick ports" >&2; exit 2; }
    cluster_ports=("${ports[@]:0:3}")
    for i in 0 1 2; do
        p=${ports[$i]}
        mkdir -p "$dir/cluster/$p" || exit 2
        start_server --cluster-enabled yes --cluster-config-file "$dir/cluster/nodes-$p.conf" \
            --cluster-port "${ports[$((i + 3))]}" --cluster-node-timeout 1000 \
            --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir/cluster/$p" \
            --logfile "$dir/cluster/$p/redis.log"
        cluster_pids+=($!)
    done
    # Until every node answers or has died: none is killed before its exec (a TERM that early
    # would run this script's traps in the forked child).
    deadline=$((SECONDS + 10))
    while :; do
        pending=0
        dead=0
        for i in 0 1 2; do
            if ! kill -0 "${cluster_pids[$i]}" 2>/dev/null; then
                dead=1
            elif ! pong "${cluster_ports[$i]}"; then
                pending=1
            fi
        done
        [ "$pending" = 0 ] || [ "$SECONDS" -ge "$deadline" ] && break
        sleep 0.05
    done
    [ "$pending" = 0 ] && [ "$dead" = 0 ] && break
    echo "with-redis: cluster nodes on ports ${ports[*]} did not start (attempt $attempt)" >&2
    stop_cluster
    if [ "$attempt" = 5 ]; then
        cluster_fail "cannot start the cluster nodes"
    fi
    rm -rf "${cluster_ports[@]/#/$dir/cluster/}" "$dir"/cluster/nodes-*.conf
done

# The single server, unchanged: REDIS_TEST_URL.
for attempt in 1 2 3 4 5; do
    port=$(free_ports 1) || { echo "with-redis: cannot pick a port" >&2; exit 2; }
    start_server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log"
    pid=$!
    deadline=$((SECONDS + 10))
    up=0
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
        if pong "$port"; then
            up=1
            break
        fi
        sleep 0.05
    done
    [ "$up" = 1 ] && break
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=""
    echo "with-redis: redis-server on port $port did not start (attempt $attempt)" >&2
done
if [ -z "$pid" ]; then
    cat "$dir/redis.log" >&2 2>/dev/null
    exit 2
fi

# Form the cluster, then wait until every node reports it whole: state ok, all slots assigned,
# all three nodes known.
nodes=""
for p in "${cluster_ports[@]}"; do
    nodes="$nodes${nodes:+ }127.0.0.1:$p"
done
# shellcheck disable=SC2086 # one word per node
if ! redis-cli --cluster create $nodes --cluster-replicas 0 --cluster-yes \
        >"$dir/cluster/create.log" 2>&1; then
    cluster_fail "redis-cli --cluster create failed"
fi
cluster_whole() {
    local p info
    for p in "${cluster_ports[@]}"; do
        info=$(redis-cli -h 127.0.0.1 -p "$p" cluster info 2>/dev/null | tr -d '\r')
        case "$info" in *cluster_state:ok*) ;; *) return 1 ;; esac
        case "$info" in *cluster_slots_assigned:16384*) ;; *) return 1 ;; esac
        case "$info" in *cluster_known_nodes:3*) ;; *) return 1 ;; esac
    done
}
deadline=$((SECONDS + 20))
until cluster_whole; do
    if [ "$SECONDS" -ge "$deadline" ]; then
        for p in "${cluster_ports[@]}"; do
            echo "---- cluster info of 127.0.0.1:$p" >>"$dir/cluster/create.log"
            redis-cli -h 127.0.0.1 -p "$p" cluster info >>"$dir/cluster/create.log" 2>&1
        done
        cluster_fail "the cluster on ${nodes} did not reach cluster_state:ok within 20 s"
    fi
    sleep 0.05
done
for p in "${cluster_ports[@]}"; do
    if [ "$(redis-cli -h 127.0.0.1 -p "$p" config set cluster-node-timeout 15000 2>&1)" != "OK" ]; then
        cluster_fail "cannot set cluster-node-timeout on 127.0.0.1:$p"
    fi
done

export REDIS_TEST_URL="redis://127.0.0.1:$port"
export REDIS_CLUSTER_TEST_NODES="${nodes// /,}"
"$@"
rc=$?
exit "$rc"
