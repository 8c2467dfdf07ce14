# fake.bash - starting and steering build/fake-rudderstack from bats, and
# reading what it received. Load after helpers (needs free_port, wait_http);
# the reliability suites get it through rel_helpers.bash.
#
# The fake writes into $BATS_TEST_TMPDIR:
#   sink.ndjson      one line per accepted request: {"t","n","write_key","bytes",
#                    "crc32","events","ids":[...]}
#   sink-log.ndjson  one line per request: {"t":ms,"status":S,"bytes":N}
#   bodies/N.json    accepted body N, byte for byte

# start_fake [FLAGS...]: starts the fake on $SINK_PORT (write_config sets it).
# Accepted bodies are kept in bodies/ unless FAKE_KEEP_BODIES=0 (the
# reliability suites: their loads would fill the disk with copies).
start_fake() {
    : "${SINK_PORT:=$(free_port)}"
    export SINK_PORT SINK_URL=http://127.0.0.1:$SINK_PORT
    local bodies=(--bodies "$BATS_TEST_TMPDIR/bodies")
    [ "${FAKE_KEEP_BODIES:-1}" = 1 ] || bodies=()
    "$FAKE" --listen "127.0.0.1:$SINK_PORT" --out "$BATS_TEST_TMPDIR/sink.ndjson" \
        --log "$BATS_TEST_TMPDIR/sink-log.ndjson" "${bodies[@]}" \
        "$@" >>"$BATS_TEST_TMPDIR/fake.log" 2>&1 &
    FAKE_PID=$!
    export FAKE_PID
    wait_http "$SINK_URL/_stats" 10
}

stop_fake() {
    [ -n "${FAKE_PID:-}" ] || return 0
    kill -9 "$FAKE_PID" 2>/dev/null
    wait "$FAKE_PID" 2>/dev/null || true
    unset FAKE_PID
    return 0
}

# fake_ctl 'key=value&key=value': steers the running fake (see fake_rudderstack.c).
fake_ctl() {
    curl -sf -X POST "$SINK_URL/_control?$1" >/dev/null
}

# fake_stat KEY: one number from GET /_stats (e.g. accepted_events, by_status.503).
fake_stat() {
    curl -sf "$SINK_URL/_stats" | python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    o = o.get(k, 0) if isinstance(o, dict) else 0
print(o)' "$1"
}

# status_field PATH: a field of eddyd's GET /status (e.g. delivery.state, dead.batches).
status_field() {
    curl -sf --max-time 5 "$ADMIN_URL/status" | python3 -c '
import json, sys
o = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    o = o[k]
print(o)' "$1"
}

# metric NAME: the value of one eddyd metric line (exact name with labels).
metric() {
    curl -sf "$ADMIN_URL/metrics" | awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'
}

# wait_until SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds.
wait_until() {
    local t=$1 i=0
    shift
    while [ $i -lt $((t * 10)) ]; do
        "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "timed out after ${t}s waiting for: $*" >&2
    return 1
}

# Predicates for wait_until.
fake_events_at_least() { [ "$(fake_stat accepted_events)" -ge "$1" ]; }
status_is() { [ "$(status_field "$1" 2>/dev/null)" = "$2" ]; }

# sink_ids: every delivered event id, one per line (duplicates kept).
sink_ids() {
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    for i in json.loads(line)["ids"]:
        print(i)' "$BATS_TEST_TMPDIR/sink.ndjson"
}

# fixture_ids FILE...: the event ids of Currents bodies, one per line.
fixture_ids() {
    python3 -c '
import json, sys
for f in sys.argv[1:]:
    for e in json.load(open(f))["events"]:
        print(e.get("id"))' "$@"
}

# event_spans FILE...: the raw bytes of each event of compact Currents bodies,
# one per line, exactly as they appear in the file.
event_spans() {
    python3 -c '
import json, sys
dec = json.JSONDecoder()
for f in sys.argv[1:]:
    s = open(f, "rb").read().decode("utf-8", "surrogateescape")
    i = s.index("[", s.index("\"events\"")) + 1
    while True:
        while s[i] in " \t\r\n,":
            i += 1
        if s[i] == "]":
            break
        _, j = dec.raw_decode(s, i)
        sys.stdout.write(s[i:j].encode("utf-8", "surrogateescape").decode("utf-8", "replace") + "\n")
        i = j' "$@"
}
