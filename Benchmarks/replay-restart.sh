#!/usr/bin/env bash
# Replay and restart, PollTally against Redis, on logs of the issue's workload, in one run.
#
#   bash Benchmarks/replay-restart.sh                      # 1,000,000 and 10,000,000 votes, 3 runs each
#   SIZES=1000000 RUNS=5 bash Benchmarks/replay-restart.sh
#   SCRATCH=.build-perf bash Benchmarks/replay-restart.sh  # build in another scratch folder
#
# For each size: a fresh `serve --fsync never` takes that many votes from `polltally bench`
# (100 polls x 4 options, 200,000 voters, 16 connections x 64 in flight), then SIGTERM, which
# writes a final snapshot. Then, RUNS times each, medians printed:
#   - `polltally replay` of the whole log (never a snapshot), page cache warm: events/s;
#   - restart from the final snapshot, and with the snapshots moved away (the whole log), from
#     exec to the `listening` line (Benchmarks/restart.sh);
#   - Redis 7 with an append-only file after the same votes through Benchmarks/vote.lua, from
#     exec until PING answers, as written and after BGREWRITEAOF (Benchmarks/redis-restart.sh).
# Needs redis-server for the Redis rows (skipped, with a note, without it). Takes about 10
# minutes for the default sizes, most of it Redis loading and reloading ten million votes.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-"1000000 10000000"}
runs=${RUNS:-3}
source Benchmarks/lib.sh
build_polltally
work=$(mktemp -d)
server=""
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.1f", a / b; else print "-" }'; }
# The wall times restart.sh prints, one a run.
walls() { sed -n 's/^wall \([0-9]*\) ms.*/\1/p'; }

echo "machine: $(nproc) cores, $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for votes in $sizes; do
    data="$work/pt-$votes"
    start_polltally never "$data"
    "$bin" bench --port "$port" --pid "$server" --votes "$votes" --connections 16 --depth 64 >"$work/bench" 2>&1 ||
        { cat "$work/bench" >&2; exit 1; }
    stop_polltally
    events=$("$bin" verify --data "$data" | sed -n 's/^ok: \([0-9]*\) events.*/\1/p')
    echo
    echo "== $votes votes: $events events, log $(du -ch "$data"/*.log | tail -n 1 | cut -f1), snapshot $(du -h "$(ls "$data"/*.snap | tail -n 1)" | cut -f1)"

    for _ in $(seq "$runs"); do
        begin=$(date +%s%N)
        "$bin" replay --data "$data" >/dev/null
        echo $(( ($(date +%s%N) - begin) / 1000000 ))
    done >"$work/replay"
    replay_ms=$(median <"$work/replay")
    echo "replay: $(tr '\n' ' ' <"$work/replay")ms -> median $replay_ms ms, $(awk -v e="$events" -v ms="$replay_ms" 'BEGIN { printf "%.2f", e / ms / 1e3 }') M events/s"

    snap_ms=$(POLLTALLY="$bin" bash Benchmarks/restart.sh "$data" "$runs" kill | tee "$work/snap" | walls | median)
    echo "restart from the final snapshot: $(walls <"$work/snap" | tr '\n' ' ')ms -> median $snap_ms ms"
    mkdir -p "$work/aside" && mv "$data"/*.snap "$work/aside/"
    full_ms=$(POLLTALLY="$bin" bash Benchmarks/restart.sh "$data" "$runs" kill | tee "$work/full" | walls | median)
    echo "restart from the whole log: $(walls <"$work/full" | tr '\n' ' ')ms -> median $full_ms ms"
    rm -f "$data"/*.snap && mv "$work/aside"/*.snap "$data/"

    if ! command -v redis-server >/dev/null; then
        echo "redis: not installed (apt-get install redis-server): no Redis rows"
        continue
    fi
    POLLTALLY="$bin" bash Benchmarks/redis-restart.sh "$votes" "$runs" >"$work/redis"
    # Its timed restarts come in two blocks: the AOF as written, then after BGREWRITEAOF.
    awk '/^AOF as written/ { on = 1; next } /^AOF after/ { on = 0 } on && /ready after/ { print $3 }' "$work/redis" >"$work/aof"
    awk '/^AOF after/ { on = 1; next } on && /ready after/ { print $3 }' "$work/redis" >"$work/compact"
    aof_ms=$(median <"$work/aof") compact_ms=$(median <"$work/compact")
    echo "redis: $(sed -n 's/^load: RESULT .*votes_per_s=\([0-9]*\).*/loaded at \1 votes\/s;/p' "$work/redis") $(grep -E '^AOF' "$work/redis" | paste -sd ';' -)"
    echo "redis restart, AOF as written: $(tr '\n' ' ' <"$work/aof")ms -> median $aof_ms ms"
    echo "redis restart after BGREWRITEAOF: $(tr '\n' ' ' <"$work/compact")ms -> median $compact_ms ms"
    echo "ratios: restart from the snapshot $(ratio "$compact_ms" "$snap_ms")x faster than Redis after BGREWRITEAOF;" \
         "from the whole log $(ratio "$aof_ms" "$full_ms")x faster than Redis's AOF as written;" \
         "replay $(ratio "$aof_ms" "$replay_ms")x faster than Redis loading its AOF as written"
done
