#!/usr/bin/env bats
# config.bats - eddyd's configuration as an operator meets it: one path for
# every key and flag, "FILE:LINE: key: what is wrong" and exit 2 for every
# mistake, --check-config refusing what a start would, the credential rule
# (any valid credential admits; the request's write key is the one
# forwarded), and SIGHUP reloading credentials without a restart.

load helpers
load fake

setup() {
    [ -x "$EDDYD" ] || skip "build/eddyd not built yet"
    CONF=$BATS_TEST_TMPDIR/c.conf
    BODY=$FIXTURES/corpus/batch-00001.json
}

teardown() {
    teardown_processes
}

# conf LINES...: writes $CONF (0600) from printf-style lines.
conf() {
    printf '%s\n' "$@" >"$CONF"
    chmod 0600 "$CONF"
}

# check [FLAGS...]: eddyd -c $CONF FLAGS --check-config, via bats' run.
check() {
    run "$EDDYD" -c "$CONF" "$@" --check-config
    echo "status $status: $output"
}

# refused MESSAGE LINES...: a $CONF of LINES... fails --check-config with
# exit 2, and MESSAGE (as written, not a pattern) is in what it prints.
refused() {
    local msg=$1
    shift
    conf "$@"
    check
    [ "$status" -eq 2 ] && [[ "$output" == *"$msg"* ]]
}

code() { curl -s -o "$BATS_TEST_TMPDIR/a" -w '%{http_code}' -X POST --data-binary @"$BODY" "$@"; }

sink_keys() { python3 -c '
import json, sys
for l in open(sys.argv[1]):
    print(json.loads(l)["write_key"])' "$BATS_TEST_TMPDIR/sink.ndjson" | sort | uniq -c | awk '{ print $2 "=" $1 }' | tr '\n' ' '; }

@test "config: an inline # or ; comment is never part of a credential" {
    write_config "ingest.write_keys=s3cret # rotate quarterly" "ingest.tokens=tok ; old one"
    start_eddyd
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=s3cret")" = 200 ]
    for k in '%23' rotate quarterly; do
        [ "$(code "$INGEST_URL/v1/webhook?writeKey=$k")" = 401 ]
    done
    [ "$(code -H 'Authorization: Bearer tok' "$INGEST_URL/v1/webhook")" = 200 ]
    for t in ';' old one; do
        [ "$(code -H "Authorization: Bearer $t" "$INGEST_URL/v1/webhook")" = 401 ]
    done
}

@test "config: eddy -c reads data_dir as eddyd does, inline comment and all" {
    write_config "storage.data_dir=$BATS_TEST_TMPDIR/data # the main store"
    start_eddyd
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=test-key")" = 200 ]
    [ -e "$BATS_TEST_TMPDIR/data/data.mdb" ]
    run "$EDDY" -c "$EDDY_CONF" status --json
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *'"batches":1'* ]]
}

@test "config: list entries with inner whitespace are refused with FILE:LINE" {
    refused "$CONF:2: write_keys: entry 1 holds whitespace" '[ingest]' 'write_keys = key one, key-two'
    refused "$CONF:3: paths: \"/a /b\" holds whitespace" '[ingest]' 'tokens = a' 'paths = /a /b'
}

@test "config: credentials or a #fragment in [delivery] url stop startup and are never printed" {
    write_config "delivery.url=http://user:hunter2@127.0.0.1:9/v1/webhook"
    run "$EDDYD" -c "$EDDY_CONF" --check-config
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"eddy.conf:"*": url: "*"user name or password"* ]]
    [[ "$output" != *hunter2* ]]
    run timeout 20 "$EDDYD" -c "$EDDY_CONF"
    [ "$status" -eq 2 ]
    [[ "$output" != *hunter2* ]]
    write_config "delivery.url=http://127.0.0.1:9/v1/webhook#part"
    run "$EDDYD" -c "$EDDY_CONF" --check-config
    [ "$status" -eq 2 ]
    [[ "$output" == *"url: "*"fragment"* ]]
    write_config
    run "$EDDYD" -c "$EDDY_CONF" --forward-url 'https://u:hunter2@rs.example/v1/webhook' --check-config
    [ "$status" -eq 2 ]
    [[ "$output" == *"--forward-url: url: "* ]]
    [[ "$output" != *hunter2* ]]
}

