#!/usr/bin/env bats
# outage.bats - the sink goes away under continuous ingest (outage.bash):
# refusing connections, accepting and never answering, answering 503, and as
# root a network cut (policy-routing blackhole, like an iptables DROP) or
# netem packet loss inside a network namespace made for the test. Each: 0
# lost, 0 dead-lettered, full drain afterwards. 4 s outages in make test,
# 2 minutes with EDDY_SOAK=1.

load rel_helpers
source "$BATS_TEST_DIRNAME/outage.bash"

teardown() {
    rel_teardown
    if [ -n "${NETNS:-}" ]; then
        local p
        for p in $(ip netns pids "$NETNS" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$NETNS" 2>/dev/null
    fi
    return 0
}

@test "outage: sink refuses connections" {
    outage_run refuse
}

@test "outage: sink accepts TCP and never answers" {
    outage_run hang
}

@test "outage: sink answers 503" {
    outage_run 503
}

# in_netns KIND: runs outage_run KIND in a fresh network namespace (loopback
# only), as root; skips with the reason otherwise.
in_netns() {
    [ "$(id -u)" = 0 ] || skip "not root: cannot create a network namespace"
    command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
    NETNS=eddy-rel-$$-$RANDOM
    ip netns add "$NETNS" || skip "ip netns add failed (no CAP_SYS_ADMIN?)"
    ip netns exec "$NETNS" ip link set lo up
    if [ "$1" = netem ] && ! ip netns exec "$NETNS" tc qdisc add dev lo root netem loss 1% 2>/dev/null; then
        skip "tc netem is not available (kernel without sch_netem)"
    fi
    [ "$1" != netem ] || ip netns exec "$NETNS" tc qdisc del dev lo root
    if [ "$1" = blackhole ] && ! ip netns exec "$NETNS" ip rule add pref 5 ipproto tcp dport 1 blackhole 2>/dev/null; then
        skip "ip rule cannot match ipproto/dport here (iproute2 or kernel too old)"
    fi
    ip netns exec "$NETNS" ip rule del pref 5 2>/dev/null
    export BATS_TEST_DIRNAME BATS_TEST_TMPDIR BUILD EDDY_SOAK
    run ip netns exec "$NETNS" bash -c "source '$BATS_TEST_DIRNAME/outage.bash'; outage_run $1; rc=\$?; rel_teardown; exit \$rc"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "outage: network cut inside a namespace (blackhole route, like iptables DROP)" {
    in_netns blackhole
}

@test "outage: 30% packet loss inside a namespace (tc netem)" {
    in_netns netem
}
