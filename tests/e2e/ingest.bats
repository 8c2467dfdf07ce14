#!/usr/bin/env bats
# ingest.bats - eddyd's public listener end to end: answers for every edge
# body, concurrent load stored byte for byte, kill -9, a full store, auth and
# limits, a large body that must not block small ones, SIGTERM under load.
# Delivery points at a port where nothing listens, so batches stay pending.

load helpers
load fake # wait_until

QTOOL=$BUILD/tests/tools/qtool
CLIENT=$BATS_TEST_DIRNAME/ingest_client.py

setup() {
    write_config
}

teardown() {
    teardown_processes
}

# qdump: dumps the pending queue into $BATS_TEST_TMPDIR/dump, listing to dump.txt
qdump() {
    rm -rf "$BATS_TEST_TMPDIR/dump" && mkdir -p "$BATS_TEST_TMPDIR/dump"
    "$QTOOL" dump "$DATA_DIR" "$BATS_TEST_TMPDIR/dump" >"$BATS_TEST_TMPDIR/dump.txt"
}

pending_count() {
    "$QTOOL" count "$DATA_DIR"
}

# post_until_refused: posts a corpus batch up to 30 times, until an answer
# is not 200; ok counts the 200s, $output holds the last answer.
post_until_refused() {
    local i
    ok=0
    for i in $(seq 1 30); do
        run post "$FIXTURES/corpus/batch-00002.json"
        [[ "$output" == "200 "* ]] || break
        ok=$((ok + 1))
    done
}

@test "every edge body gets the answer its manifest states; rejected ones store nothing" {
    start_eddyd
    python3 "$CLIENT" edge "$INGEST_URL/v1/webhook" writeKey=test-key "$FIXTURES/edge" \
        "$BATS_TEST_TMPDIR/edge.txt"
    # file expected got events id
    while read -r file want got events id; do
        [ "$want" = "$got" ] || { echo "$file: want $want, got $got"; return 1; }
    done <"$BATS_TEST_TMPDIR/edge.txt"
    qdump
    # Exactly the accepted bodies with events are stored, byte for byte.
    stored=0
    while read -r file want got events id; do
        if [ "$got" = 200 ] && [ "$id" != None ] && [ "$id" != - ]; then
            cmp "$FIXTURES/edge/$file" "$BATS_TEST_TMPDIR/dump/$id.body"
            grep -q "^$id $events test-key " "$BATS_TEST_TMPDIR/dump.txt"
            stored=$((stored + 1))
        fi
    done <"$BATS_TEST_TMPDIR/edge.txt"
    expected=$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))
print(sum(1 for c in m["cases"] if c["status"] == 200 and c.get("events") != 0))' \
        "$FIXTURES/edge/manifest.json")
    [ "$stored" -eq "$expected" ] && [ "$stored" -gt 10 ]
    [ "$(wc -l <"$BATS_TEST_TMPDIR/dump.txt")" -eq "$stored" ]
    # No-ops (empty body, empty events) answer events 0 and no id.
    grep -q '^empty-body.json 200 200 0 None$' "$BATS_TEST_TMPDIR/edge.txt"
    grep -q '^empty-events-array.json 200 200 0 None$' "$BATS_TEST_TMPDIR/edge.txt"
    # Rejections name the problem.
    run post "$FIXTURES/edge/trailing-garbage.json"
    [[ "$output" == "400 "*'"error":"invalid_json"'* ]]
    run post "$FIXTURES/edge/events-object.json"
    [[ "$output" == "400 "*'"error":"invalid_shape"'* ]]
    [ "$(pending_count)" -eq "$stored" ]
}

