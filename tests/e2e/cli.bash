# cli.bash - helpers for cli.bats: building a store with dead letters the
# real way (eddyd + fake-rudderstack answering 400/413), copying it per test,
# and small python one-liners to read the CLI's JSON output.
# Load after helpers and fake.

FILL=$BUILD/bench/dlq_fill
MARKER=POISON-7f3a

# eddy ARGS...: the CLI on this test's store.
eddy() {
    "$EDDY" -d "$DATA_DIR" "$@"
}

# make_batch FILE PREFIX N TYPE [POISON_INDEXES] [BIG_INDEX]: writes a compact
# Currents body of N events with ids PREFIX-0..N-1 and event_type TYPE (a
# "a|b|c" list cycles through types); events at the comma-separated
# POISON_INDEXES carry the marker the fake refuses with 400; the event at
# BIG_INDEX carries 24 KiB of padding (refused with 413 when the fake's
# max_body is below that). Also writes FILE.events: one event's exact bytes
# per line.
make_batch() {
    python3 - "$@" "$MARKER" <<'PY'
import json, sys, time
path, prefix, n, types = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split("|")
poison = {int(x) for x in sys.argv[5].split(",") if x} if len(sys.argv) > 6 else set()
big = int(sys.argv[6]) if len(sys.argv) > 7 and sys.argv[6] != "" else -1
marker = sys.argv[-1]
events = []
for i in range(n):
    e = {"id": "%s-%d" % (prefix, i), "event_type": types[i % len(types)],
         "time": int(time.time()), "user": {"external_user_id": "u%d" % i},
         "properties": {"price": 19.99, "n": i}}
    if i in poison:
        e["properties"]["note"] = marker
    if i == big:
        e["properties"]["pad"] = "x" * 24576
    events.append(json.dumps(e, separators=(",", ":")))
with open(path, "w") as f:
    f.write('{"events":[' + ",".join(events) + "]}")
with open(path + ".events", "w") as f:
    f.write("\n".join(events) + "\n")
PY
}

# make_latin1_batch FILE: two events, b2-0 fine, b2-1 with "caf\xe9" (Latin-1,
# not UTF-8) in a string. FILE.events holds each event's bytes per line.
make_latin1_batch() {
    python3 - "$1" <<'PY'
import sys
ev = [b'{"id":"b2-0","event_type":"users.messages.sms.Delivery","user":{"external_user_id":"u0"}}',
      b'{"id":"b2-1","event_type":"users.messages.sms.Delivery","user":{"external_user_id":"u1"},"properties":{"text":"caf\xe9"}}']
open(sys.argv[1], "wb").write(b'{"events":[' + b",".join(ev) + b"]}")
open(sys.argv[1] + ".events", "wb").write(b"\n".join(ev) + b"\n")
PY
}

# now_rfc3339: the current UTC time with milliseconds, as the CLI prints it.
now_rfc3339() {
    python3 -c 'import datetime; print(datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")'
}

# json_field FIELD: reads one JSON object on stdin, prints FIELD (a.b.c).
json_field() {
    python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    o = o[k]
print(o)' "$1"
}

# ids: the "id" of each JSON line on stdin, one per line.
ids() {
    python3 -c '
import json, sys
for line in sys.stdin:
    print(json.loads(line)["id"])'
}

dead_count() { eddy status --json | json_field dead.batches; }
pending_count() { eddy status --json | json_field pending.batches; }
dead_is() { [ "$(curl -sf "$ADMIN_URL/status" | json_field dead.batches)" -eq "$1" ]; }
pending_is() { [ "$(curl -sf "$ADMIN_URL/status" | json_field pending.batches)" -eq "$1" ]; }

# build_golden DIR: a store with dead letters made by the real path.
#   phase A: 4 batches x 8 events, 2 poisoned each (types email.Send |
#            behaviors.CustomEvent | pushnotification.Open)  -> 8 dead (400)
#   (GOLDEN_T is taken between the phases)
#   phase B: 1 batch of 6 "users.behaviors.purchase" events, 3 poisoned
#            -> 3 dead (400); 1 batch of 4 events whose event 2 is 24 KiB
#            with the fake's max_body at 16 KiB -> 1 dead (413); 1 batch of
#            2 events whose event 1 ("users.messages.sms.Delivery") holds a
#            string that is not valid UTF-8: eddyd stores it (as RudderStack's
#            gateway would accept it), the fake's jansson refuses it with 400
#            -> 1 dead (400) whose body is not valid UTF-8
# Everything else is delivered. Writes DIR/../golden.env (GOLDEN_T) and the
# posted bodies to DIR/../posted/.
build_golden() {
    local dir=$1 posted
    posted=$(dirname "$dir")/posted
    mkdir -p "$posted"
    DATA_DIR=$dir write_config
    start_fake --write-key test-key --marker "$MARKER"
    start_eddyd
    local b
    for b in 0 1 2 3; do
        make_batch "$posted/a$b.json" "a$b" 8 \
            "users.messages.email.Send|users.behaviors.CustomEvent|users.messages.pushnotification.Open" \
            "1,$((4 + b % 4))"
        [ "$(post "$posted/a$b.json" | cut -d' ' -f1)" = 200 ]
    done
    wait_until 30 dead_is 8
    wait_until 30 pending_is 0
    sleep 1.1
    GOLDEN_T=$(now_rfc3339)
    sleep 0.1
    fake_ctl "max_body=16384"
    make_batch "$posted/b0.json" b0 6 users.behaviors.purchase "0,2,5"
    make_batch "$posted/b1.json" b1 4 "users.messages.email.Send" "" 2
    [ "$(post "$posted/b0.json" | cut -d' ' -f1)" = 200 ]
    make_latin1_batch "$posted/b2.json"
    [ "$(post "$posted/b1.json" | cut -d' ' -f1)" = 200 ]
    [ "$(post "$posted/b2.json" | cut -d' ' -f1)" = 200 ]
    wait_until 30 dead_is 13
    wait_until 30 pending_is 0
    stop_eddyd
    [ "$EDDYD_STATUS" -eq 0 ]
    stop_fake
    echo "GOLDEN_T=$GOLDEN_T" >"$(dirname "$dir")/golden.env"
    unset EDDY_CONF INGEST_PORT ADMIN_PORT SINK_PORT
}

# use_golden: this test's store is a copy of the file's golden store.
use_golden() {
    export DATA_DIR=$BATS_TEST_TMPDIR/data
    cp -a "$BATS_FILE_TMPDIR/golden/data" "$DATA_DIR"
    # shellcheck disable=SC1091
    . "$BATS_FILE_TMPDIR/golden/golden.env"
    POSTED=$BATS_FILE_TMPDIR/golden/posted
}
