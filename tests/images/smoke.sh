#!/usr/bin/env bash
# Smoke-tests the images (make images-smoke): the scenario table against gateways, workers and resources run from them.
#
#   tests/images/smoke.sh [build_dir] [venv]      (after make images and make deps-test)
#
# podman cannot start a container in this sandbox (the OCI runtimes' setrlimit is refused), so
# the programs run under `buildah run --isolation chroot` through tests/images/container_exec.py,
# linked as <build_dir>/images/smoke-bin/{gateway,worker,resource-sim}: demo/stack.py takes that
# directory for a build directory. Redis and Kafka run on the host, as in the integration tests.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
build_dir=${1:-build}
venv=${2:-$build_dir/venv}
export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs}
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
version=$(sed -n 's/^project(aggregator VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
bin="$root/$build_dir/images/smoke-bin"
start=$(date +%s)

for p in gateway worker resource-sim web; do
  buildah inspect --type image "localhost/aggregator/$p:$version" >/dev/null 2>&1 \
    || { echo "smoke: localhost/aggregator/$p:$version is missing (run make images)" >&2; exit 1; }
done

echo "== can podman run a container here? =="
if out=$(timeout 60 podman run --rm --pull=never "localhost/aggregator/gateway:$version" --version 2>&1); then
  echo "yes: $out"
else
  echo "no: $out"
fi

rm -rf "$bin" && mkdir -p "$bin"
for p in gateway worker resource-sim; do
  ln -s "$root/tests/images/container_exec.py" "$bin/$p"
  # One start each before the stack's: it writes the wrapper's cache of environment names
  # here, not in three resources starting at once.
  "$bin/$p" --version || { echo "smoke: $p does not start from its image" >&2; exit 1; }
done
leftovers() { buildah containers --format '{{.ContainerName}}' | grep '^agg-smoke-' || true; }
before=$(leftovers)

echo "== web image: web-server serves the page with its security headers =="
failed=0
web_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
web_ctr=$(buildah from --pull=never --name "agg-smoke-web-$$" "localhost/aggregator/web:$version")
# The image's entrypoint with the port moved off 8082, which a demo on this machine may hold.
buildah run --isolation chroot --env WEB_PORT="$web_port" "$web_ctr" -- /usr/local/bin/web-server &
web_pid=$!
served=no
for _ in $(seq 100); do
  if curl -fsS "http://127.0.0.1:$web_port/index.html" 2>/dev/null | cmp -s - web/index.html; then
    served=yes; break
  fi
  sleep 0.1
done
if [ $served = yes ] && ! curl -fsSI "http://127.0.0.1:$web_port/" | grep -qi "^content-security-policy: default-src 'none'"; then
  served="yes, without its Content-Security-Policy"
fi
python3 -c "import signal, sys; sys.path.insert(0, 'tests/images'); import container_exec as c
c.signal_program($web_pid, signal.SIGTERM)"
wait $web_pid 2>/dev/null
buildah rm "$web_ctr" >/dev/null
echo "web: index.html served byte for byte: $served"
[ $served = yes ] || failed=1

echo "== scenario table (tests/integration/test_scenarios.py) against the images =="
AGG_BUILD_DIR="$bin" "$venv/bin/pytest" tests/integration/test_scenarios.py -q -p no:cacheprovider \
  || failed=1

for f in "$bin"/*.writes; do
  [ -e "$f" ] || continue
  echo "smoke: $(basename "$f" .writes) wrote outside /tmp (a read-only root would refuse):" >&2
  cat "$f" >&2
  failed=1
done

echo "== the write check's own test: a container that writes /etc must be caught =="
neg_ctr=$(buildah from --pull=never --name "agg-smoke-negative-$$" "localhost/aggregator/gateway:$version")
buildah run --isolation chroot --user 0:0 "$neg_ctr" -- sh -c 'echo x > /etc/smoke-write; echo y > /tmp/ok'
caught=$(python3 -c "import sys; sys.path.insert(0, 'tests/images'); import container_exec as c
print(' '.join(c.writes_outside_tmp('$neg_ctr')))")
buildah rm "$neg_ctr" >/dev/null
if [ "$caught" = "A /etc/smoke-write" ]; then
  echo "caught: $caught"
else
  echo "smoke: the write check reported '$caught', not 'A /etc/smoke-write'" >&2
  failed=1
fi

after=$(leftovers)
if [ "$after" != "$before" ]; then
  echo "smoke: containers left behind: $after" >&2
  failed=1
fi
echo "== images smoke test done in $(( $(date +%s) - start )) s =="
exit $failed
