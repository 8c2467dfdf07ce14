#!/usr/bin/env bash
# drain.sh - benchmark: how fast eddyd drains a backlog into RudderStack.
#
# Each round: a backlog of $BATCHES batches of 100 events (the corpus bodies,
# ~94 KB each) is written straight into a fresh data dir
# (build/bench/fill_queue), then eddyd starts with delivery concurrency
# $CONCURRENCY and drains it into build/fake-rudderstack (--no-parse: the sink
# only counts, so the forwarder is what is measured). The drain rate is taken
# at the sink, from the first request to the last (eddyd's startup is left
# out, as wrk's is). The ceiling, in the same round and against the same sink:
# wrk posting the same bodies over as many connections. For reference, the
# bare libcurl rate (build/bench/curl_post: the same requests with no store
# behind them) is printed too. The result is the median of the per-round
# ratios (target >= 0.8).
#
# ENCODING=gzip (the default) stores the backlog as eddyd does with
# [storage] compress = gzip (fill_queue --gzip: the same compressor, version
# 3 records) and delivers it with content_encoding = gzip; wrk and curl_post
# post exactly the stored gzip members with Content-Encoding: gzip, and the
# sink inflates every one as RudderStack's gateway does, so both sides pay
# the same inflate. ENCODING=identity is the raw backlog posted raw (the
# figure before compression; its target was 0.6).
#
# Then, in the same round, the same backlog spread over 8 sources (write
# keys, batch i with key i mod 8) of which one is held: the sink answers 401
# to its key, as for a revoked key. The other 7 sources' drain rate, from the
# first request to the last of theirs, is compared with the one-source rate
# just measured: the held source must not cost them more than 10%
# (held_ratio_median >= 0.9). SOURCES=0 leaves this run out.
set -u
cd "$(dirname "$0")/../.."
BATCHES=${BATCHES:-10000}
CONCURRENCY=${CONCURRENCY:-8}
ROUNDS=${ROUNDS:-5}
WRK_SECONDS=${WRK_SECONDS:-3}
SOURCES=${SOURCES:-8}
ENCODING=${ENCODING:-gzip}
BENCH=drain
tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-drain.XXXXXX")
scratch=$tmp
. tests/bench/lib.bash
need eddyd fake-rudderstack bench/fill_queue bench/curl_post
# sink_stat FIELD: one counter of the sink's /_stats (no python: this runs in
# a loop while eddyd drains, and must not take CPU from it)
sink_stat() {
    local st
    st=$(curl -s "http://127.0.0.1:$SINK/_stats") || return 1
    [[ $st =~ \"$1\":\ *([0-9]+) ]] && echo "${BASH_REMATCH[1]}"
}

SINK=$(port) INGEST=$(port) ADMIN=$(port)
"$BUILD/fake-rudderstack" --listen 127.0.0.1:$SINK --no-parse 2>"$tmp/fake.log" &
pids+=($!)
URL="http://127.0.0.1:$SINK/v1/webhook?writeKey=bench-key"
bodies=(tests/fixtures/corpus/batch-000*.json)
# what the peers post: the raw bodies, or the gzip members eddyd stores
fill_opts=()
posted=("${bodies[@]}")
headers='["Content-Type"] = "application/json"'
case $ENCODING in
gzip)
    mkdir -p "$tmp/gz"
    fill_opts=(--gzip "$tmp/gz")
    "$BUILD/bench/fill_queue" "${fill_opts[@]}" "$tmp/data" 1 bench-key "${bodies[@]}" || exit 1
    posted=()
    for f in "${bodies[@]}"; do posted+=("$tmp/gz/$(basename "$f").gz"); done
    headers="$headers, [\"Content-Encoding\"] = \"gzip\"" ;;
identity) ;;
*) echo "drain: ENCODING must be gzip or identity" >&2; exit 2 ;;
esac

