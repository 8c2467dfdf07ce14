#!/usr/bin/env bats
# compress.bats - compressed storage end to end: what eddyd stores with
# [storage] compress = gzip (the default) and none, stores holding both
# kinds of record, and the raw bytes coming back out of every reader.

load helpers
load fake

QTOOL=$BUILD/tests/tools/qtool

setup() {
    CORPUS=$FIXTURES/corpus
}

teardown() {
    teardown_processes
}

post_all() {
    local f out
    for f in "$@"; do
        out=$(post "$f")
        [ "${out%% *}" = 200 ] || { echo "post $f: $out" >&2; return 1; }
    done
}

# same_bodies DIR FILE...: the files in DIR are exactly FILE... (as a multiset).
same_bodies() {
    local dir=$1; shift
    diff <(sha256sum "$@" | cut -d' ' -f1 | sort) <(sha256sum "$dir"/* | cut -d' ' -f1 | sort)
}

@test "compress = gzip (default): every batch stored as gzip, a third of the bytes, read back raw" {
    write_config # the sink is not running: everything stays pending
    start_eddyd
    post_all "$CORPUS"/batch-000*.json
    stop_eddyd
    run "$QTOOL" stored "$DATA_DIR"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 20 ]
    # every record gzip; stored bytes at most 0.4 of raw in total
    echo "$output" | awk '$2 != "gzip" { bad = 1 } { s += $3; r += $4 }
        END { printf "stored/raw %.3f\n", s / r; exit bad || s > 0.4 * r }'
    # the raw bodies come back byte for byte
    mkdir "$BATS_TEST_TMPDIR/dump"
    "$QTOOL" dump "$DATA_DIR" "$BATS_TEST_TMPDIR/dump" >/dev/null
    same_bodies "$BATS_TEST_TMPDIR/dump" "$CORPUS"/batch-000*.json
    # the CLI reads them raw too: pending show --raw, find, verify
    local first
    first=$(echo "$output" | head -1 | cut -d' ' -f1)
    "$EDDY" -d "$DATA_DIR" pending show "$first" --raw | cmp - "$CORPUS/batch-00001.json"
    local id
    id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events"][57]["id"])' \
        "$CORPUS/batch-00004.json")
    run "$EDDY" -d "$DATA_DIR" find "$id"
    [ "$status" -eq 0 ]
    [[ "$output" == *"pending"* ]]
    run "$EDDY" -d "$DATA_DIR" verify
    [ "$status" -eq 0 ]
    [[ "$output" == "verify: ok, 20 records"* ]]
}

@test "a store written raw (compress = none, the format before compression) then gzip: all delivered byte for byte" {
    write_config storage.compress=none
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-5].json
    stop_eddyd
    run "$QTOOL" stored "$DATA_DIR"
    [ "${#lines[@]}" -eq 5 ]
    ! echo "$output" | grep -v ' raw '
    # the same store, now compressing
    write_config
    start_eddyd
    post_all "$CORPUS"/batch-0000[6-9].json
    run "$QTOOL" stored "$DATA_DIR"
    [ "$(echo "$output" | grep -c ' raw ')" -eq 5 ]
    [ "$(echo "$output" | grep -c ' gzip ')" -eq 4 ]
    start_fake --write-key test-key
    wait_until 30 status_is pending.batches 0
    same_bodies "$BATS_TEST_TMPDIR/bodies" "$CORPUS"/batch-0000[1-9].json
}
