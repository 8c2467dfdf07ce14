#!/usr/bin/env bash
# tests/bench/ingest.sh - ingest throughput of eddyd (sync = full) against two
# ceilings measured in the same run:
#   http     build/bench/ack_server: libevent reads the body, answers 200
#   storage  build/bench/lmdb_group: raw LMDB group commit of the same body,
#            with eddyd's measured mean group size and with 32 per commit
# The load is wrk, $CONNS connections, posting one 100-event Currents body
# (~94 KB, tests/fixtures/corpus/batch-00001.json) for $SECONDS_PER_RUN s.
# Prints rates, the ratios, p50/p99 latency and eddyd's mean requests per
# group commit (eddy_commit_batches _sum/_count). Targets on the 2-core dev
# box: >= 0.6 of the http ceiling and >= 0.7 of the storage ceiling.
# The data dir lives under the repo's var/ (a real disk, never tmpfs).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
CONNS=${CONNS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
BODY=${BODY:-$PWD/tests/fixtures/corpus/batch-00001.json}
dir=${BENCH_DIR:-$PWD/var/bench-ingest}
for b in eddyd bench/ack_server bench/lmdb_group; do
    [ -x "$BUILD/$b" ] || { echo "ingest bench: $BUILD/$b missing (run make)"; exit 1; }
done
command -v wrk >/dev/null || { echo "ingest bench: wrk missing (make deps)"; exit 1; }

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT
rm -rf "$dir" && mkdir -p "$dir"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 200); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.05
    done
    echo "ingest bench: $1 did not come up"; return 1
}

cat >"$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$BODY", "rb"))
wrk.body = f:read("*a")
f:close()
LUA

# run_wrk URL OUT: wrk with latency percentiles into OUT.
run_wrk() {
    wrk -t2 -c"$CONNS" -d"${SECONDS_PER_RUN}s" --latency -s "$dir/post.lua" "$1" >"$2" 2>&1
}
rate() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
non2xx() { awk '/Non-2xx/ {print $NF}' "$1"; }

# 1. The HTTP ceiling.
ap=$(port)
"$BUILD/bench/ack_server" 127.0.0.1 "$ap" &
pids+=($!)
wait_port "http://127.0.0.1:$ap/" || exit 1
run_wrk "http://127.0.0.1:$ap/v1/webhook" "$dir/ack.txt"
kill "${pids[-1]}"

# 2. eddyd, sync = full.
ip=$(port) adp=$(port) sp=$(port)
cat >"$dir/eddy.conf" <<CONF
[ingest]
listen = 127.0.0.1:$ip
write_keys = bench
[admin]
listen = 127.0.0.1:$adp
[storage]
data_dir = $dir/data
max_size = 32G
sync = full
[delivery]
url = http://127.0.0.1:$sp/v1/webhook
CONF
"$BUILD/eddyd" -c "$dir/eddy.conf" 2>"$dir/eddyd.log" &
pids+=($!)
wait_port "http://127.0.0.1:$adp/healthz" || exit 1
run_wrk "http://127.0.0.1:$ip/v1/webhook?writeKey=bench" "$dir/eddyd.txt"
curl -s "http://127.0.0.1:$adp/metrics" >"$dir/metrics.txt"
kill "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null
group=$(awk '$1 == "eddy_commit_batches_sum" {s = $2} $1 == "eddy_commit_batches_count" {c = $2}
    END {if (c > 0) printf "%.1f", s / c; else print 0}' "$dir/metrics.txt")
commit_ms=$(awk '$1 == "eddy_commit_seconds_sum" {s = $2} $1 == "eddy_commit_seconds_count" {c = $2}
    END {if (c > 0) printf "%.2f", 1000 * s / c; else print 0}' "$dir/metrics.txt")
rm -rf "$dir/data"

# 3. The storage ceiling: raw LMDB at eddyd's mean group size, and at 32.
g=$(printf '%.0f' "$group")
[ "$g" -ge 1 ] 2>/dev/null || g=1
read -r raw_g raw_g_commits < <("$BUILD/bench/lmdb_group" "$dir/raw1" "$BODY" "$g" "$SECONDS_PER_RUN")
rm -rf "$dir/raw1"
read -r raw_32 _ < <("$BUILD/bench/lmdb_group" "$dir/raw2" "$BODY" 32 "$SECONDS_PER_RUN")
rm -rf "$dir/raw2"

ack=$(rate "$dir/ack.txt") ed=$(rate "$dir/eddyd.txt")
ratio() { python3 -c "import sys; a, b = float(sys.argv[1] or 0), float(sys.argv[2] or 0); print('%.2f' % (a / b if b else 0))" "$1" "$2"; }
echo "== ingest: wrk -t2 -c$CONNS -d${SECONDS_PER_RUN}s, body $(stat -c %s "$BODY") bytes ($(basename "$BODY"))"
printf '%-34s %10s %9s %9s\n' "server" "req/s" "p50" "p99"
printf '%-34s %10s %9s %9s\n' "ack-only libevent (http ceiling)" "$ack" "$(pct "$dir/ack.txt" 50%)" "$(pct "$dir/ack.txt" 99%)"
printf '%-34s %10s %9s %9s\n' "eddyd sync=full" "$ed" "$(pct "$dir/eddyd.txt" 50%)" "$(pct "$dir/eddyd.txt" 99%)"
printf '%-34s %10s\n' "raw LMDB, $g per commit" "$raw_g"
printf '%-34s %10s\n' "raw LMDB, 32 per commit" "$raw_32"
echo "eddyd: mean requests per commit $group, mean commit ${commit_ms} ms, non-2xx $(non2xx "$dir/eddyd.txt")"
echo "eddyd / http ceiling:              $(ratio "$ed" "$ack")   (target >= 0.6)"
echo "eddyd / raw LMDB at eddyd's group: $(ratio "$ed" "$raw_g")   (target >= 0.7)"
echo "eddyd / raw LMDB at 32 per commit: $(ratio "$ed" "$raw_32")"
[ -z "$(non2xx "$dir/eddyd.txt")" ] || { echo "ingest bench: eddyd answered non-2xx"; exit 1; }
