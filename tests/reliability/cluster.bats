#!/usr/bin/env bats
# cluster.bats - several eddyd behind HAProxy, as README "Running more than
# one eddyd" describes: three eddyd, each with its own data dir and its own
# ports on 127.0.0.1, one fake RudderStack, and HAProxy running the shipped
# etc/haproxy-eddy.cfg (only addresses, paths and a throw-away certificate
# changed). loadgen.py posts through HAProxy over TLS while nodes are killed,
# filled and restarted; clients must see only 200, and check.py must find
# every acknowledged event at the sink or in a node's store. Also: the cfg
# passes `haproxy -c`, and etc/k8s-eddy.yaml parses. Skipped when haproxy or
# openssl is not installed (apt-get install haproxy openssl).

load rel_helpers

CFG=$BATS_TEST_DIRNAME/../../etc/haproxy-eddy.cfg
HA=$BATS_TEST_TMPDIR/haproxy

setup() {
    NODE_IN=() NODE_AD=() NODE_PID=()
    local p
    read -ra p <<<"$(free_ports 8)"
    NODE_IN=([1]=${p[0]} [2]=${p[1]} [3]=${p[2]})
    NODE_AD=([1]=${p[3]} [2]=${p[4]} [3]=${p[5]})
    SINK_PORT=${p[6]} HA_PORT=${p[7]}
}

teardown() {
    local n
    for n in 1 2 3; do
        [ -z "${NODE_PID[n]:-}" ] || { kill -9 "${NODE_PID[n]}" 2>/dev/null; wait "${NODE_PID[n]}" 2>/dev/null; }
    done
    [ -z "${HA_PID:-}" ] || { kill -9 "$HA_PID" 2>/dev/null; wait "$HA_PID" 2>/dev/null; }
    rel_teardown
}

need_haproxy() {
    command -v haproxy >/dev/null || skip "haproxy not installed"
    command -v openssl >/dev/null || skip "openssl not installed"
}

# make_cert: a self-signed certificate for 127.0.0.1, as HAProxy wants it
# (certificate and key in one PEM file).
make_cert() {
    mkdir -p "$HA"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$HA/key.pem" -out "$HA/cert.pem" \
        -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" 2>/dev/null
    cat "$HA/cert.pem" "$HA/key.pem" >"$HA/eddy.pem"
}

# node_config N [section.key=value...]: node N's config, its own data dir and
# ports, the shared sink.
node_config() {
    local n=$1
    shift
    INGEST_PORT=${NODE_IN[n]} ADMIN_PORT=${NODE_AD[n]} DATA_DIR=$BATS_TEST_TMPDIR/node$n
    write_config "$@"
    mv "$EDDY_CONF" "$BATS_TEST_TMPDIR/node$n.conf"
}

start_node() {
    local n=$1
    "$EDDYD" -c "$BATS_TEST_TMPDIR/node$n.conf" >>"$BATS_TEST_TMPDIR/node$n.log" 2>&1 &
    NODE_PID[n]=$!
    wait_http "http://127.0.0.1:${NODE_AD[n]}/healthz" 15 || { cat "$BATS_TEST_TMPDIR/node$n.log" >&2; return 1; }
}

# stop_node N SIGNAL: signals node N and waits; NODE_STATUS is its exit status.
stop_node() {
    local n=$1
    kill -s "$2" "${NODE_PID[n]}"
    NODE_STATUS=0
    wait "${NODE_PID[n]}" 2>/dev/null || NODE_STATUS=$?
    NODE_PID[n]=
}

# node_metric N SAMPLE: the value of one Prometheus sample of node N
# (e.g. 'eddy_ingest_requests_total{code="200"}'), 0 when absent.
node_metric() {
    curl -sf --max-time 5 "http://127.0.0.1:${NODE_AD[$1]}/metrics" |
        awk -v s="$2" '$1 == s { v = $2 } END { print v + 0 }'
}

node_pending() {
    curl -sf --max-time 5 "http://127.0.0.1:${NODE_AD[$1]}/status" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"]["batches"])'
}

