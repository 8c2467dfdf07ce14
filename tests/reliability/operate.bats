#!/usr/bin/env bats
# operate.bats - what an operator meets around a running eddyd: one eddyd per
# data dir (a second one exits 1 naming the holder's pid; the CLI works
# beside it), a data dir deleted or replaced under a running eddyd (503
# storage_error, /readyz fails, said in the log, nothing recreated), and
# `eddy status` telling whether eddyd runs, with a record eddyd refreshes
# and the reason ingest refuses.

load rel_helpers

teardown() {
    rel_teardown
}

cli() { "$EDDY" -d "$DATA_DIR" "$@"; }

# json_field PATH: a field of the JSON object on stdin ("eddyd.running").
json_field() {
    python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(json.dumps(d))' "$1"
}

# post_code: the status code of one small post.
post_code() {
    printf '{"events":[{"id":"op-%s","event_type":"t","user":{"external_user_id":"u"}}]}' "$RANDOM" \
        >"$BATS_TEST_TMPDIR/one.json"
    local out
    out=$(post "$BATS_TEST_TMPDIR/one.json")
    echo "$out" >"$BATS_TEST_TMPDIR/last_answer"
    echo "${out%% *}"
}

refused_with_storage_error() {
    [ "$(post_code)" = 503 ] && grep -q '"error":"storage_error"' "$BATS_TEST_TMPDIR/last_answer"
}

@test "lock: a second eddyd on the same data dir exits 1 naming the dir and the pid; nothing is delivered twice" {
    write_config
    start_fake
    start_eddyd
    # same data dir, other ports
    read -ra p <<<"$(free_ports 2)"
    sed -e "s/127.0.0.1:$INGEST_PORT/127.0.0.1:${p[0]}/" \
        -e "s/127.0.0.1:$ADMIN_PORT/127.0.0.1:${p[1]}/" "$EDDY_CONF" >"$BATS_TEST_TMPDIR/second.conf"
    run timeout 20 "$EDDYD" -c "$BATS_TEST_TMPDIR/second.conf"
    echo "$output"
    [ "$status" -eq 1 ]
    [[ "$output" == *"data dir $DATA_DIR is in use by eddyd pid $EDDYD_PID"* ]]
    for i in 1 2 3 4 5; do
        run post "$FIXTURES/corpus/batch-0000$i.json"
        [ "${output%% *}" = 200 ]
    done
    wait_drained 30
    sleep 1 # a second sender would have sent its copies by now
    # every event arrived exactly once
    python3 - "$BATS_TEST_TMPDIR/sink.ndjson" "$FIXTURES"/corpus/batch-0000[1-5].json <<'PY'
import json, sys
got = [i for l in open(sys.argv[1]) for i in json.loads(l)["ids"]]
want = [e["id"] for f in sys.argv[2:] for e in json.load(open(f))["events"]]
assert sorted(got) == sorted(want), (len(got), len(want), len(set(got)))
PY
    # the CLI works beside the running daemon
    run cli status --json
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | json_field eddyd.running)" = true ]
    [ "$(echo "$output" | json_field eddyd.pid)" = "$EDDYD_PID" ]
    run cli dlq list
    [ "$status" -eq 0 ]
    # once it stopped, a new one starts on the dir
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 0 ]
    start_eddyd
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 0 ]
}

@test "lost store: rm -rf of the data dir under eddyd gives 503 storage_error within a second, /readyz fails, nothing is recreated" {
    write_config
    start_fake
    start_eddyd
    [ "$(post_code)" = 200 ]
    rm -rf "$DATA_DIR"
    t0=$(date +%s%N)
    wait_until 5 refused_with_storage_error
    t1=$(date +%s%N)
    rel_note "rm -rf of the data dir -> first 503 storage_error after $(((t1 - t0) / 1000000)) ms"
    # eddyd checks every 100 ms; the rest of the margin is for this test's own
    # curl and python on a loaded 2-core machine
    [ $(((t1 - t0) / 1000000)) -lt 2000 ]
    # and every later one, not a lucky one
    for _ in 1 2 3; do refused_with_storage_error; done
    run curl -s -w ' %{http_code}' "$ADMIN_URL/readyz"
    echo "$output"
    [[ "$output" == *'"error":"storage_error"'*"store lost"*"data.mdb was deleted"*" 503" ]]
    grep -q "ERROR $DATA_DIR/data.mdb was deleted while eddyd had it open" "$BATS_TEST_TMPDIR/eddyd.log"
    [ "$(grep -c 'was deleted while eddyd had it open' "$BATS_TEST_TMPDIR/eddyd.log")" -eq 1 ]
    [ ! -e "$DATA_DIR" ]
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 1 ]
    [ ! -e "$DATA_DIR" ]
}

