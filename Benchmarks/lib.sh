# Shared by the benchmark scripts that build PollTally and start throwaway servers; sourced, not run.
# A script sets `work` (its temporary folder) before calling these.

# Builds the release binary (quietly, unless the build fails) and sets `bin` to it.
# SCRATCH=path builds with --scratch-path, so a benchmark build does not disturb .build;
# POLLTALLY=path uses that binary instead and builds nothing (to compare two builds).
build_polltally() {
    if [[ -n ${POLLTALLY:-} ]]; then
        # Relative to where the script was started: the scripts `cd` to the repository first,
        # which leaves that folder in OLDPWD.
        bin=$POLLTALLY
        [[ $bin == /* ]] || bin="${OLDPWD:-$PWD}/$bin"
        return
    fi
    local build=(swift build -c release)
    [[ -n ${SCRATCH:-} ]] && build+=(--scratch-path "$SCRATCH")
    "${build[@]}" >/dev/null 2>&1 || { "${build[@]}"; exit 1; }
    bin="$("${build[@]}" --show-bin-path)/polltally"
}

# start_polltally FSYNC DATA: a server on a free port over the folder DATA; sets `server` (its
# pid) and `port` once it listens. Its output goes to $work/out and $work/err.
start_polltally() {
    "$bin" serve --port 0 --fsync "$1" --data "$2" >"$work/out" 2>"$work/err" &
    server=$!
    for _ in $(seq 200); do grep -q 'listening on' "$work/out" 2>/dev/null && break; sleep 0.05; done
    port=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$work/out" | cut -d: -f2)
    [[ -n $port ]] || { echo "polltally did not start:" >&2; cat "$work/err" >&2; exit 1; }
}

# Stops the server with SIGTERM (it syncs and writes a final snapshot) and waits for it.
stop_polltally() {
    kill -TERM "$server"
    wait "$server" || true
    server=""
}
