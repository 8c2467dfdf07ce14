#!/usr/bin/env bash
# tests/bench/peers.sh - eddyd beside other stores that acknowledge a
# message only once it is fsynced, in one run (make bench-peers): the same
# ~94 KB body (tests/fixtures/corpus/batch-00001.json), $CLIENTS clients
# each waiting for its answer, $SECONDS_PER_RUN s each, $ROUNDS rounds
# interleaved:
#   eddyd        POST with wrk (sync = full, compress = gzip and its default
#                compress_level: the defaults)
#   eddyd_fast   the same with compress_level = fast (igzip 1)
#   eddyd_none   the same with compress = none (stores the raw bytes, as the
#                peers do; both shown beside the rest, the target is on eddyd)
#   redis        Redis 7, appendonly yes, appendfsync always, RPUSH (peer_put);
#                automatic AOF rewrites off: nothing is popped here, so each
#                would fork to rewrite the whole growing list for nothing
#   postgresql   PostgreSQL 15, one INSERT per request, synchronous_commit = on
#                (pgbench -f with the body as a literal; p99 from its log)
#   beanstalkd   beanstalkd -f 0 (fsync on every put), put (peer_put)
# Every server listens on 127.0.0.1 only, keeps its data in a temp dir under
# var/ (a real disk) and is stopped afterwards. Prints req/s and p99 per
# system (medians over rounds), the server's CPU per request (its threads
# and reaped children), the whole machine's (server, client and kernel: what
# binds when the CPUs are busy), and eddyd's ratio to each (target >= 2 x
# the best peer), with the machine CPU per request that 2 x the best peer
# would leave on this machine's CPUs beside what eddyd took. Needs redis-server, postgresql and beanstalkd (make
# bench-peers installs them).
set -u
cd "$(dirname "$0")/../.."
CLIENTS=${CLIENTS:-32}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ROUNDS=${ROUNDS:-3}
BODY=${BODY:-$PWD/tests/fixtures/corpus/batch-00001.json}
BENCH=peers
mkdir -p var
tmp=$(mktemp -d "$PWD/var/bench-peers.XXXXXX")
chmod 0755 "$tmp"
scratch=$tmp
. tests/bench/lib.bash
need eddyd bench/peer_put
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
for b in redis-server beanstalkd "$PGBIN/initdb" "$PGBIN/pg_ctl" pgbench; do
    command -v "$b" >/dev/null || { echo "peers: $b missing (make bench-peers installs it)"; exit 1; }