@test "1000 batches from 16 clients: all 200, all pending, byte for byte" {
    start_eddyd
    mkdir -p "$BATS_TEST_TMPDIR/load"
    python3 "$CLIENT" load "$INGEST_URL/v1/webhook" writeKey=test-key 1000 16 "$BATS_TEST_TMPDIR/load"
    [ "$(awk '$2 != 200' "$BATS_TEST_TMPDIR/load/status.tsv" | wc -l)" -eq 0 ]
    [ "$(wc -l <"$BATS_TEST_TMPDIR/load/posted.tsv")" -eq 1000 ]
    qdump
    [ "$(wc -l <"$BATS_TEST_TMPDIR/dump.txt")" -eq 1000 ]
    run python3 "$CLIENT" verify "$BATS_TEST_TMPDIR/dump" "$BATS_TEST_TMPDIR/load/posted.tsv"
    [ "$status" -eq 0 ] && [ "$output" = 1000 ]
    # Group commit happened: fewer commits than requests.
    m=$(curl -s "$ADMIN_URL/metrics")
    count=$(awk '$1 == "eddy_commit_batches_count" {print $2}' <<<"$m")
    sum=$(awk '$1 == "eddy_commit_batches_sum" {print $2}' <<<"$m")
    echo "commits $count, requests $sum"
    [ "${sum%.*}" -eq 1000 ] && [ "$count" -lt 1000 ]
    curl -s "$ADMIN_URL/status" | grep -q '"pending":{"batches":1000,'
}

@test "kill -9 right after the last 200: everything is still there after restart" {
    start_eddyd
    mkdir -p "$BATS_TEST_TMPDIR/load"
    python3 "$CLIENT" load "$INGEST_URL/v1/webhook" writeKey=test-key 300 16 "$BATS_TEST_TMPDIR/load"
    stop_eddyd KILL
    start_eddyd
    curl -s "$ADMIN_URL/status" | grep -q '"pending":{"batches":300,'
    qdump
    run python3 "$CLIENT" verify "$BATS_TEST_TMPDIR/dump" "$BATS_TEST_TMPDIR/load/posted.tsv"
    [ "$status" -eq 0 ] && [ "$output" = 300 ]
    # New ids continue after the old ones.
    run post "$FIXTURES/corpus/batch-00001.json"
    [[ "$output" == '200 {"status":"ok","events":100,"id":301}' ]]
}

@test "a full store answers 503 with Retry-After, loses nothing, and recovers" {
    write_config storage.max_size=1M storage.high_water=1 ingest.max_body=512K
    start_eddyd
    # 1 MiB holds about ten 94 KB bodies; keep posting until refused.
    ok=0 full=
    for i in $(seq 1 40); do
        code=$(curl -s -o "$BATS_TEST_TMPDIR/a" -D "$BATS_TEST_TMPDIR/h" -w '%{http_code}' \
            --data-binary @"$FIXTURES/corpus/batch-0000$((i % 9 + 1)).json" \
            "$INGEST_URL/v1/webhook?writeKey=test-key")
        if [ "$code" = 200 ]; then
            ok=$((ok + 1))
        else
            full=$code
            break
        fi
    done
    echo "stored $ok before $full"
    [ "$full" = 503 ] && [ "$ok" -gt 2 ]
    grep -qi '^Retry-After: [0-9]' "$BATS_TEST_TMPDIR/h"
    grep -q '"error":"storage_full"' "$BATS_TEST_TMPDIR/a"
    [ "$(pending_count)" -eq "$ok" ]
    # Still full: still 503, still nothing lost.
    run post "$FIXTURES/corpus/batch-00001.json"
    [[ "$output" == "503 "* ]]
    # Free space as delivery would, in more than one transaction (LMDB hands
    # pages freed by a transaction to writers that start after the next one).
    "$QTOOL" ack "$DATA_DIR" 2
    "$QTOOL" ack "$DATA_DIR" 2
    # eddyd notices the freed space by itself (it re-reads usage when idle).
    for _ in $(seq 1 100); do
        run post "$FIXTURES/corpus/batch-00001.json"
        [[ "$output" == "503 "* ]] || break
        sleep 0.05
    done
    [[ "$output" == "200 "* ]]
    [ "$(pending_count)" -eq $((ok - 4 + 1)) ]
}

