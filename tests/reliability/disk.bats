#!/usr/bin/env bats
# disk.bats - storage runs out for real. On a 64 MiB tmpfs (root only) the
# filesystem runs out before the LMDB map (512 MiB) does; with an 8 MiB map
# on the normal disk and high_water = 1.0 the map does; with
# the default high_water the 503s start earlier. Each time: only 503
# (never 200 for what was not stored, never 4xx/5xx other than 503), nothing
# answered 200 is missing, and once delivery frees space ingest answers 200
# again without a restart.

load rel_helpers

teardown() {
    rel_teardown
    [ -z "${MNT:-}" ] || umount "$MNT" 2>/dev/null
    return 0
}

answers() { # NAME -> the loadgen stats JSON field, e.g. answers full .answers["503"]
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d.get(k, 0) if isinstance(d, dict) else 0
print(d)' "$BATS_TEST_TMPDIR/load.$1.json" "$2"
}

saw_503s() { [ -f "$BATS_TEST_TMPDIR/load.$1.json" ] && [ "$(answers "$1" answers.503)" -ge 50 ]; }
full_or_gone() { saw_503s "$1" || ! proc_alive "$EDDYD_PID"; }

# fill_then_recover NAME: the body of both tests, once storage is set up.
fill_then_recover() {
    local name=$1
    start_eddyd
    local pid=$EDDYD_PID
    start_load "$name" --threads 4 --max-events 40 --pad 2000 --random-pad --gzip-ratio 0.5
    wait_until 60 full_or_gone "$name" || { cat "$BATS_TEST_TMPDIR/load.$name.json"; false; }
    # Full storage is a 503, never a reason to stop.
    proc_alive "$pid" || {
        tail -5 "$BATS_TEST_TMPDIR/eddyd.log"
        echo "eddyd exited when storage filled up; answers: $(cat "$BATS_TEST_TMPDIR/load.$name.json")"
        false
    }
    FULL_AT=$(acked_count "$name")
    AVAIL_KB=$(df --output=avail -k "$DATA_DIR" | tail -1 | tr -d ' ')
    MDB_KB=$(($(stat -c %s "$DATA_DIR/data.mdb") / 1024))
    sleep 1
    WHILE_FULL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["answers_after_first_503"])' \
        "$BATS_TEST_TMPDIR/load.$name.json")
    # The sink comes up: delivery drains, LMDB pages are freed and reused,
    # and the same process answers 200 again while the load goes on.
    start_fake
    wait_until 60 acked_at_least "$name" $((FULL_AT + 2000))
    stop_load "$name"
    wait_drained 60
    [ "$EDDYD_PID" = "$pid" ]
    proc_alive "$pid"
    run post "$FIXTURES/corpus/batch-00001.json"
    [ "${output%% *}" = 200 ]
    wait_drained 60
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 0 ]
    run check_acked --max-dead 0 --max-pending 0
    echo "$output"
    local bad
    bad=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["answers"]
print(" ".join(k for k in d if k not in ("200", "503")))' "$BATS_TEST_TMPDIR/load.$name.json")
    FIGURES="acknowledged before full $FULL_AT events, answers from the first 503 until the sink came back $WHILE_FULL; data.mdb ${MDB_KB} KiB, fs avail ${AVAIL_KB} KiB when full; $output; all answers $(load_answers "$name")"
    [ "$status" -eq 0 ]
    [ -z "$bad" ] || { echo "answers other than 200/503: $bad"; false; }
}

@test "disk full for real: ENOSPC on a 64 MiB tmpfs" {
    [ "$(id -u)" = 0 ] || skip "not root: cannot mount a small tmpfs"
    MNT=$BATS_TEST_TMPDIR/small
    mkdir -p "$MNT"
    mount -t tmpfs -o size=64m,mode=0700 eddy-rel-tmpfs "$MNT" || skip "mount -t tmpfs failed"
    DATA_DIR=$MNT/data write_config storage.max_size=512M storage.high_water=1.0
    fill_then_recover enospc
    local enospc
    enospc=$(grep -c 'Input/output error\|No space left' "$BATS_TEST_TMPDIR/eddyd.log" || true)
    rel_note "disk full (tmpfs 64 MiB, map 512 MiB): $FIGURES; commits failed by the kernel: $enospc"
    # The filesystem filled up (less than an eighth left), the map did not.
    [ "$AVAIL_KB" -lt 8192 ]
    [ "$MDB_KB" -lt $((512 * 1024)) ]
}

@test "map full for real: an 8 MiB map filled with high_water = 1.0" {
    write_config storage.max_size=8M storage.high_water=1.0 ingest.max_body=1M
    fill_then_recover mapfull
    rel_note "map full (8 MiB map, high_water 1.0): $FIGURES"
}

@test "high water: the default 0.95 of an 8 MiB map answers 503 early and recovers" {
    write_config storage.max_size=8M ingest.max_body=1M
    fill_then_recover highwater
    rel_note "high water (8 MiB map, high_water 0.95): $FIGURES"
}
