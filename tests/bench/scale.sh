#!/usr/bin/env bash
# tests/bench/scale.sh - does the store stay fast as it grows and drains?
#
#   1. fill: eddyd A takes $FILL_GB of raw bodies (the corpus, wrk -c32) with
#      the sink down, so everything stays pending;
#   2. ingest at that backlog against an empty store: $ROUNDS interleaved
#      wrk runs, each against A and then against eddyd B on a fresh, empty
#      data dir (a sequential before/after on this shared machine swings by
#      +-40%); the median of the per-round ratios A / B (target >= 0.9);
#   3. the sink comes up: A drains the backlog while paced ingest goes on;
#   4. $STEADY_MIN minutes of steady paced ingest + drain, one line per
#      $INTERVAL s: data file size, pending, LMDB's free pages, commit p99
#      of the interval, eddyd's RssAnon and RssFile (/proc/PID/status), and
#      how busy the machine was and how much the host stole. Targets: data file
#      growth <= 5%, commit p99 of the last minute <= 1.5 x the first,
#      RssAnon <= 64 MB throughout. Beside A runs a control: eddyd B on a
#      fresh store, under the same paced load and drain (the load is split
#      evenly, so the machine carries what A alone carried before), warmed
#      up for a minute first. The host's drift over the ten minutes reaches
#      both; A's ratio of last to first minute divided by B's is what is left
#      of A's own, and A's last minute divided by B's compares the drained
#      20 GB store with a fresh one at the same moment;
#   5. eddyd stopped, eddy compact, the file size after it.
# Data lives under var/ (a real disk); everything is deleted on exit.
# Small smoke run: FILL_GB=0.2 STEADY_MIN=0.5 ROUNDS=1 bash tests/bench/scale.sh
set -u
cd "$(dirname "$0")/../.."
FILL_GB=${FILL_GB:-20}
ROUNDS=${ROUNDS:-3}
RUN_S=${RUN_S:-5}
STEADY_MIN=${STEADY_MIN:-10}
INTERVAL=${INTERVAL:-10}
PACED_RATE=${PACED_RATE:-400} # requests/s of the paced ingest (about)
BENCH=scale
mkdir -p var
tmp=$(mktemp -d "$PWD/var/bench-scale.XXXXXX")
scratch=$tmp
. tests/bench/lib.bash
need eddyd eddy fake-rudderstack
bodies=(tests/fixtures/corpus/batch-*.json)
SINK=$(port)

# wrk scripts: full speed, and paced (each connection waits between posts).
for mode in full paced; do
    cat >"$tmp/$mode.lua" <<LUA
