#!/usr/bin/env bash
# quorum.sh - the cost of replicated storage, measured (DESIGN.md
# "Replication"): a 3-node RabbitMQ cluster (Debian 12's rabbitmq-server
# 3.10) on 127.0.0.1 with one quorum queue, against one eddyd, same body
# (a 100-event corpus batch), same machine, same run (quorum_publish.py).
# All three replicas share this machine's disk and CPU, so the quorum
# figures are a pessimistic bound for disk and CPU and an optimistic one for
# the network. Optional: skipped unless rabbitmq-server and python3-pika are
# installed (apt-get install rabbitmq-server python3-pika); not in make deps.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
RQ=/usr/lib/rabbitmq/bin
if [ ! -x "$RQ/rabbitmq-server" ] || ! /usr/bin/python3 -c 'import pika' 2>/dev/null; then
    echo "quorum: skipped (apt-get install rabbitmq-server python3-pika)"
    exit 0
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/eddy-quorum.XXXXXX")
PIDS=() BEAMS=()
cleanup() {
    local p
    # The Erlang VMs are children of the rabbitmq-server scripts.
    for p in "${BEAMS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -z "${EPMD_PORT:-}" ] || epmd -port "$EPMD_PORT" -kill >/dev/null 2>&1 || true
    rm -rf "$T"
}
trap cleanup EXIT

port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Everything of RabbitMQ's stays in $T: its own epmd port, Erlang cookie
# ($HOME), data and logs; all listeners on 127.0.0.1.
export HOME=$T ERL_EPMD_ADDRESS=127.0.0.1 EPMD_PORT=$(port)
export ERL_EPMD_PORT=$EPMD_PORT
echo '[].' >"$T/plugins"
start_node() { # N: node N in the background, its own ports and dirs
    (
        export RABBITMQ_NODENAME=eddyq$1@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
            RABBITMQ_NODE_PORT=${AMQP[$1]} RABBITMQ_DIST_PORT=${DIST[$1]} \
            RABBITMQ_MNESIA_BASE=$T/n$1/mnesia RABBITMQ_LOG_BASE=$T/n$1/log \
            RABBITMQ_ENABLED_PLUGINS_FILE=$T/plugins RABBITMQ_CONFIG_FILE=$T/n$1/rabbitmq \
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
        exec "$RQ/rabbitmq-server"
    ) >"$T/n$1/server.out" 2>&1 &
    PIDS+=($!)
    NODE_PID[$1]=$!
}
ctl() { # N ARGS...
    local n=$1
    shift
    "$RQ/rabbitmqctl" -n "eddyq$n@localhost" "$@" >>"$T/ctl.log" 2>&1
}
declare -A AMQP DIST NODE_PID BEAM
for n in 1 2 3; do
    AMQP[$n]=$(port)
    DIST[$n]=$(port)
    mkdir -p "$T/n$n"
    echo "listeners.tcp.default = 127.0.0.1:${AMQP[$n]}" >"$T/n$n/rabbitmq.conf"
    start_node $n
done
# await_startup fails at once while the node is not registered yet: retry.
up() { local i; for i in $(seq 120); do ctl $1 await_startup --timeout 5 && return 0; sleep 1; done; return 1; }
for n in 1 2 3; do
    up $n || { cat "$T/ctl.log" "$T/n$n/server.out"; exit 1; }
    BEAM[$n]=$(pgrep -P "${NODE_PID[$n]}" -x beam.smp)
    BEAMS+=("${BEAM[$n]}")
done
for n in 2 3; do
    ctl $n stop_app && ctl $n join_cluster eddyq1@localhost && ctl $n start_app
done

# One eddyd; its fake RudderStack refuses (503), so delivery backs off and
# takes no CPU: neither side drains while it is measured.
SINK=$(port) IN=$(port) ADM=$(port)
"$BUILD/fake-rudderstack" --listen "127.0.0.1:$SINK" --fail -1 >/dev/null 2>&1 &
PIDS+=($!)
cat >"$T/eddy.conf" <<EOF
[ingest]
listen = 127.0.0.1:$IN
write_keys = bench-key
[admin]
listen = 127.0.0.1:$ADM
[storage]
data_dir = $T/eddy
max_size = 8G
[delivery]
url = http://127.0.0.1:$SINK/v1/webhook
EOF
"$BUILD/eddyd" -c "$T/eddy.conf" >"$T/eddyd.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$ADM/readyz" && break; sleep 0.1; done

# QUORUM_STRACE=1: count the fsyncs of two of the nodes meanwhile.
STRACES=()
if [ "${QUORUM_STRACE:-0}" = 1 ]; then
    for n in 2 3; do
        strace -f -c -e trace=fdatasync,fsync -o "$T/strace.$n" -p "${BEAM[$n]}" 2>/dev/null &
        STRACES+=($!)
    done
fi
/usr/bin/python3 tests/bench/quorum_publish.py --body tests/fixtures/corpus/batch-00001.json \
    --amqp-port "${AMQP[1]}" --eddyd-url "http://127.0.0.1:$IN/v1/webhook?writeKey=bench-key" \
    --requests "${QUORUM_REQUESTS:-200}" --clients "${QUORUM_CLIENTS:-8}" \
    --seconds "${QUORUM_SECONDS:-10}" | tee "$T/result.json"
for p in "${STRACES[@]}"; do kill -INT "$p"; wait "$p" || true; done
for n in 2 3; do
    [ -f "$T/strace.$n" ] && { echo "quorum: node $n:"; cat "$T/strace.$n"; }
done
echo "quorum: RabbitMQ $("$RQ/rabbitmqctl" -n eddyq1@localhost version 2>/dev/null), 3 replicas on 127.0.0.1, $(nproc) cores"