@test "above high water: 503 and /readyz 503 without trying to store" {
    write_config storage.max_size=2M storage.high_water=0.3 ingest.max_body=512K
    start_eddyd
    curl -sf "$ADMIN_URL/readyz"
    post_until_refused
    [[ "$output" == "503 "*'"error":"storage_full"'* ]]
    [ "$ok" -ge 3 ] && [ "$ok" -lt 30 ]
    # Refused before passing high water: the headroom stays free for deletes.
    curl -s "$ADMIN_URL/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)["storage"]
assert s["used_bytes"] <= 0.3 * s["max_bytes"], s'
    code=$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN_URL/readyz")
    [ "$code" = 503 ]
    [ "$(pending_count)" -eq "$ok" ]
}

@test "below high water again once space is freed: ready and storing by itself" {
    write_config storage.max_size=2M storage.high_water=0.3 ingest.max_body=512K
    start_eddyd
    post_until_refused
    [[ "$output" == "503 "* ]]
    # Delivery frees the space: eddy is ready and takes batches again by itself.
    "$QTOOL" ack "$DATA_DIR" "$ok"
    "$QTOOL" ack "$DATA_DIR" 1 || true
    for _ in $(seq 1 100); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN_URL/readyz")" = 200 ] && break
        sleep 0.05
    done
    curl -sf "$ADMIN_URL/readyz"
    run post "$FIXTURES/corpus/batch-00002.json"
    [[ "$output" == "200 "* ]]
}

@test "auth, methods, paths, limits and gzip" {
    write_config ingest.max_body=200K
    start_eddyd
    body=$FIXTURES/corpus/batch-00001.json
    u=$INGEST_URL/v1/webhook
    code() { curl -s -o "$BATS_TEST_TMPDIR/a" -w '%{http_code}' "$@"; }
    # 401: nothing, wrong key, wrong token, wrong Basic user, even for a no-op.
    [ "$(code --data-binary @"$body" "$u")" = 401 ]
    grep -qx '{"error":"unauthorized"}' "$BATS_TEST_TMPDIR/a"
    [ "$(code --data-binary @"$body" "$u?writeKey=nope")" = 401 ]
    [ "$(code --data-binary @"$body" -H 'Authorization: Bearer nope' "$u")" = 401 ]
    [ "$(code --data-binary @"$body" -u nope: "$u")" = 401 ]
    [ "$(code --data-binary '' "$u?writeKey=nope")" = 401 ]
    # Good credentials, each style; the write key is stored, a token stores none.
    [ "$(code --data-binary @"$body" -H 'Authorization: Bearer test-token' "$u")" = 200 ]
    [ "$(code --data-binary @"$body" -u test-key:ignored "$INGEST_URL/currents")" = 200 ]
    [ "$(code --data-binary @"$body" "$u?writeKey=test-key")" = 200 ]
    # 405 on a known path, 404 elsewhere, both JSON.
    [ "$(code "$u")" = 405 ]
    grep -q '"error":"method_not_allowed"' "$BATS_TEST_TMPDIR/a"
    [ "$(code -X PUT --data-binary @"$body" "$u?writeKey=test-key")" = 405 ]
    [ "$(code -X DELETE "$u")" = 405 ]
    [ "$(code --data-binary @"$body" "$INGEST_URL/v2/other?writeKey=test-key")" = 404 ]
    grep -q '"error":"not_found"' "$BATS_TEST_TMPDIR/a"
    # gzip is inflated and stored decompressed.
    gzip -c "$body" >"$BATS_TEST_TMPDIR/b.gz"
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/b.gz" -H 'Content-Encoding: gzip' "$u?writeKey=test-key")" = 200 ]
    gzid=$(sed -n 's/.*"id":\([0-9]*\).*/\1/p' "$BATS_TEST_TMPDIR/a")
    # Other encodings: 415; corrupt gzip: 400.
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/b.gz" -H 'Content-Encoding: br' "$u?writeKey=test-key")" = 415 ]
    [ "$(code --data-binary @"$body" -H 'Content-Encoding: gzip' "$u?writeKey=test-key")" = 400 ]
    # 413: a raw body over max_body, and a small gzip that inflates past it.
    big=$BATS_TEST_TMPDIR/big.json
    cat "$FIXTURES"/corpus/batch-0000[1-3].json >"$big"
    [ "$(code --data-binary @"$big" "$u?writeKey=test-key")" = 413 ]
    python3 -c 'import sys; sys.stdout.write("{\"events\":[" + ",".join(["{\"a\":\"%s\"}" % ("x"*1000)]*300) + "]}")' |
        gzip -c >"$BATS_TEST_TMPDIR/bomb.gz"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/bomb.gz")" -lt 20000 ]
    [ "$(code --data-binary @"$BATS_TEST_TMPDIR/bomb.gz" -H 'Content-Encoding: gzip' "$u?writeKey=test-key")" = 413 ]
    grep -q '"error":"payload_too_large"' "$BATS_TEST_TMPDIR/a"
    # Exactly the four 200s are stored, with the right keys and bytes.
    qdump
    [ "$(wc -l <"$BATS_TEST_TMPDIR/dump.txt")" -eq 4 ]
    [ "$(awk '{print $3}' "$BATS_TEST_TMPDIR/dump.txt" | tr '\n' ' ')" = "- test-key test-key test-key " ]
    cmp "$body" "$BATS_TEST_TMPDIR/dump/$gzid.body"
    # The answers were counted by code.
    curl -s "$ADMIN_URL/metrics" | grep -q '^eddy_ingest_requests_total{code="401"} 5$'
}