# nodes_refused: 404s and 405s answered by the nodes' ingest, all summed.
nodes_refused() {
    local n c sum=0
    for n in 1 2 3; do
        for c in 404 405; do
            sum=$((sum + $(node_metric $n "eddy_ingest_requests_total{code=\"$c\"}")))
        done
    done
    echo $sum
}

all_drained() {
    local n
    for n in 1 2 3; do [ "$(node_pending "$n" 2>/dev/null)" = 0 ] || return 1; done
}

# start_haproxy: etc/haproxy-eddy.cfg with the test's addresses, the
# throw-away certificate, logs on stdout (to $HA/haproxy.log) and the stats
# socket in the test dir; clients (start_load) go through it over TLS.
start_haproxy() {
    make_cert
    sed -e "s#bind :443 #bind 127.0.0.1:$HA_PORT #" \
        -e "s#/etc/haproxy/certs/eddy.pem#$HA/eddy.pem#" \
        -e "s#log /dev/log local0#log stdout format raw local0#" \
        -e "s#/run/haproxy/admin.sock#$HA/admin.sock#" \
        -e '/^ *\(chroot\|user\|group\|daemon\)\b/d' \
        -e "s#10.0.0.11:8080 check port 8081#127.0.0.1:${NODE_IN[1]} check port ${NODE_AD[1]}#" \
        -e "s#10.0.0.12:8080 check port 8081#127.0.0.1:${NODE_IN[2]} check port ${NODE_AD[2]}#" \
        -e "s#10.0.0.13:8080 check port 8081#127.0.0.1:${NODE_IN[3]} check port ${NODE_AD[3]}#" \
        "$CFG" >"$HA/haproxy.cfg"
    ! grep -q '10\.0\.0\.\|:443 \|/run/haproxy' "$HA/haproxy.cfg" || false # all replaced
    haproxy -db -f "$HA/haproxy.cfg" >>"$HA/haproxy.log" 2>&1 &
    HA_PID=$!
    export INGEST_URL=https://127.0.0.1:$HA_PORT
    wait_until 15 nodes_are UP UP UP || { cat "$HA/haproxy.log" >&2; false; }
}

# ha_state N: HAProxy's view of node N ("UP", "DOWN", "UP 1/2", ...).
ha_state() {
    python3 - "$HA/admin.sock" "eddy$1" <<'PY'
import csv, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
rows = list(csv.reader(data.decode().lstrip("# ").splitlines()))
col = rows[0].index("status")
for r in rows[1:]:
    if len(r) > col and r[0] == "eddyd" and r[1] == sys.argv[2]:
        print(r[col])
PY
}

# nodes_are S1 S2 S3: HAProxy sees exactly these states.
nodes_are() {
    local n
    for n in 1 2 3; do [ "$(ha_state "$n")" = "${!n}" ] || return 1; done
}

# start_cluster [section.key=value...]: the fake sink, three nodes (the
# arguments go to node 3's config) and HAProxy in front of them.
start_cluster() {
    need_haproxy
    node_config 1
    node_config 2
    node_config 3 "$@"
    start_fake
    local n
    for n in 1 2 3; do start_node $n; done
    start_haproxy
}

cluster_load() { # NAME: moderate load through HAProxy, 3 client connections
    start_load "$1" --threads 3 --max-events 10 --interval 0.01 --cacert "$HA/cert.pem" --timeout 60
}

# only_200 NAME: loadgen saw nothing but 200 (no 5xx, no failed connection).
only_200() {
    local a
    a=$(load_answers "$1")
    echo "answers: $a"
    [[ "$a" =~ ^200:[0-9]+$ ]]
}

check_cluster() {
    local acked=() f
    for f in "$BATS_TEST_TMPDIR"/acked.*; do acked+=(--acked "$f"); done
    python3 "$REL/check.py" "${acked[@]}" --sink "$BATS_TEST_TMPDIR/sink.ndjson" \
        --data-dir "$BATS_TEST_TMPDIR/node1" --data-dir "$BATS_TEST_TMPDIR/node2" \
        --data-dir "$BATS_TEST_TMPDIR/node3" --max-pending 0 --max-dead 0
}

# retried: how many requests HAProxy sent more than once (%rc > 0 in its
# log-format: the 10th field of the log line).
retried() {
    awk '$(NF-2) == "POST" && $(NF-4) > 0 { n++ } END { print n + 0 }' "$HA/haproxy.log"
}

