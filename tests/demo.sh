#!/usr/bin/env bash
# demo.sh - `make run`: a fake RudderStack and eddyd on loopback, with the
# commands to try them. Ctrl-C stops both. The config is etc/eddy.conf
# (ingest 127.0.0.1:8080, admin 127.0.0.1:8081, data in ./var/eddy, delivery
# to the fake on 127.0.0.1:8090); EDDY_CONF overrides it.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-$PWD/build}
CONF=${EDDY_CONF:-etc/eddy.conf}
SINK=${SINK:-127.0.0.1:8090}

# conf_get SECTION KEY DEFAULT: a value from the INI file (comments stripped).
conf_get() {
    awk -v s="[$1]" -v k="$2" -v d="$3" '
        /^[ \t]*\[/ { sec = $0; gsub(/[ \t]/, "", sec); next }
        sec == s {
            line = $0; sub(/;.*/, "", line)
            n = index(line, "=")
            if (n) {
                key = substr(line, 1, n - 1); val = substr(line, n + 1)
                gsub(/^[ \t]+|[ \t]+$/, "", key); gsub(/^[ \t]+|[ \t]+$/, "", val)
                if (key == k) { print val; found = 1; exit }
            }
        }
        END { if (!found) print d }' "$CONF"
}

[ -f "$CONF" ] || { echo "demo: $CONF is missing" >&2; exit 1; }
for b in eddyd eddy fake-rudderstack; do
    [ -x "$BUILD/$b" ] || { echo "demo: $BUILD/$b is missing (run make)" >&2; exit 1; }
done
INGEST=$(conf_get ingest listen 127.0.0.1:8080)
ADMIN=$(conf_get admin listen 127.0.0.1:8081)
KEY=$(conf_get ingest write_keys demo-key | cut -d, -f1 | tr -d ' ')
DATA=$(conf_get storage data_dir ./var/eddy)

# port_taken HOST:PORT: something already listens there.
port_taken() {
    (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

# Before anything starts: with a port taken, eddyd or the fake would fail
# (or, worse, the checks below would reach whatever holds the port).
for hp in "$INGEST" "$ADMIN" "$SINK"; do
    if port_taken "$hp"; then
        echo "demo: $hp is already in use (another make run? ss -ltnp shows who)." >&2
        echo "      Stop that, or run on other ports: a copy of $CONF with other listen" >&2
        echo "      addresses and delivery url, then EDDY_CONF=copy SINK=HOST:PORT make run" >&2
        exit 1
    fi
done

# The demo's files hold the events posted to it: private to this user, like
# the data dir eddyd creates. eddyd reads a private copy of the config, so
# the demo's sample write key does not set off the world-readable warning
# meant for real secrets.
umask 077
VAR=$(dirname "$DATA")
mkdir -p "$VAR"
SINK_OUT=$VAR/fake-rudderstack.ndjson
RUN_CONF=$VAR/demo-eddy.conf
cp "$CONF" "$RUN_CONF"

pids=()
# cleanup [STATUS]: stops both, exits with STATUS (0 by default).
cleanup() {
    # A second signal while stopping is ignored, not fatal: timeout(1) and
    # a terminal both send TERM/INT to the whole group, so it comes twice.
    trap '' INT TERM
    trap - EXIT
    echo
    echo "demo: stopping"
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
    exit "${1:-0}"
}
trap cleanup INT TERM EXIT

"$BUILD/fake-rudderstack" --listen "$SINK" --out "$SINK_OUT" &
pids+=($!)
"$BUILD/eddyd" -c "$RUN_CONF" &
pids+=($!)

up=0
for _ in $(seq 1 100); do
    for p in "${pids[@]}"; do
        kill -0 "$p" 2>/dev/null || { echo "demo: eddyd or the fake exited; see above" >&2; cleanup 1; }
    done
    if curl -s -o /dev/null "http://$ADMIN/healthz" && curl -s -o /dev/null "http://$SINK/_stats"; then
        up=1
        break
    fi
    sleep 0.1
done
[ $up = 1 ] || { echo "demo: eddyd or the fake did not come up" >&2; cleanup 1; }

cat <<MSG

eddy demo: eddyd on http://$INGEST (admin http://$ADMIN), fake RudderStack on http://$SINK
(accepted bodies are logged to $SINK_OUT). Ctrl-C stops both.

Post a sample batch of 100 Braze Currents events:
  curl -s -X POST -H 'Content-Type: application/json' \\
    --data-binary @tests/fixtures/corpus/batch-00001.json \\
    'http://$INGEST/v1/webhook?writeKey=$KEY'

Watch it:
  $BUILD/eddy -c $CONF status
  $BUILD/eddy -c $CONF dlq list
  curl -s http://$ADMIN/metrics | grep eddy_delivery
  curl -s http://$SINK/_stats

Make RudderStack misbehave (then post again and watch status):
  curl -s -X POST 'http://$SINK/_control?fail=5'          # five 503s, then OK
  curl -s -X POST 'http://$SINK/_control?reject_keys=1'   # 401: delivery held
  curl -s -X POST 'http://$SINK/_control?reset=1'         # back to normal
MSG

wait -n "${pids[@]}"
rc=$?
# Ctrl-C reaches the children too (they exit 0 or 130): report only failures.
[ $rc -eq 0 ] || [ $rc -gt 128 ] || { echo "demo: a process failed with status $rc" >&2; cleanup 1; }
cleanup
