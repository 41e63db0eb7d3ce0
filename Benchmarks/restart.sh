#!/usr/bin/env bash
# Times a PollTally restart: from exec of `serve` to its `listening` line (when it accepts
# connections), with the CPU time the process used by then (/proc/<pid>/stat) and the load average.
# The line is read from a pipe as it comes (an earlier version polled a file every 2 ms, and the
# polling took CPU from the start it was timing).
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
out=$(mktemp) err=$(mktemp) fifo=$(mktemp -u)
mkfifo "$fifo"
trap 'rm -f "$out" "$err" "$fifo"' EXIT
for _ in $(seq 1 "$runs"); do
  : > "$out"
  start=$(date +%s%N)
  nice -n "${NICE:-0}" "$bin" serve --fsync never --port 0 --data "$data" > "$fifo" 2> "$err" & pid=$!
  disown "$pid"
  # Block on the server's output rather than poll it: a poller would take CPU from the start it times.
  exec 3< "$fifo"
  while IFS= read -r line <&3; do
    echo "$line" >> "$out"
    case $line in *listening*) break ;; esac
  done
  ready=$(date +%s%N)
  grep -q listening "$out" || { cat "$err" >&2; exit 1; }
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  while ! grep -q recovered "$out" && IFS= read -r -t 5 line <&3; do echo "$line" >> "$out"; done
  echo "wall $(( (ready - start) / 1000000 )) ms | cpu $(( ticks * 1000 / $(getconf CLK_TCK) )) ms | load $(cut -d' ' -f1 /proc/loadavg) | $(grep recovered "$out")"
  if [ "$stop" = term ]; then kill -TERM "$pid"; else kill -KILL "$pid"; fi
  # Drained until it exits (its end of the pipe closes), so a final snapshot's lines never block it.
  cat <&3 > /dev/null
  exec 3<&-
  while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
done