@test "etc/haproxy-eddy.cfg passes haproxy -c (with a generated certificate at its crt path)" {
    need_haproxy
    make_cert
    sed "s#/etc/haproxy/certs/eddy.pem#$HA/eddy.pem#" "$CFG" >"$HA/check.cfg"
    run haproxy -c -f "$HA/check.cfg"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *"Configuration file is valid"* ]]
    # Clean: no warning or alert.
    ! grep -qi 'warning\|alert' <<<"$output" || false
}

@test "etc/k8s-eddy.yaml parses: a StatefulSet with one volume per pod, probes on /readyz" {
    /usr/bin/python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml not installed"
    run /usr/bin/python3 - "$BATS_TEST_DIRNAME/../../etc/k8s-eddy.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kinds = [d["kind"] for d in docs]
sts = next(d for d in docs if d["kind"] == "StatefulSet")
spec = sts["spec"]
assert spec["volumeClaimTemplates"], "no volumeClaimTemplates"
c = next(c for c in spec["template"]["spec"]["containers"] if c["name"] == "eddyd")
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
mounts = [m["name"] for m in c["volumeMounts"]]
assert spec["volumeClaimTemplates"][0]["metadata"]["name"] in mounts
print(" ".join(kinds))
PY
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" == *StatefulSet* ]]
}

@test "kill -9 one node under load: only 200s, the others take over, the restarted node drains" {
    start_cluster
    local t_start=$SECONDS
    # The sink refuses for now, so every node holds a backlog when one dies.
    fake_ctl "fail=-1&fail_status=503"
    cluster_load k
    wait_until 60 acked_at_least k 300
    wait_until 30 eval '[ "$(node_pending 2)" -gt 0 ]'
    local held
    held=$(node_pending 2)
    [ "$(node_metric 2 'eddy_ingest_requests_total{code="200"}')" -gt 0 ]

    local before t0 stall=0 last now prev t_down=""
    before=$(acked_count k)
    t0=$(date +%s%N)
    stop_node 2 KILL
    # Sample the acknowledgements for 4 s: the longest time without a new 200.
    prev=$before last=$t0
    while [ $(($(date +%s%N) - t0)) -lt 4000000000 ]; do
        now=$(acked_count k)
        if [ "$now" -gt "$prev" ]; then
            [ $(($(date +%s%N) - last)) -le "$stall" ] || stall=$(($(date +%s%N) - last))
            last=$(date +%s%N) prev=$now
        fi
        [ -n "$t_down" ] || [ "$(ha_state 2)" != DOWN ] || t_down=$(($(date +%s%N) - t0))
        sleep 0.1
    done
    wait_until 10 eval '[ "$(ha_state 2)" = DOWN ]'
    [ -n "$t_down" ] || t_down=$(($(date +%s%N) - t0))
    local served=$(($(acked_count k) - before))
    [ "$served" -gt 0 ]
    # Marked down within the checks' reach (inter 1s, fall 2), with slack for a
    # loaded machine; meanwhile retries kept the clients served.
    [ "$t_down" -lt 8000000000 ]
    local in1 in3
    in1=$(node_metric 1 'eddy_ingest_requests_total{code="200"}')
    in3=$(node_metric 3 'eddy_ingest_requests_total{code="200"}')
    wait_until 30 eval '[ "$(node_metric 1 "eddy_ingest_requests_total{code=\"200\"}")" -gt "$in1" ]'
    wait_until 30 eval '[ "$(node_metric 3 "eddy_ingest_requests_total{code=\"200\"}")" -gt "$in3" ]'
    stop_load k
    only_200 k

    # Restarted, node 2 rejoins and delivers what it held once the sink is back.
    start_node 2
    wait_until 20 nodes_are UP UP UP
    fake_ctl "fail=0"
    wait_until 90 all_drained
    [ "$(node_metric 2 eddy_delivered_events_total)" -gt 0 ]
    run check_cluster
    echo "$output"
    [ "$status" -eq 0 ]
    local figures=$output

    # No credential in HAProxy's log; the path is there, the query string not.
    grep -q ' POST /v1/webhook HTTP/1.1$' "$HA/haproxy.log"
    ! grep -q 'writeKey\|test-key' "$HA/haproxy.log" || false

    # Every node down: HAProxy's own 503, with Retry-After, never a 400.
    for n in 1 3 2; do stop_node $n KILL; done
    run curl -s -D "$BATS_TEST_TMPDIR/h" -o "$BATS_TEST_TMPDIR/b" -w '%{http_code}' \
        --cacert "$HA/cert.pem" -X POST --data-binary '{"events":[]}' \
        "$INGEST_URL/v1/webhook?writeKey=test-key"
    [ "$output" = 503 ]
    grep -qi '^Retry-After: 5' "$BATS_TEST_TMPDIR/h"
    grep -q '"error":"unavailable"' "$BATS_TEST_TMPDIR/b"
    rel_note "kill -9 under load: $(load_answers k) through HAProxy, node 2 held $held batches," \
        "marked DOWN after $((t_down / 1000000)) ms, longest wait for a 200 $((stall / 1000000)) ms," \
        "$served events acknowledged in the 4 s after the kill, $(retried) requests retried;" \
        "after restart and drain: $figures; $((SECONDS - t_start)) s"
}

