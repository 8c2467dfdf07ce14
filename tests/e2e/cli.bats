#!/usr/bin/env bats
# cli.bats - the eddy operator CLI against real stores: dead letters made by
# eddyd and fake-rudderstack (400 for events carrying a marker, bisected down
# to single events; 413 for one oversized event), then every command, its
# filters, its JSON, its exit codes; plus a 50,000-record store filled
# through the storage API (tests/bench/dlq_fill) for the interrupted replay.

load helpers
load fake
load cli

setup_file() {
    local g=$BATS_FILE_TMPDIR/golden
    mkdir -p "$g"
    BATS_TEST_TMPDIR=$g build_golden "$g/data"
}

teardown_file() {
    teardown_processes
}

setup() {
    unset EDDY_CONF INGEST_PORT ADMIN_PORT SINK_PORT EDDYD_PID FAKE_PID
}

teardown() {
    teardown_processes
}

@test "status: the DESIGN.md object, and a readable summary" {
    use_golden
    run eddy status --json
    [ "$status" -eq 0 ]
    python3 - "$output" <<'PY'
import json, sys
o = json.loads(sys.argv[1])
assert sorted(o) == ["dead", "delivery", "eddyd", "pending", "sources", "storage"], o
assert o["eddyd"]["running"] is False and o["eddyd"]["pid"] == 0, o  # eddyd stopped
assert sorted(o["pending"]) == ["batches", "bytes", "events", "oldest_age_s"], o
assert sorted(o["dead"]) == ["batches", "events"]
# eddyd may record more about delivery (e.g. updated_ms); these three are the contract
assert {"last_error", "last_status", "state"} <= set(o["delivery"]), o
assert sorted(o["storage"]) == ["file_bytes", "max_bytes", "used_bytes"]
assert o["pending"]["batches"] == 0 and o["dead"] == {"batches": 13, "events": 13}, o
assert o["delivery"]["state"] in ("ok", "backoff", "held")
assert 0 < o["storage"]["used_bytes"] <= o["storage"]["max_bytes"]
assert o["storage"]["used_bytes"] <= o["storage"]["file_bytes"] <= o["storage"]["max_bytes"]
# per-source counts add up to the totals
assert sum(s["pending"]["batches"] for s in o["sources"]) == o["pending"]["batches"], o
PY
    run eddy status
    [ "$status" -eq 0 ]
    [[ "$output" == *"dead      13 dead letters, 13 events"* ]]
    [[ "$output" == *"storage"*"used of"*", file "* ]]
}

@test "dlq list --json: one line per dead letter with the contract's fields" {
    use_golden
    run eddy dlq list --json
    [ "$status" -eq 0 ]
    python3 - "$output" <<'PY'
import json, re, sys
lines = sys.argv[1].splitlines()
assert len(lines) == 13, len(lines)
t = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
ids = []
for l in lines:
    o = json.loads(l)
    for k in ("id", "events", "event_types", "reason", "last_status", "attempts",
              "first_failed_at", "last_failed_at", "replays"):
        assert k in o, (k, o)
    assert o["events"] == 1 and len(o["event_types"]) == 1
    assert o["last_status"] in (400, 413) and o["attempts"] >= 1 and o["replays"] == 0
    assert t.match(o["first_failed_at"]) and t.match(o["last_failed_at"]), o
    assert t.match(o["dead_at"]), o
    ids.append(o["id"])
assert ids == sorted(ids) and len(set(ids)) == 13
PY
    # the human table: a header and one aligned row per dead letter
    run eddy dlq list
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 14 ]
    [[ "${lines[0]}" == "ID"*"EVENTS"*"SIZE"*"STATUS"*"REASON" ]]
    [[ "$output" == *"KiB"* ]] # the 24 KiB event
    run eddy dlq list --limit 5 --json
    [ "${#lines[@]}" -eq 6 ] # 5 lines, then (stderr) that more exist
    [ "${lines[5]}" = "eddy: showing the first 5; more exist (raise --limit or narrow the filters)" ]
    [ "$(eddy dlq list --limit 5 --json 2>/dev/null | wc -l)" -eq 5 ]
    # exactly 13: nothing more to say
    run eddy dlq list --limit 13 --json
    [ "${#lines[@]}" -eq 13 ]
}

