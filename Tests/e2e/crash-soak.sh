#!/usr/bin/env bash
# The long SIGKILL soak: ROUNDS rounds (default 200) in which 4 connections pipeline votes into the
# release build under `--fsync always` (snapshots every 500 events, so kills land in the middle of
# them too), the server is SIGKILLed at a seeded random point, and restarted on the same folder.
# After every restart each acknowledged vote must be in the log and counted, nothing no client
# sent may be in the log, and `replay` must print exactly the server's TALLY lines; `verify` must
# pass at the end. CI runs the same rounds 22 + 22 times (CrashRecoveryTests); this runs many more.
#
#   bash Tests/e2e/crash-soak.sh [ROUNDS] [SEED]     # SEED repeats a run's kill points
#
# About 1 s a round on a 2-core VM (more as the log grows: every round re-reads all of it).
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-200}
seed=${2:-$(( (RANDOM << 15) | RANDOM ))}
echo "== crash soak: $rounds rounds, seed $seed (repeat with: bash Tests/e2e/crash-soak.sh $rounds $seed)"
swift build -c release --product polltally 2>&1 | tail -n 1
POLLTALLY_BINARY="$(swift build -c release --show-bin-path)/polltally" \
POLLTALLY_SOAK_ROUNDS=$rounds POLLTALLY_SOAK_SEED=$seed \
    swift test --filter sigkillSoak
