#!/usr/bin/env bash
# Fuzz soak against the release build: 8 connections send seeded random and mutated request lines
# (the generator of Tests/PollTallyServerTests/FuzzTests.swift) in random-sized chunks while
# reading the replies, plus 4 connections that send junk and reset; then the server must answer
# PING, `polltally replay` must equal TALLY for every poll, SIGTERM must exit 0, and
# `polltally verify` must pass, and the server's peak RSS (VmHWM from /proc/<pid>/status) must stay
# under --max-rss-mib (128 by default).
#
#   bash Benchmarks/fuzz.sh                      # 2,000,000 lines
#   bash Benchmarks/fuzz.sh --lines 200000       # a quick pass
#   bash Benchmarks/fuzz.sh --seed 7 --connections 16 --fsync always
#
# Environment:
#   SCRATCH=.build-sec   --scratch-path for swift build (default: the package's .build)
# Every other argument goes to Benchmarks/fuzz.py (--help lists them). Exit 0 when every check passed.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRATCH=${SCRATCH:-.build}
swift build -c release --scratch-path "$SCRATCH" --product polltally >&2
BINARY="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/polltally"
exec python3 Benchmarks/fuzz.py --binary "$BINARY" "$@"