# expect FILTER_SPEC: dead ids matching, computed from the full export.
expect() {
    eddy dlq export | python3 -c '
import fnmatch, json, sys
kind, arg = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    o = json.loads(line)
    if kind == "type":
        ok = any(fnmatch.fnmatchcase(t, arg) for t in o["event_types"])
    elif kind == "since":
        ok = o["dead_at"] >= arg
    elif kind == "until":
        ok = o["dead_at"] < arg
    elif kind == "status":
        ok = o["last_status"] == int(arg)
    elif kind == "reason":
        ok = arg in o["reason"]
    elif kind == "event-id":
        ok = "body" in o and any(e.get("id") == arg for e in o["body"]["events"])
    if ok:
        print(o["id"])' "$1" "$2"
}

# narrows OPTION VALUE: dlq list with that filter gives exactly the expected
# ids, a non-empty proper subset.
narrows() {
    local got want
    got=$(eddy dlq list "--$1" "$2" --json | ids)
    want=$(expect "$1" "$2")
    echo "filter --$1 $2: got [$got] want [$want]"
    [ -n "$want" ]
    [ "$(echo "$want" | wc -l)" -lt 13 ]
    [ "$got" = "$want" ]
}

@test "dlq list: each filter narrows exactly" {
    use_golden
    narrows type 'users.messages.*'
    narrows type users.behaviors.purchase
    narrows type '*CustomEvent'
    narrows since "$GOLDEN_T"
    narrows until "$GOLDEN_T"
    narrows status 413
    narrows status 400
    narrows reason 413
    narrows event-id a2-6
    [ "$(eddy dlq list --since "$GOLDEN_T" --json | wc -l)" -eq 5 ]
    [ "$(eddy dlq list --until "$GOLDEN_T" --json | wc -l)" -eq 8 ]
    [ "$(eddy dlq list --type users.behaviors.purchase --json | wc -l)" -eq 3 ]
    [ "$(eddy dlq list --status 413 --json | wc -l)" -eq 1 ]
    # filters combine (AND); a relative --since covers everything here
    [ "$(eddy dlq list --type 'users.messages.*' --since "$GOLDEN_T" --status 413 --json | ids)" = \
        "$(eddy dlq list --status 413 --json | ids)" ]
    [ "$(eddy dlq list --type 'users.messages.*' --since "$GOLDEN_T" --json | wc -l)" -eq 2 ]
    [ "$(eddy dlq list --since 1h --json | wc -l)" -eq 13 ]
    [ "$(eddy dlq list --since 2000-01-01 --until 2000-01-02 --json | wc -l)" -eq 0 ]
    run eddy dlq list --event-id no-such-event
    [ "$status" -eq 0 ]
    [ "$output" = "no dead letters match" ]
}

@test "dlq show: metadata, attempts, pretty body; --raw is the dead letter's bytes" {
    use_golden
    local id
    id=$(eddy dlq list --event-id a1-5 --json | ids)
    [ -n "$id" ]
    run eddy dlq show "$id"
    [ "$status" -eq 0 ]
    [[ "$output" == "dead letter $id"* ]]
    [[ "$output" == *"reason"*"400"* ]]
    [[ "$output" == *"attempts:"* ]]
    [[ "$output" == *'"id": "a1-5"'* ]]
    [[ "$output" == *'"price": 19.99'* ]] # numbers shown as stored
    run eddy dlq show "$id" --json
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | json_field id)" = "$id" ]
    [ "$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["history"][-1]["status"])')" = 400 ]
    eddy dlq show "$id" --raw >"$BATS_TEST_TMPDIR/raw"
    # the dead letter holds exactly the posted event, in a one-event batch
    python3 - "$BATS_TEST_TMPDIR/raw" "$POSTED/a1.json.events" <<'PY'
import sys
raw = open(sys.argv[1], "rb").read()
event = open(sys.argv[2], "rb").read().split(b"\n")[5]
assert raw == b'{"events":[' + event + b']}', raw
PY
    # and what export carries for it is the same body
    eddy dlq export --event-id a1-5 | python3 -c '
