#!/usr/bin/env bash
# Runs every workload under partition, kill and pause against a 3-member
# faultline-etcd cluster and a 3-member real etcd cluster, one after the other,
# and prints one line per run: workload, db, exit code, verdict line.
# Usage: scripts/verify-workloads.sh [time-limit-seconds] [workload ...]
# Exit codes of faultline run: 0 valid, 1 anomalies, 2 unknown, 3 could not run.
set -u
limit=${1:-40}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
workloads=("$@")
if [ ${#workloads[@]} -eq 0 ]; then
  workloads=(register append wr bank set watch lock lock-memory kubernetes)
fi
store=${FAULTLINE_STORE:-$root/store}
for w in "${workloads[@]}"; do
  for db in ours etcd; do
    log=$(mktemp "/tmp/fl-verify-$w-$db-XXXX.log")
    node "$root/bin/faultline.js" run --db "$db" --nodes 3 --workload "$w" \
      --nemesis partition,kill,pause --time-limit "$limit" --store "$store" >"$log" 2>&1
    rc=$?
    verdict=$(grep -E '^verdict:|could not run|error' "$log" | tail -1)
    printf '%-12s %-5s exit %d  %s  (%s)\n' "$w" "$db" "$rc" "$verdict" "$log"
  done
done
