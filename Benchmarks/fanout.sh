#!/usr/bin/env bash
# One fan-out run: a fresh `--fsync never` server, Benchmarks/watchers.py holding WATCHERS
# connections on p0 (0: it only creates the bench's 100 polls), and `polltally bench` voting with
# 16 connections x 16 in flight. Prints one line: votes/s, the CPU of the server, the watchers, the
# bench and every other process during the bench (a run is clean when "other" stays under
# 0.15 s), and the watchers' summary (lines per watcher, the last line they all ended on).
#
#   Benchmarks/fanout.sh [WATCHERS] [VOTES]      # alternate 0 and 1000 a few times
#
# POLLTALLY picks the binary (default .build/release/polltally). Docs/PERFORMANCE.md "Fan-out".
set -euo pipefail
cd "$(dirname "$0")/.."
watchers=${1:-1000}
votes=${2:-300000}
bin=${POLLTALLY:-.build/release/polltally}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" serve --port 0 --data "$work/data" --fsync never > "$work/serve.out" 2> "$work/serve.err" & server=$!
until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.01; done
port=$(grep -o 'listening on [^ ]*' "$work/serve.out" | grep -o '[0-9]*$')
python3 -u Benchmarks/watchers.py --port "$port" --watchers "$watchers" --poll p0 --create-polls 100 > "$work/watchers.out" 2>&1 & reader=$!
if [ "$watchers" = 0 ]; then wait "$reader"; reader=""; else
  until grep -q '^watching' "$work/watchers.out"; do sleep 0.02; done
fi
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
busy() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
s0=$(cpu "$server"); r0=${reader:+$(cpu "$reader")}; t0=$(busy)
/usr/bin/time -f "%U %S" -o "$work/bench.time" "$bin" bench --port "$port" --votes "$votes" --connections 16 --depth 16 --setup no --pid "$server" > "$work/bench.out" 2>&1
s1=$(cpu "$server"); r1=${reader:+$(cpu "$reader")}; t1=$(busy)
bench=$(awk '{printf "%d", ($1 + $2) * 100}' "$work/bench.time")
ms() { echo "$(( $1 * 1000 / $(getconf CLK_TCK) ))ms"; }
server_cpu=$((s1 - s0)); reader_cpu=$(( ${r1:-0} - ${r0:-0} )); all=$((t1 - t0))
rate=$(grep -o 'votes_per_s=[0-9]*' "$work/bench.out" | head -1)
sleep 0.3
if [ -n "$reader" ]; then kill -INT "$reader"; wait "$reader" || true; fi
kill -INT "$server"; wait "$server" || true
echo "watchers=$watchers $rate server=$(ms $server_cpu) watchers=$(ms $reader_cpu) bench=$(ms $bench) other=$(ms $((all - server_cpu - reader_cpu - bench))) | $(tail -n 2 "$work/watchers.out" | tr '\n' ' ')"
