#!/usr/bin/env bash
# Memory over time under a steady write load with auto-compaction: 3 members
# of faultline-etcd, then 3 of real etcd, same flags and ports, each driven by
# `faultline bench` for DURATION seconds; prints every member's RSS once a
# minute (for faultline-etcd also its V8 heap and array buffers, from each
# member's /metrics). Flat means the line stops growing once compaction
# keeps up.
# Usage: scripts/memory-soak.sh [duration-s] [rate] [servers]   (servers: "ours etcd" by default; etcd needs etcd on PATH)
set -u
duration=${1:-600}
rate=${2:-1000}
servers=${3:-ours etcd}
root=$(cd "$(dirname "$0")/.." && pwd)
ic="m1=http://127.0.0.1:25811,m2=http://127.0.0.1:25812,m3=http://127.0.0.1:25813"
eps="http://127.0.0.1:25781,http://127.0.0.1:25782,http://127.0.0.1:25783"
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; }
trap 'cleanup; exit 130' INT TERM
for kind in $servers; do
  d=$(mktemp -d "/tmp/fl-soak-$kind-XXXX")
  pids=()
  for i in 1 2 3; do
    flags=(--name "m$i" --data-dir "$d/m$i" --initial-cluster "$ic" --initial-cluster-token soak
      --listen-client-urls "http://127.0.0.1:2578$i" --advertise-client-urls "http://127.0.0.1:2578$i"
      --listen-peer-urls "http://127.0.0.1:2581$i" --initial-advertise-peer-urls "http://127.0.0.1:2581$i"
      --auto-compaction-mode revision --auto-compaction-retention 10000 --snapshot-count 10000)
    if [ "$kind" = ours ]; then node "$root/bin/faultline-etcd.js" "${flags[@]}" >"$d/m$i.log" 2>&1 &
    else etcd "${flags[@]}" >"$d/m$i.log" 2>&1 &
    fi
    pids+=($!)
  done
  sleep 4
  echo "== $kind: put at $rate/s, 100 clients, keys 16 B over 10000, values 1024 B, $duration s"
  node "$root/bin/faultline.js" bench --endpoints "$eps" --op put --clients 100 --conns 10 --rate "$rate" \
    --key-size 16 --value-size 1024 --key-space 10000 --duration "$duration" --quiet >"$d/bench.log" 2>&1 &
  bench=$!
  # Samples follow the clock, not a count of sleeps, so minute N is N minutes
  # after the load started however long a sample takes.
  started=$SECONDS
  minute=0
  while kill -0 "$bench" 2>/dev/null; do
    if [ $((SECONDS - started)) -ge $((minute * 60)) ]; then
      printf 'minute %2d  RSS MiB:' "$minute"
      minute=$((minute + 1))
      for p in "${pids[@]}"; do printf ' %6.0f' "$(($(ps -o rss= -p "$p" || echo 0) / 1024))"; done
      if [ "$kind" = ours ]; then
        printf '   V8 heap / array buffers MiB:'
        node -e '
          const mib = (t, name) => Math.round(Number(new RegExp(`^${name} (\\S+)`, "m").exec(t)?.[1] ?? NaN) / 1048576);
          (async () => {
            for (const url of process.argv.slice(1)) {
              const t = await fetch(url).then((r) => r.text(), () => undefined);
              process.stdout.write(t === undefined ? " -" : ` ${mib(t, "nodejs_heap_used_bytes")}/${mib(t, "nodejs_array_buffers_bytes")}`);
            }
          })();' http://127.0.0.1:2578{1,2,3}/metrics
      fi
      echo
    fi
    sleep 1
  done
  grep -E 'throughput|latency' "$d/bench.log"
  cleanup
  rm -rf "$d"
done