@test "a 4 MB body being validated does not hold up small requests on other connections" {
    [ -f "$BUILD/shim/slow_yajl.so" ] || skip "build/shim/slow_yajl.so not built"
    export SLOW_YAJL_MARKER=$BATS_TEST_TMPDIR/parsing SLOW_YAJL_RELEASE=$BATS_TEST_TMPDIR/release
    LD_PRELOAD=$BUILD/shim/slow_yajl.so ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
        start_eddyd
    curl -s -o "$BATS_TEST_TMPDIR/big.out" -w '%{http_code}' --max-time 60 \
        --data-binary @"$FIXTURES/edge/batch-4.5mib.json" \
        "$INGEST_URL/v1/webhook?writeKey=test-key" >"$BATS_TEST_TMPDIR/big.code" &
    big=$!
    for _ in $(seq 1 400); do [ -e "$SLOW_YAJL_MARKER" ] && break; sleep 0.05; done
    [ -e "$SLOW_YAJL_MARKER" ]
    # A second large body, gzip'd, queues behind the first.
    gzip -c "$FIXTURES/edge/batch-4.5mib.json" >"$BATS_TEST_TMPDIR/big.gz"
    curl -s -o "$BATS_TEST_TMPDIR/big2.out" -w '%{http_code}' --max-time 60 \
        -H 'Content-Encoding: gzip' --data-binary @"$BATS_TEST_TMPDIR/big.gz" \
        "$INGEST_URL/v1/webhook?writeKey=test-key" >"$BATS_TEST_TMPDIR/big2.code" &
    big2=$!
    # The big body is held inside its validation; small ones must get through.
    for i in 1 2 3 4 5 6; do
        run post "$FIXTURES/corpus/batch-0000$i.json" --max-time 20
        [[ "$output" == "200 "* ]]
    done
    kill -0 "$big" && kill -0 "$big2" # both still waiting for their answers
    [ ! -s "$BATS_TEST_TMPDIR/big.code" ] && [ ! -s "$BATS_TEST_TMPDIR/big2.code" ]
    touch "$SLOW_YAJL_RELEASE"
    wait "$big"
    wait "$big2"
    [ "$(cat "$BATS_TEST_TMPDIR/big.code")" = 200 ] && [ "$(cat "$BATS_TEST_TMPDIR/big2.code")" = 200 ]
    grep -q '"events":100' "$BATS_TEST_TMPDIR/big.out"
    qdump
    # The six small ones got the first ids, the big ones came after them.
    [ "$(awk '$2 == 100 && $4 > 4000000 {print $1}' "$BATS_TEST_TMPDIR/dump.txt" | tr '\n' ' ')" = "7 8 " ]
    # A client that hangs up while its body is validated: eddyd stores the
    # batch (it was accepted), answers into the void and carries on.
    rm -f "$SLOW_YAJL_RELEASE" "$SLOW_YAJL_MARKER"
    run curl -s --max-time 2 --data-binary @"$FIXTURES/edge/batch-4.5mib.json" \
        "$INGEST_URL/v1/webhook?writeKey=test-key"
    [ "$status" -eq 28 ] && [ -e "$SLOW_YAJL_MARKER" ]
    touch "$SLOW_YAJL_RELEASE"
    for _ in $(seq 1 200); do [ "$(pending_count)" -eq 9 ] && break; sleep 0.05; done
    [ "$(pending_count)" -eq 9 ]
    run post "$FIXTURES/corpus/batch-00007.json"
    [[ "$output" == "200 "*'"id":10}' ]]
    kill -0 "$EDDYD_PID"
}

