# rel_helpers.bash - shared by the reliability suites (tests/reliability/*.bats):
# the load generator (loadgen.py), the loss check (check.py), drain waits and
# process bookkeeping. Builds on tests/e2e/helpers.bash and fake.bash; it
# is sourced (not bats-loaded) so a scenario can also run in plain bash, e.g.
# inside a network namespace through `ip netns exec`.
# Everything listens on 127.0.0.1 only.

source "$BATS_TEST_DIRNAME/../e2e/helpers.bash"
# the fake sink and its readers, status_field and wait_until
source "$BATS_TEST_DIRNAME/../e2e/fake.bash"
FAKE_KEEP_BODIES=0
REL=$BATS_TEST_DIRNAME
REL_PIDS=()

# rel_note TEXT: a figure for the report, shown as a TAP comment.
rel_note() {
    if { true >&3; } 2>/dev/null; then echo "# $*" >&3; else echo "# $*"; fi
    echo "$*" >>"$BATS_TEST_TMPDIR/figures"
}

soak() { [ "${EDDY_SOAK:-0}" = 1 ]; }

# start_load NAME [LOADGEN_ARGS...]: loadgen.py in the background; acked ids
# in $BATS_TEST_TMPDIR/acked.NAME, answers in load.NAME.json at the end.
start_load() {
    local name=$1; shift
    rm -f "$BATS_TEST_TMPDIR/stop.$name"
    python3 "$REL/loadgen.py" --url "$INGEST_URL/v1/webhook?writeKey=test-key" \
        --acked "$BATS_TEST_TMPDIR/acked.$name" --stats "$BATS_TEST_TMPDIR/load.$name.json" \
        --stop-file "$BATS_TEST_TMPDIR/stop.$name" --prefix "$name" "$@" \
        >/dev/null 2>>"$BATS_TEST_TMPDIR/load.err" &
    eval "LOAD_PID_$name=$!"
    REL_PIDS+=($!)
}

# stop_load NAME: asks loadgen to stop after its current request, waits.
stop_load() {
    local name=$1 pid
    touch "$BATS_TEST_TMPDIR/stop.$name"
    eval "pid=\${LOAD_PID_$name:-}"
    [ -z "$pid" ] || wait "$pid" 2>/dev/null
    return 0
}

# acked_count NAME: events acknowledged so far.
acked_count() {
    local f=$BATS_TEST_TMPDIR/acked.$1
    [ -f "$f" ] && wc -l <"$f" | tr -d ' ' || echo 0
}

# acked_at_least NAME N: for wait_until.
acked_at_least() { [ "$(acked_count "$1")" -ge "$2" ]; }

# load_answers NAME: "status:count ..." of a finished loadgen run.
load_answers() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["answers"]; print(" ".join("%s:%d" % kv for kv in sorted(d.items())))' \
        "$BATS_TEST_TMPDIR/load.$1.json"
}

pending_is_zero() { [ "$(status_field pending.batches 2>/dev/null)" = 0 ]; }

# wait_drained [SECONDS]: until eddyd reports no pending batch.
wait_drained() {
    wait_until "${1:-60}" pending_is_zero || {
        echo "not drained after ${1:-60}s: $(curl -s "$ADMIN_URL/status")" >&2
        return 1
    }
}

# check_acked [CHECK_ARGS...]: every acknowledged id at the sink, pending or
# dead (check.py); prints the figures line.
check_acked() {
    local acked=() f
    for f in "$BATS_TEST_TMPDIR"/acked.*; do [ -f "$f" ] && acked+=(--acked "$f"); done
    touch "$BATS_TEST_TMPDIR/sink.ndjson"
    python3 "$REL/check.py" "${acked[@]}" --sink "$BATS_TEST_TMPDIR/sink.ndjson" \
        --data-dir "$DATA_DIR" --json "$BATS_TEST_TMPDIR/check.json" "$@"
}

# rss_kb PID [FIELD]: VmRSS (or VmHWM, the peak) of a process, in KiB.
rss_kb() {
    awk -v f="${2:-VmRSS}:" '$1 == f { print $2 }' "/proc/$1/status"
}

# proc_alive PID: running (an exited child that was not reaped yet is a
# zombie, which kill -0 still finds).
proc_alive() {
    local st
    st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ]
}

# reap_eddyd: waits for an eddyd that exits on its own; EDDYD_STATUS gets
# its exit status.
reap_eddyd() {
    EDDYD_STATUS=0
    wait "$EDDYD_PID" || EDDYD_STATUS=$?
    unset EDDYD_PID
}

# restart_eddyd_hard: SIGKILL (when running) and start again.
restart_eddyd_hard() {
    stop_eddyd KILL 2>/dev/null # no "Killed" job notice in the TAP output
    start_eddyd
}

rel_teardown() {
    local p
    for p in "${REL_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
    for p in "${REL_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    REL_PIDS=()
    teardown_processes
}
