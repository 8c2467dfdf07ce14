#!/usr/bin/env bats
# fake_rudderstack.bats - build/fake-rudderstack, posted to directly, behaves
# as rudder-server's gateway does where eddy's delivery depends on it: the
# size limit applies to the request as the gateway wraps it (the body
# JSON-escaped, plus headers), only `Content-Encoding: gzip` exactly is
# inflated, corrupt gzip is a 500, and numbers such as 1e400 pass.

load helpers
load fake

setup() {
    start_fake
    URL=$SINK_URL/v1/webhook?writeKey=k
}

teardown() {
    teardown_processes
}

# braze_body BYTES FILE: a Braze Currents body of about BYTES raw bytes
# built from the corpus events (JSON-escaping grows it by ~10%).
braze_body() {
    python3 - "$1" "$2" "$FIXTURES/corpus/batch-00001.json" <<'PY'
import json, sys
target, out, src = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = json.load(open(src))["events"]
events, size, i = [], 12, 0
while size < target:
    e = dict(base[i % len(base)], id="big-%d" % i)
    size += len(json.dumps(e)) + 1
    events.append(e)
    i += 1
open(out, "w").write(json.dumps({"events": events}))
PY
}

# code ARGS...: posts with curl, prints the status; the answer in $BATS_TEST_TMPDIR/a.
code() {
    curl -s -o "$BATS_TEST_TMPDIR/a" -w '%{http_code}' -H 'Content-Type: application/json' "$@"
}

@test "fake: the 4000 KiB limit is on the wrapped request, not the raw body" {
    braze_body 3500000 "$BATS_TEST_TMPDIR/small.json"
    braze_body 3900000 "$BATS_TEST_TMPDIR/large.json"
    # Both raw bodies are under 4,096,000 bytes; wrapped, only the first is.
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/large.json")" -lt 4096000 ]
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/small.json" "$URL")" = 200 ]
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/large.json" "$URL")" = 413 ]
    grep -qx 'request size exceeds max limit' "$BATS_TEST_TMPDIR/a"
    # Escaping is what counts: 2.2 MB of \" is over (4.4 MB escaped), 3.9 MB of letters is not.
    python3 -c 'import sys; sys.stdout.write("{\"events\":[{\"user\":{\"user_id\":\"u\"},\"q\":\"" + "\\\"" * 1100000 + "\"}]}")' \
        >"$BATS_TEST_TMPDIR/quotes.json"
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/quotes.json" "$URL")" = 413 ]
    python3 -c 'import sys; sys.stdout.write("{\"events\":[{\"user\":{\"user_id\":\"u\"},\"q\":\"" + "a" * 3900000 + "\"}]}")' \
        >"$BATS_TEST_TMPDIR/letters.json"
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/letters.json" "$URL")" = 200 ]
    # The limit applies after gzip is inflated.
    gzip -c "$BATS_TEST_TMPDIR/large.json" >"$BATS_TEST_TMPDIR/large.gz"
    [ "$(code -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/large.gz" "$URL")" = 413 ]
    [ "$(fake_stat accepted_requests)" -eq 2 ]
}

@test "fake: only Content-Encoding: gzip exactly is inflated" {
    body=$FIXTURES/corpus/batch-00001.json
    gzip -c "$body" >"$BATS_TEST_TMPDIR/b.gz"
    [ "$(code -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/b.gz" "$URL")" = 200 ]
    # Other spellings leave the body as sent: gzip bytes are not JSON ...
    for enc in GZIP Gzip x-gzip 'gzip, identity'; do
        [ "$(code -H "Content-Encoding: $enc" --data-binary @"$BATS_TEST_TMPDIR/b.gz" "$URL")" = 400 ]
        grep -qx 'Malformed JSON in request body' "$BATS_TEST_TMPDIR/a"
    done
    # ... and plain JSON under such a label is taken as it is.
    [ "$(code -H 'Content-Encoding: x-gzip' --data-binary @"$body" "$URL")" = 200 ]
    [ "$(fake_stat accepted_requests)" -eq 2 ]
    cmp "$body" "$BATS_TEST_TMPDIR/bodies/1.json"
    cmp "$body" "$BATS_TEST_TMPDIR/bodies/2.json"
}

@test "fake: corrupt gzip gets 500" {
    [ "$(code -H 'Content-Encoding: gzip' --data-binary @"$FIXTURES/corpus/batch-00001.json" "$URL")" = 500 ]
    gzip -c "$FIXTURES/corpus/batch-00001.json" | head -c 5000 >"$BATS_TEST_TMPDIR/cut.gz"
    [ "$(code -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/cut.gz" "$URL")" = 500 ]
    [ "$(fake_stat by_status.500)" -eq 2 ]
    [ "$(fake_stat accepted_requests)" -eq 0 ]
}

@test "fake: numbers such as 1e400 are accepted (the body reaches the transformer as a string)" {
    body='{"events":[{"id":"n1","event_type":"t","user":{"user_id":"u"},"properties":{"huge":1e400,"tiny":-1e-400,"long":123456789012345678901234567890}}]}'
    [ "$(code --data-binary "$body" "$URL")" = 200 ]
    [ "$(fake_stat accepted_events)" -eq 1 ]
    grep -q '"ids":\["n1"\]' "$BATS_TEST_TMPDIR/sink.ndjson"
    # Still refused: what the transformer cannot parse.
    [ "$(code --data-binary '{"events":[{"user":{"user_id":"u"},"n":1e}]}' "$URL")" = 400 ]
}