@test "SIGTERM under load: eddyd exits 0 and every request answered 200 is stored" {
    start_eddyd
    mkdir -p "$BATS_TEST_TMPDIR/flood"
    python3 "$CLIENT" flood "$INGEST_URL/v1/webhook" writeKey=test-key 16 "$BATS_TEST_TMPDIR/flood" &
    flood=$!
    for _ in $(seq 1 400); do
        [ "$(wc -l <"$BATS_TEST_TMPDIR/flood/posted.tsv" 2>/dev/null || echo 0)" -ge 150 ] && break
        sleep 0.05
    done
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 0 ]
    wait "$flood" || true
    n=$(wc -l <"$BATS_TEST_TMPDIR/flood/posted.tsv")
    [ "$n" -ge 150 ]
    # Whatever was not stored was answered 503 (or never answered): no 200 lost.
    awk '$2 != 200 && $2 != 503 {bad = 1} END {exit bad}' "$BATS_TEST_TMPDIR/flood/status.tsv"
    qdump
    run python3 "$CLIENT" verify "$BATS_TEST_TMPDIR/dump" "$BATS_TEST_TMPDIR/flood/posted.tsv"
    [ "$status" -eq 0 ] && [ "$output" = "$n" ]
    grep -q 'stopped cleanly' "$BATS_TEST_TMPDIR/eddyd.log"
}

# poll_admin FILE: asks /readyz and /status over one keep-alive connection as
# fast as eddyd answers, until the admin port closes; creates FILE once 10
# have been answered, and prints how many were.
poll_admin() {
    python3 - "$ADMIN_PORT" "$1" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
n = 0
try:
    while True:
        for path in ("/readyz", "/status"):
            c.request("GET", path)
            c.getresponse().read()
            n += 1
            if n == 10:
                open(sys.argv[2], "w").close()
except (OSError, http.client.HTTPException):
    pass
print(n)
PY
}

@test "SIGTERM while /readyz and /status are polled: eddyd exits 0, ten times" {
    # Admin's thread reads ingest and the committer: both must outlive it.
    # The sanitizer builds (make tsan, make asan) are what see it when not.
    local polling=$BATS_TEST_TMPDIR/polling
    for i in $(seq 1 10); do
        start_eddyd
        post "$FIXTURES/corpus/batch-00001.json" >/dev/null
        rm -f "$polling"
        poll_admin "$polling" >"$BATS_TEST_TMPDIR/polled" &
        poller=$!
        wait_until 10 test -e "$polling"
        stop_eddyd TERM
        wait "$poller"
        [ "$EDDYD_STATUS" -eq 0 ] || { echo "round $i: exit $EDDYD_STATUS"; return 1; }
        [ "$(cat "$BATS_TEST_TMPDIR/polled")" -ge 10 ] # polled up to the stop
    done
    [ "$(pending_count)" -eq 10 ]
}

