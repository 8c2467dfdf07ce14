# tests/bench/lib.bash - what the benchmark scripts share: the binaries they
# need, free loopback ports, a clock and arithmetic, and the processes and
# scratch directory removed on exit. Sourced from the repo root after setting
# BENCH (the script's name, for messages) and scratch (the directory to
# delete on exit).
BUILD=${BUILD:-$PWD/build}
pids=()
# The ports port has handed out in this run, so none comes back twice.
ports_given=$(mktemp "${TMPDIR:-/tmp}/eddy-bench-ports.XXXXXX")
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$scratch" "$ports_given"
}
trap cleanup EXIT

# need BIN...: each $BUILD/BIN and wrk must exist.
need() {
    for b in "$@"; do
        [ -x "$BUILD/$b" ] || { echo "$BENCH: $BUILD/$b missing (run make)"; exit 1; }
    done
    command -v wrk >/dev/null || { echo "$BENCH: wrk missing (make deps)"; exit 1; }
}
# port: a TCP port on 127.0.0.1 that nothing listens on right now and that
# no earlier port call of this run returned (the kernel can hand the same
# free port to two binds in a row, and a bench picks all its ports before
# anything listens on them).
port() {
    python3 - "$ports_given" <<'PY'
import socket, sys
given = set(open(sys.argv[1]).read().split())
held = []
while True:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    p = str(s.getsockname()[1])
    if p not in given:
        break
open(sys.argv[1], "a").write(p + "\n")
print(p)
PY
}
now() { date +%s.%N; }
calc() { python3 -c "print($1)"; }
# cpu_snap: the machine's CPU clock ticks so far (/proc/stat's "cpu" line).
cpu_snap() { grep '^cpu ' /proc/stat; }
# cpu_delta OLD NEW: "BUSY TOTAL STEAL" clock ticks over all CPUs between two
# cpu_snap lines. Busy is all but idle and I/O wait (user, nice, system, irq,
# softirq and steal: stolen time counts, as the guest had no CPU then).
cpu_delta() {
    echo "$1 $2" | awk '{n = NF / 2; for (i = 2; i <= 9; i++) {d[i] = $(i + n) - $i; t += d[i]}
        print t - d[5] - d[6], t, d[9]}'
}
# wait_port URL: until URL answers (10 s at most).
wait_port() {
    for _ in $(seq 1 200); do
        curl -s -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.05
    done
    echo "$BENCH: $1 did not come up"
    return 1
}
# bench_conf FILE INGEST_PORT ADMIN_PORT DATA_DIR [KEY=VALUE...]: writes the
# eddyd config the benches share: write key "bench", both listeners on
# loopback, a delivery URL on a port nobody listens on (so all stays
# pending), and [storage] data_dir plus max_size = 32G. Each KEY=VALUE given
# goes to [storage] (max_size=4G replaces the default; compress=none,
# sync=full, ...), or to [delivery] as delivery.KEY=VALUE (delivery.url=...
# replaces the unreachable URL).
bench_conf() {
    local file=$1 ip=$2 adp=$3 data=$4 kv max=32G storage="" delivery="" url
    url=http://127.0.0.1:$(port)/v1/webhook
    shift 4
    for kv in "$@"; do
        case $kv in
        max_size=*) max=${kv#*=} ;;
        delivery.url=*) url=${kv#*=} ;;
        delivery.*) kv=${kv#delivery.} delivery+="${kv%%=*} = ${kv#*=}"$'\n' ;;
        *) storage+="${kv%%=*} = ${kv#*=}"$'\n' ;;
        esac
    done
    cat >"$file" <<CONF
[ingest]
listen = 127.0.0.1:$ip
write_keys = bench
[admin]
listen = 127.0.0.1:$adp
[storage]
data_dir = $data
max_size = $max
${storage}[delivery]
url = $url
CONF
    printf %s "$delivery" >>"$file"
}
# post_lua FILE BODY: a wrk script that POSTs the file BODY as JSON.
post_lua() {
    cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$2", "rb"))
wrk.body = f:read("*a")
f:close()
LUA
}