@test "config: a repeated key stops startup naming both lines, lists included" {
    refused "$CONF:3: write_keys: " '[ingest]' 'write_keys = good' 'write_keys = bad:key'
    refused "$CONF:5: max_size: given twice (first at line 4)" '[ingest]' 'write_keys = good' '[storage]' 'max_size = 1G' 'max_size = 2G'
    # a continuation line is part of the same key and gets the same checks
    refused "$CONF:3: write_keys: a write key cannot hold ':'" '[ingest]' 'write_keys = good,' '    other:bad'
    conf '[ingest]' 'write_keys = good,' '    other' '[delivery]' 'write_key = other'
    check
    [ "$status" -eq 0 ]
}

@test "config: -c twice, -c DIR and repeated flags are refused" {
    conf '[ingest]' 'write_keys = k'
    run "$EDDYD" -c "$BATS_TEST_TMPDIR" --check-config
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"$BATS_TEST_TMPDIR: "*"not a regular file"* ]]
    run "$EDDYD" -c "$CONF" -c "$CONF" --check-config
    [ "$status" -eq 2 ]
    [[ "$output" == *"-c"*"given twice"* ]]
    run "$EDDYD" -c "$CONF" --listen 127.0.0.1:1 --listen 127.0.0.1:2 --check-config
    [ "$status" -eq 2 ]
    [[ "$output" == *"--listen"*"given twice"* ]]
}

@test "config: --write-key is never dropped, however many write_keys the file lists" {
    keys=$(seq -f 'key-%02g' 1 16 | paste -sd, -)
    write_config "ingest.write_keys=$keys"
    start_fake
    start_eddyd --write-key flag-key
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=flag-key")" = 200 ]
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=key-16")" = 200 ]
    [ "$(code -H 'Authorization: Bearer test-token' "$INGEST_URL/v1/webhook")" = 200 ]
    wait_until 20 eval '[ "$(grep -c . "$BATS_TEST_TMPDIR/sink.ndjson" 2>/dev/null)" -ge 3 ]'
    [ "$(sink_keys)" = "flag-key=2 key-16=1 " ]
}

@test "config: cross-key errors carry the line of the key at fault" {
    refused "$CONF:4: backoff_min: 10m is larger than backoff_max (1m, line 5)" '[ingest]' 'write_keys = k' '[delivery]' 'backoff_min = 10m' 'backoff_max = 1m'
    conf '[ingest]' 'write_keys = k' 'max_body = 64M' '[storage]' 'max_size = 32M'
    check
    [ "$status" -eq 2 ]
    [[ "$output" == *"$CONF:3: max_body: "*"max_size"*"line 5"* ]]
}

@test "config: --check-config refuses the URLs and addresses a start would" {
    for bad in 'http://' 'http:///v1/webhook' 'http://rs.example:99999/x' 'http://bad host/x' \
        'http://nowhere.invalid/v1/webhook'; do
        conf '[ingest]' 'write_keys = k' '[delivery]' "url = $bad"
        check
        [ "$status" -eq 2 ]
        [[ "$output" == *"$CONF:4: url: "* ]]
    done
    for bad in '999.0.0.1:8080' 'nowhere.invalid:8080' '192.0.2.1:8080'; do
        conf '[ingest]' 'write_keys = k' "listen = $bad"
        check
        [ "$status" -eq 2 ]
        [[ "$output" == *"$CONF:3: listen: "* ]]
        [[ "$output" != *Success* ]]
        # the same refusal at start, never "...: Success"
        run timeout 20 "$EDDYD" -c "$CONF" --data-dir "$BATS_TEST_TMPDIR/d"
        [ "$status" -eq 2 ]
        [[ "$output" == *"$CONF:3: listen: "* ]]
        [[ "$output" != *Success* ]]
    done
    [ ! -e "$BATS_TEST_TMPDIR/d" ]
}