import json, sys
o = json.loads(sys.stdin.read())
raw = json.load(open(sys.argv[1]))
assert o["body"] == raw, (o["body"], raw)' "$BATS_TEST_TMPDIR/raw"
    run eddy dlq show 999999
    [ "$status" -eq 1 ]
    [[ "$output" == *"not found"* ]]
}

@test "replay --dry-run changes nothing and lists exactly what replay moves" {
    use_golden
    eddy dlq list --json >"$BATS_TEST_TMPDIR/before"
    eddy status --json >"$BATS_TEST_TMPDIR/status-before"
    run eddy dlq replay --type 'users.behaviors.*' --dry-run --json
    [ "$status" -eq 0 ]
    echo "$output" | ids >"$BATS_TEST_TMPDIR/dry"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/dry")" -eq 9 ]
    run eddy dlq replay --type 'users.behaviors.*' --dry-run
    [[ "$output" == *"would replay 9 dead letters (9 events); nothing changed"* ]]
    eddy dlq list --json | cmp - "$BATS_TEST_TMPDIR/before"
    eddy status --json | cmp - "$BATS_TEST_TMPDIR/status-before"

    run eddy dlq replay --type 'users.behaviors.*'
    [ "$status" -eq 0 ]
    [ "$output" = "replayed 9 dead letters to pending" ]
    # moved = before - after, and it is exactly the dry run's list
    comm -23 <(ids <"$BATS_TEST_TMPDIR/before" | sort) <(eddy dlq list --json | ids | sort) |
        sort -n | cmp - "$BATS_TEST_TMPDIR/dry"
    [ "$(pending_count)" -eq 9 ]
    [ "$(dead_count)" -eq 4 ]
    # the replayed batches are pending, with the replay recorded
    run eddy pending list --json
    [ "${#lines[@]}" -eq 9 ]
    [[ "${lines[0]}" == *'"replays":1'* ]]
    [ "$(eddy pending list --type users.behaviors.purchase --json | wc -l)" -eq 3 ]
    [ "$(eddy pending list --limit 2 --json | wc -l)" -eq 2 ]
    run eddy find a0-4
    [ "$status" -eq 0 ]
    [[ "$output" == "pending  batch "* ]]
    # by id: all ids must exist or nothing moves
    local one
    one=$(eddy dlq list --json --limit 1 | ids)
    run eddy dlq replay "$one" 999999
    [ "$status" -eq 1 ]
    [ "$(dead_count)" -eq 4 ]
    run eddy dlq replay "$one"
    [ "$status" -eq 0 ]
    [ "$(dead_count)" -eq 3 ]
}

@test "replay during live ingest: nothing lost, replayed events reach the sink" {
    use_golden
    write_config
    start_fake --write-key test-key # no marker now: the "fixed" RudderStack
    start_eddyd
    local dead_ids
    dead_ids=$("$FILL" --ids "$DATA_DIR" | sed -n 's/^dead //p' | sort)
    [ "$(echo "$dead_ids" | wc -l)" -eq 13 ]
    # post 30 batches of 10 events while the replay runs
    (
        for i in $(seq 1 30); do
            make_batch "$BATS_TEST_TMPDIR/live$i.json" "live$i" 10 users.behaviors.CustomEvent
            post "$BATS_TEST_TMPDIR/live$i.json" | cut -d' ' -f1
        done >"$BATS_TEST_TMPDIR/live.status"
    ) &
    local poster=$!
    run eddy dlq replay --all --chunk 1
    [ "$status" -eq 0 ]
    [ "$output" = "replayed 13 dead letters to pending" ]
    wait "$poster"
    [ "$(grep -c '^200$' "$BATS_TEST_TMPDIR/live.status")" -eq 30 ]
    wait_until 30 fake_events_at_least 312
    # the Latin-1 event is refused again (the fake's jansson rejects it) and
    # goes back to the DLQ with its replay counted; everything else leaves
    wait_until 30 dead_is 1
    wait_until 10 pending_is 0
    run eddy dlq list --json
    [[ "$output" == *'"replays":1'* ]]
    [[ "$(eddy dlq show "$(echo "$output" | ids)")" == *'"id": "b2-1"'* ]]
    # every other replayed event and every live event arrived
    sink_ids | sort >"$BATS_TEST_TMPDIR/sink"
    echo "$dead_ids" | grep -v '^b2-1$' | comm -23 - "$BATS_TEST_TMPDIR/sink" | (! grep .)
    for i in $(seq 1 30); do
        for j in $(seq 0 9); do echo "live$i-$j"; done
    done | sort | comm -23 - "$BATS_TEST_TMPDIR/sink" | (! grep .)
}