cat >"$tmp/post.lua" <<LUA
local bodies = {}
for _, f in ipairs({$(printf '"%s",' "${posted[@]}")}) do
  local h = io.open(f, "rb"); bodies[#bodies + 1] = h:read("*a"); h:close()
end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/webhook?writeKey=bench-key", {$headers}, bodies[i])
end
LUA
cat >"$tmp/eddy.conf" <<CONF
[ingest]
listen = 127.0.0.1:$INGEST
write_keys = bench-key, $(seq -s ', ' -f 'bench-k%g' 0 $((SOURCES > 0 ? SOURCES - 1 : 0)))
[admin]
listen = 127.0.0.1:$ADMIN
[storage]
data_dir = $tmp/data
max_size = 8G
[delivery]
url = http://127.0.0.1:$SINK/v1/webhook
concurrency = $CONCURRENCY
content_encoding = $ENCODING
CONF

# drain_run KEYS WANT: fills the backlog with KEYS (comma-separated), starts
# eddyd, waits until the sink accepted WANT requests; sets drain_eps (events
# per second at the sink, first request to last) and all_s (start to last).
drain_run() {
    rm -rf "$tmp/data"
    "$BUILD/bench/fill_queue" "${fill_opts[@]}" "$tmp/data" "$BATCHES" "$1" "${bodies[@]}" || exit 1
    t0=$(now)
    "$BUILD/eddyd" -c "$tmp/eddy.conf" 2>"$tmp/eddyd.log" &
    epid=$!
    while [ "$(sink_stat accepted_requests || echo 0)" -lt "$2" ]; do
        kill -0 $epid 2>/dev/null || { echo "drain: eddyd exited"; cat "$tmp/eddyd.log"; exit 1; }
        sleep 0.2
    done
    all_s=$(calc "$(now) - $t0")
    span_ms=$(calc "max($(sink_stat last_ms) - $(sink_stat first_ms), 1)")
    kill -TERM $epid
    wait $epid
    drain_eps=$(calc "int($2 * 100 * 1000 / $span_ms)")
}

ratios=()
held_ratios=()
for round in $(seq 1 "$ROUNDS"); do

    # ceiling: wrk, same bodies, same sink, same number of connections
    wrk -t2 -c"$CONCURRENCY" -d"${WRK_SECONDS}s" -s "$tmp/post.lua" "http://127.0.0.1:$SINK" >"$tmp/wrk.txt" 2>&1
    wrk_rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.txt")
    [ -n "$wrk_rps" ] || { cat "$tmp/wrk.txt"; exit 1; }
    wrk_eps=$(calc "int($wrk_rps * 100)")

    # reference: bare libcurl, same requests, no store
    read -r n secs < <("$BUILD/bench/curl_post" "$URL" "$BATCHES" "$CONCURRENCY" "${posted[@]}")
    curl_eps=$(calc "int($n * 100 / $secs)")

    curl -s -X POST "http://127.0.0.1:$SINK/_control?reset=1" >/dev/null
    drain_run bench-key "$BATCHES"
    ratio=$(calc "round($drain_eps / $wrk_eps, 3)")
    ratios+=("$ratio")
    printf '# drain round %d (%s): eddyd %d events/s (all sent %.2f s after start); wrk %d events/s; bare libcurl %d events/s; ratio to wrk %.2f, to libcurl %.2f; load %s\n' \
        "$round" "$ENCODING" "$drain_eps" "$all_s" "$wrk_eps" "$curl_eps" "$ratio" "$(calc "$drain_eps / $curl_eps")" "$(cut -d' ' -f1-3 /proc/loadavg)"
    curl -s -X POST "http://127.0.0.1:$SINK/_control?reset=1" >/dev/null
    if [ "$SOURCES" -gt 1 ]; then
        one_eps=$drain_eps
        held=bench-k$((SOURCES - 1))
        curl -s -X POST "http://127.0.0.1:$SINK/_control?key_status=$held=401" >/dev/null
        good=$(calc "sum(1 for i in range($BATCHES) if i % $SOURCES != $SOURCES - 1)")
        drain_run "$(seq -s , -f 'bench-k%g' 0 $((SOURCES - 1)))" "$good"
        held_ratio=$(calc "round($drain_eps / $one_eps, 3)")
        held_ratios+=("$held_ratio")
        printf '# drain round %d, %d sources, %s held (401): the other %d drain %d events/s (all sent %.2f s after start), %.2f of one source alone\n' \
            "$round" "$SOURCES" "$held" "$((SOURCES - 1))" "$drain_eps" "$all_s" "$held_ratio"
        curl -s -X POST "http://127.0.0.1:$SINK/_control?reset=1" >/dev/null
    fi
done
list=$(IFS=,; echo "${ratios[*]}")
median=$(calc "sorted([$list])[len([$list]) // 2]")
held=""
if [ "${#held_ratios[@]}" -gt 0 ]; then
    hlist=$(IFS=,; echo "${held_ratios[*]}")
    held=" sources=$SOURCES held=1 held_ratio_median=$(calc "sorted([$hlist])[len([$hlist]) // 2]") held_target=0.9"
fi
target=0.8
[ "$ENCODING" = gzip ] || target=0.6
echo "drain encoding=$ENCODING batches=$BATCHES events=$((BATCHES * 100)) concurrency=$CONCURRENCY rounds=$ROUNDS ratio_median=$median target=$target$held load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)"
