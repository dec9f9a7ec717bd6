#!/usr/bin/env bash
# Installs the Debian packages given as arguments that are not installed yet (run as root).
set -euo pipefail
mode=build
if [ "${1:-}" = "--test" ]; then mode=test; shift; fi
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node and Java may come from outside Debian on a developer machine: accept working binaries.
if [ "$mode" = test ]; then
  keep=()
  for p in "${missing[@]}"; do
    case "$p" in
      nodejs|npm) command -v node >/dev/null && command -v npm >/dev/null && continue ;;
      default-jre-headless) command -v java >/dev/null && continue ;;
      maven) command -v mvn >/dev/null && continue ;;
    esac
    keep+=("$p")
  done
  missing=("${keep[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
if [ "$(id -u)" != 0 ]; then
  echo "error: missing packages (${missing[*]}); run as root or install them with apt-get" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's prometheus starts its server as a service on install; the tests only need promtool and
# start their own server (make dashboard-snapshot): none is left listening on 9090.
if printf '%s\n' "${missing[@]}" | grep -qx prometheus && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