@test "purge: refuses without --yes off a terminal; by filter removes only the matches" {
    use_golden
    eddy dlq list --json >"$BATS_TEST_TMPDIR/before"
    run eddy dlq purge --type users.behaviors.purchase </dev/null
    [ "$status" -eq 2 ]
    [[ "$output" == *"--yes"* ]]
    eddy dlq list --json | cmp - "$BATS_TEST_TMPDIR/before"
    # on a terminal it asks; anything but y/yes keeps everything
    run script -qec "$EDDY -d $DATA_DIR dlq purge --type users.behaviors.purchase" /dev/null <<<"n"
    [ "$status" -eq 1 ]
    [[ "$output" == *"Delete 3 dead letters (3 events) for good? [y/N]"*"not confirmed; nothing changed"* ]]
    eddy dlq list --json | cmp - "$BATS_TEST_TMPDIR/before"
    local match
    match=$(eddy dlq list --type users.behaviors.purchase --json | ids)
    [ "$(echo "$match" | wc -l)" -eq 3 ]
    run eddy dlq purge --type users.behaviors.purchase --yes </dev/null
    [ "$status" -eq 0 ]
    [ "$output" = "purged 3 dead letters" ]
    # after = before minus exactly the matches, every other line unchanged
    python3 - "$BATS_TEST_TMPDIR/before" "$match" "$(eddy dlq list --json)" <<'PY'
import sys
before = open(sys.argv[1]).read().splitlines()
gone = set(int(x) for x in sys.argv[2].split())
after = sys.argv[3].splitlines()
import json
assert [l for l in before if json.loads(l)["id"] not in gone] == after
PY
    [ "$(pending_count)" -eq 0 ]
    # --older-than: nothing here is a day old
    run eddy dlq purge --older-than 1d --yes
    [ "$status" -eq 0 ]
    [ "$(dead_count)" -eq 10 ]
    local two
    two=$(eddy dlq list --json --limit 2 | ids | tr '\n' ' ')
    run script -qec "$EDDY -d $DATA_DIR dlq purge $two" /dev/null <<<"y"
    [ "$status" -eq 0 ]
    [[ "$output" == *"purged 2 dead letters"* ]]
    [ "$(dead_count)" -eq 8 ]
    run eddy dlq purge --all --yes
    [ "$output" = "purged 8 dead letters" ]
    [ "$(dead_count)" -eq 0 ]
}

@test "export: NDJSON that parses line by line, with metadata and body" {
    use_golden
    eddy dlq export -o "$BATS_TEST_TMPDIR/dlq.ndjson" 2>"$BATS_TEST_TMPDIR/err"
    [ "$(stat -c %a "$BATS_TEST_TMPDIR/dlq.ndjson")" = 600 ]
    grep -q "exported 13 dead letters" "$BATS_TEST_TMPDIR/err"
    grep -q "1 bodies are not valid UTF-8 JSON" "$BATS_TEST_TMPDIR/err"
    python3 - "$BATS_TEST_TMPDIR/dlq.ndjson" "$POSTED" <<'PY'
import base64, glob, json, re, sys
posted, posted_raw = {}, {}
for f in glob.glob(sys.argv[2] + "/*.events"):
    for l in open(f, "rb").read().split(b"\n"):
        if l:
            i = re.match(rb'\{"id":"([^"]*)"', l).group(1).decode()
            posted_raw[i] = l
            try:
                json.loads(l)
                posted[i] = l
            except ValueError:
                pass  # the Latin-1 event
n = b64 = 0
for line in open(sys.argv[1], "rb"):
    o = json.loads(line)
    n += 1
    assert o["reason"] and o["history"] and o["history"][-1]["status"] in (400, 413), o
    if "body_base64" in o:
        # not valid UTF-8: carried as base64, byte for byte
        b64 += 1
        assert base64.b64decode(o["body_base64"]) == b'{"events":[' + posted_raw["b2-1"] + b"]}"
        continue
    (ev,) = o["body"]["events"]
    # the body carries the event exactly as it was posted
    assert json.dumps(ev, separators=(",", ":")).encode() == posted[ev["id"]]
assert n == 13 and b64 == 1, (n, b64)
PY
    # the filtered export to stdout matches the filtered listing
    [ "$(eddy dlq export --status 413 | ids)" = "$(eddy dlq list --status 413 --json | ids)" ]
}