@test "config: an admin listener off loopback is warned about" {
    conf '[ingest]' 'write_keys = k' '[admin]' "listen = 0.0.0.0:$(free_port)"
    check
    [ "$status" -eq 0 ]
    [[ "$output" == *"[admin] listen"*"not loopback"* ]]
    conf '[ingest]' 'write_keys = k'
    check
    [ "$status" -eq 0 ]
    [[ "$output" != *"not loopback"* ]]
}

@test "config: max_size below what the store holds is refused with the size in use" {
    # stored raw, so six bodies surely take more than 256K however well
    # they compress
    write_config storage.max_size=4M ingest.max_body=1M storage.compress=none
    start_eddyd
    for i in 1 2 3 4 5 6; do
        [ "$(code "$INGEST_URL/v1/webhook?writeKey=test-key")" = 200 ]
    done
    stop_eddyd
    : >"$BATS_TEST_TMPDIR/eddyd.log"
    write_config storage.max_size=256K ingest.max_body=200K
    # (timeout: an eddyd that ignores the size runs on)
    run timeout 20 "$EDDYD" -c "$EDDY_CONF"
    echo "$output"
    [ "$status" -eq 2 ]
    [[ "$output" == *"max_size: 256K is below the "*" bytes the store in $DATA_DIR already uses"* ]]
    [[ "$output" != *"max 262144 bytes"* ]]
    # what it holds is untouched
    write_config storage.max_size=4M ingest.max_body=1M
    run "$EDDY" -d "$DATA_DIR" status --json
    [[ "$output" == *'"batches":6'* ]]
}

# ---- credentials: one rule (issue 10) ----------------------------------------

@test "credentials: Bearer + ?writeKey=K2 arrives with K2; Bearer only with [delivery] write_key" {
    write_config ingest.write_keys=K1,K2 delivery.write_key=K1
    start_fake
    start_eddyd
    [ "$(code -H 'Authorization: Bearer test-token' "$INGEST_URL/v1/webhook?writeKey=K2")" = 200 ]
    wait_until 20 eval '[ "$(grep -c . "$BATS_TEST_TMPDIR/sink.ndjson" 2>/dev/null)" -ge 1 ]'
    [ "$(code -H 'Authorization: Bearer test-token' "$INGEST_URL/v1/webhook")" = 200 ]
    wait_until 20 eval '[ "$(grep -c . "$BATS_TEST_TMPDIR/sink.ndjson" 2>/dev/null)" -ge 2 ]'
    [ "$(sink_keys)" = "K1=1 K2=1 " ]
}

@test "credentials: an unknown Bearer with a valid write key is accepted and forwarded with that key" {
    write_config ingest.tokens= ingest.write_keys=K2
    start_fake
    start_eddyd
    [ "$(code -H 'Authorization: Bearer from-braze' "$INGEST_URL/v1/webhook?writeKey=K2")" = 200 ]
    # the zero-event probe Braze sends when a connector is saved
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Authorization: Bearer from-braze' \
        --data-binary '{"events":[]}' "$INGEST_URL/v1/webhook?writeKey=K2")" = 200 ]
    [ "$(code -H 'Authorization: Bearer from-braze' "$INGEST_URL/v1/webhook?writeKey=K3")" = 401 ]
    [ "$(code -H 'Authorization: Bearer from-braze' "$INGEST_URL/v1/webhook")" = 401 ]
    wait_until 20 eval '[ "$(grep -c . "$BATS_TEST_TMPDIR/sink.ndjson" 2>/dev/null)" -ge 1 ]'
    sleep 0.5
    [ "$(sink_keys)" = "K2=1 " ]
}

