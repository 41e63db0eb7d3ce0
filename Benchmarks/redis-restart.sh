#!/usr/bin/env bash
# How long Redis takes to be ready again after VOTES votes through Benchmarks/vote.lua with an
# append-only file: the peer of PollTally's restart figures (Docs/PERFORMANCE.md "Restart").
#
#   Benchmarks/redis-restart.sh [VOTES] [RUNS]
#
# Loads the votes (16 connections x 16 in flight, `appendfsync everysec`), shuts Redis down, then
# times RUNS restarts from exec until PING answers PONG (Redis answers LOADING while it replays the
# AOF); then compacts the AOF with BGREWRITEAOF and times RUNS restarts again. POLLTALLY picks the
# binary that runs the bench (default .build/release/polltally).
set -euo pipefail
cd "$(dirname "$0")/.."
votes=${1:-1000000}
runs=${2:-3}
bin=${POLLTALLY:-.build/release/polltally}
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() {
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --appendonly yes --appendfsync everysec \
    --save '' --daemonize no --logfile "$work/redis.log" & pid=$!
}
ready() { [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; }
stop() { redis-cli -p "$port" shutdown nosave > /dev/null 2>&1 || true; wait "$pid" 2>/dev/null || true; pid=""; }
timed_restarts() {
  for _ in $(seq 1 "$runs"); do
    local begin end
    begin=$(date +%s%N)
    start
    until ready; do sleep 0.005; done
    end=$(date +%s%N)
    echo "  ready after $(( (end - begin) / 1000000 )) ms ($(redis-cli -p "$port" dbsize) keys, used_memory_rss $(redis-cli -p "$port" info memory | grep -o 'used_memory_rss_human:[^[:space:]]*'))"
    stop
  done
}

start
until ready; do sleep 0.05; done
"$bin" bench --port "$port" --target redis --redis-script Benchmarks/vote.lua --votes "$votes" \
  --connections 16 --depth 16 2>&1 | grep -E '^RESULT' | sed 's/^/load: /'
stop
echo "AOF as written: $(du -sh "$work" | cut -f1)"
timed_restarts
start
until ready; do sleep 0.05; done
redis-cli -p "$port" bgrewriteaof > /dev/null
until redis-cli -p "$port" info persistence | grep -q 'aof_rewrite_in_progress:0'; do sleep 0.1; done
sleep 0.5
stop
echo "AOF after BGREWRITEAOF: $(du -sh "$work" | cut -f1)"
timed_restarts