@test "find: an event in pending, in dead, or not here" {
    use_golden
    # no RudderStack at all: what is posted stays pending
    write_config
    start_eddyd
    make_batch "$BATS_TEST_TMPDIR/p.json" pend 3 users.messages.email.Send
    [ "$(post "$BATS_TEST_TMPDIR/p.json" | cut -d' ' -f1)" = 200 ]
    local seq
    seq=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' \
        "$BATS_TEST_TMPDIR/answer")
    run eddy find pend-1
    [ "$status" -eq 0 ]
    [[ "$output" == "pending  batch $seq (3 events, received "*" ago)" ]]
    # pending show: the stored body is the posted body, byte for byte
    eddy pending show "$seq" --raw | cmp - "$BATS_TEST_TMPDIR/p.json"
    run eddy pending show "$seq"
    [ "$status" -eq 0 ]
    [[ "$output" == "pending batch $seq"*'"id": "pend-2"'* ]]
    run eddy pending list --json
    [ "$(echo "$output" | ids)" = "$seq" ]
    run eddy find pend-1 --json
    [ "$(echo "$output" | json_field where)" = pending ]
    [ "$(echo "$output" | json_field id)" = "$seq" ]
    local dead
    dead=$(eddy dlq list --event-id b0-2 --json | ids)
    run eddy find b0-2
    [ "$status" -eq 0 ]
    [[ "$output" == "dead     dead letter $dead (1 events"* ]]
    run eddy find a0-0 # delivered long ago
    [ "$status" -eq 1 ]
    [ "$output" = "a0-0: not here (neither pending nor dead)" ]
}

@test "verify passes, then fails on a corrupted record; backup keeps the counts" {
    use_golden
    run eddy verify
    [ "$status" -eq 0 ]
    [[ "$output" == "verify: ok, 13 records (0 pending, 13 dead letters)"* ]]
    # a hot backup (eddyd running on the store) opens with the same counts
    write_config
    start_eddyd
    run eddy backup "$BATS_TEST_TMPDIR/backup"
    [ "$status" -eq 0 ]
    [[ "$output" == *"0 pending batches (0 events), 13 dead letters"* ]]
    diff <(eddy status --json | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["pending"], o["dead"])') \
        <("$EDDY" -d "$BATS_TEST_TMPDIR/backup" status --json | python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["pending"], o["dead"])')
    "$EDDY" -d "$BATS_TEST_TMPDIR/backup" verify
    run eddy backup "$BATS_TEST_TMPDIR/backup" # not empty any more
    [ "$status" -eq 1 ]
    stop_eddyd

    # flip one byte of one dead letter's body in data.mdb (every copy of it);
    # bodies are stored gzip-compressed, so find the record whose body
    # inflates to hold the event and flip a byte inside its gzip member
    local id
    id=$(eddy dlq list --event-id a3-7 --json | ids)
    python3 - "$DATA_DIR/data.mdb" <<'PY'