@test "one node at high water: its share goes to the others, no client sees a 503" {
    # Stored uncompressed: loadgen's padding would gzip to almost nothing.
    start_cluster storage.max_size=2M storage.compress=none ingest.max_body=1M
    local t_start=$SECONDS
    fake_ctl "fail=-1&fail_status=503"
    start_load f --threads 3 --max-events 10 --pad 2000 --interval 0.01 --cacert "$HA/cert.pem" --timeout 60
    # Node 3 fills up: it refuses with 503 and its /readyz takes it out.
    wait_until 90 eval '[ "$(node_metric 3 "eddy_ingest_requests_total{code=\"503\"}")" -gt 0 ]'
    wait_until 15 eval '[ "$(ha_state 3)" = DOWN ]'
    local a1 a2
    a1=$(acked_count f)
    wait_until 30 acked_at_least f $((a1 + 100))
    a2=$(acked_count f)
    local refused
    refused=$(node_metric 3 'eddy_ingest_requests_total{code="503"}')
    stop_load f
    only_200 f
    # The sink back, node 3 drains below high water and comes back.
    fake_ctl "fail=0"
    wait_until 90 all_drained
    wait_until 20 nodes_are UP UP UP
    run check_cluster
    echo "$output"
    [ "$status" -eq 0 ]
    rel_note "high water on node 3 (2 MiB map): $(load_answers f) through HAProxy," \
        "node 3 answered 503 to $refused requests, all retried elsewhere ($(retried) retries)," \
        "$((a2 - a1)) events acknowledged while it was out; back UP after the drain; $output;" \
        "$((SECONDS - t_start)) s"
}

@test "rolling restart (SIGTERM one node at a time) under load: no request fails; admin not exposed" {
    start_cluster
    local t_start=$SECONDS
    cluster_load r
    wait_until 60 acked_at_least r 200
    local n a
    for n in 1 2 3; do
        stop_node $n TERM
        [ "$NODE_STATUS" -eq 0 ]
        a=$(acked_count r)
        start_node $n
        wait_until 20 nodes_are UP UP UP
        # Traffic went on while it restarted.
        wait_until 30 acked_at_least r $((a + 50))
    done
    stop_load r
    only_200 r
    wait_until 60 all_drained
    run check_cluster
    echo "$output"
    [ "$status" -eq 0 ]
    # Only POST to the ingest paths gets through; HAProxy itself refuses the
    # rest (admin paths included): no node counts a 404 or 405.
    local p refused_before
    refused_before=$(nodes_refused)
    for p in /metrics /status /readyz /healthz /; do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$HA/cert.pem" "$INGEST_URL$p")" = 404 ]
    done
    [ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$HA/cert.pem" \
        "$INGEST_URL/v1/webhook?writeKey=test-key")" = 405 ]
    [ "$(nodes_refused)" = "$refused_before" ]
    rel_note "rolling restart of 3 nodes: $(load_answers r) through HAProxy," \
        "$(retried) requests retried; $output; $((SECONDS - t_start)) s"
}
