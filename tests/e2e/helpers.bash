# helpers.bash - shared by the bats suites: free loopback ports, a config in
# the test's temp dir, start/stop of build/eddyd and build/fake-rudderstack.
# Everything listens on 127.0.0.1 only.

BUILD=${BUILD:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}
FIXTURES=$(cd "$BATS_TEST_DIRNAME/../fixtures" && pwd)
EDDYD=$BUILD/eddyd
EDDY=$BUILD/eddy
FAKE=$BUILD/fake-rudderstack

# free_ports N [TAKEN...]: N distinct TCP ports on 127.0.0.1 that nothing
# listens on right now and that are none of TAKEN nor the ports write_config
# picked. They are bound all at once: ports asked for one at a time can come
# back the same, and a test picks its ports before anything listens on them.
free_ports() {
    python3 - "$@" ${INGEST_PORT:-} ${ADMIN_PORT:-} ${SINK_PORT:-} <<'PY'
import socket, sys
n, taken = int(sys.argv[1]), set(sys.argv[2:])
held, ports = [], []
while len(ports) < n:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    p = str(s.getsockname()[1])
    if p not in taken:
        ports.append(p)
print(" ".join(ports))
PY
}

# free_port: one such port.
free_port() {
    free_ports 1
}

# wait_http URL [SECONDS]: until URL answers at all (any status).
wait_http() {
    local url=$1 t=${2:-10} i=0
    while [ $i -lt $((t * 20)) ]; do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.05; i=$((i + 1))
    done
    echo "timed out waiting for $url" >&2
    return 1
}

# write_config [EXTRA_INI_LINES...]: writes $EDDY_CONF for a test. Extra
# lines are "section.key=value" and override the defaults below.
write_config() {
    local p
    read -ra p <<<"$(free_ports 3)"
    : "${INGEST_PORT:=${p[0]}}" "${ADMIN_PORT:=${p[1]}}" "${SINK_PORT:=${p[2]}}"
    export INGEST_PORT ADMIN_PORT SINK_PORT
    export DATA_DIR=${DATA_DIR:-$BATS_TEST_TMPDIR/data}
    export EDDY_CONF=$BATS_TEST_TMPDIR/eddy.conf
    export INGEST_URL=http://127.0.0.1:$INGEST_PORT ADMIN_URL=http://127.0.0.1:$ADMIN_PORT
    python3 - "$EDDY_CONF" "$@" <<PY
import sys
conf = {
  "ingest": {"listen": "127.0.0.1:$INGEST_PORT", "paths": "/v1/webhook, /currents",
             "tokens": "test-token", "write_keys": "test-key", "max_body": "32M"},
  "admin": {"listen": "127.0.0.1:$ADMIN_PORT"},
  "storage": {"data_dir": "$DATA_DIR", "max_size": "1G", "sync": "full"},
  "delivery": {"url": "http://127.0.0.1:$SINK_PORT/v1/webhook", "write_key": "test-key",
               "backoff_min": "50ms",
               "backoff_max": "1s", "timeout": "5s"},
}
for arg in sys.argv[2:]:
    k, v = arg.split("=", 1)
    s, k = k.split(".", 1)
    conf.setdefault(s, {})[k] = v
with open(sys.argv[1], "w") as f:
    for s, kv in conf.items():
        f.write("[%s]\n" % s)
        for k, v in kv.items():
            f.write("%s = %s\n" % (k, v))
PY
}

# start_eddyd [FLAGS...]: starts build/eddyd -c $EDDY_CONF in the background,
# logs to $BATS_TEST_TMPDIR/eddyd.log, waits for /healthz.
start_eddyd() {
    [ -n "${EDDY_CONF:-}" ] || write_config
    "$EDDYD" -c "$EDDY_CONF" "$@" >>"$BATS_TEST_TMPDIR/eddyd.log" 2>&1 &
    EDDYD_PID=$!
    export EDDYD_PID
    wait_http "$ADMIN_URL/healthz" 15 || { cat "$BATS_TEST_TMPDIR/eddyd.log" >&2; return 1; }
}

# stop_eddyd [SIGNAL]: signals eddyd (TERM by default) and waits for it;
# sets EDDYD_STATUS to its exit status. A TERM or INT that does not end in
# 0 puts the log's tail on stderr, which bats shows if the test fails.
stop_eddyd() {
    local sig=${1:-TERM}
    [ -n "${EDDYD_PID:-}" ] || return 0
    kill -s "$sig" "$EDDYD_PID" 2>/dev/null
    EDDYD_STATUS=0
    wait "$EDDYD_PID" || EDDYD_STATUS=$?
    if [ "$EDDYD_STATUS" -ne 0 ] && [[ $sig == TERM || $sig == INT ]]; then
        echo "eddyd exited $EDDYD_STATUS after SIG$sig; the end of its log:" >&2
        tail -n 40 "$BATS_TEST_TMPDIR/eddyd.log" >&2
    fi
    export EDDYD_STATUS
    unset EDDYD_PID
}

# post BODY_FILE [CURL_ARGS...]: posts to /v1/webhook with the test write key;
# prints "STATUS BODY".
post() {
    local file=$1; shift
    curl -s -o "$BATS_TEST_TMPDIR/answer" -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' --data-binary @"$file" "$@" \
        "$INGEST_URL/v1/webhook?writeKey=test-key"
    echo " $(cat "$BATS_TEST_TMPDIR/answer")"
}

# post_all FILE...: posts each body, fails unless every answer is 200.
post_all() {
    local f out
    for f in "$@"; do
        out=$(post "$f")
        [ "${out%% *}" = 200 ] || { echo "post $f: $out" >&2; return 1; }
    done
}

# Kills whatever a test left running.
teardown_processes() {
    [ -z "${EDDYD_PID:-}" ] || { kill -9 "$EDDYD_PID" 2>/dev/null; wait "$EDDYD_PID" 2>/dev/null; }
    [ -z "${FAKE_PID:-}" ] || { kill -9 "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
    unset EDDYD_PID FAKE_PID
    return 0
}