@test "admin: healthz, readyz, metrics names, status shape" {
    start_eddyd
    post "$FIXTURES/corpus/batch-00001.json" >/dev/null
    [ "$(curl -s "$ADMIN_URL/healthz")" = '{"status":"ok"}' ]
    [ "$(curl -s "$ADMIN_URL/readyz")" = '{"status":"ready"}' ]
    m=$(curl -s "$ADMIN_URL/metrics")
    for name in eddy_ingest_requests_total eddy_ingest_events_total eddy_ingest_bytes_total \
        eddy_commit_seconds eddy_commit_batches eddy_pending_batches eddy_pending_events \
        eddy_pending_oldest_age_seconds eddy_dead_batches eddy_delivery_requests_total \
        eddy_delivered_events_total eddy_delivery_seconds eddy_delivery_state \
        eddy_storage_used_bytes eddy_storage_max_bytes; do
        grep -q "^# TYPE $name " <<<"$m" || { echo "missing $name"; return 1; }
    done
    grep -q '^eddy_pending_batches 1$' <<<"$m"
    grep -q '^eddy_ingest_events_total 100$' <<<"$m"
    grep -q '^eddy_commit_seconds_bucket{le="+Inf"} 1$' <<<"$m"
    grep -q '^eddy_storage_max_bytes 1073741824$' <<<"$m"
    curl -s "$ADMIN_URL/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
assert s["pending"]["batches"] == 1 and s["pending"]["events"] == 100, s
assert set(s) >= {"pending", "dead", "delivery", "storage"}, s
assert s["storage"]["max_bytes"] == 1 << 30, s'
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN_URL/nope")" = 404 ]
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$ADMIN_URL/status")" = 405 ]
}

@test "config: errors name file, line and key and exit 2; no auth is refused" {
    printf '[ingest]\nwrite_keys = k\nlisten = nowhere\n' >"$BATS_TEST_TMPDIR/bad.conf"
    run "$EDDYD" -c "$BATS_TEST_TMPDIR/bad.conf" --check-config
    [ "$status" -eq 2 ]
    [[ "$output" == *"$BATS_TEST_TMPDIR/bad.conf:3: listen: \"nowhere\" is not HOST:PORT"* ]]
    printf '[ingest]\nwrite_keys = k\n[storage]\nbogus = 1\n' >"$BATS_TEST_TMPDIR/bad.conf"
    run "$EDDYD" -c "$BATS_TEST_TMPDIR/bad.conf"
    [ "$status" -eq 2 ]
    [[ "$output" == *"bad.conf:4: bogus: unknown key in [storage]"* ]]
    printf '[storage]\ndata_dir = %s\n' "$BATS_TEST_TMPDIR/d" >"$BATS_TEST_TMPDIR/noauth.conf"
    run "$EDDYD" -c "$BATS_TEST_TMPDIR/noauth.conf"
    [ "$status" -eq 2 ]
    [[ "$output" == *"allow_anonymous"* ]]
    [ ! -e "$BATS_TEST_TMPDIR/d" ]
    run "$EDDYD" -c "$EDDY_CONF" --listen 127.0.0.1:0 --check-config
    [ "$status" -eq 2 ]
    run "$EDDYD" -c "$EDDY_CONF" --check-config
    [ "$status" -eq 0 ]
    run "$EDDYD" --bogus-flag
    [ "$status" -eq 2 ]
    run "$EDDYD" --version
    [ "$status" -eq 0 ] && [[ "$output" == "eddyd "* ]]
    # Flags override the file: --listen moves the ingest port.
    port=$(free_port)
    start_eddyd --listen "127.0.0.1:$port"
    curl -s -o /dev/null -w '%{http_code}' -d '' "http://127.0.0.1:$port/v1/webhook?writeKey=test-key" | grep -q 200
}

# raw REQUEST_PRINTF_FORMAT [ARGS...]: sends the request bytes as they are
# (raw_http.py, with $RAW_ARGS), then half-closes; the answer in $output.
raw() {
    local fmt=$1; shift
    # shellcheck disable=SC2059
    run bash -c 'printf "$@" | python3 "$0" "$PORT" --half-close $RAW_ARGS' \
        "$BATS_TEST_DIRNAME/raw_http.py" "$fmt" "$@"
}

