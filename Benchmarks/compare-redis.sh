#!/usr/bin/env bash
# PollTally vs Redis on the same machine, in the same run, at equal durability.
#
#   bash Benchmarks/compare-redis.sh                        # 1,000,000 votes per run, 3 runs per cell
#   VOTES=200000 RUNS=1 bash Benchmarks/compare-redis.sh    # a quick pass
#
# Scenarios (each server gets a fresh process, data folder and ephemeral port for every run):
#   always   16x16  polltally --fsync always         vs  redis appendonly yes, appendfsync always
#   interval 16x16  polltally --fsync interval:1000  vs  redis appendfsync everysec (and bare HINCRBY, and the PING floor)
#   interval 64x64  same, 64 connections x 64 in flight
#   always   1x1    one connection, one request in flight: latency, next to the disk's fdatasync and the PING floor
# Redis runs Benchmarks/vote.lua (the same work as a PollTally VOTE: option check, per-voter
# current option, move, PUBLISH); "redis-hincrby" is a bare counter for scale, not verified.
# "polltally-ping" and "redis-ping" send PING instead of votes (PollTally answers it on the connection:
# no shard, no log; Redis an inline PING), each against a fresh server too: the floor, the fastest any
# server answers this client on this machine; nothing to verify. Their "votes/s" are PINGs/s.
# The cells hold medians over RUNS runs; every vote run checks the final tallies.
#
# Environment:
#   VOTES=1000000        votes (or PINGs) per run (16x16, 64x64)
#   LATENCY_VOTES=5000   votes (or PINGs) per run in the 1x1 scenario (each vote waits for an fdatasync)
#   RUNS=3               runs per cell
#   DISK_SYNCS=2000      64-byte write+fdatasync samples for each disk probe (append, overwrite)
#   SCRATCH=path         --scratch-path for swift build (default: the package's .build)
#   KEEP=1               keep the temporary folder (server logs, each bench's full output)
#   BENCH_ARGS="..."     more flags for every bench run, e.g. "--client-threads 0" for the load
#                        generator's thread-per-connection mode (the default is one thread per core)
#   SWEEP="1 2 4 8 16 32 64"
#                        instead of the scenarios above: throughput against the number of
#                        connections, each at SWEEP_DEPTH (16) requests in flight, under interval
#                        (vs everysec) and always (vs always); writes the medians to SVG
#                        (default Docs/scaling.svg) with Benchmarks/plot-scaling.py
set -euo pipefail
cd "$(dirname "$0")/.."

VOTES=${VOTES:-1000000}
LATENCY_VOTES=${LATENCY_VOTES:-5000}
RUNS=${RUNS:-3}
read -r -a BENCH_EXTRA <<<"${BENCH_ARGS:-}"
DISK_SYNCS=${DISK_SYNCS:-2000}
SCRATCH=${SCRATCH:-}
KEEP=${KEEP:-0}
SWEEP=${SWEEP:-}
SWEEP_DEPTH=${SWEEP_DEPTH:-16}
SVG=${SVG:-Docs/scaling.svg}

if ! command -v redis-server >/dev/null; then
    echo "redis-server is not installed: apt-get install redis-server" >&2
    exit 1
fi

build=(swift build -c release)
[[ -n $SCRATCH ]] && build+=(--scratch-path "$SCRATCH")
echo "building: ${build[*]}"
if ! build_log=$("${build[@]}" 2>&1); then
    echo "$build_log" | grep -E "error|warning" >&2 || echo "$build_log" | tail -n 20 >&2
    exit 1
