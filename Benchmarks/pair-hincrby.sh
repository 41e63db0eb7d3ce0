#!/usr/bin/env bash
# PollTally (`--fsync interval:1000`) and Redis's bare HINCRBY (`appendfsync everysec`) run for
# run, alternating, a fresh server and data folder each: on a shared VM whose speed drifts by a
# third within minutes, pairs taken seconds apart compare better than cells minutes apart.
#
#   bash Benchmarks/pair-hincrby.sh [RUNS] [CONNECTIONS] [DEPTH]     # default 5 64 64
#   VOTES=1000000 SCRATCH=.build-perf bash Benchmarks/pair-hincrby.sh 5 16 16
#   BENCH_ARGS="--client-threads 0" bash Benchmarks/pair-hincrby.sh 5 16 16   # more flags for both benches
#
# Prints each pair and its ratio, then the medians and their ratio. Needs: redis-server.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
connections=${2:-64}
depth=${3:-64}
votes=${VOTES:-1000000}
read -r -a extra <<<"${BENCH_ARGS:-}"
command -v redis-server >/dev/null || { echo "redis-server is not installed: apt-get install redis-server" >&2; exit 1; }
source Benchmarks/lib.sh
build_polltally
work=$(mktemp -d)
server=""
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

rate() { grep '^RESULT' | tr ' ' '\n' | sed -n 's/^votes_per_s=//p'; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

for run in $(seq "$runs"); do
    rm -rf "$work/data" "$work/redis" && mkdir -p "$work/redis"
    start_polltally interval:1000 "$work/data"
    pt=$("$bin" bench --port "$port" --pid "$server" --connections "$connections" --depth "$depth" --votes "$votes" --target polltally "${extra[@]}" 2>>"$work/bench.err" | rate)
    stop_polltally

    port=$((20000 + RANDOM % 40000))
    redis-server --port "$port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes --appendfsync everysec \
        --save '' --daemonize no --logfile "$work/redis/log" &
    server=$!
    for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    hincrby=$("$bin" bench --port "$port" --pid "$server" --connections "$connections" --depth "$depth" --votes "$votes" \
        --target redis --command hincrby "${extra[@]}" 2>>"$work/bench.err" | rate)
    kill -TERM "$server"; wait "$server" || true
    server=""
    echo "pair $run: polltally $pt hincrby $hincrby ratio $(awk -v a="$pt" -v b="$hincrby" 'BEGIN { printf "%.2f", a / b }')" | tee -a "$work/pairs"
done
pt=$(awk '{ print $4 }' "$work/pairs" | median)
hincrby=$(awk '{ print $6 }' "$work/pairs" | median)
echo "medians ($connections x $depth, $votes votes): polltally $pt hincrby $hincrby ratio $(awk -v a="$pt" -v b="$hincrby" 'BEGIN { printf "%.2f", a / b }')"
