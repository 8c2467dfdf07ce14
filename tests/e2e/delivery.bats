#!/usr/bin/env bats
# delivery.bats - the delivery worker end to end: build/eddyd forwarding to
# build/fake-rudderstack on loopback, through outages, error storms, holds,
# bisection, oversize bodies and kill -9.

load helpers
load fake

setup() {
    CORPUS=$FIXTURES/corpus
    # Until the ingest side of eddyd is merged there is no daemon to drive.
    [ -x "$EDDYD" ] || skip "build/eddyd not built yet"
}

teardown() {
    teardown_processes
}

pending_is_zero() { status_is pending.batches 0; }

@test "2,000 events delivered: the same event ids, bodies byte for byte" {
    write_config
    start_fake --write-key test-key
    start_eddyd
    post_all "$CORPUS"/batch-000*.json
    wait_until 30 fake_events_at_least 2000
    wait_until 10 pending_is_zero

    # the multiset of delivered ids is the multiset of ingested ids (duplicate
    # ids inside the corpus included)
    diff <(fixture_ids "$CORPUS"/batch-000*.json | sort) <(sink_ids | sort)
    # every body arrived unchanged: each delivered file is one of the posted ones
    [ "$(ls "$BATS_TEST_TMPDIR/bodies" | wc -l)" -eq 20 ]
    diff <(sha256sum "$CORPUS"/batch-000*.json | cut -d' ' -f1 | sort) \
        <(sha256sum "$BATS_TEST_TMPDIR"/bodies/*.json | cut -d' ' -f1 | sort)
    # forwarded with the write key each batch arrived with
    [ "$(grep -c '"write_key":"test-key"' "$BATS_TEST_TMPDIR/sink.ndjson")" -eq 20 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    [ "$(status_field delivery.state)" = ok ]
    [ "$(metric eddy_delivered_events_total)" -eq 2000 ]
}

@test "sink stopped under continuous ingest: nothing dead-lettered, all delivered when it is back" {
    write_config delivery.max_attempts=1 delivery.retry_window=0s
    start_fake --write-key test-key
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-3].json
    wait_until 10 fake_events_at_least 300
    stop_fake
    # connections refused for a while; ingest keeps going
    post_all "$CORPUS"/batch-0000[4-9].json
    sleep 1
    post_all "$CORPUS"/batch-0001[0-2].json
    wait_until 5 status_is delivery.state backoff
    wait_until 5 status_is pending.batches 9
    [ "$(status_field dead.batches)" -eq 0 ]

    start_fake --write-key test-key
    wait_until 20 pending_is_zero
    # max_attempts=1 and retry_window=0 would bury a batch at its first
    # counted failure: refused connections never count
    [ "$(status_field dead.batches)" -eq 0 ]
    # nothing was sent to a closed port: no possible duplicate
    [ "$(metric eddy_delivery_possible_duplicates_total)" -eq 0 ]
    diff <(fixture_ids "$CORPUS"/batch-0000[1-9].json "$CORPUS"/batch-0001[0-2].json | sort -u) \
        <(sink_ids | sort -u)
    wait_until 5 status_is delivery.state ok
}

@test "a sink that accepts connections and never answers: timeouts back off, nothing lost" {
    write_config delivery.timeout=1s delivery.max_attempts=1 delivery.retry_window=0s
    start_fake --write-key test-key --hang -1
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-4].json
    wait_until 10 status_is delivery.state backoff
    sleep 1.5
    [ "$(fake_stat accepted_events)" -eq 0 ]
    [ "$(status_field pending.batches)" -eq 4 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    # the bodies went out whole before the timeouts: possible duplicates
    [ "$(metric eddy_delivery_possible_duplicates_total)" -ge 4 ]
    fake_ctl 'hang=0'
    wait_until 20 pending_is_zero
    [ "$(status_field dead.batches)" -eq 0 ]
    diff <(fixture_ids "$CORPUS"/batch-0000[1-4].json | sort -u) <(sink_ids | sort -u)
}

@test "a 503 storm, then success" {
    write_config
    start_fake --write-key test-key --fail 8 --fail-status 503
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-5].json
    wait_until 5 status_is delivery.state backoff
    [ "$(status_field delivery.last_status)" -eq 503 ]
    wait_until 30 pending_is_zero
    [ "$(fake_stat by_status.503)" -eq 8 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    [ "$(status_field delivery.state)" = ok ]
    diff <(fixture_ids "$CORPUS"/batch-0000[1-5].json | sort) <(sink_ids | sort)
    [ "$(metric 'eddy_delivery_requests_total{code="503"}')" -eq 8 ]
}

@test "a batch that always gets 503 while others are accepted: dead-lettered only after max_attempts and retry_window" {
    write_config delivery.max_attempts=3 delivery.retry_window=2s delivery.backoff_max=200ms
    start_fake --write-key test-key --marker POISON --marker-status 503
    start_eddyd
    # batch 1 with a marked event first, then healthy batches keep coming, so
    # the source accepts others between its attempts and they count
    python3 - "$CORPUS/batch-00001.json" "$BATS_TEST_TMPDIR/marked.json" <<'PY'
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
first = json.loads(raw)["events"][0]["id"]
open(sys.argv[2], "w", encoding="utf-8").write(raw.replace(first, "POISON-1", 1))
PY
    post_all "$BATS_TEST_TMPDIR/marked.json"
    local i
    for i in $(seq 2 20); do
        post_all "$CORPUS/batch-$(printf '%05d' $i).json"
        [ "$(status_field dead.batches)" -eq 1 ] && break
        sleep 0.3
    done
    wait_until 10 status_is dead.batches 1
    wait_until 10 pending_is_zero
    "$EDDY" -c "$EDDY_CONF" dlq list --json >"$BATS_TEST_TMPDIR/dlq.json"
    python3 - "$BATS_TEST_TMPDIR/dlq.json" "$BATS_TEST_TMPDIR/sink-log.ndjson" <<'PY'
import json, sys, datetime
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 1, rows
r = rows[0]
assert r["events"] == 100 and r["last_status"] == 503, r
assert r["counted"] >= 3, r
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
assert t(r["last_failed_at"]) - t(r["first_failed_at"]) >= 1.9, r
log = [json.loads(l) for l in open(sys.argv[2])]
assert len([x for x in log if x["status"] == 503]) == r["attempts"], (len(log), r)
PY
    [ "$(fake_stat accepted_events)" -eq $(((i - 1) * 100)) ]
}

@test "a backward step of the wall clock does not delay retries (deadlines are monotonic)" {
    write_config delivery.backoff_min=500ms delivery.backoff_max=1s
    echo 0 >"$BATS_TEST_TMPDIR/offset"
    start_fake --write-key test-key --fail 1 --fail-status 503
    # verify_asan_link_order: a sanitizer build of eddyd accepts the shim.
    EDDY_CLOCK_OFFSET_FILE="$BATS_TEST_TMPDIR/offset" LD_PRELOAD="$BUILD/shim/clockstep.so" \
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 start_eddyd
    post_all "$CORPUS/batch-00001.json"
    wait_until 10 grep -q '"status":503' "$BATS_TEST_TMPDIR/sink-log.ndjson"
    # eddyd's wall clock goes back one hour right after the failure
    echo -3600 >"$BATS_TEST_TMPDIR/offset"
    wait_until 10 fake_events_at_least 100
    wait_until 10 pending_is_zero
    # stored times stay wall-clock: the attempt was recorded an hour "later"
    # than the delivery that followed it, and nothing else moved
    [ "$(status_field dead.batches)" -eq 0 ]
    # a second failure after the step is retried on time as well
    fake_ctl 'fail=1&fail_status=503'
    post_all "$CORPUS/batch-00002.json"
    wait_until 10 fake_events_at_least 200
}

@test "429 with Retry-After: 3 (seconds, then an HTTP-date): no retry before 3 s" {
    write_config delivery.backoff_max=10s
    start_fake --write-key test-key --fail 1 --fail-status 429 --retry-after 3
    start_eddyd
    post_all "$CORPUS/batch-00001.json"
    wait_until 15 fake_events_at_least 100
    # the same as an HTTP-date (one-second resolution: at least 2 s)
    fake_ctl 'fail=1&fail_status=429&retry_after=3&retry_after_date=1'
    post_all "$CORPUS/batch-00002.json"
    wait_until 15 fake_events_at_least 200
    python3 - "$BATS_TEST_TMPDIR/sink-log.ndjson" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
assert [r["status"] for r in log] == [429, 200, 429, 200], log
gap = log[1]["t"] - log[0]["t"]
assert 3000 <= gap < 6000, "seconds form: retried after %d ms" % gap
gap = log[3]["t"] - log[2]["t"]
assert 2000 <= gap < 6000, "HTTP-date form: retried after %d ms" % gap
PY
}

@test "401: delivery held, nothing lost or dead-lettered, resumes when the key is accepted" {
    write_config delivery.max_attempts=1 delivery.retry_window=0s
    start_fake --write-key test-key --reject-keys 1
    start_eddyd
    post_all "$CORPUS"/batch-0000[1-3].json
    wait_until 10 status_is delivery.state held
    [ "$(status_field delivery.last_status)" -eq 401 ]
    [ "$(metric eddy_delivery_state)" -eq 2 ]
    grep -q 'HELD' "$BATS_TEST_TMPDIR/eddyd.log"
    sleep 2.5
    # probed slowly: after the first answers, one request per backoff_max (1 s)
    python3 - "$BATS_TEST_TMPDIR/sink-log.ndjson" <<'PY'
import json, sys, time
t = sorted(r["t"] for r in map(json.loads, open(sys.argv[1])) if r["status"] == 401)
later = [x for x in t if x > t[0] + 300]
# at most one probe per second since the first answer, however slow the
# posts and the polling were on a loaded machine
assert 1 <= len(later) <= (time.time() * 1000 - t[0]) / 1000 + 1, t
gaps = [b - a for a, b in zip([t[0]] + later, later)]
assert min(gaps) >= 800, gaps
PY
    [ "$(status_field pending.batches)" -eq 3 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    fake_ctl 'reject_keys=0'
    wait_until 15 pending_is_zero
    [ "$(status_field delivery.state)" = ok ]
    [ "$(status_field dead.batches)" -eq 0 ]
    diff <(fixture_ids "$CORPUS"/batch-0000[1-3].json | sort) <(sink_ids | sort)
}

@test "100 events with 3 rejected: 97 delivered unchanged, 3 single-event dead letters with 400" {
    write_config
    # three events of batch 1 carry a marker the sink rejects with 400
    python3 - "$CORPUS/batch-00001.json" "$BATS_TEST_TMPDIR/marked.json" <<'PY'
import json, sys
raw = open(sys.argv[1], encoding="utf-8").read()
ids = [e["id"] for e in json.loads(raw)["events"]]
for k, i in enumerate((7, 50, 93)):
    assert raw.count(ids[i]) == 1
    raw = raw.replace(ids[i], "POISON-%d" % k)
open(sys.argv[2], "w", encoding="utf-8").write(raw)
PY
    start_fake --write-key test-key --marker POISON
    start_eddyd
    post_all "$BATS_TEST_TMPDIR/marked.json"
    wait_until 30 status_is dead.batches 3
    wait_until 10 pending_is_zero
    [ "$(fake_stat accepted_events)" -eq 97 ]
    [ "$(status_field dead.events)" -eq 3 ]
    # the 97 delivered are the unmarked ones, each event's bytes unchanged
    diff <(fixture_ids "$BATS_TEST_TMPDIR/marked.json" | grep -v POISON | sort) <(sink_ids | sort)
    event_spans "$BATS_TEST_TMPDIR/marked.json" | sort >"$BATS_TEST_TMPDIR/sent-spans"
    event_spans "$BATS_TEST_TMPDIR"/bodies/*.json | sort >"$BATS_TEST_TMPDIR/got-spans"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/got-spans")" -eq 97 ]
    [ -z "$(comm -13 "$BATS_TEST_TMPDIR/sent-spans" "$BATS_TEST_TMPDIR/got-spans")" ]
    # the dead letters: one event each, last status 400, an attempt history
    "$EDDY" -c "$EDDY_CONF" dlq list --json >"$BATS_TEST_TMPDIR/dlq.json"
    python3 - "$BATS_TEST_TMPDIR/dlq.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 3, rows
for r in rows:
    assert r["events"] == 1, r
    assert r["last_status"] == 400, r
    assert r["attempts"] >= 1, r
    assert "400" in r["reason"], r
PY
    # each dead letter holds exactly one marked event, byte for byte
    for id in $(python3 -c 'import json,sys; [print(json.loads(l)["id"]) for l in open(sys.argv[1])]' "$BATS_TEST_TMPDIR/dlq.json"); do
        "$EDDY" -c "$EDDY_CONF" dlq show "$id" --raw >"$BATS_TEST_TMPDIR/dead-$id.json"
        [ "$(fixture_ids "$BATS_TEST_TMPDIR/dead-$id.json" | grep -c POISON)" -eq 1 ]
        event_spans "$BATS_TEST_TMPDIR/dead-$id.json" | grep -qxFf - "$BATS_TEST_TMPDIR/sent-spans"
    done
}

@test "a body over the sink's limit is split and delivered" {
    # max_batch_bytes above the body: eddy sends it whole, the sink answers 413
    write_config delivery.max_batch_bytes=64M
    start_fake --write-key test-key
    start_eddyd
    post_all "$FIXTURES/edge/batch-4.5mib.json"
    wait_until 30 pending_is_zero
    [ "$(fake_stat by_status.413)" -ge 1 ]
    [ "$(fake_stat accepted_events)" -eq 100 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    diff <(fixture_ids "$FIXTURES/edge/batch-4.5mib.json" | sort) <(sink_ids | sort)
    [ "$(metric eddy_delivery_splits_total)" -ge 1 ]
}

@test "max_batch_bytes splits before sending" {
    write_config delivery.max_batch_bytes=40K
    start_fake --write-key test-key
    start_eddyd
    post_all "$CORPUS/batch-00001.json" "$CORPUS/batch-00002.json"
    wait_until 20 pending_is_zero
    [ "$(fake_stat accepted_events)" -eq 200 ]
    python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(r["bytes"] <= 40 * 1024 for r in rows), [r["bytes"] for r in rows]' "$BATS_TEST_TMPDIR/sink.ndjson"
    [ "$(fake_stat by_status.413)" -eq 0 ]
    diff <(fixture_ids "$CORPUS"/batch-0000[12].json | sort) <(sink_ids | sort)
}

@test "require_external_user_id drops events without user.external_user_id, the rest unchanged" {
    write_config delivery.require_external_user_id=true
    start_fake --write-key test-key
    start_eddyd
    post_all "$CORPUS/batch-00001.json" "$CORPUS/batch-00002.json"
    wait_until 15 pending_is_zero
    python3 - "$CORPUS/batch-00001.json" "$CORPUS/batch-00002.json" >"$BATS_TEST_TMPDIR/keep" <<'PY'
import json, sys
for f in sys.argv[1:]:
    for e in json.load(open(f))["events"]:
        u = e.get("user") or {}
        if u.get("external_user_id") not in (None, ""):
            print(e["id"])
PY
    kept=$(wc -l <"$BATS_TEST_TMPDIR/keep")
    [ "$kept" -gt 100 ] && [ "$kept" -lt 200 ] # the corpus has some of each
    diff <(sort "$BATS_TEST_TMPDIR/keep") <(sink_ids | sort)
    [ "$(metric eddy_dropped_events_total)" -eq $((200 - kept)) ]
    [ "$(metric eddy_delivered_events_total)" -eq "$kept" ]
    # the forwarded events are byte for byte the stored ones
    event_spans "$CORPUS/batch-00001.json" "$CORPUS/batch-00002.json" | sort >"$BATS_TEST_TMPDIR/sent-spans"
    event_spans "$BATS_TEST_TMPDIR"/bodies/*.json | sort >"$BATS_TEST_TMPDIR/got-spans"
    [ -z "$(comm -13 "$BATS_TEST_TMPDIR/sent-spans" "$BATS_TEST_TMPDIR/got-spans")" ]
}

@test "kill -9 during delivery, 10 times: no acknowledged event lost" {
    write_config
    start_fake --write-key test-key --delay-ms 30
    : >"$BATS_TEST_TMPDIR/acked"
    local i f
    for i in $(seq 1 10); do
        start_eddyd
        for f in "$CORPUS/batch-$(printf '%05d' $((i * 2 - 1))).json" \
            "$CORPUS/batch-$(printf '%05d' $((i * 2))).json"; do
            out=$(post "$f")
            [ "${out%% *}" != 200 ] || echo "$f" >>"$BATS_TEST_TMPDIR/acked"
        done
        sleep "0.$((RANDOM % 3 + 1))"
        stop_eddyd KILL
    done
    start_eddyd
    wait_until 30 pending_is_zero
    [ "$(wc -l <"$BATS_TEST_TMPDIR/acked")" -ge 18 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    # every event of every acknowledged post reached the sink (duplicates allowed)
    [ -z "$(comm -23 <(fixture_ids $(cat "$BATS_TEST_TMPDIR/acked") | sort -u) <(sink_ids | sort -u))" ]
}
