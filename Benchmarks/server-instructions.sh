#!/usr/bin/env bash
# Counts the instructions a server executes to take a fixed load of votes, with valgrind's
# callgrind: a figure that repeats to about half a percent, where votes/s on a shared VM moves ±15%.
#
#   VOTES=20000 Benchmarks/server-instructions.sh [BINARY ...]
#
# For each binary (default .build/release/polltally): starts `serve --fsync never` on a new data
# folder under callgrind, drives it with that binary's `bench` (4 connections × 16 in flight,
# seed 7, every tally checked), stops it with SIGTERM (which writes a snapshot), and prints the
# server's total instructions, per vote (start-up and the snapshot included), and the functions
# that executed the most. `--fsync never` keeps the disk out of it; the vote path is the same.
# Valgrind 3.19 cannot read Swift 6's DWARF 5, so each binary is copied without its debug info.
# Under callgrind the server runs some 50 times slower: 20,000 votes take about 5 s.
#
# Needs: apt-get install valgrind binutils
set -euo pipefail
votes=${VOTES:-20000}
[ $# -gt 0 ] || set -- .build/release/polltally
work=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$work"' EXIT
for bin in "$@"; do
  objcopy --strip-debug "$bin" "$work/polltally"
  rm -rf "$work/data" "$work/out.txt"
  valgrind --tool=callgrind --callgrind-out-file="$work/cg" "$work/polltally" serve --port 0 --fsync never \
    --data "$work/data" > "$work/out.txt" 2> "$work/err" &
  server=$!
  for _ in $(seq 600); do grep -q listening "$work/out.txt" 2>/dev/null && break; sleep 0.1; done
  port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/out.txt" | cut -d: -f2)
  result=$("$bin" bench --port "$port" --connections 4 --depth 16 --votes "$votes" --seed 7 | grep '^RESULT')
  kill -TERM "$server"
  wait "$server" || true
  total=$(grep -o 'Collected : [0-9]*' "$work/err" | grep -o '[0-9]*$')
  echo "== $bin"
  echo "$result" | grep -o 'votes=[0-9]* .*verified=[a-z]*' | grep -o 'verified=[a-z]*'
  echo "instructions: $total for $votes votes: $(( total / votes )) per vote"
  callgrind_annotate "$work/cg" 2>/dev/null | grep -E '^ *[0-9,]+ \([ 0-9.]+%\) ' | grep -v 'PROGRAM TOTALS' | awk 'n < 8 { sub(/ \[.*\]$/, ""); print; n++ }'
  rm -f "$work/cg" "$work/err"
done