@test "credentials: tokens without [delivery] write_key stop startup with exit 2" {
    conf '[ingest]' 'tokens = t1' "[storage]" "data_dir = $BATS_TEST_TMPDIR/d"
    check
    [ "$status" -eq 2 ]
    [[ "$output" == *"$CONF:2: tokens: "*"set [delivery] write_key"* ]]
    run timeout 20 "$EDDYD" -c "$CONF"
    [ "$status" -eq 2 ]
    [ ! -e "$BATS_TEST_TMPDIR/d" ]
    run "$EDDYD" -c "$CONF" --write-key wk --check-config
    [ "$status" -eq 0 ]
}

# ---- SIGHUP ---------------------------------------------------------------------

@test "SIGHUP: credentials rotate with no refused request; a bad file keeps the running config" {
    write_config ingest.write_keys=old,both delivery.write_key=both
    start_fake
    start_eddyd
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=old")" = 200 ]
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=new")" = 401 ]
    # a key in both the old and the new file is never refused while the
    # file is swapped back and forth under it
    (
        for i in $(seq 1 60); do
            c=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data-binary '{"events":[]}' \
                "$INGEST_URL/v1/webhook?writeKey=both")
            echo "$c"
        done >"$BATS_TEST_TMPDIR/codes"
    ) &
    loop=$!
    for i in 1 2 3 4 5; do
        write_config ingest.write_keys=new,both delivery.write_key=both
        kill -HUP "$EDDYD_PID"
        sleep 0.1
        write_config ingest.write_keys=old,both delivery.write_key=both
        kill -HUP "$EDDYD_PID"
        sleep 0.1
    done
    wait "$loop"
    [ "$(sort -u "$BATS_TEST_TMPDIR/codes")" = 200 ]
    write_config ingest.write_keys=new,both delivery.write_key=both ingest.max_body=1M
    kill -HUP "$EDDYD_PID"
    wait_until 10 grep -q 'max_body.*needs a restart' "$BATS_TEST_TMPDIR/eddyd.log"
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=new")" = 200 ]
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=old")" = 401 ]
    # a bad file: logged with FILE:LINE, the running config stays
    printf '[ingest]\nwrite_keys = x\nbogus = 1\n' >"$EDDY_CONF"
    kill -HUP "$EDDYD_PID"
    wait_until 10 grep -q "$EDDY_CONF:3: bogus: unknown key in \[ingest\]" "$BATS_TEST_TMPDIR/eddyd.log"
    grep -q 'keeping the running configuration' "$BATS_TEST_TMPDIR/eddyd.log"
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=new")" = 200 ]
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=x")" = 401 ]
    kill -0 "$EDDYD_PID"
    stop_eddyd
    [ "$EDDYD_STATUS" -eq 0 ]
    [ "$(grep -c . "$BATS_TEST_TMPDIR/sink.ndjson")" -ge 1 ]
}

@test "SIGHUP: live delivery settings change without a restart; write_key needs one" {
    dead=$(free_port)
    write_config "delivery.url=http://127.0.0.1:$dead/v1/webhook" delivery.backoff_max=200ms
    start_fake
    start_eddyd
    [ "$(code "$INGEST_URL/v1/webhook?writeKey=test-key")" = 200 ]
    sleep 1
    [ ! -s "$BATS_TEST_TMPDIR/sink.ndjson" ]
    # the same file with the fake's URL: the pending batch goes there
    write_config delivery.backoff_max=200ms delivery.write_key=other-key
    kill -HUP "$EDDYD_PID"
    wait_until 20 eval '[ "$(grep -c . "$BATS_TEST_TMPDIR/sink.ndjson" 2>/dev/null)" -ge 1 ]'
    grep -q "reload: \[delivery\] url changed (http://127.0.0.1:$dead/v1/webhook -> http://127.0.0.1:$SINK_PORT/v1/webhook)" \
        "$BATS_TEST_TMPDIR/eddyd.log"
    grep -q 'reload: \[delivery\] write_key changed ((secret) -> (secret)) but needs a restart' \
        "$BATS_TEST_TMPDIR/eddyd.log"
    ! grep -q other-key "$BATS_TEST_TMPDIR/eddyd.log"
    [ "$(sink_keys)" = "test-key=1 " ]
    stop_eddyd
    [ "$EDDYD_STATUS" -eq 0 ]
}