fi
echo "$build_log" | tail -n 1
BIN="$("${build[@]}" --show-bin-path)/polltally"
[[ -x $BIN ]] || { echo "no binary at $BIN" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/polltally-compare.XXXXXX")
RESULTS="$WORK/results"
: >"$RESULTS"
SERVER_PID=""
FAILURES=0

cleanup() {
    if [[ -n $SERVER_PID ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ $KEEP == 1 ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

stop_server() {
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

# A TCP port nobody is listening on right now (the server's bind is the real check).
free_port() {
    local port
    for _ in $(seq 50); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# Whether a Redis on $1 answers PING.
redis_ready() {
    (
        exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && read -r -t 1 reply <&3 && [[ $reply == "+PONG"* ]]
    ) 2>/dev/null
}

# start_polltally FSYNC DIR: sets SERVER_PID and PORT.
start_polltally() {
    "$BIN" serve --port 0 --data "$2/data" --fsync "$1" >"$2/server.out" 2>"$2/server.err" &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 200); do
        local line
        line=$(head -n 1 "$2/server.out" 2>/dev/null || true)
        if [[ $line == "polltally listening on "* ]]; then
            PORT=${line##*:}
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "polltally did not start:" >&2
    cat "$2/server.err" >&2
    return 1
}

# start_redis APPENDFSYNC DIR: sets SERVER_PID and PORT; retries when the port was taken meanwhile.
start_redis() {
    for _ in 1 2 3; do
        PORT=$(free_port)
        redis-server --port "$PORT" --bind 127.0.0.1 --dir "$2" --appendonly yes --appendfsync "$1" \
            --save '' --daemonize no --logfile "$2/redis.log" &
        SERVER_PID=$!
        for _ in $(seq 200); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            if redis_ready "$PORT"; then return 0; fi
            sleep 0.05
        done
        stop_server
    done
    echo "redis-server did not start:" >&2
    tail -n 5 "$2/redis.log" >&2
    return 1
}

# bench SCENARIO SERVER CONNECTIONS DEPTH VOTES BENCH-ARGS...: one run against the running server.
bench() {
    local scenario=$1 server=$2 connections=$3 depth=$4 votes=$5 dir=$6
    shift 6
    if "$BIN" bench --port "$PORT" --pid "$SERVER_PID" --connections "$connections" --depth "$depth" \
        --votes "$votes" "$@" "${BENCH_EXTRA[@]}" >"$dir/bench.out" 2>"$dir/bench.err"; then
        :
    else
        FAILURES=$((FAILURES + 1))
        echo "  FAILED: $server in '$scenario':" >&2
        tail -n 15 "$dir/bench.out" "$dir/bench.err" >&2
    fi
    local result
    result=$(grep '^RESULT ' "$dir/bench.out" || true)
    if [[ -n $result ]]; then
        if [[ $server == *-ping && $result != *" errors=0 "* ]]; then
            FAILURES=$((FAILURES + 1))
            echo "  FAILED: $server in '$scenario' got replies other than PONG:" >&2
            grep -E '^  error reply: ' "$dir/bench.out" >&2 || true
        fi
        echo "S=$scenario SERVER=$server $result" >>"$RESULTS"
        echo "  $server: $(sed -e 's/^RESULT //' <<<"$result" | tr ' ' '\n' | grep -E '^(votes_per_s|p50_us|p99_us|max_us|errors|verified)=' | paste -sd ' ')"
    fi
}

# run_polltally SCENARIO SERVER FSYNC CONNECTIONS DEPTH VOTES BENCH-ARGS...: one bench against a fresh polltally.
run_polltally() {
    local index=$1 server=$2 fsync=$3 connections=$4 depth=$5 votes=$6 dir
    shift 6
    dir=$(mktemp -d "$WORK/$server.XXXX")
    start_polltally "$fsync" "$dir"
    bench "$index" "$server" "$connections" "$depth" "$votes" "$dir" --target polltally "$@"
    stop_server
    if grep -v -E '^polltally: (signal 15, shutting down|log synced, bye)$' "$dir/server.err" | grep -q .; then
        echo "  note: $server stderr:"; sed 's/^/    /' "$dir/server.err" | head -n 10
    fi
    rm -rf "$dir/data"
}

# run_redis SCENARIO SERVER APPENDFSYNC CONNECTIONS DEPTH VOTES BENCH-ARGS...: one bench against a fresh Redis.
run_redis() {
    local index=$1 server=$2 fsync=$3 connections=$4 depth=$5 votes=$6 dir
    shift 6
    dir=$(mktemp -d "$WORK/$server.XXXX")
    start_redis "$fsync" "$dir"
    bench "$index" "$server" "$connections" "$depth" "$votes" "$dir" --target redis "$@"
    stop_server
    rm -rf "$dir/appendonlydir"
}

# run_scenario INDEX NAME PT-FSYNC REDIS-FSYNC CONNECTIONS DEPTH VOTES WITH-HINCRBY WITH-PING
run_scenario() {
    local index=$1 name=$2 ptfsync=$3 redisfsync=$4 connections=$5 depth=$6 votes=$7 hincrby=$8 ping=$9
    local cell=("$connections" "$depth" "$votes")
    for run in $(seq "$RUNS"); do
        echo "[$name] run $run/$RUNS: $votes votes, polltally --fsync $ptfsync, redis appendfsync $redisfsync"
        run_polltally "$index" polltally "$ptfsync" "${cell[@]}"
        run_redis "$index" redis "$redisfsync" "${cell[@]}" --redis-script Benchmarks/vote.lua
        if [[ $hincrby == yes ]]; then
            run_redis "$index" redis-hincrby "$redisfsync" "${cell[@]}" --command hincrby
        fi
        if [[ $ping == yes ]]; then
            run_polltally "$index" polltally-ping "$ptfsync" "${cell[@]}" --command ping
            run_redis "$index" redis-ping "$redisfsync" "${cell[@]}" --command ping
        fi
    done
}

# median SCENARIO SERVER FIELD over the runs ("-" when there is none).
median() {
    grep "^S=$1 SERVER=$2 " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$3=//p" | grep -E '^[0-9.]+$' | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}

# The distinct values of FIELD over the runs, e.g. "yes" or "yes/no".
distinct() {
    grep "^S=$1 SERVER=$2 " "$RESULTS" | tr ' ' '\n' | sed -n "s/^$3=//p" | sort -u | paste -sd / -
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2fx", a / b }'
}

mib() {
    awk -v b="$1" 'BEGIN { if (b == "-") print "-"; else printf "%.1f", b / 1048576 }'
}

disk_probe() {
    "$BIN" bench --disk-sync "$DISK_SYNCS" --dir "$WORK" | sed 's/^/  /'
}

echo
echo "machine: $(nproc) cores, $(uname -sr), $(redis-server --version | cut -d' ' -f1-3), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "disk ($DISK_SYNCS x 64-byte write + fdatasync in $WORK, appending, then overwriting zeros as PollTally's log does):"
disk_probe

SCENARIOS=(
    "always 16x16|always|always|16|16|$VOTES|no|no"
    "interval 16x16|interval:1000|everysec|16|16|$VOTES|yes|yes"
    "interval 64x64|interval:1000|everysec|64|64|$VOTES|yes|yes"
    "always 1x1|always|always|1|1|$LATENCY_VOTES|no|yes"
)
if [[ -n $SWEEP ]]; then
    SCENARIOS=()
    for connections in $SWEEP; do
        SCENARIOS+=("interval ${connections}x$SWEEP_DEPTH|interval:1000|everysec|$connections|$SWEEP_DEPTH|$VOTES|no|no")
        SCENARIOS+=("always ${connections}x$SWEEP_DEPTH|always|always|$connections|$SWEEP_DEPTH|$VOTES|no|no")
    done
fi
for index in "${!SCENARIOS[@]}"; do
    IFS='|' read -r name ptfsync redisfsync connections depth votes hincrby ping <<<"${SCENARIOS[$index]}"
    run_scenario "$index" "$name" "$ptfsync" "$redisfsync" "$connections" "$depth" "$votes" "$hincrby" "$ping"
done

echo
echo "disk again, after the runs:"
disk_probe
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"

echo
echo "medians of $RUNS run(s); latency in microseconds; ratios are a / b (votes/s: >1 is a faster; latency, RSS: <1 is a lower)"
echo "the -ping rows are the floor (votes/s = PINGs/s); polltally/polltally-ping is the vote load as a share of PollTally's floor,"
echo "polltally-ping/redis-ping how PollTally's floor compares with Redis's"
format="%-16s %-26s %10s %9s %9s %10s %10s %8s %7s %9s\n"
printf "$format" scenario server votes/s p50_us p99_us p99.9_us max_us RSS_MiB errors verified
for index in "${!SCENARIOS[@]}"; do
    IFS='|' read -r name _ _ _ _ _ hincrby ping <<<"${SCENARIOS[$index]}"
    servers=(polltally redis)
    pairs=(polltally/redis)
    if [[ $hincrby == yes ]]; then
        servers+=(redis-hincrby)
        pairs+=(polltally/redis-hincrby)
    fi
    if [[ $ping == yes ]]; then
        servers+=(polltally-ping redis-ping)
        pairs+=(polltally/polltally-ping redis/redis-ping polltally-ping/redis-ping)
    fi
    label=$name
    for server in "${servers[@]}"; do
        printf "$format" "$label" "$server" "$(median "$index" "$server" votes_per_s)" "$(median "$index" "$server" p50_us)" \
            "$(median "$index" "$server" p99_us)" "$(median "$index" "$server" p999_us)" "$(median "$index" "$server" max_us)" \
            "$(mib "$(median "$index" "$server" peak_rss_bytes)")" "$(median "$index" "$server" errors)" "$(distinct "$index" "$server" verified)"
        label=""
    done
    for pair in "${pairs[@]}"; do
        row=("" "$pair")
        for field in votes_per_s p50_us p99_us p999_us max_us peak_rss_bytes; do
            row+=("$(ratio "$(median "$index" "${pair%/*}" "$field")" "$(median "$index" "${pair#*/}" "$field")")")
        done
        printf "$format" "${row[@]}" "" ""
    done
done

if [[ -n $SWEEP ]]; then
    csv="$WORK/scaling.csv"
    echo "fsync,connections,depth,server,votes_per_s" >"$csv"
    for index in "${!SCENARIOS[@]}"; do
        IFS='|' read -r name ptfsync _ connections depth _ _ _ <<<"${SCENARIOS[$index]}"
        for server in polltally redis; do
            echo "${ptfsync%%:*},$connections,$depth,$server,$(median "$index" "$server" votes_per_s)" >>"$csv"
        done
    done
    python3 Benchmarks/plot-scaling.py "$csv" "$SVG" \
        "$(date -u +%Y-%m-%d), $(nproc) cores, medians of $RUNS run(s) of $VOTES votes, depth $SWEEP_DEPTH"
    echo
    echo "plot: $SVG (data: $(tr '\n' ' ' <"$csv"))"
fi

if ((FAILURES > 0)); then
    echo
    echo "$FAILURES bench run(s) failed (mismatched tallies, a broken connection or a PING not answered PONG); see above"
    exit 1
fi
