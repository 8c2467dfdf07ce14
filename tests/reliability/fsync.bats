#!/usr/bin/env bats
# fsync.bats - the disk fails a sync. build/shim/fsyncfail.so (LD_PRELOAD)
# makes fdatasync/fsync/msync on data.mdb fail with EIO once a trigger file
# exists. The group being committed must get 503, eddyd must exit non-zero
# (after a failed fsync the page cache cannot be trusted), and after a
# restart without the fault nothing that was answered 200 is missing.

load rel_helpers

SHIM=$BUILD/shim/fsyncfail.so

teardown() {
    rel_teardown
}

eddyd_gone() { ! proc_alive "$EDDYD_PID"; }

@test "fsync failure: 503 for the group, eddyd exits non-zero, nothing acknowledged lost" {
    [ -f "$SHIM" ] || skip "build/shim/fsyncfail.so not built"
    # A sink that never answers, and a long delivery timeout: no delivery
    # write (ack or failure) commits, so the failing sync is an ingest group's.
    write_config delivery.timeout=60s
    start_fake --hang -1
    local trigger=$BATS_TEST_TMPDIR/fail-now
    # verify_asan_link_order: a sanitizer build of eddyd accepts the shim.
    EDDY_FSYNC_FAIL_FILE=$trigger EDDY_FSYNC_FAIL_LOG=$BATS_TEST_TMPDIR/shim.log \
        LD_PRELOAD=$SHIM ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
        start_eddyd
    start_load fs --threads 4 --max-events 20
    wait_until 20 acked_at_least fs 200
    touch "$trigger"
    wait_until 20 eddyd_gone
    reap_eddyd
    local exit_status=$EDDYD_STATUS
    stop_load fs
    rm -f "$trigger"

    # The fault really happened, and eddyd said so.
    grep -E '^(fdatasync|fsync|msync) ' "$BATS_TEST_TMPDIR/shim.log" | head -3
    [ "$exit_status" -ne 0 ]
    [ "$exit_status" -ne 137 ]

    fake_ctl "hang=0"
    start_eddyd
    wait_drained 60
    stop_eddyd TERM
    run check_acked --max-dead 0 --max-pending 0
    echo "$output"
    local n503
    n503=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["answers"].get("503", 0))' \
        "$BATS_TEST_TMPDIR/load.fs.json")
    rel_note "fsync failure: eddyd exit status $exit_status, injected failures $(wc -l <"$BATS_TEST_TMPDIR/shim.log"), 503 answers $n503; $output; answers $(load_answers fs)"
    [ "$status" -eq 0 ]
    [ "$n503" -ge 1 ]
}
