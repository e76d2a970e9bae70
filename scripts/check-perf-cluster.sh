#!/usr/bin/env bash
# etcdctl check perf against a 3-member cluster: faultline-etcd, then real
# etcd 3.4, same flags and ports, one after the other.
# Usage: scripts/check-perf-cluster.sh [s|m|l|xl]   (needs etcd and etcdctl on PATH)
set -u
load=${1:-m}
root=$(cd "$(dirname "$0")/.." && pwd)
ic="m1=http://127.0.0.1:25801,m2=http://127.0.0.1:25802,m3=http://127.0.0.1:25803"
eps="127.0.0.1:25791,127.0.0.1:25792,127.0.0.1:25793"
for kind in ours etcd; do
  d=$(mktemp -d "/tmp/fl-perf3-$kind-XXXX")
  pids=()
  for i in 1 2 3; do
    flags=(--name "m$i" --data-dir "$d/m$i" --initial-cluster "$ic" --initial-cluster-token perf
      --listen-client-urls "http://127.0.0.1:2579$i" --advertise-client-urls "http://127.0.0.1:2579$i"
      --listen-peer-urls "http://127.0.0.1:2580$i" --initial-advertise-peer-urls "http://127.0.0.1:2580$i")
    if [ "$kind" = ours ]; then node "$root/bin/faultline-etcd.js" "${flags[@]}" >"$d/m$i.log" 2>&1 &
    else etcd "${flags[@]}" >"$d/m$i.log" 2>&1 &
    fi
    pids+=($!)
  done
  sleep 4
  echo "== $kind, 3 members (check perf --load=$load)"
  etcdctl --endpoints "$eps" check perf --load="$load" 2>&1 | tr '\r' '\n' | grep -E '^(PASS|FAIL)'
  for p in "${pids[@]}"; do ps -o rss= -p "$p"; done | awk '{printf "member RSS at the end: %.0f MiB\n", $1/1024}'
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null
  rm -rf "$d"
done
