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

@test "the corpus on disk: at most 0.30 of its raw bytes in LMDB pages, type lists whole" {
    command -v mdb_stat >/dev/null || skip "mdb_stat missing (make deps: lmdb-utils)"
    write_config # the sink is not running: everything stays pending
    start_eddyd
    post_all "$CORPUS"/batch-000*.json
    stop_eddyd
    local raw pages
    raw=$(cat "$CORPUS"/batch-000*.json | wc -c)
    pages=$(mdb_stat -s pending "$DATA_DIR" |
        awk '/Branch pages:|Leaf pages:|Overflow pages:/ { p += $3 } END { print p }')
    echo "pending: $pages pages for $raw raw bytes"
    [ $((pages * 4096 * 100)) -le $((raw * 30)) ]
    # the type lists (stored packed) read back whole, in order, and filter
    "$EDDY" -d "$DATA_DIR" pending list --json >"$BATS_TEST_TMPDIR/list.json"
    python3 - "$CORPUS" "$BATS_TEST_TMPDIR/list.json" <<'PY'
import glob, json, sys
want = []
for f in sorted(glob.glob(sys.argv[1] + "/batch-000*.json")):
    seen = []
    for e in json.load(open(f))["events"]:
        if e["event_type"] not in seen:
            seen.append(e["event_type"])
    want.append(seen)
got = [json.loads(line)["event_types"] for line in open(sys.argv[2]) if line.strip()]
assert got == want, (len(got), len(want))
PY
    local n
    n=$(grep -l '"users.canvas.exit.MatchedAudience"' "$CORPUS"/batch-000*.json | wc -l)
    run "$EDDY" -d "$DATA_DIR" pending list --type 'users.canvas.exit.Matched*' --json
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq "$n" ]
    [ "$n" -gt 0 ] && [ "$n" -lt 20 ]
}

@test "compress_level = auto (default): bodies that wait for no other are stored small" {
    write_config
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-5].json # one at a time: nothing queues
    [ "$(metric 'eddy_ingest_compressed_total{level="small"}')" = 5 ]
    [ "$(metric 'eddy_ingest_compressed_total{level="fast"}')" = 0 ]
    stop_eddyd
    run "$QTOOL" stored "$DATA_DIR"
    [ "${#lines[@]}" -eq 5 ]
    # libdeflate 8's ratio on these, below the 0.3 that fast stays above
    echo "$output" | awk '$2 != "gzip" { bad = 1 } { s += $3; r += $4 }
        END { printf "stored/raw %.3f\n", s / r; exit bad || s >= 0.3 * r }'
}

@test "compress_level = fast: gzip from igzip, more bytes than small, read back raw" {
    write_config storage.compress_level=fast
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-5].json
    [ "$(metric 'eddy_ingest_compressed_total{level="fast"}')" = 5 ]
    [ "$(metric 'eddy_ingest_compressed_total{level="small"}')" = 0 ]
    stop_eddyd
    run "$QTOOL" stored "$DATA_DIR"
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 5 ]
    # gzip, but above the 0.28 that small (libdeflate 8) stores these at
    echo "$output" | awk '$2 != "gzip" { bad = 1 } { s += $3; r += $4 }
        END { printf "stored/raw %.3f\n", s / r; exit bad || s < 0.3 * r || s > 0.4 * r }'
    mkdir "$BATS_TEST_TMPDIR/dump"
    "$QTOOL" dump "$DATA_DIR" "$BATS_TEST_TMPDIR/dump" >/dev/null
    same_bodies "$BATS_TEST_TMPDIR/dump" "$CORPUS"/batch-0000[1-5].json
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

@test "eddy compact: refused while eddyd runs; after a drain the file shrinks to what is live, nothing lost" {
    write_config
    start_eddyd
    post_all "$CORPUS"/batch-000*.json "$CORPUS"/batch-000*.json "$CORPUS"/batch-000*.json
    run "$EDDY" -d "$DATA_DIR" compact
    [ "$status" -eq 1 ]
    [[ "$output" == *"eddyd (pid $EDDYD_PID) is running on $DATA_DIR: stop it before compacting"* ]]
    [ ! -e "$DATA_DIR.compact" ]
    # the freelist is exported and status shows the file beside what is used
    curl -s "$ADMIN_URL/metrics" | grep -q '^eddy_storage_free_pages '
    curl -s "$ADMIN_URL/metrics" | grep -q '^eddy_storage_freelist_entries '
    stop_eddyd
    # deliver (ack) 50 of the 60 batches: their pages go to the freelist
    "$QTOOL" ack "$DATA_DIR" 50
    mkdir "$BATS_TEST_TMPDIR/before"
    "$QTOOL" dump "$DATA_DIR" "$BATS_TEST_TMPDIR/before" >"$BATS_TEST_TMPDIR/before.txt"
    local file_before used_before
    file_before=$("$EDDY" -d "$DATA_DIR" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["storage"]["file_bytes"])')
    used_before=$("$EDDY" -d "$DATA_DIR" status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["storage"]["used_bytes"])')
    [ "$file_before" -eq "$(stat -c %s "$DATA_DIR/data.mdb")" ]
    [ "$used_before" -lt $((file_before / 2)) ]
    run "$EDDY" -d "$DATA_DIR" compact
    [ "$status" -eq 0 ]
    [[ "$output" == "compacted $DATA_DIR: file "*"10 pending batches, 0 dead letters" ]]
    [ ! -e "$DATA_DIR.compact" ]
    # the file is now what was in use (give or take LMDB's own pages)
    local file_after
    file_after=$(stat -c %s "$DATA_DIR/data.mdb")
    [ "$file_after" -le $((used_before + 65536)) ]
    # the same records, byte for byte, with their sequences
    mkdir "$BATS_TEST_TMPDIR/after"
    "$QTOOL" dump "$DATA_DIR" "$BATS_TEST_TMPDIR/after" | diff "$BATS_TEST_TMPDIR/before.txt" -
    diff -r "$BATS_TEST_TMPDIR/before" "$BATS_TEST_TMPDIR/after"
    "$EDDY" -d "$DATA_DIR" verify
    # eddyd runs on the compacted store: ingest continues the sequence, all delivered
    start_eddyd
    local out
    out=$(post "$CORPUS/batch-00001.json")
    [[ "$out" == *'"id":61}' ]]
    start_fake --write-key test-key
    wait_until 30 status_is pending.batches 0
    [ "$(ls "$BATS_TEST_TMPDIR/bodies" | wc -l)" -eq 11 ]
}

