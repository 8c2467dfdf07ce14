#!/usr/bin/env bash
# drain.sh - benchmark: how fast eddyd drains a backlog into RudderStack.
#
# A backlog of $BATCHES batches of 100 events (the corpus bodies, ~94 KB each)
# is written straight into a data dir (build/bench/fill_queue), then eddyd
# starts with delivery concurrency $CONCURRENCY and drains it into
# build/fake-rudderstack (--no-parse: the sink only counts, so the forwarder
# is what is measured). The ceiling is wrk posting the same bodies to the same
# sink with as many connections, in the same run. Prints events/s of both and
# their ratio (target >= 0.6).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
BATCHES=${BATCHES:-10000}
CONCURRENCY=${CONCURRENCY:-8}
WRK_SECONDS=${WRK_SECONDS:-5}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-drain.XXXXXX")
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
for b in eddyd fake-rudderstack bench/fill_queue; do
    [ -x "$BUILD/$b" ] || { echo "drain: $BUILD/$b missing"; exit 1; }
done
command -v wrk >/dev/null || { echo "drain: wrk missing (make deps)"; exit 1; }

SINK=$(port) INGEST=$(port) ADMIN=$(port)
"$BUILD/fake-rudderstack" --listen 127.0.0.1:$SINK --no-parse 2>"$tmp/fake.log" &
pids+=($!)

bodies=(tests/fixtures/corpus/batch-000*.json)
t0=$(now)
"$BUILD/bench/fill_queue" "$tmp/data" "$BATCHES" bench-key "${bodies[@]}" || exit 1
t1=$(now)
echo "# drain: backlog of $BATCHES batches built in $(calc "$t1 - $t0") s"

# The ceiling: wrk posting the corpus bodies (round robin) to the same sink.
cat >"$tmp/post.lua" <<LUA
local bodies = {}
for _, f in ipairs({$(printf '"%s",' "${bodies[@]}")}) do
  local h = io.open(f, "rb"); bodies[#bodies + 1] = h:read("*a"); h:close()
end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/webhook?writeKey=bench-key",
                    {["Content-Type"] = "application/json"}, bodies[i])
end
LUA
wrk -t2 -c"$CONCURRENCY" -d"${WRK_SECONDS}s" -s "$tmp/post.lua" "http://127.0.0.1:$SINK" >"$tmp/wrk.txt" 2>&1
wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
[ -n "$wrk_rps" ] || { cat "$tmp/wrk.txt"; exit 1; }
wrk_eps=$(calc "$wrk_rps * 100")
curl -s -X POST "http://127.0.0.1:$SINK/_control?reset=1" >/dev/null

cat >"$tmp/eddy.conf" <<CONF
[ingest]
listen = 127.0.0.1:$INGEST
write_keys = bench-key
[admin]
listen = 127.0.0.1:$ADMIN
[storage]
data_dir = $tmp/data
max_size = 8G
[delivery]
url = http://127.0.0.1:$SINK/v1/webhook
concurrency = $CONCURRENCY
CONF
t0=$(now)
"$BUILD/eddyd" -c "$tmp/eddy.conf" 2>"$tmp/eddyd.log" &
pids+=($!)
want=$((BATCHES * 100))
while :; do
    got=$(curl -s "http://127.0.0.1:$SINK/_stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["accepted_requests"])' 2>/dev/null || echo 0)
    [ "${got:-0}" -ge "$BATCHES" ] && break
    kill -0 "${pids[1]}" 2>/dev/null || { echo "drain: eddyd exited"; cat "$tmp/eddyd.log"; exit 1; }
    sleep 0.05
done
t1=$(now)
# until the deletes are committed too
while [ "$(curl -s "http://127.0.0.1:$ADMIN/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"]["batches"])' 2>/dev/null)" != 0 ]; do
    sleep 0.05
done
t2=$(now)
# The rate is measured at the sink, from the first request to the last (eddyd's
# startup and the polling here are left out, as wrk's own startup is).
read -r first last < <(curl -s "http://127.0.0.1:$SINK/_stats" |
    python3 -c 'import json,sys; o=json.load(sys.stdin); print(o["first_ms"], o["last_ms"])')
drain_s=$(calc "max($last - $first, 1) / 1000")
drain_eps=$(calc "int($want / $drain_s)")
ratio=$(calc "round($drain_eps / $wrk_eps, 2)")
printf '# drain: wrk ceiling %.0f events/s (%s req/s, %d connections, %s s)\n' "$wrk_eps" "$wrk_rps" "$CONCURRENCY" "$WRK_SECONDS"
printf '# drain: eddyd sent %d events in %.2f s (first to last request): %d events/s\n' \
    "$want" "$drain_s" "$drain_eps"
printf '# drain: from eddyd start: all sent after %.2f s, pending empty after %.2f s\n' \
    "$(calc "$t1 - $t0")" "$(calc "$t2 - $t0")"
echo "drain events_per_s=$drain_eps ceiling_events_per_s=$wrk_eps ratio=$ratio target=0.6 concurrency=$CONCURRENCY"