done
pg_stop() { [ -d "$tmp/pg" ] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg" -m fast stop >/dev/null 2>&1; }
trap 'pg_stop; cleanup' EXIT

# ---- servers ----------------------------------------------------------------
# eddyd, eddyd_fast, eddyd_none: ingest port in EP[name]; each server's pid
# in PID[system], for its CPU per request.
declare -A EP PID
for e in eddyd: eddyd_fast:compress_level=fast eddyd_none:compress=none; do
    name=${e%%:*} ea=$(port)
    EP[$name]=$(port)
    # shellcheck disable=SC2086
    bench_conf "$tmp/$name.conf" "${EP[$name]}" "$ea" "$tmp/$name" ${e#*:}
    "$BUILD/eddyd" -c "$tmp/$name.conf" 2>"$tmp/$name.log" &
    pids+=($!)
    PID[$name]=$!
    wait_port "http://127.0.0.1:$ea/healthz" || exit 1
done

RP=$(port)
mkdir "$tmp/redis"
redis-server --bind 127.0.0.1 --port "$RP" --dir "$tmp/redis" --appendonly yes \
    --appendfsync always --auto-aof-rewrite-percentage 0 --save "" --protected-mode yes \
    --daemonize no --logfile "$tmp/redis.log" &
pids+=($!)
PID[redis]=$!

BP=$(port)
mkdir "$tmp/beanstalkd"
beanstalkd -l 127.0.0.1 -p "$BP" -b "$tmp/beanstalkd" -f 0 -z 4194304 2>"$tmp/beanstalkd.log" &
pids+=($!)
PID[beanstalkd]=$!

PP=$(port)
mkdir "$tmp/pg" && chown postgres "$tmp/pg"
runuser -u postgres -- "$PGBIN/initdb" -D "$tmp/pg" -A trust -U bench >"$tmp/initdb.log" 2>&1 ||
    { cat "$tmp/initdb.log"; exit 1; }
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$tmp/pg" -l "$tmp/pg/server.log" -w -o \
    "-p $PP -k $tmp/pg -c listen_addresses=127.0.0.1 -c synchronous_commit=on -c fsync=on -c max_connections=64" \
    start >/dev/null || { cat "$tmp/pg/server.log"; exit 1; }
psql() { "$PGBIN/psql" -h 127.0.0.1 -p "$PP" -U bench -d postgres -qAt "$@"; }
psql -c "CREATE TABLE q (id bigserial PRIMARY KEY, body text NOT NULL)" || exit 1
# The body as a SQL literal (quotes doubled); pgbench sends it per INSERT.
python3 - "$BODY" "$tmp/insert.sql" <<'PY'
import sys
b = open(sys.argv[1], encoding="utf-8").read().replace("'", "''").replace("\n", " ")
open(sys.argv[2], "w").write("INSERT INTO q (body) VALUES ('%s');\n" % b)
PY
sleep 1

post_lua "$tmp/post.lua" "$BODY"

# ---- runs: each prints "REQ_PER_S P99_MS" -----------------------------------
# wrk_eddyd PORT
wrk_eddyd() {
    wrk -t2 -c"$CLIENTS" -d"${SECONDS_PER_RUN}s" --latency -s "$tmp/post.lua" \
        "http://127.0.0.1:$1/v1/webhook?writeKey=bench" >"$tmp/wrk.out" 2>&1
    awk '/Non-2xx/ {bad = 1} /^Requests\/sec:/ {r = $2}
         $1 == "99%" {v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
                      p = (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v}
         END {if (bad) print "0 0"; else print r, p}' "$tmp/wrk.out"
}
run_eddyd() { wrk_eddyd "${EP[eddyd]}"; }
run_eddyd_fast() { wrk_eddyd "${EP[eddyd_fast]}"; }
run_eddyd_none() { wrk_eddyd "${EP[eddyd_none]}"; }
run_redis() { "$BUILD/bench/peer_put" redis 127.0.0.1 "$RP" "$BODY" "$CLIENTS" "$SECONDS_PER_RUN" | awk '{print $1, $3}'; }
run_beanstalkd() { "$BUILD/bench/peer_put" beanstalk 127.0.0.1 "$BP" "$BODY" "$CLIENTS" "$SECONDS_PER_RUN" | awk '{print $1, $3}'; }
run_postgresql() {
    rm -f "$tmp"/pgbench_log.*
    (cd "$tmp" && pgbench -h 127.0.0.1 -p "$PP" -U bench -n -c "$CLIENTS" -j 2 -T "$SECONDS_PER_RUN" \
        -f insert.sql -l postgres >"$tmp/pgbench.out" 2>&1)
    python3 - "$tmp" <<'PY'
import glob, sys
lat = []
for f in glob.glob(sys.argv[1] + "/pgbench_log.*"):
    for l in open(f):
        p = l.split()
        if len(p) >= 3:
            lat.append(int(p[2]) / 1000.0)
tps = [l for l in open(sys.argv[1] + "/pgbench.out") if l.startswith("tps")]
lat.sort()
print(tps[0].split()[2] if tps else 0, lat[int(len(lat) * 0.99)] if lat else 0)
PY
}

# The postmaster's backends end with each run: their CPU is in its cutime.
PID[postgresql]=$(head -1 "$tmp/pg/postmaster.pid")
# ticks PID: CPU clock ticks of PID, its threads and its reaped children.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }

systems="eddyd eddyd_fast eddyd_none redis postgresql beanstalkd"
: >"$tmp/results"
for r in $(seq 1 "$ROUNDS"); do
    line="round $r (load $(cut -d" " -f1 /proc/loadavg)):"
    for s in $systems; do
        sync # no writeback of the run before slows this one's fsyncs
        t0=$(ticks "${PID[$s]}") c0=$(cpu_snap)
        read -r rps p99 < <("run_$s")
        t1=$(ticks "${PID[$s]}") c1=$(cpu_snap)
        per_req="$(getconf CLK_TCK) / max(1, $rps * $SECONDS_PER_RUN)"
        us=$(calc "round(1e6 * ($t1 - $t0) / $per_req)")
        read -r busy _ < <(cpu_delta "$c0" "$c1")
        mus=$(calc "round(1e6 * $busy / $per_req)")
        echo "$r $s $rps $p99 $us $mus" >>"$tmp/results"
        line="$line $s $rps req/s p99 ${p99} ms ${us} us CPU (${mus} machine);"
    done
    echo "$line"
done
python3 - "$tmp/results" "$CLIENTS" "$SECONDS_PER_RUN" "$BODY" "$(nproc)" <<'PY'
import os, statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for r, s, *v in rows:
    by.setdefault(s, []).append(tuple(map(float, v)))
med = {s: tuple(statistics.median(x[i] for x in v) for i in range(4)) for s, v in by.items()}
cpus = int(sys.argv[5])
print("== peers: %s clients, %ss per run, %d rounds, body %d bytes, every answer after fsync" % (
    sys.argv[2], sys.argv[3], len(by["eddyd"]), os.path.getsize(sys.argv[4])))
print("%-12s %8s %8s %15s %16s %10s %12s" % ("system", "req/s", "p99 ms", "server CPU/req",
                                              "machine CPU/req", "busy CPUs", "eddyd ratio"))
for s in ("eddyd", "eddyd_fast", "eddyd_none", "redis", "postgresql", "beanstalkd"):
    rps, p99, us, mus = med[s]
    print("%-12s %8.0f %8.1f %12.0f us %13.0f us %10.2f %12s" % (
        s, rps, p99, us, mus, mus * rps / 1e6,
        "" if s.startswith("eddyd") else "%.2f" % (med["eddyd"][0] / rps if rps else 0)))
best = max((med[s][0], s) for s in med if not s.startswith("eddyd"))
ratio = lambda s: med[s][0] / best[0] if best[0] else 0
print("eddyd / best peer (%s): %.2f  (target >= 2); compress_level = fast: %.2f; compress = none: %.2f" % (
    best[1], ratio("eddyd"), ratio("eddyd_fast"), ratio("eddyd_none")))
# What CPU allows: 2x the best peer's rate on this machine's CPUs leaves each
# request at most this much of the machine's CPU (server, client, kernel).
if best[0]:
    budget = cpus * 1e6 / (2 * best[0])
    print("2 x %s is %.0f req/s: on %d CPUs at most %.0f us of machine CPU per request; "
          "eddyd took %.0f (defaults), %.0f (fast), %.0f (compress = none)" % (
              best[1], 2 * best[0], cpus, budget, med["eddyd"][3], med["eddyd_fast"][3],
              med["eddyd_none"][3]))
PY
