#!/usr/bin/env bats
# security.bats - the README "Security" claims, checked on the real binaries:
# a new data dir is 0700 and its files 0600 (also backups and exports);
# eddyd warns about a world-readable config holding secrets and about an
# existing data dir open to other users; by default both
# listeners bind loopback only; tokens and write keys never reach eddyd's
# log, /metrics or /status, even when RudderStack refuses the key.

load rel_helpers

teardown() {
    [ -z "${NS_PID:-}" ] || { kill -9 "$NS_PID" 2>/dev/null; wait "$NS_PID" 2>/dev/null; }
    rel_teardown
}

mode() { stat -c %a "$1"; }

@test "security: new data dir 0700, store files 0600, backups and exports 0600" {
    DATA_DIR=$BATS_TEST_TMPDIR/fresh/var/eddy write_config
    start_fake --marker poison-event
    start_eddyd
    run post "$FIXTURES/corpus/batch-00001.json"
    [ "${output%% *}" = 200 ]
    printf '{"events":[{"id":"p1","note":"poison-event","user":{"user_id":"u"}}]}' >"$BATS_TEST_TMPDIR/p.json"
    run post "$BATS_TEST_TMPDIR/p.json"
    [ "${output%% *}" = 200 ]
    wait_until 20 test -s "$BATS_TEST_TMPDIR/sink.ndjson"
    [ "$(mode "$DATA_DIR")" = 700 ]
    [ "$(mode "$DATA_DIR/data.mdb")" = 600 ]
    [ "$(mode "$DATA_DIR/lock.mdb")" = 600 ]
    if [ -x "$EDDY" ]; then
        "$EDDY" -d "$DATA_DIR" backup "$BATS_TEST_TMPDIR/backup"
        [ "$(mode "$BATS_TEST_TMPDIR/backup")" = 700 ]
        [ "$(mode "$BATS_TEST_TMPDIR/backup/data.mdb")" = 600 ]
        wait_until 20 eval 'test "$(status_field dead.batches)" -ge 1'
        "$EDDY" -d "$DATA_DIR" dlq export -o "$BATS_TEST_TMPDIR/dead.ndjson"
        [ -s "$BATS_TEST_TMPDIR/dead.ndjson" ]
        [ "$(mode "$BATS_TEST_TMPDIR/dead.ndjson")" = 600 ]
    fi
    rel_note "modes: data dir $(mode "$DATA_DIR"), data.mdb $(mode "$DATA_DIR/data.mdb"), lock.mdb $(mode "$DATA_DIR/lock.mdb")"
}

@test "security: a world-readable config holding secrets is warned about, a 0600 one is not" {
    write_config
    chmod 0644 "$EDDY_CONF"
    start_eddyd
    stop_eddyd TERM
    grep -q 'readable by every user' "$BATS_TEST_TMPDIR/eddyd.log"
    : >"$BATS_TEST_TMPDIR/eddyd.log"
    chmod 0600 "$EDDY_CONF"
    start_eddyd
    stop_eddyd TERM
    ! grep -q 'readable by every user' "$BATS_TEST_TMPDIR/eddyd.log"
}

@test "security: an existing data dir open to other users is warned about, a 0700 one is not" {
    write_config
    mkdir -p "$DATA_DIR"
    chmod 0755 "$DATA_DIR"
    start_eddyd
    stop_eddyd TERM
    grep -q "$DATA_DIR is open to other users (mode 755).*chmod 700" "$BATS_TEST_TMPDIR/eddyd.log"
    ! grep -q "data.mdb is open to other users" "$BATS_TEST_TMPDIR/eddyd.log"
    chmod 0644 "$DATA_DIR/data.mdb"
    : >"$BATS_TEST_TMPDIR/eddyd.log"
    start_eddyd
    stop_eddyd TERM
    grep -q "data.mdb is open to other users (mode 644).*chmod 600" "$BATS_TEST_TMPDIR/eddyd.log"
    chmod 0700 "$DATA_DIR"
    chmod 0600 "$DATA_DIR/data.mdb"
    : >"$BATS_TEST_TMPDIR/eddyd.log"
    start_eddyd
    stop_eddyd TERM
    ! grep -q 'open to other users' "$BATS_TEST_TMPDIR/eddyd.log"
}

@test "security: by default ingest and admin listen on loopback only" {
    [ "$(id -u)" = 0 ] || skip "not root: needs a private network namespace (unshare -n)"
    command -v unshare >/dev/null && command -v ss >/dev/null || skip "unshare or ss missing"
    # No listen keys at all: the built-in defaults. A private network
    # namespace, so the default ports cannot collide with anything.
    cat >"$BATS_TEST_TMPDIR/defaults.conf" <<CONF
[ingest]
tokens = test-token
[delivery]
write_key = test-key
[storage]
data_dir = $BATS_TEST_TMPDIR/data
CONF
    chmod 0600 "$BATS_TEST_TMPDIR/defaults.conf"
    unshare -n sh -c "ip link set lo up; exec '$EDDYD' -c '$BATS_TEST_TMPDIR/defaults.conf'" \
        >>"$BATS_TEST_TMPDIR/eddyd.log" 2>&1 &
    NS_PID=$!
    wait_until 10 sh -c "nsenter -t $NS_PID -n ss -Hltn | grep -q ':8081 '"
    run nsenter -t "$NS_PID" -n ss -Hltn
    echo "$output"
    rel_note "default listeners: $(echo "$output" | awk '{ print $4 }' | tr '\n' ' ')"
    [ "$(echo "$output" | grep -c LISTEN)" -ge 2 ]
    ! echo "$output" | awk '{ print $4 }' | grep -qv '^127\.0\.0\.1:'
}

@test "security: tokens and write keys never reach the log, /metrics or /status" {
    write_config ingest.tokens=tok-SECRET-one ingest.write_keys=key-SECRET-two \
        delivery.write_key=key-SECRET-three
    # RudderStack refuses every key: delivery holds, logs loudly, records
    # the answer; none of that may carry a key.
    start_fake --reject-keys 1
    start_eddyd
    local body=$FIXTURES/corpus/batch-00001.json
    curl -s -o /dev/null -X POST --data-binary @"$body" "$INGEST_URL/v1/webhook?writeKey=key-SECRET-two"
    curl -s -o /dev/null -X POST -H 'Authorization: Bearer tok-SECRET-one' --data-binary @"$body" \
        "$INGEST_URL/v1/webhook"
    curl -s -o /dev/null -X POST -u 'key-SECRET-two:' --data-binary @"$body" "$INGEST_URL/currents"
    curl -s -o /dev/null -X POST --data-binary @"$body" "$INGEST_URL/v1/webhook?writeKey=guess-SECRET-four"
    curl -s -o /dev/null -X POST -H 'Authorization: Bearer guess-SECRET-five' --data-binary @"$body" \
        "$INGEST_URL/v1/webhook"
    wait_until 20 eval 'test "$(status_field delivery.state)" = held'
    curl -s "$ADMIN_URL/metrics" >"$BATS_TEST_TMPDIR/metrics.txt"
    curl -s "$ADMIN_URL/status" >"$BATS_TEST_TMPDIR/status.json"
    stop_eddyd TERM
    [ "$(grep -c . "$BATS_TEST_TMPDIR/eddyd.log")" -gt 3 ]
    run grep -l SECRET "$BATS_TEST_TMPDIR/eddyd.log" "$BATS_TEST_TMPDIR/metrics.txt" \
        "$BATS_TEST_TMPDIR/status.json"
    echo "$output"
    [ "$status" -eq 1 ]
}