import struct, sys, zlib
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
needle, n, i = b'"id":"a3-7"', 0, b.find(b"EDR1")
while i >= 0:
    klen, tlen = struct.unpack_from("<HI", b, i + 6)
    start = i + 48 + klen + tlen
    if b[i + 4] == 2:  # a gzip record: its member starts after key and types
        try:
            d, data = zlib.decompressobj(31), bytes(b[start:start + (1 << 20)])
            if needle in d.decompress(data):
                b[start + (len(data) - len(d.unused_data)) // 2] ^= 0x01
                n += 1
        except zlib.error:
            pass
    elif b.find(needle, start, start + (1 << 20)) >= 0:
        b[b.find(needle, start) + 6] ^= 0x01  # a3-7 -> `3-7
        n += 1
    i = b.find(b"EDR1", i + 1)
assert n >= 1
open(p, "wb").write(b)
PY
    run eddy verify
    [ "$status" -eq 1 ]
    [[ "$output" == *"DAMAGED  dead letter $id: "* ]]
    [[ "$output" == *"verify: 1 of 13 records DAMAGED"* ]]
    # find cannot search inside it, and says so instead of "not here"
    run eddy find a3-7
    [ "$status" -eq 1 ]
    [[ "$output" == *"damaged  dead letter $id cannot be searched"*"the event may be inside it"* ]]
    [[ "$output" == *"a3-7: not in any intact record; 1 damaged record could not be searched"* ]]
    [[ "$output" != *"not here"* ]]
    run eddy find a3-7 --json
    [ "$(echo "${lines[0]}" | json_field where)" = damaged ]
    run eddy dlq show "$id"
    [ "$status" -eq 1 ]
    [[ "$output" == *"damaged"* ]]
    # the damaged record is listed as such, the others still read
    run eddy dlq list
    [[ "$output" == *"DAMAGED"* ]]
    # replay moves every sound dead letter and leaves the damaged one
    run eddy dlq replay --all
    [ "$status" -eq 1 ]
    [[ "$output" == *"replayed 12 dead letters"*"damaged records were left"* ]]
    [ "$(eddy dlq list --json | ids)" = "$id" ]
    # purge gets rid of it; the store verifies again
    run eddy dlq purge "$id" --yes
    [ "$status" -eq 0 ]
    run eddy verify
    [ "$status" -eq 0 ]
    [[ "$output" == "verify: ok, 12 records (12 pending, 0 dead letters)"* ]]
}

@test "SIGINT in the middle of a 50,000-record replay: every record in exactly one place" {
    export DATA_DIR=$BATS_TEST_TMPDIR/big
    "$FILL" "$DATA_DIR" 50000 >/dev/null
    [ "$(dead_count)" -eq 50000 ]
    # one record per transaction: ~50,000 commits, far longer than it takes
    # to see the first ones land and interrupt
    "$EDDY" -d "$DATA_DIR" dlq replay --all --chunk 1 >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
    local pid=$!
    wait_until 20 eval '[ "$(dead_count)" -lt 50000 ]'
    kill -INT "$pid"
    local rc=0
    wait "$pid" || rc=$?
    cat "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
    [ "$rc" -eq 1 ]
    grep -q "interrupted after" "$BATS_TEST_TMPDIR/err"
    # nothing drawn on a non-terminal
    [ "$(grep -c $'\r' "$BATS_TEST_TMPDIR/err")" -eq 0 ]
    local moved dead pending
    moved=$(sed -n 's/^replayed \([0-9]*\) dead letters$/\1/p' "$BATS_TEST_TMPDIR/out")
    dead=$(dead_count)
    pending=$(pending_count)
    echo "moved=$moved dead=$dead pending=$pending"
    [ "$moved" -gt 0 ]
    [ "$dead" -gt 0 ]
    [ "$pending" -eq "$moved" ]
    [ $((dead + pending)) -eq 50000 ]
    # each of the 50,000 events exactly once, in pending or dead
    "$FILL" --ids "$DATA_DIR" >"$BATS_TEST_TMPDIR/ids"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/ids")" -eq 50000 ]
    [ "$(cut -d' ' -f2 "$BATS_TEST_TMPDIR/ids" | sort -u | wc -l)" -eq 50000 ]
    [ "$(grep -c '^pending ' "$BATS_TEST_TMPDIR/ids")" -eq "$pending" ]
    # the rest replays; EDDY_PROGRESS=1 draws the progress line anyway
    EDDY_PROGRESS=1 eddy dlq replay --all 2>"$BATS_TEST_TMPDIR/err2"
    grep -q $'\r.*replay [0-9]*/[0-9]* \\[' "$BATS_TEST_TMPDIR/err2"
    [ "$(dead_count)" -eq 0 ]
    [ "$(pending_count)" -eq 50000 ]
}

