#!/usr/bin/env bash
# End-to-end: drives a real `polltally serve` with real netcat, the way people use it.
# usage: Tests/e2e/netcat.sh path/to/polltally
set -euo pipefail
BIN=${1:?usage: netcat.sh path/to/polltally}
DATA=$(mktemp -d)
OUT=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true; rm -rf "$DATA" "$OUT"; }
trap cleanup EXIT

pass=0
fail=0
check() { # name expected actual
    if [ "$2" == "$3" ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1"; echo "  expected: $2"; echo "  actual:   $3"; fi
}

start() {
    "$BIN" serve --port 0 --data "$DATA" "$@" >"$OUT/serve.out" 2>"$OUT/serve.err" &
    PID=$!
    for _ in $(seq 1 100); do
        PORT=$(sed -n 's/^polltally listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$OUT/serve.out")
        [ -n "$PORT" ] && return 0
        sleep 0.05
    done
    echo "server did not start"; cat "$OUT/serve.err"; exit 1
}

say() { printf "$1" | nc -N 127.0.0.1 "$PORT"; }

start
check "ping" "PONG" "$(say 'PING\n')"
check "create" "OK 1" "$(say 'CREATE priority climate,poverty,health,peace Which global issue should be the top priority for world leaders?\n')"
check "votes pipelined in one nc -N" "OK 2 OK 3 OK 4 OK 2" "$(say 'VOTE priority ana climate\nVOTE priority ben peace\nvote priority cleo climate\nVOTE priority ana climate\n' | tr '\n' ' ' | sed 's/ $//')"
check "move" "OK 5" "$(say 'VOTE priority ben health\n')"
check "tally" "TALLY priority 5 open climate=2 poverty=0 health=1 peace=0 total=3" "$(say 'TALLY priority\n')"
check "errors" "ERR no-such-poll ERR no-such-option ERR unknown-command ERR bad-request ERR poll-exists" \
    "$(say 'VOTE nope a b\nVOTE priority dan jazz\nFROB\nVOTE priority\nCREATE priority a,b\n' | cut -d' ' -f1-2 | tr '\n' ' ' | sed 's/ $//')"
check "line too long keeps the connection" "ERR line-too-long PONG" \
    "$( (head -c 10000 /dev/zero | tr '\0' 'x'; printf '\nPING\n') | nc -N 127.0.0.1 "$PORT" | cut -d' ' -f1-2 | tr '\n' ' ' | sed 's/ $//')"
check "binary junk gets an ERR" "ERR" "$(printf '\x00\xff\xfe junk\n' | nc -N 127.0.0.1 "$PORT" | cut -d' ' -f1)"

# A watcher that half-closed right after WATCH keeps receiving updates.
(printf 'WATCH priority\n' | timeout 3 nc -N 127.0.0.1 "$PORT" >"$OUT/watch.out" || true) &
WATCHER=$!
sleep 0.5
say 'VOTE priority dan poverty\nVOTE priority eve poverty\n' >/dev/null
sleep 0.5
check "watch reply" "OK watching 1" "$(head -n 1 "$OUT/watch.out")"
check "watch first update" "UPDATE priority 5 open climate=2 poverty=0 health=1 peace=0 total=3" "$(sed -n 2p "$OUT/watch.out")"
check "watch converges" "UPDATE priority 7 open climate=2 poverty=2 health=1 peace=0 total=5" "$(tail -n 1 "$OUT/watch.out")"
wait "$WATCHER" || true

RESULTS=$(say 'RESULTS priority\n')
check "results ends with END" "END" "$(echo "$RESULTS" | tail -n 1)"
check "results has the question" "  Which global issue should be the top priority for world leaders?" "$(echo "$RESULTS" | sed -n 2p)"
check "polls" "POLL priority open 7 total=5 climate,poverty,health,peace Which global issue should be the top priority for world leaders? END" \
    "$(say 'POLLS\n' | tr '\n' ' ' | sed 's/ $//')"
check "quit" "BYE" "$(say 'QUIT\nPING\n')"

# Crash and restart: every acknowledged vote survives SIGKILL; replay equals TALLY.
for i in $(seq 1 200); do echo "VOTE priority v$i climate"; done | nc -N 127.0.0.1 "$PORT" >"$OUT/acks"
check "200 acks" "200" "$(grep -c '^OK ' "$OUT/acks")"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true; PID=
start
TALLY=$(say 'TALLY priority\n')
check "tally after SIGKILL" "TALLY priority 207 open climate=202 poverty=2 health=1 peace=0 total=205" "$TALLY"
check "replay equals TALLY" "$TALLY" "$("$BIN" replay --data "$DATA")"
check "verify" "0" "$("$BIN" verify --data "$DATA" >/dev/null; echo $?)"
check "dump" "EVENT 2 VOTE priority ana climate" "$("$BIN" dump --data "$DATA" --from 2 | head -n 1 | cut -d' ' -f1,2,4-)"

# Graceful stop: SIGTERM exits 0.
kill -TERM "$PID"
status=0; wait "$PID" || status=$?
PID=
check "SIGTERM exits 0" "0" "$status"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