local bodies = {}
for _, f in ipairs({$(printf '"%s",' "${bodies[@]}")}) do
  local h = io.open(f, "rb"); bodies[#bodies + 1] = h:read("*a"); h:close()
end
local i = math.random(#bodies)
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/webhook?writeKey=bench",
                    {["Content-Type"] = "application/json"}, bodies[i])
end
LUA
done
# Each of the 8 paced connections waits 8/PACED_RATE s between posts.
echo "delay = function() return $((8 * 1000 / PACED_RATE)) end" >>"$tmp/paced.lua"

# start_eddyd NAME DIR: eddyd with its data in DIR; sets ${NAME}_PID,
# ${NAME}_IN, ${NAME}_ADMIN.
start_eddyd() {
    local in admin
    in=$(port) admin=$(port)
    bench_conf "$tmp/$1.conf" "$in" "$admin" "$2" max_size=64G \
        delivery.url="http://127.0.0.1:$SINK/v1/webhook" delivery.concurrency=8 \
        delivery.backoff_max=1s
    "$BUILD/eddyd" -c "$tmp/$1.conf" 2>>"$tmp/$1.log" &
    pids+=($!)
    printf -v "${1}_PID" %s "$!"
    printf -v "${1}_IN" %s "http://127.0.0.1:$in/v1/webhook?writeKey=bench"
    printf -v "${1}_ADMIN" %s "http://127.0.0.1:$admin"
    wait_port "http://127.0.0.1:$admin/healthz"
}
stop_pid() { kill "$1" && wait "$1" 2>/dev/null; }
status() { curl -s "$1/status"; }
field() { python3 -c "import json,sys; o=json.load(sys.stdin); print(o$1)"; }
rate() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
rss() { awk '/^RssAnon|^RssFile/ {printf "%s %d MB ", $1, $2 / 1024}' "/proc/$1/status"; }
file_mb() { echo $(($(stat -c %s "$1/data.mdb") / 1048576)); }

start_eddyd A "$tmp/a" || exit 1
echo "== scale: fill A with ${FILL_GB} GB of raw bodies (sink down)"
t0=$(now)
want=$(calc "int($FILL_GB * 1e9)")
while :; do
    have=$(status "$A_ADMIN" | field '["pending"]["bytes"]')
    [ "$have" -ge "$want" ] && break
    wrk -t2 -c32 -d10s -s "$tmp/full.lua" "$A_IN" >"$tmp/fill.wrk" 2>&1
    printf 'fill: %d MB raw pending, file %d MB, %s req/s, %s\n' $((have / 1000000)) \
        "$(file_mb "$tmp/a")" "$(rate "$tmp/fill.wrk")" "$(rss "$A_PID")"
done
st=$(status "$A_ADMIN")
printf 'filled in %.0f s: %s batches, %d MB raw, data file %d MB (%s used)\n' \
    "$(calc "$(now) - $t0")" "$(echo "$st" | field '["pending"]["batches"]')" \
    $(($(echo "$st" | field '["pending"]["bytes"]') / 1000000)) "$(file_mb "$tmp/a")" \
    "$(echo "$st" | field '["storage"]["used_bytes"]')"

echo "== ingest at the backlog vs an empty store: $ROUNDS interleaved rounds of ${RUN_S}s, wrk -c32"
: >"$tmp/rounds"
for r in $(seq 1 "$ROUNDS"); do
    rm -rf "$tmp/b"
    start_eddyd B "$tmp/b" || exit 1
    wrk -t2 -c32 -d"${RUN_S}s" --latency -s "$tmp/full.lua" "$B_IN" >"$tmp/b.$r" 2>&1
    stop_pid "$B_PID"
    wrk -t2 -c32 -d"${RUN_S}s" --latency -s "$tmp/full.lua" "$A_IN" >"$tmp/a.$r" 2>&1
    echo "$(rate "$tmp/a.$r") $(rate "$tmp/b.$r")" >>"$tmp/rounds"
    printf 'round %d: backlog %s req/s, empty %s req/s\n' "$r" "$(rate "$tmp/a.$r")" "$(rate "$tmp/b.$r")"
done
rm -rf "$tmp/b"
python3 - "$tmp/rounds" <<'PY'
import statistics, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
print("ingest at the backlog / empty store: %.2f (median of %d rounds; target >= 0.9)" % (
    statistics.median(r[0] / r[1] for r in rows), len(rows)))
PY

echo "== sink up: drain while paced ingest (~$PACED_RATE req/s) goes on"
"$BUILD/fake-rudderstack" --listen 127.0.0.1:$SINK --no-parse 2>"$tmp/fake.log" &
pids+=($!)
wrk -t1 -c8 -d3600s -s "$tmp/paced.lua" "$A_IN" >"$tmp/paced.wrk" 2>&1 &
pids+=($!)
WRK_PID=$!
t0=$(now)
start_batches=$(status "$A_ADMIN" | field '["pending"]["batches"]')
while :; do
    sleep 2
    p=$(status "$A_ADMIN" | field '["pending"]["batches"]')
    [ "$p" -lt 200 ] && break
    [ "$(calc "int($(now) - $t0)")" -gt 3600 ] && { echo "scale: drain did not finish"; exit 1; }
done
dt=$(calc "$(now) - $t0")
printf 'drained %s batches in %.0f s (%.0f batches/s net of ingest), file %d MB, %s\n' \
    "$start_batches" "$dt" "$(calc "$start_batches / $dt")" "$(file_mb "$tmp/a")" "$(rss "$A_PID")"

# p99 OLD NEW: the commit time under which 99% of the commits between two
# /metrics snapshots fell, interpolated linearly inside its histogram bucket
# (as Prometheus's histogram_quantile does). The bucket bounds alone step by
# 2-2.5x, so comparing upper bounds cannot tell a steady store from one
# twice as slow.
cat >"$tmp/p99.py" <<'PY'
import sys
def buckets(path):
    b = {}
    for l in open(path):
        if l.startswith("eddy_commit_seconds_bucket"):
            le = l.split('le="')[1].split('"')[0]
            b[float("inf") if le == "+Inf" else float(le)] = float(l.split()[-1])
    return b
def p99(old, new):
    a, b = buckets(old), buckets(new)
    d = sorted((le, b[le] - a.get(le, 0)) for le in b)
    n = d[-1][1] if d else 0
    lo, below = 0.0, 0.0
    for le, c in d:
        if c >= 0.99 * n and n:
            if le == float("inf"):
                return lo
            return lo + (le - lo) * (0.99 * n - below) / (c - below) if c > below else le
        lo, below = le, c
    return 0.0
if __name__ == "__main__":
    print("%.4f" % p99(sys.argv[1], sys.argv[2]))
PY
echo "== steady: $STEADY_MIN min of paced ingest + drain, A beside a control B on a fresh store"
# The paced load split evenly between A and B: 4 connections each.
kill "$WRK_PID" 2>/dev/null
wait "$WRK_PID" 2>/dev/null
start_eddyd B "$tmp/b" || exit 1
for e in A B; do
    target=${e}_IN
    wrk -t1 -c4 -d3600s -s "$tmp/paced.lua" "${!target}" >"$tmp/paced.$e.wrk" 2>&1 &
    pids+=($!)
    printf -v "WRK_$e" %s "$!"
done
sleep 60 # warm-up: B's file grows to its working size
curl -s "$A_ADMIN/metrics" >"$tmp/m.0"
curl -s "$B_ADMIN/metrics" >"$tmp/mb.0"
: >"$tmp/steady"
cpu0=$(cpu_snap)
steps=$(calc "max(1, int($STEADY_MIN * 60 / $INTERVAL))")
for i in $(seq 1 "$steps"); do
    sleep "$INTERVAL"
    curl -s "$A_ADMIN/metrics" >"$tmp/m.$i"
    curl -s "$B_ADMIN/metrics" >"$tmp/mb.$i"
    fb=$(stat -c %s "$tmp/a/data.mdb")
    anon=$(awk '/^RssAnon/ {print $2}' "/proc/$A_PID/status")
    filek=$(awk '/^RssFile/ {print $2}' "/proc/$A_PID/status")
    p99=$(python3 "$tmp/p99.py" "$tmp/m.$((i - 1))" "$tmp/m.$i")
    p99b=$(python3 "$tmp/p99.py" "$tmp/mb.$((i - 1))" "$tmp/mb.$i")
    pend=$(status "$A_ADMIN" | field '["pending"]["batches"]')
    free=$(awk '/^eddy_storage_free_pages / {print $2}' "$tmp/m.$i")
    # The machine over the interval: CPU busy and stolen by the host (what a
    # commit time that jumps with no change in the store comes from).
    cpu1=$(cpu_snap)
    machine=$(cpu_delta "$cpu0" "$cpu1" | awk '{printf "busy %.0f%% steal %.0f%%", 100 * $1 / $2, 100 * $3 / $2}')
    cpu0=$cpu1
    echo "$i $fb $p99 $anon $filek $pend" >>"$tmp/steady"
    printf 't=%4ds file %d MB pending %s free pages %s commit p99 %ss (B %ss) RssAnon %d MB RssFile %d MB, %s\n' \
        $((i * INTERVAL)) $((fb / 1048576)) "$pend" "$free" "$p99" "$p99b" $((anon / 1024)) \
        $((filek / 1024)) "$machine"
done
kill "$WRK_A" "$WRK_B" 2>/dev/null
wait "$WRK_A" "$WRK_B" 2>/dev/null
python3 - "$tmp/steady" "$INTERVAL" <<'PY'
import os, sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
per_min = max(1, int(60 / float(sys.argv[2])))
d = os.path.dirname(sys.argv[1])
sys.path.insert(0, d)
from p99 import p99
steps = len(rows)
def minutes(prefix):
    m = lambda i: os.path.join(d, "%s.%d" % (prefix, i))
    return p99(m(0), m(min(per_min, steps))), p99(m(max(0, steps - per_min)), m(steps))
first, last = minutes("m")
bfirst, blast = minutes("mb")
growth = rows[-1][1] / rows[0][1] - 1
ra, rb = last / first if first else 0, blast / bfirst if bfirst else 0
print("steady: data file %.0f -> %.0f MB (%+.1f%%, target <= 5%%); commit p99 first minute %.4fs, "
      "last minute %.4fs (ratio %.2f, target <= 1.5); RssAnon max %.0f MB (target <= 64), "
      "RssFile max %.0f MB" % (rows[0][1] / 2**20, rows[-1][1] / 2**20, 100 * growth, first, last,
                               ra, max(r[3] for r in rows) / 1024,
                               max(r[4] for r in rows) / 1024))
print("steady, control B on a fresh store: commit p99 first minute %.4fs, last minute %.4fs "
      "(ratio %.2f); A's ratio / B's %.2f; A's last minute / B's %.2f" % (
          bfirst, blast, rb, ra / rb if rb else 0, last / blast if blast else 0))
PY
python3 - "$tmp/m.0" "$tmp/m.$steps" "$(calc "$steps * $INTERVAL")" <<'PY'
import sys
def val(path, name):
    return sum(float(l.split()[-1]) for l in open(path) if l.startswith(name))
a, b, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
ok = val(b, 'eddy_ingest_requests_total{code="200"}') - val(a, 'eddy_ingest_requests_total{code="200"}')
other = val(b, "eddy_ingest_requests_total") - val(a, "eddy_ingest_requests_total") - ok
ev = val(b, "eddy_delivered_events_total") - val(a, "eddy_delivered_events_total")
print("steady: ingest %.0f req/s answered 200 (%d other answers), delivered %.0f events/s" % (
    ok / secs, other, ev / secs))
PY
echo "== compact"
before=$(file_mb "$tmp/a")
stop_pid "$A_PID"
t0=$(now)
"$BUILD/eddy" -d "$tmp/a" compact || exit 1
printf 'compact took %.0f s: data file %d MB -> %d MB\n' "$(calc "$(now) - $t0")" "$before" "$(file_mb "$tmp/a")"
