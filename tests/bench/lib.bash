# tests/bench/lib.bash - what the benchmark scripts share: the binaries they
# need, free loopback ports, a clock and arithmetic, and the processes and
# scratch directory removed on exit. Sourced from the repo root after setting
# BENCH (the script's name, for messages) and scratch (the directory to
# delete on exit).
BUILD=${BUILD:-$PWD/build}
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$scratch"
}
trap cleanup EXIT

# need BIN...: each $BUILD/BIN and wrk must exist.
need() {
    for b in "$@"; do
        [ -x "$BUILD/$b" ] || { echo "$BENCH: $BUILD/$b missing (run make)"; exit 1; }
    done
    command -v wrk >/dev/null || { echo "$BENCH: wrk missing (make deps)"; exit 1; }
}
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
# wait_port URL: until URL answers (10 s at most).
wait_port() {
    for _ in $(seq 1 200); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.05
    done
    echo "$BENCH: $1 did not come up"
    return 1
}