@test "lost store: a data.mdb moved over the open one is noticed too" {
    write_config
    start_eddyd
    [ "$(post_code)" = 200 ]
    cli backup "$BATS_TEST_TMPDIR/copy"
    mv "$BATS_TEST_TMPDIR/copy/data.mdb" "$DATA_DIR/data.mdb"
    wait_until 5 refused_with_storage_error
    grep -q "$DATA_DIR/data.mdb was replaced by another file" "$BATS_TEST_TMPDIR/eddyd.log"
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$ADMIN_URL/readyz")" = 503 ]
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 1 ]
}

@test "status: says whether eddyd runs; eddyd refreshes its record while it runs" {
    write_config
    start_fake
    start_eddyd
    [ "$(post_code)" = 200 ]
    wait_drained 30
    run cli status
    echo "$output"
    [[ "${lines[0]}" == "eddyd     running, pid $EDDYD_PID" ]]
    first=$(cli status --json | json_field eddyd.updated_ms)
    [ "$first" -gt 0 ]
    # refreshed within 10 s, with nothing else happening
    refreshed() { [ "$(cli status --json | json_field eddyd.updated_ms)" -gt "$first" ]; }
    wait_until 10 refreshed
    stop_eddyd TERM
    run cli status --json
    [ "$(echo "$output" | json_field eddyd.running)" = false ]
    run cli status
    echo "$output"
    [[ "${lines[0]}" == "eddyd     not running"* ]]
    [[ "$output" == *"delivery  stopped; last recorded: ok, last status 200 ("*" ago)"* ]]
}

@test "status: says that ingest refuses and why while storage is full" {
    write_config storage.max_size=2M storage.high_water=0.3 ingest.max_body=512K
    start_eddyd
    for _ in $(seq 1 30); do
        run post "$FIXTURES/corpus/batch-00002.json"
        [[ "$output" == "200 "* ]] || break
    done
    [[ "$output" == "503 "*'"error":"storage_full"'* ]]
    refusing() { [ "$(cli status --json | json_field eddyd.ingest.accepting)" = false ]; }
    wait_until 10 refusing
    [ "$(cli status --json | json_field eddyd.ingest.error)" = '"storage_full"' ]
    run cli status
    echo "$output"
    [[ "$output" == *"storage   "*"; ingest refusing (503 storage_full): storage full: the store is above high_water of max_size"* ]]
}

@test "SIGTERM the moment the admin listener is up drains and exits 0" {
    write_config
    # On the previous main /healthz answered before the signal handlers were
    # installed, so a supervisor's early SIGTERM killed eddyd undrained.
    local port=${ADMIN_URL##*:} i code
    for i in 1 2 3 4 5; do
        code=$(python3 - "$EDDYD" "$EDDY_CONF" "$port" "$BATS_TEST_TMPDIR/eddyd.log" <<'PY'
import signal, socket, subprocess, sys, time
eddyd, conf, port, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
p = subprocess.Popen([eddyd, "-c", conf], stdout=subprocess.DEVNULL, stderr=open(log, "ab"))
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        break
    except OSError:
        time.sleep(0.0005)
p.send_signal(signal.SIGTERM)
print(p.wait())
PY
        )
        [ "$code" = 0 ] || { echo "run $i: eddyd exited $code"; tail -5 "$BATS_TEST_TMPDIR/eddyd.log"; false; }
    done
}
