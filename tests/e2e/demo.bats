#!/usr/bin/env bats
# demo.bats - `make run` (tests/demo.sh) on free ports: it comes up without
# the world-readable warning and keeps its files private; with one of its
# ports taken it says so and exits 1 before printing any guidance.

load helpers

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

setup() {
    read -r INGEST_PORT ADMIN_PORT SINK_PORT <<<"$(free_ports 3)"
    CONF=$BATS_TEST_TMPDIR/eddy.conf
    sed -e "s/127.0.0.1:8080/127.0.0.1:$INGEST_PORT/" -e "s/127.0.0.1:8081/127.0.0.1:$ADMIN_PORT/" \
        -e "s/127.0.0.1:8090/127.0.0.1:$SINK_PORT/" -e "s#^data_dir = .*#data_dir = $BATS_TEST_TMPDIR/var/eddy#" \
        "$REPO/etc/eddy.conf" >"$CONF"
    chmod 0644 "$CONF" # as etc/eddy.conf is in a checkout
}

teardown() {
    [ -z "${DEMO_PID:-}" ] || { kill -TERM "$DEMO_PID" 2>/dev/null; wait "$DEMO_PID" 2>/dev/null; }
    [ -z "${HOLDER_PID:-}" ] || { kill -9 "$HOLDER_PID" 2>/dev/null; wait "$HOLDER_PID" 2>/dev/null; }
    return 0
}

# start_demo: tests/demo.sh in the background (stopped after 60 s at most).
start_demo() {
    EDDY_CONF=$CONF SINK=127.0.0.1:$SINK_PORT BUILD=$BUILD timeout 60 "$REPO/tests/demo.sh" \
        >"$BATS_TEST_TMPDIR/demo.out" 2>&1 &
    DEMO_PID=$!
}

demo_up() { grep -q '^eddy demo:' "$BATS_TEST_TMPDIR/demo.out"; }

wait_for() {
    local i
    for i in $(seq 1 200); do "$@" && return 0; sleep 0.1; done
    return 1
}

@test "demo: comes up without the world-readable warning; its files are private" {
    start_demo
    wait_for demo_up || { cat "$BATS_TEST_TMPDIR/demo.out"; false; }
    curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"
    kill -TERM "$DEMO_PID"
    wait "$DEMO_PID"
    unset DEMO_PID
    cat "$BATS_TEST_TMPDIR/demo.out"
    ! grep -q 'readable by every user' "$BATS_TEST_TMPDIR/demo.out"
    ! grep -q 'WARN' "$BATS_TEST_TMPDIR/demo.out"
    [ "$(stat -c %a "$BATS_TEST_TMPDIR/var")" = 700 ]
    [ "$(stat -c %a "$BATS_TEST_TMPDIR/var/eddy")" = 700 ]
    [ "$(stat -c %a "$BATS_TEST_TMPDIR/var/fake-rudderstack.ndjson")" = 600 ]
}

@test "demo: a port already taken is said plainly, exit 1, and no guidance is printed" {
    # An HTTP server on the admin port: it even answers /healthz
    python3 -m http.server --bind 127.0.0.1 "$ADMIN_PORT" >/dev/null 2>&1 &
    HOLDER_PID=$!
    wait_for curl -s -o /dev/null "http://127.0.0.1:$ADMIN_PORT/healthz"
    start_demo
    rc=0
    wait "$DEMO_PID" || rc=$?
    unset DEMO_PID
    cat "$BATS_TEST_TMPDIR/demo.out"
    [ "$rc" -eq 1 ]
    grep -q "demo: 127.0.0.1:$ADMIN_PORT is already in use" "$BATS_TEST_TMPDIR/demo.out"
    ! grep -q 'eddy demo:' "$BATS_TEST_TMPDIR/demo.out"
    ! grep -q 'Post a sample batch' "$BATS_TEST_TMPDIR/demo.out"
}
