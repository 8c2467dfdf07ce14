# sources.bash - posting as several RudderStack sources (write keys) and
# reading per-source state, for sources.bats. Load after helpers and fake.

# fp KEY: the source fingerprint eddy shows for KEY (SHA-256, 8 hex digits).
fp() {
    printf '%s' "$1" | sha256sum | cut -c1-8
}

# post_many KEY N TAG [MARKER]: posts N small batches (2 events each, ids
# TAG-i-j) with ?writeKey=KEY over one connection; fails unless every answer
# is 200. With MARKER, the first batch carries it in an event id.
post_many() {
    python3 - "$INGEST_URL" "$1" "$2" "$3" "${4:-}" <<'PY'
import http.client, json, sys, urllib.parse
url, key, n, tag, marker = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
u = urllib.parse.urlparse(url)
c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
for i in range(n):
    evs = []
    for j in range(2):
        eid = "%s-%d-%d" % (tag, i, j)
        if marker and i == 0 and j == 0:
            eid = marker + "-" + eid
        evs.append({"id": eid, "event_type": "users.messages.email.Send", "time": 1700000000,
                    "user": {"external_user_id": "u-%d" % i}})
    body = json.dumps({"events": evs}).encode()
    c.request("POST", "/v1/webhook?writeKey=" + urllib.parse.quote(key), body,
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("post %d with %s: %d" % (i, key, r.status))
PY
}

# source_field FP PATH: a field of that source in GET /status (e.g. state,
# pending.batches); empty when the source is not listed.
source_field() {
    curl -sf "$ADMIN_URL/status" | python3 -c '
import json, sys
o = json.load(sys.stdin)
for s in o.get("sources", []):
    if s["source"] == sys.argv[1]:
        for k in sys.argv[2].split("."):
            s = s[k]
        print(s)' "$1" "$2"
}
source_is() { [ "$(source_field "$1" "$2" 2>/dev/null)" = "$3" ]; }

# sink_key_events KEY: events the sink accepted from KEY.
sink_key_events() {
    python3 -c '
import json, sys
n = 0
try:
    for line in open(sys.argv[1]):
        r = json.loads(line)
        if r["write_key"] == sys.argv[2]:
            n += r["events"]
except FileNotFoundError:
    pass
print(n)' "$BATS_TEST_TMPDIR/sink.ndjson" "$1"
}
key_events_at_least() { [ "$(sink_key_events "$1")" -ge "$2" ]; }
