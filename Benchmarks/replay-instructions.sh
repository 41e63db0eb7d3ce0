#!/usr/bin/env bash
# Counts the instructions `polltally replay` executes on a log, with valgrind's callgrind: a
# figure that repeats to a few parts in ten thousand, where wall time on a shared VM moves ±15%.
#
#   Benchmarks/replay-instructions.sh DATA [BINARY ...]
#
# For each binary (default .build/release/polltally) prints the total instructions, the
# instructions per event, and the functions that executed the most. Valgrind 3.19 (Debian 12)
# cannot read the DWARF 5 debug info Swift 6 writes, so each binary is first copied without its
# debug info (objcopy --strip-debug; function names stay). Callgrind runs threads one at a time
# and about 50-100 times slower: a 1 M-event log takes some 20 s.
#
# Needs: apt-get install valgrind binutils
set -euo pipefail
data=${1:?usage: replay-instructions.sh DATA [BINARY ...]}
shift
[ $# -gt 0 ] || set -- .build/release/polltally
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for bin in "$@"; do
  objcopy --strip-debug "$bin" "$work/polltally"
  # Every event touches one poll, so the highest seq a TALLY line shows is the log's last event.
  events=$("$bin" replay --data "$data" | awk '$3 > max { max = $3 } END { print max + 0 }')
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$work/polltally" replay --data "$data" > /dev/null 2> "$work/err"
  total=$(grep -o 'Collected : [0-9]*' "$work/err" | grep -o '[0-9]*$')
  echo "== $bin"
  echo "instructions: $total for $events events: $(( total / (events > 0 ? events : 1) )) per event"
  callgrind_annotate "$work/out" 2>/dev/null | grep -E '^ *[0-9,]+ \([ 0-9.]+%\) ' | grep -v 'PROGRAM TOTALS' | awk 'n < 8 { sub(/ \[.*\]$/, ""); print; n++ }'
  rm -f "$work/out" "$work/err"
done
