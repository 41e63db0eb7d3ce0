#!/usr/bin/env bash
# What stalled TAIL clients cost everyone else: runs `polltally bench` against a fresh
# `serve --fsync interval:1000`, alternately alone and with TAILS clients that sent
# `TAIL FROM 1` and then never read a byte, and prints votes/s and the server's peak RSS for each.
#
#   bash Benchmarks/stalled-tail.sh [RUNS] [TAILS] [VOTES]     # default 3 32 1000000
#
# Both kinds of run first log 300,000 votes of a poll of their own, so that the tails have a
# history to read: each reads until its socket and 256 KiB of unsent lines are full, then stalls
# (the server closes such a client after --stall-timeout, 60 s, far longer than a run). The bench
# starts 2 s later, against stalled tails. SCRATCH=path builds with --scratch-path.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
tails=${2:-32}
votes=${3:-1000000}
source Benchmarks/lib.sh
build_polltally
work=$(mktemp -d)
server=""
stalled=()
trap 'kill "${stalled[@]}" "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

rate() { grep '^RESULT' | tr ' ' '\n' | sed -n 's/^votes_per_s=//p'; }
peak() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$server/status"; }

for run in $(seq "$runs"); do
    for mode in alone stalled; do
        rm -rf "$work/data"
        start_polltally interval:1000 "$work/data"
        # A history for the tails to read: 300,000 votes on a poll the bench does not use.
        # Replies are read on a thread while the votes go out: the server stops reading a client
        # that leaves 1 MiB of replies unread.
        python3 -c 'import socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def drain():
    while s.recv(1 << 20): pass
reader = threading.Thread(target=drain)
reader.start()
lines = ["CREATE warmup a,b"] + ["VOTE warmup w%d %s" % (i, "ab"[i % 2]) for i in range(300000)]
s.sendall(("\n".join(lines) + "\nQUIT\n").encode())
reader.join()' "$port"
        stalled=()
        if [[ $mode == stalled ]]; then
            for _ in $(seq "$tails"); do
                # A receive buffer of 4 KiB, and never a read: the server's sends back up at once.
                python3 -c 'import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"TAIL FROM 1\n")
time.sleep(600)' "$port" &
                stalled+=($!)
            done
            sleep 2
        fi
        result=$("$bin" bench --port "$port" --pid "$server" --connections 16 --depth 16 --votes "$votes" 2>/dev/null | rate)
        echo "run $run, $mode$([[ $mode == stalled ]] && echo " ($tails tails)"): $result votes/s, server peak RSS $(peak) MiB"
        if [[ ${#stalled[@]} -gt 0 ]]; then
            kill "${stalled[@]}" 2>/dev/null || true
            wait "${stalled[@]}" 2>/dev/null || true
            stalled=()
        fi
        stop_polltally
    done
done
