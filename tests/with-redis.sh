#!/usr/bin/env bash
# with-redis: runs a command against a throwaway redis-server on a free loopback port (REDIS_TEST_URL).
set -u

if [ "$#" -eq 0 ]; then
    echo "usage: $0 command [args...]" >&2
    exit 2
fi
command -v redis-server >/dev/null 2>&1 || { echo "with-redis: redis-server not found" >&2; exit 2; }
command -v redis-cli >/dev/null 2>&1 || { echo "with-redis: redis-cli not found" >&2; exit 2; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/with-redis.XXXXXX") || exit 2
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The port may be taken between choosing and binding: try a few.
for attempt in 1 2 3 4 5; do
    port=$(free_port) || { echo "with-redis: cannot pick a port" >&2; exit 2; }
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/redis.log" >/dev/null 2>&1 &
    pid=$!
    deadline=$((SECONDS + 10))
    up=0
    while [ "$SECONDS" -lt "$deadline" ] && kill -0 "$pid" 2>/dev/null; do
        if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
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

export REDIS_TEST_URL="redis://127.0.0.1:$port"
"$@"
rc=$?
exit "$rc"
