#!/usr/bin/env bash
# Where the CPU of one bench run goes: the server's user and system time (from /proc/PID/stat)
# next to the load generator's (from /usr/bin/time), and the votes/s, for one fresh server.
# On two cores the load generator and the server share the machine; this says how.
#
#   bash Benchmarks/cpu-split.sh [FSYNC] [CONNECTIONS] [DEPTH] [VOTES] [BENCH FLAGS...]
#   bash Benchmarks/cpu-split.sh interval:1000 16 16 1000000 --client-threads 0
#
# Defaults: interval:1000 16 16 1000000. SCRATCH=path builds with --scratch-path.
set -euo pipefail
cd "$(dirname "$0")/.."
fsync=${1:-interval:1000}
connections=${2:-16}
depth=${3:-16}
votes=${4:-1000000}
shift $(( $# < 4 ? $# : 4 ))
source Benchmarks/lib.sh
build_polltally
work=$(mktemp -d)
server=""
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
start_polltally "$fsync" "$work/data"
ticks=$(getconf CLK_TCK)
/usr/bin/time -o "$work/time" -f "%U %S" "$bin" bench --port "$port" --pid "$server" --connections "$connections" \
    --depth "$depth" --votes "$votes" "$@" >"$work/bench" 2>/dev/null || { cat "$work/bench"; exit 1; }
# Fields 14 and 15 of /proc/PID/stat: user and system time in clock ticks (the name, field 2, has no spaces here).
read -r user system < <(awk '{ print $14, $15 }' "/proc/$server/stat")
stop_polltally
read -r bench_user bench_system <"$work/time"
grep '^RESULT' "$work/bench" | tr ' ' '\n' | grep -E '^(votes_per_s|client_threads|verified)=' | paste -sd ' ' -
awk -v u="$user" -v s="$system" -v t="$ticks" -v bu="$bench_user" -v bs="$bench_system" -v v="$votes" 'BEGIN {
    printf "server CPU %.2f s (user %.2f, system %.2f): %.2f us a vote\n", (u + s) / t, u / t, s / t, (u + s) / t / v * 1e6
    printf "bench  CPU %.2f s (user %.2f, system %.2f): %.2f us a vote\n", bu + bs, bu, bs, (bu + bs) / v * 1e6
}'
