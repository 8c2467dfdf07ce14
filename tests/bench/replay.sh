#!/usr/bin/env bash
# replay.sh - benchmark: `eddy dlq replay --all` of $DEAD dead letters
# (default 100,000, one event each, filled through the storage API by
# build/bench/dlq_fill), and what it costs eddyd's ingest meanwhile.
#
#  1. replay alone on a fresh copy of the store, eddyd running but idle:
#     records/s.
#  2. eddyd on a second fresh copy, wrk posting a corpus body to its ingest
#     with $CONNS connections (sync = full: every answer waits for an fsync).
#     The ingest rate is read from eddyd's own counter
#     (eddy_ingest_requests_total) over a window WITHOUT a replay (the
#     ceiling, same run) and over the window of a replay started under that
#     load; prints both, their ratio, and the replay's records/s under load.
# Delivery points at a port nobody listens on, so no delivery traffic blurs
# the comparison (an outage: eddyd only backs off). $ROUNDS rounds, each on
# fresh copies of the store; the median of each figure is reported (the
# machine is shared, single windows are noisy).
set -u
cd "$(dirname "$0")/../.." || exit 1
DEAD=${DEAD:-100000}
CONNS=${CONNS:-16}
BASE_SECONDS=${BASE_SECONDS:-3}
ROUNDS=${ROUNDS:-3}
CHUNK=${CHUNK:-} # records per replay transaction; empty = the CLI's default
BENCH=replay
tmp=$(mktemp -d "${TMPDIR:-/tmp}/eddy-replay.XXXXXX")
scratch=$tmp
. tests/bench/lib.bash
need eddyd eddy bench/dlq_fill

t0=$(now)
"$BUILD/bench/dlq_fill" "$tmp/seed" "$DEAD" >/dev/null || exit 1
echo "# replay: $DEAD dead letters filled in $(calc "round($(now) - $t0, 2)") s"

INGEST=$(port) ADMIN=$(port) NOBODY=$(port)
cat >"$tmp/eddy.conf" <<CONF
[ingest]
listen = 127.0.0.1:$INGEST
write_keys = bench-key
[admin]
listen = 127.0.0.1:$ADMIN
[storage]
data_dir = $tmp/data
max_size = 4G
[delivery]
url = http://127.0.0.1:$NOBODY/v1/webhook
backoff_min = 5s
CONF

start_eddyd() {
    rm -rf "$tmp/data" && cp -a "$tmp/seed" "$tmp/data"
    "$BUILD/eddyd" -c "$tmp/eddy.conf" 2>>"$tmp/eddyd.log" &
    EDDYD=$!
    pids+=("$EDDYD")
    for _ in $(seq 200); do
        curl -s -o /dev/null "http://127.0.0.1:$ADMIN/healthz" && return 0
        sleep 0.05
    done
    echo "replay: eddyd did not start"; cat "$tmp/eddyd.log"; exit 1
}
stop_eddyd() { kill -TERM "$EDDYD"; wait "$EDDYD" 2>/dev/null; }
# the 200 answers eddyd has given so far
ingested() {
    curl -s "http://127.0.0.1:$ADMIN/metrics" |
        awk '/^eddy_ingest_requests_total\{code="200"\}/ { n += $2 } END { print n + 0 }'
}
# replay_all: runs the replay, prints its seconds
replay_all() {
    local a b
    a=$(now)
    "$BUILD/eddy" -d "$tmp/data" dlq replay --all ${CHUNK:+--chunk "$CHUNK"} >"$tmp/replay.out" 2>&1 ||
        { cat "$tmp/replay.out"; exit 1; }
    b=$(now)
    grep -q "^replayed $DEAD dead letters" "$tmp/replay.out" || { cat "$tmp/replay.out"; exit 1; }
    calc "$b - $a"
}

body=tests/fixtures/corpus/batch-00001.json
cat >"$tmp/post.lua" <<LUA
local h = io.open("$body", "rb"); local body = h:read("*a"); h:close()
request = function()
  return wrk.format("POST", "/v1/webhook?writeKey=bench-key",
                    {["Content-Type"] = "application/json"}, body)
end
LUA
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
alones=() loads=() bases=() durings=() ratios=()
for round in $(seq "$ROUNDS"); do
    # 1. alone
    start_eddyd
    alone_s=$(replay_all)
    stop_eddyd
    alones+=("$(calc "int($DEAD / $alone_s)")")

    # 2. under ingest load: a window without a replay, then the replay's
    start_eddyd
    wrk_s=$(calc "int($BASE_SECONDS + 1 + $alone_s * 10 + 5)")
    wrk -t2 -c"$CONNS" -d"${wrk_s}s" -s "$tmp/post.lua" "http://127.0.0.1:$INGEST" >"$tmp/wrk.txt" 2>&1 &
    wrk_pid=$!
    pids+=("$wrk_pid")
    sleep 1 # let wrk connect and settle
    c0=$(ingested) t_a=$(now)
    sleep "$BASE_SECONDS"
    c1=$(ingested) t_b=$(now)
    c2=$(ingested) t_c=$(now)
    load_s=$(replay_all)
    c3=$(ingested) t_d=$(now)
    kill "$wrk_pid" 2>/dev/null
    wait "$wrk_pid" 2>/dev/null
    stop_eddyd
    [ "$c1" -gt "$c0" ] || { echo "replay: no ingest measured"; cat "$tmp/wrk.txt"; exit 1; }
    base_rps=$(calc "($c1 - $c0) / ($t_b - $t_a)")
    during_rps=$(calc "($c3 - $c2) / ($t_d - $t_c)")
    loads+=("$(calc "int($DEAD / $load_s)")")
    bases+=("$base_rps")
    durings+=("$during_rps")
    ratios+=("$(calc "round($during_rps / $base_rps, 2)")")
    printf '# replay: round %d: alone %.2f s, under load %.2f s; ingest %.0f req/s without, %.0f req/s during (%.2f s window)\n' \
        "$round" "$alone_s" "$load_s" "$base_rps" "$during_rps" "$(calc "$t_d - $t_c")"
done
alone_rps=$(median "${alones[@]}")
load_rps=$(median "${loads[@]}")
base_rps=$(median "${bases[@]}")
during_rps=$(median "${durings[@]}")
ratio=$(median "${ratios[@]}")
printf '# replay: medians of %d rounds: %d records/s alone, %d records/s under ingest load (%d connections)\n' \
    "$ROUNDS" "$alone_rps" "$load_rps" "$CONNS"
printf '# replay: eddyd ingest %.0f req/s without a replay, %.0f req/s during one (ratio %s)\n' \
    "$base_rps" "$during_rps" "$ratio"
echo "replay records_per_s=$alone_rps records_per_s_under_load=$load_rps ingest_rps=$(calc "int($base_rps)") ingest_rps_during_replay=$(calc "int($during_rps)") ratio=$ratio rounds=$ROUNDS"