@test "a POST without Content-Length gets 411 and stores nothing; chunked is still taken" {
    start_eddyd
    export PORT=$INGEST_PORT
    body='{"events":[{"id":"nl","event_type":"t","user":{"user_id":"u"}}]}'
    for v in 1.0 1.1; do
        raw "POST /v1/webhook?writeKey=test-key HTTP/$v\r\nHost: x\r\nContent-Type: application/json\r\n\r\n%s" "$body"
        echo "HTTP/$v: $output"
        [[ "$output" == "HTTP/$v 411 "* ]]
        [[ "$output" == *'{"error":"length_required",'* ]]
    done
    # ... with Connection: close too (libevent would read nothing either).
    raw "POST /v1/webhook?writeKey=test-key HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n%s" "$body"
    [[ "$output" == "HTTP/1.1 411 "* ]]
    [ "$(pending_count)" -eq 0 ]
    # Chunked transfer encoding carries its own length: stored.
    run post "$FIXTURES/corpus/batch-00001.json" -H 'Transfer-Encoding: chunked'
    [[ "$output" == '200 {"status":"ok","events":100,"id":1}' ]]
    # An explicit Content-Length: 0 is an empty body, a no-op as before.
    raw "POST /v1/webhook?writeKey=test-key HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    [[ "$output" == "HTTP/1.1 200 "*'"events":0,"id":null}'* ]]
    [ "$(pending_count)" -eq 1 ]
    curl -s "$ADMIN_URL/metrics" | grep -q '^eddy_ingest_requests_total{code="411"} 3$'
}

@test "the 400 and 413 libevent sends by itself are counted and logged" {
    write_config ingest.max_body=64K
    start_eddyd
    export PORT=$INGEST_PORT
    # 400: a Content-Length that is not a number, a request line that is not HTTP.
    raw "POST /v1/webhook?writeKey=test-key HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n"
    [[ "$output" == "HTTP/1.1 400 "* ]]
    raw "BLAH\r\n\r\n"
    [[ "$output" == "HTTP/1.1 400 "* ]]
    # 413: a body over the raw cap, refused by libevent before our callback
    # (after a second: these lines are limited to one a second).
    sleep 1.1
    head -c 300000 /dev/zero | tr '\0' x >"$BATS_TEST_TMPDIR/big"
    run post "$BATS_TEST_TMPDIR/big"
    [[ "$output" == "413 "* ]]
    m=$(curl -s "$ADMIN_URL/metrics")
    grep -q '^eddy_ingest_requests_total{code="400"} 2$' <<<"$m"
    grep -q '^eddy_ingest_requests_total{code="413"} 1$' <<<"$m"
    grep -q 'ingest: libevent answered 400' "$BATS_TEST_TMPDIR/eddyd.log"
    grep -q 'ingest: libevent answered 413' "$BATS_TEST_TMPDIR/eddyd.log"
    # Our own answers are not counted twice.
    echo '{"events":[{"id":"a","event_type":"t","user":{"user_id":"u"}}]}' >"$BATS_TEST_TMPDIR/small"
    run post "$BATS_TEST_TMPDIR/small"
    [[ "$output" == "200 "* ]]
    curl -s "$ADMIN_URL/metrics" | grep -q '^eddy_ingest_requests_total{code="200"} 1$'
}

@test "Expect: 100-continue: libevent sends 100 itself; the request is judged after the body" {
    # As README says: libevent 2.1 gives a server no hook between headers and
    # body, so even a bad key gets 100 Continue, then its 401.
    start_eddyd
    export PORT=$INGEST_PORT RAW_ARGS="--wait-after-headers 5"
    body='{"events":[{"id":"x","event_type":"t","user":{"user_id":"u"}}]}'
    raw "POST /v1/webhook?writeKey=nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${#body}\r\nConnection: close\r\n\r\n%s" "$body"
    [[ "$output" == "HTTP/1.1 100 Continue"*"HTTP/1.1 401 "*'{"error":"unauthorized"}'* ]]
    raw "POST /v1/webhook?writeKey=test-key HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: ${#body}\r\nConnection: close\r\n\r\n%s" "$body"
    [[ "$output" == "HTTP/1.1 100 Continue"*"HTTP/1.1 200 "*'"events":1,'* ]]
    [ "$(pending_count)" -eq 1 ]
}