@test "exit codes and messages: 0 ok, 1 failure, 2 usage" {
    use_golden
    run "$EDDY" --help
    [ "$status" -eq 0 ]
    [[ "$output" == *"usage: eddy"*"examples:"* ]]
    for c in status "pending list" "dlq list" "dlq show" "dlq replay" "dlq purge" \
        "dlq export" find verify backup; do
        run eddy $c --help
        [ "$status" -eq 0 ]
        [[ "$output" == "usage: eddy ${c%% *}"*"example"* ]]
    done
    run "$EDDY"
    [ "$status" -eq 2 ]
    run eddy frobnicate
    [ "$status" -eq 2 ]
    run eddy status --bogus
    [ "$status" -eq 2 ]
    run eddy dlq list --since yesterday
    [ "$status" -eq 2 ]
    [[ "$output" == *"--since 'yesterday'"* ]]
    run eddy dlq list --status 4xx
    [ "$status" -eq 2 ]
    run eddy dlq list --status 999
    [ "$status" -eq 2 ]
    [[ "$output" == *"--status '999': expected an HTTP status code (100 to 599)"* ]]
    run eddy dlq list --type '['
    [ "$status" -eq 2 ]
    [[ "$output" == *"--type '[': a '[' is never closed by ']'"* ]]
    run eddy dlq purge --type 'users.[' --yes
    [ "$status" -eq 2 ]
    [ "$(eddy dlq list --json | wc -l)" -eq 13 ]
    run eddy dlq list --type '[u]sers.*'
    [ "$status" -eq 0 ]
    run eddy dlq list --limit 0
    [ "$status" -eq 2 ]
    run eddy dlq show
    [ "$status" -eq 2 ]
    run eddy dlq show abc
    [ "$status" -eq 2 ]
    run eddy dlq replay
    [ "$status" -eq 2 ]
    run eddy dlq replay 1 --all
    [ "$status" -eq 2 ]
    run eddy dlq replay --all --status 400
    [ "$status" -eq 2 ]
    run "$EDDY" -c x -d y status
    [ "$status" -eq 2 ]
    # failures: 1
    run eddy dlq show 999999
    [ "$status" -eq 1 ]
    run eddy dlq purge 999999 --yes
    [ "$status" -eq 1 ]
    [[ "$output" == *"nothing changed: 1 of the listed ids is not a dead letter"* ]]
    run eddy dlq purge 999998 999999 --yes
    [[ "$output" == *"nothing changed: 2 of the listed ids are not dead letters"* ]]
    run "$EDDY" -d "$BATS_TEST_TMPDIR/nowhere" status
    [ "$status" -eq 1 ]
    [[ "$output" == *"nowhere"*"No such file or directory"* ]]
    mkdir "$BATS_TEST_TMPDIR/empty"
    run "$EDDY" -d "$BATS_TEST_TMPDIR/empty" status
    [ "$status" -eq 1 ]
    [[ "$output" == *"not an eddy"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/empty/data.mdb" ] # the CLI never creates a store
    run "$EDDY" -c "$BATS_TEST_TMPDIR/missing.conf" status
    [ "$status" -eq 1 ]
    # -c reads [storage] data_dir from eddyd's config
    write_config
    run "$EDDY" -c "$EDDY_CONF" status --json
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | json_field dead.batches)" -eq 13 ]
    # a store written by a newer eddy: bump q.version in data.mdb
    python3 - "$DATA_DIR/data.mdb" <<'PY'
import sys
p = sys.argv[1]
b = open(p, "rb").read()
old = b"q.version" + (1).to_bytes(8, "big")
assert old in b
open(p, "wb").write(b.replace(old, b"q.version" + (99).to_bytes(8, "big")))
PY
    run eddy status
    [ "$status" -eq 1 ]
    [[ "$output" == *"newer eddy"* ]]
}