@test "eddy compact refuses when DIR.compact is left over, and changes nothing" {
    write_config
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-3].json
    stop_eddyd
    mkdir "$DATA_DIR.compact"
    local sum
    sum=$(sha256sum "$DATA_DIR/data.mdb")
    run "$EDDY" -d "$DATA_DIR" compact
    [ "$status" -eq 1 ]
    [[ "$output" == *"$DATA_DIR.compact exists"* ]]
    [ "$(sha256sum "$DATA_DIR/data.mdb")" = "$sum" ]
}

# sink_gzip: one line per accepted request, "true" or "false": whether it came
# with Content-Encoding: gzip.
sink_gzip() {
    python3 -c '
import json, sys
for l in open(sys.argv[1]):
    print(str(json.loads(l)["gzip"]).lower())' "$BATS_TEST_TMPDIR/sink.ndjson"
}

# poisoned OUT: batch-00001 with event 37 carrying the fake's marker text.
poisoned() {
    python3 - "$CORPUS/batch-00001.json" "$1" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["events"][37].setdefault("properties", {})["note"] = "POISON-37"
open(sys.argv[2], "w").write(json.dumps(b, separators=(",", ":")))
PY
}

@test "gzip stored, gzip forwarded (default): Content-Encoding: gzip, the same bodies byte for byte" {
    write_config
    start_fake --write-key test-key
    start_eddyd
    post_all "$CORPUS"/batch-000*.json
    wait_until 30 status_is pending.batches 0
    [ "$(sink_gzip | sort | uniq -c | tr -s ' ')" = " 20 true" ]
    same_bodies "$BATS_TEST_TMPDIR/bodies" "$CORPUS"/batch-000*.json
    diff <(fixture_ids "$CORPUS"/batch-000*.json | sort) <(sink_ids | sort)
}

@test "gzip stored, content_encoding = identity: inflated before sending, byte for byte" {
    write_config delivery.content_encoding=identity
    start_fake --write-key test-key
    start_eddyd
    post_all "$CORPUS"/batch-0000*.json
    wait_until 30 status_is pending.batches 0
    run "$QTOOL" count "$DATA_DIR"
    [ "$(sink_gzip | sort | uniq -c | tr -s ' ')" = " 9 false" ]
    same_bodies "$BATS_TEST_TMPDIR/bodies" "$CORPUS"/batch-0000*.json
}

@test "a 400 to a gzip batch bisects it down to the bad event; the rest is delivered gzip" {
    poisoned "$BATS_TEST_TMPDIR/poisoned.json"
    write_config
    start_fake --write-key test-key --marker POISON-37
    start_eddyd
    post_all "$BATS_TEST_TMPDIR/poisoned.json"
    wait_until 60 status_is pending.batches 0
    [ "$(status_field dead.batches)" -eq 1 ]
    # the dead letter is the one event, byte for byte as posted
    local id
    id=$("$EDDY" -d "$DATA_DIR" dlq list --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
    "$EDDY" -d "$DATA_DIR" dlq show "$id" --raw | grep -q '"note":"POISON-37"'
    [ "$("$EDDY" -d "$DATA_DIR" dlq show "$id" --raw | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))')" -eq 1 ]
    # every other event delivered once; the halves went out gzip
    diff <(fixture_ids "$BATS_TEST_TMPDIR/poisoned.json" | python3 -c '
import sys
ids = [l.strip() for l in sys.stdin]
del ids[37]
print("\n".join(sorted(ids)))') <(sink_ids | sort)
    ! sink_gzip | grep -q false
    # not mistaken for a destination refusing gzip
    ! grep -q "sending its batches inflated" "$BATS_TEST_TMPDIR/eddyd.log"
}

# switched_to_identity STATUS LOG_TEXT: a sink refusing gzip bodies with
# STATUS gets every batch as identity, nothing dead, LOG_TEXT logged once.
switched_to_identity() {
    write_config
    start_fake --write-key test-key --refuse-gzip "$1"
    start_eddyd
    post_all "$CORPUS"/batch-0000*.json
    wait_until 30 status_is pending.batches 0
    [ "$(status_field dead.batches)" -eq 0 ]
    [ "$(sink_gzip | sort | uniq -c | tr -s ' ')" = " 9 false" ]
    same_bodies "$BATS_TEST_TMPDIR/bodies" "$CORPUS"/batch-0000*.json
    [ "$(grep -c "$2" "$BATS_TEST_TMPDIR/eddyd.log")" -eq 1 ]
}

@test "a destination answering 415 to gzip is switched to identity, logged once, nothing lost" {
    switched_to_identity 415 "answered 415 to a gzip body; sending its batches inflated"
}

@test "a destination answering 400 to gzip (identity passes) is switched to identity, nothing dead" {
    switched_to_identity 400 "answered 400 to a gzip body that passed as identity"
}
