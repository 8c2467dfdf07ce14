#!/usr/bin/env bats
# abuse.bats - hostile clients against eddyd's ingest listener (abuse.py):
# 1,000 idle connections, headers one byte a second (slowloris), a body
# trickled, over-limit bodies, JSON nested 100,000 deep, 10,000 requests with
# bad credentials, a gzip bomb, more connections than descriptors, 16 bodies of
# 30 MiB with a wrong key at once. Each time a well-behaved client posting
# alongside must keep getting 200 within 5 s, eddyd must stay up, and its peak
# RSS (VmHWM) must stay under a generous bound, printed as a figure.

load rel_helpers

MAX_BODY=1048576

setup() {
    write_config ingest.max_body=$MAX_BODY
    start_fake
    start_eddyd
    # Sanitizer builds carry shadow memory and a quarantine: a larger bound.
    RSS_BOUND_KB=$((256 * 1024))
    if ldd "$EDDYD" 2>/dev/null | grep -q 'libasan\|libtsan'; then RSS_BOUND_KB=$((1024 * 1024)); fi
}

teardown() {
    rel_teardown
}

# abuse MODE [ARGS...]: runs abuse.py, then checks eddyd is alive and bounded.
abuse() {
    local mode=$1; shift
    run python3 "$REL/abuse.py" "$mode" --port "$INGEST_PORT" --max-body "$MAX_BODY" "$@"
    echo "$output"
    # eddyd gone: what it said last (a sanitizer's report lands there too)
    kill -0 "$EDDYD_PID" || { tail -n 40 "$BATS_TEST_TMPDIR/eddyd.log"; return 1; }
    local rss hwm
    rss=$(rss_kb "$EDDYD_PID" VmRSS) hwm=$(rss_kb "$EDDYD_PID" VmHWM)
    rel_note "abuse $mode: eddyd VmRSS ${rss} KiB, peak VmHWM ${hwm} KiB (bound $RSS_BOUND_KB); $output"
    [ "$status" -eq 0 ]
    [ "$hwm" -lt "$RSS_BOUND_KB" ]
}

@test "abuse: 1,000 idle connections" {
    abuse idle --connections 1000 --seconds 3
}

@test "abuse: slowloris, headers one byte a second" {
    local s=4
    soak && s=60
    abuse slowloris --connections 100 --seconds $s
}

@test "abuse: a body trickled one byte a second" {
    local s=4
    soak && s=60
    abuse trickle --connections 100 --seconds $s
}

@test "abuse: over-limit bodies get 413, plain and gzip" {
    abuse overlimit
}

@test "abuse: JSON nested 100,000 deep" {
    abuse deep
}

@test "abuse: 10,000 requests with bad credentials all get 401" {
    abuse badcreds
}

@test "abuse: a gzip bomb (256 MiB of zeros in 256 KB) gets 413" {
    abuse gzipbomb
}

# start_eddyd_nofile N: restarts eddyd with at most N descriptors (ulimit -n).
start_eddyd_nofile() {
    stop_eddyd
    (
        ulimit -n "$1"
        exec "$EDDYD" -c "$EDDY_CONF" >>"$BATS_TEST_TMPDIR/eddyd.log" 2>&1
    ) &
    EDDYD_PID=$!
    wait_http "$ADMIN_URL/healthz" 15
}

# /healthz is asked every 20 ms: each question is a chance for ingest's
# retries to take the descriptor admin frees for it.
@test "abuse: out of descriptors (ulimit -n 64, 80 connections): no spin, /healthz answers" {
    start_eddyd_nofile 64
    abuse fds --connections 80 --seconds 3 --pid "$EDDYD_PID" --probe-every 0.02 \
        --log "$BATS_TEST_TMPDIR/eddyd.log" --admin-port "$ADMIN_PORT"
    grep -q 'out of file descriptors' "$BATS_TEST_TMPDIR/eddyd.log"
}

# Idle connections must not take the descriptors delivery needs: batches
# stored before the flood reach RudderStack while it goes on.
@test "abuse: out of descriptors (ulimit -n 64, 80 connections): delivery goes on" {
    stop_fake
    start_eddyd_nofile 64
    post_all "$FIXTURES"/corpus/batch-0000{1,2,3}.json
    python3 "$REL/abuse.py" fds --port "$INGEST_PORT" --connections 80 --seconds 8 \
        --pid "$EDDYD_PID" --log "$BATS_TEST_TMPDIR/eddyd.log" --admin-port "$ADMIN_PORT" \
        --ready "$BATS_TEST_TMPDIR/flooded" >"$BATS_TEST_TMPDIR/flood.out" 2>&1 &
    local flood=$!
    wait_until 10 test -e "$BATS_TEST_TMPDIR/flooded"
    start_fake
    local delivered=0
    while kill -0 "$flood" 2>/dev/null; do
        if fake_events_at_least 300; then delivered=1 && break; fi
        sleep 0.1
    done
    wait "$flood" || { cat "$BATS_TEST_TMPDIR/flood.out"; return 1; }
    [ "$delivered" = 1 ]
}

@test "abuse: 16 bodies of 30 MiB with a wrong key at once: bounded memory, returned after" {
    stop_eddyd
    write_config ingest.max_body=32M
    start_eddyd
    RSS_BOUND_KB=$((192 * 1024))
    # Sanitizer allocators keep freed memory in quarantine: no bound after.
    local after_kb=$((64 * 1024))
    if ldd "$EDDYD" 2>/dev/null | grep -q 'libasan\|libtsan'; then
        RSS_BOUND_KB=$((1024 * 1024)) after_kb=$((1024 * 1024))
    fi
    abuse bigbad --connections 16 --body-mb 30
    # The memory is given back once the burst is over.
    local rss
    for _ in $(seq 1 50); do
        rss=$(rss_kb "$EDDYD_PID" VmRSS)
        [ "$rss" -lt "$after_kb" ] && break
        sleep 0.2
    done
    rel_note "after the burst: VmRSS $rss KiB"
    [ "$rss" -lt "$after_kb" ]
    # Valid ones, as many at once: paused readers resume and all are stored.
    RSS_BOUND_KB=$((1024 * 1024))
    abuse biggood --connections 8 --body-mb 20
}
