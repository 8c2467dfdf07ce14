#!/usr/bin/env bats
# sources.bats - delivery per RudderStack source (write key): one refused,
# disabled, paused, rate-limited or failing source never holds up the
# others; outages never dead-letter; operators see and steer each source.

load helpers
load fake
load sources

setup() {
    [ -x "$EDDYD" ] || skip "build/eddyd not built yet"
}

teardown() {
    teardown_processes
}

@test "a revoked (401) and a disabled (404) source are held; the accepted one drains at once" {
    write_config 'ingest.write_keys=k-revoked, k-disabled, k-good'
    start_fake --key-status k-revoked=401 --key-status k-disabled=404
    start_eddyd
    post_many k-revoked 3 rv
    post_many k-disabled 3 ds
    wait_until 10 grep -q '"status":401' "$BATS_TEST_TMPDIR/sink-log.ndjson"
    # 200 batches of the accepted source, posted after the refused ones
    post_many k-good 200 gd
    wait_until 20 key_events_at_least k-good 400
    wait_until 5 source_is "$(fp k-revoked)" state held
    [ "$(source_field "$(fp k-revoked)" state)" = held ]
    [ "$(source_field "$(fp k-disabled)" state)" = held ]
    [ "$(source_field "$(fp k-revoked)" last_status)" = 401 ]
    [ "$(source_field "$(fp k-disabled)" last_status)" = 404 ]
    # the answer on one line: its control bytes made spaces, trailing ones cut
    [ "$(source_field "$(fp k-revoked)" last_error)" = "invalid write key" ]
    [ "$(source_field "$(fp k-revoked)" pending.batches)" = 3 ]
    [ "$(source_field "$(fp k-good)" state)" = ok ]
    [ "$(status_field dead.batches)" -eq 0 ]
    [ "$(status_field delivery.state)" = held ] # the worst of all sources
    [ "$(metric "eddy_source_state{source=\"$(fp k-revoked)\"}")" -eq 2 ]
    [ "$(metric "eddy_source_pending_batches{source=\"$(fp k-disabled)\"}")" -eq 3 ]
    [ "$(metric "eddy_source_delivered_events_total{source=\"$(fp k-good)\"}")" -eq 400 ]
    # one line per state change, not one per probe
    [ "$(grep -c "source $(fp k-revoked) HELD" "$BATS_TEST_TMPDIR/eddyd.log")" -eq 1 ]
    # each resumes by itself once RudderStack accepts it
    fake_ctl "key_status=k-revoked=200"
    wait_until 20 key_events_at_least k-revoked 6
    wait_until 5 source_is "$(fp k-revoked)" state ok
    [ "$(source_field "$(fp k-disabled)" state)" = held ]
    fake_ctl "key_status=k-disabled=200"
    wait_until 20 key_events_at_least k-disabled 6
    wait_until 10 status_is pending.batches 0
    wait_until 5 status_is delivery.state ok
    [ "$(status_field dead.batches)" -eq 0 ]
    # no key ever appears in status, metrics or the log
    ! curl -sf "$ADMIN_URL/status" | grep -q 'k-revoked\|k-good'
    ! curl -sf "$ADMIN_URL/metrics" | grep -q 'k-revoked\|k-good'
    ! grep -q 'k-revoked\|k-good' "$BATS_TEST_TMPDIR/eddyd.log"
}

@test "eddy pause / resume stop and restart one source, with eddyd running or stopped" {
    write_config 'ingest.write_keys=k-a, k-b, k-c'
    start_fake
    start_eddyd
    run "$EDDY" -c "$EDDY_CONF" pause "$(fp k-a)"
    [ "$status" -eq 0 ]
    run "$EDDY" -c "$EDDY_CONF" pause "$(fp k-b)"
    [ "$status" -eq 0 ]
    sleep 1.2 # eddyd follows within a second
    post_many k-a 3 a
    post_many k-b 3 b
    post_many k-c 200 c
    wait_until 20 key_events_at_least k-c 400
    sleep 1
    [ "$(sink_key_events k-a)" -eq 0 ]
    [ "$(sink_key_events k-b)" -eq 0 ]
    wait_until 5 source_is "$(fp k-a)" state paused
    [ "$(source_field "$(fp k-a)" pending.batches)" = 3 ]
    wait_until 5 status_is delivery.state paused
    "$EDDY" -c "$EDDY_CONF" status | grep -E "^$(fp k-b) +paused"
    run "$EDDY" -c "$EDDY_CONF" resume "$(fp k-a)"
    [ "$status" -eq 0 ]
    wait_until 10 key_events_at_least k-a 6
    [ "$(sink_key_events k-b)" -eq 0 ]
    "$EDDY" -c "$EDDY_CONF" resume "$(fp k-b)"
    wait_until 10 key_events_at_least k-b 6
    wait_until 5 status_is pending.batches 0
    [ "$(status_field dead.batches)" -eq 0 ]

    # with eddyd stopped: the flag is in the store and holds across the restart
    stop_eddyd
    run "$EDDY" -c "$EDDY_CONF" pause "$(fp k-c)"
    [ "$status" -eq 0 ]
    start_eddyd
    post_many k-c 2 c2
    sleep 1.5
    [ "$(sink_key_events k-c)" -eq 400 ]
    [ "$("$EDDY" -c "$EDDY_CONF" status --json | python3 -c '
import json, sys
print([s["state"] for s in json.load(sys.stdin)["sources"] if s["source"] == sys.argv[1]][0])' "$(fp k-c)")" = paused ]
    "$EDDY" -c "$EDDY_CONF" resume "$(fp k-c)"
    wait_until 10 key_events_at_least k-c 404
    # a bad fingerprint is a usage error
    run "$EDDY" -c "$EDDY_CONF" pause k-c
    [ "$status" -eq 2 ]
}

@test "a 500 outage longer than retry_window with max_attempts = 2 dead-letters nothing" {
    write_config delivery.max_attempts=2 delivery.retry_window=1s delivery.backoff_max=200ms
    start_fake --outage 500
    start_eddyd
    post_many test-key 5 out
    sleep 4
    # many 500s, far past max_attempts and retry_window
    [ "$(grep -c '"status":500' "$BATS_TEST_TMPDIR/sink-log.ndjson")" -ge 5 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    [ "$(status_field pending.batches)" -eq 5 ]
    [ "$(source_field "$(fp test-key)" state)" = backoff ]
    fake_ctl "outage=0"
    wait_until 20 status_is pending.batches 0
    [ "$(status_field dead.batches)" -eq 0 ]
    [ "$(fake_stat accepted_events)" -eq 10 ]
}

@test "a poison batch (always 500) among healthy ones is dead-lettered; the rest is delivered" {
    write_config delivery.max_attempts=2 delivery.retry_window=1s delivery.backoff_max=200ms
    start_fake --marker POISON --marker-status 500
    start_eddyd
    post_many test-key 1 bad POISON
    # healthy batches keep coming: the source accepts others between the
    # poison batch's attempts, so those attempts count
    local i
    for i in $(seq 1 60); do
        post_many test-key 1 ok$i
        [ "$(status_field dead.batches)" -eq 1 ] && break
        sleep 0.25
    done
    wait_until 10 status_is dead.batches 1
    wait_until 10 status_is pending.batches 0
    [ "$(fake_stat accepted_events)" -eq $((i * 2)) ]
    "$EDDY" -c "$EDDY_CONF" dlq list --json >"$BATS_TEST_TMPDIR/dlq.json"
    python3 - "$BATS_TEST_TMPDIR/dlq.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 1, rows
r = rows[0]
assert r["last_status"] == 500 and r["counted"] >= 2, r
assert "gave up" in r["reason"], r
PY
    "$EDDY" -c "$EDDY_CONF" dlq export | grep -q POISON-bad-0-0
}

@test "429 with Retry-After: 3 and backoff_max = 1s: that source waits 3 s, the others do not" {
    write_config 'ingest.write_keys=k-slow, k-fast' delivery.backoff_max=1s
    start_fake --key-status k-slow=429 --retry-after 3
    start_eddyd
    post_many k-slow 1 slow
    wait_until 10 grep -q '"status":429' "$BATS_TEST_TMPDIR/sink-log.ndjson"
    fake_ctl "key_status=k-slow=200"
    post_many k-fast 5 fast
    wait_until 10 key_events_at_least k-fast 10
    wait_until 15 key_events_at_least k-slow 2
    python3 - "$BATS_TEST_TMPDIR/sink-log.ndjson" <<'PY'
import json, sys
log = [json.loads(l) for l in open(sys.argv[1])]
slow = [r for r in log if r["write_key"] == "k-slow"]
fast = [r for r in log if r["write_key"] == "k-fast"]
assert [r["status"] for r in slow] == [429, 200], slow
gap = slow[1]["t"] - slow[0]["t"]
assert gap >= 3000, "retried %d ms after Retry-After: 3" % gap
# the other source was not made to wait
assert all(r["status"] == 200 for r in fast), fast
assert fast[-1]["t"] < slow[0]["t"] + 3000, (fast[-1], slow[0])
PY
}

@test "pending list names the batch a held source probes; pending bury sets it aside" {
    write_config 'ingest.write_keys=k-held' delivery.backoff_max=1s
    start_fake --key-status k-held=401
    start_eddyd
    post_many k-held 3 h
    wait_until 10 grep -q '"status":401' "$BATS_TEST_TMPDIR/sink-log.ndjson"
    sleep 1.5 # a few probes
    "$EDDY" -c "$EDDY_CONF" pending list --json >"$BATS_TEST_TMPDIR/pending.json"
    probe=$(python3 - "$BATS_TEST_TMPDIR/pending.json" "$(fp k-held)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(rows) == 3, rows
assert all(r["source"] == sys.argv[2] for r in rows), rows
probing = [r for r in rows if r.get("probing")]
assert len(probing) == 1, rows
p = probing[0]
assert p["last_status"] == 401 and p["attempts"] >= 1 and p["counted"] == 0, p
print(p["id"])
PY
)
    "$EDDY" -c "$EDDY_CONF" pending list | grep -E "^ *$probe .*probing"
    "$EDDY" -c "$EDDY_CONF" pending list --source "$(fp k-held)" --json | grep -c . | grep -qx 3
    [ -z "$("$EDDY" -c "$EDDY_CONF" pending list --source 00000000 --json)" ]
    run "$EDDY" -c "$EDDY_CONF" pending bury "$probe" --reason "refused batch"
    [ "$status" -eq 0 ]
    "$EDDY" -c "$EDDY_CONF" dlq list --json | grep -q '"reason":"operator: refused batch"'
    [ "$(status_field pending.batches)" -eq 2 ]
    # the source drains the rest once accepted; the buried batch replays
    fake_ctl "key_status=k-held=200"
    wait_until 20 status_is pending.batches 0
    [ "$(sink_key_events k-held)" -eq 4 ]
    "$EDDY" -c "$EDDY_CONF" dlq replay --all
    wait_until 20 key_events_at_least k-held 6
    run "$EDDY" -c "$EDDY_CONF" pending bury 999999 --reason x
    [ "$status" -eq 1 ]
    run "$EDDY" -c "$EDDY_CONF" pending bury 1
    [ "$status" -eq 2 ]
}

@test "a 30,000-event batch with 3 bad events: 3 dead letters and a few log lines" {
    write_config
    python3 - "$BATS_TEST_TMPDIR/big.json" <<'PY'
import json, sys
evs = [{"id": ("POISON-%d" % i) if i in (17, 15000, 29990) else "e-%d" % i,
        "event_type": "x", "user": {"external_user_id": "u"}} for i in range(30000)]
json.dump({"events": evs}, open(sys.argv[1], "w"), separators=(",", ":"))
PY
    start_fake --marker POISON
    start_eddyd
    out=$(post "$BATS_TEST_TMPDIR/big.json")
    [ "${out%% *}" = 200 ]
    wait_until 120 status_is dead.batches 3
    wait_until 30 status_is pending.batches 0
    [ "$(fake_stat accepted_events)" -eq 29997 ]
    [ "$(status_field dead.events)" -eq 3 ]
    grep 'delivery' "$BATS_TEST_TMPDIR/eddyd.log" >"$BATS_TEST_TMPDIR/delivery.log" || true
    cat "$BATS_TEST_TMPDIR/delivery.log"
    # start-up lines and the one summary, not a line per split or burial
    [ "$(grep -vc 'forwarding to' "$BATS_TEST_TMPDIR/delivery.log")" -le 3 ]
    grep -q 'split to deliver it: 29997 events delivered, 3 dead-lettered' \
        "$BATS_TEST_TMPDIR/delivery.log"
}

@test "kill -9 during delivery to three sources, 10 times: nothing acknowledged lost" {
    write_config 'ingest.write_keys=k1, k2, k3'
    start_fake --delay-ms 30 --key-status k3=503
    : >"$BATS_TEST_TMPDIR/acked"
    local i k
    for i in $(seq 1 10); do
        start_eddyd
        [ "$i" -ne 6 ] || fake_ctl "key_status=k3=200"
        for k in k1 k2 k3; do
            post_many $k 5 "$k-$i" && echo "$k-$i" >>"$BATS_TEST_TMPDIR/acked"
        done
        sleep "0.$((RANDOM % 3 + 1))"
        stop_eddyd KILL
    done
    start_eddyd
    wait_until 60 status_is pending.batches 0
    [ "$(wc -l <"$BATS_TEST_TMPDIR/acked")" -eq 30 ]
    [ "$(status_field dead.batches)" -eq 0 ]
    python3 - "$BATS_TEST_TMPDIR/acked" "$BATS_TEST_TMPDIR/sink.ndjson" <<'PY'
import json, sys
want = {"%s-%d-%d" % (tag, i, j) for tag in open(sys.argv[1]).read().split()
        for i in range(5) for j in range(2)}
got = {i for l in open(sys.argv[2]) for i in json.loads(l)["ids"]}
missing = want - got
assert not missing, sorted(missing)[:10]
PY
}

@test "pending show and dlq show name the source by its fingerprint, never the key, short or not" {
    write_config 'ingest.write_keys=abc'
    start_fake --key-status abc=401
    start_eddyd
    post_many abc 1 short
    id=$("$EDDY" -c "$EDDY_CONF" pending list --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')
    run "$EDDY" -c "$EDDY_CONF" pending show "$id"
    [ "$status" -eq 0 ]
    [[ "$output" == *"source         $(fp abc)"* ]]
    ! grep -q 'abc' <<<"$(grep -v '"id"' <<<"$output")"
    "$EDDY" -c "$EDDY_CONF" pending bury "$id" --reason "show test"
    run "$EDDY" -c "$EDDY_CONF" dlq show 1
    [ "$status" -eq 0 ]
    [[ "$output" == *"$(fp abc)"* ]]
    ! grep -q 'abc' <<<"$(sed -n '/^body/q;p' <<<"$output")"
}
