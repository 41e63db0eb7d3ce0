#!/usr/bin/env bash
# Times a PollTally restart: from exec of `serve` to its `listening` line (when it accepts
# connections), with the CPU time the process used by then (/proc/<pid>/stat) and the load average.
#
#   Benchmarks/restart.sh DATA [RUNS] [term|kill]
#
# After each start the server is stopped with SIGKILL (default: the folder is left exactly as it
# was, so every run starts from the same snapshot and log tail) or SIGTERM (`term`: it writes a
# final snapshot, so the next run starts from that one). POLLTALLY (default
# .build/release/polltally) picks the binary, NICE a nice level (e.g. -15 under root).
set -euo pipefail
data=${1:?usage: restart.sh DATA [RUNS] [term|kill]}
runs=${2:-5}
stop=${3:-kill}
bin=${POLLTALLY:-.build/release/polltally}
out=$(mktemp) err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT
for _ in $(seq 1 "$runs"); do
  : > "$out"
  start=$(date +%s%N)
  nice -n "${NICE:-0}" "$bin" serve --fsync never --port 0 --data "$data" > "$out" 2> "$err" & pid=$!
  until grep -q listening "$out" 2>/dev/null; do
    sleep 0.002
    kill -0 "$pid" 2>/dev/null || { cat "$err" >&2; exit 1; }
  done
  ready=$(date +%s%N)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  echo "wall $(( (ready - start) / 1000000 )) ms | cpu $(( ticks * 1000 / $(getconf CLK_TCK) )) ms | load $(cut -d' ' -f1 /proc/loadavg) | $(grep recovered "$out")"
  if [ "$stop" = term ]; then kill -TERM "$pid"; else kill -KILL "$pid"; fi
  wait "$pid" 2>/dev/null || true
done
