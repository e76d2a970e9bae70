#!/usr/bin/env bash
# etcdctl check perf against ONE member: faultline-etcd, then real etcd 3.4,
# started with the same flags on the same ports, one after the other.
# Usage: scripts/check-perf-single.sh [s|m|l|xl]   (needs etcd and etcdctl on PATH)
set -u
load=${1:-m}
root=$(cd "$(dirname "$0")/.." && pwd)
for kind in ours etcd; do
  d=$(mktemp -d "/tmp/fl-perf-$kind-XXXX")
  flags=(--name default --data-dir "$d/data"
    --listen-client-urls http://127.0.0.1:25790 --advertise-client-urls http://127.0.0.1:25790
    --listen-peer-urls http://127.0.0.1:25800 --initial-advertise-peer-urls http://127.0.0.1:25800
    --initial-cluster default=http://127.0.0.1:25800)
  if [ "$kind" = ours ]; then node "$root/bin/faultline-etcd.js" "${flags[@]}" >"$d/log" 2>&1 &
  else etcd "${flags[@]}" >"$d/log" 2>&1 &
  fi
  pid=$!
  sleep 2
  echo "== $kind (check perf --load=$load)"
  etcdctl --endpoints 127.0.0.1:25790 check perf --load="$load" 2>&1 | tr '\r' '\n' | grep -E '^(PASS|FAIL)'
  ps -o rss= -p "$pid" | awk '{printf "server RSS at the end: %.0f MiB\n", $1/1024}'
  kill "$pid"; wait "$pid" 2>/dev/null
  rm -rf "$d"
done
