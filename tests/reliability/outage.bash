# outage.bash - one sink outage under continuous ingest, for outage.bats.
# outage_run KIND: ingest keeps running through an outage of KIND, then the
# sink comes back; afterwards everything acknowledged must be at the sink,
# nothing dead-lettered, nothing left pending. Plain bash (no bats builtins)
# so outage.bats can run it inside a network namespace with `ip netns exec`.
# KIND: refuse | hang | 503 | blackhole | netem

source "$BATS_TEST_DIRNAME/rel_helpers.bash"

# The outage as seen by eddyd's delivery worker.
outage_begin() {
    case $1 in
    refuse) stop_fake ;;
    hang) fake_ctl "hang=-1" ;;
    503) fake_ctl "fail=-1&fail_status=503" ;;
    blackhole)
        # Policy routing in this namespace: packets to the sink's port are
        # silently discarded (like an iptables DROP: in-flight connections
        # stall, new ones fail). The local table moves below the blackhole.
        ip rule add pref 100 table local && ip rule del pref 0 &&
            ip rule add pref 10 to 127.0.0.1 ipproto tcp dport "$SINK_PORT" blackhole ;;
    netem) tc qdisc add dev lo root netem loss 30% ;;
    esac
}

outage_end() {
    case $1 in
    refuse) start_fake ;;
    hang) fake_ctl "hang=0" ;;
    503) fake_ctl "fail=0" ;;
    blackhole) ip rule del pref 10 ;;
    netem) tc qdisc del dev lo root ;;
    esac
}

outage_run() {
    local kind=$1 secs=4
    soak && secs=120
    # max_attempts=3 is passed many times during the outage; retry_window=1h
    # is not: the DLQ rule needs both, so nothing may be dead-lettered.
    write_config delivery.backoff_min=20ms delivery.backoff_max=500ms delivery.timeout=1s \
        delivery.max_attempts=3 delivery.retry_window=1h
    start_fake || return 1
    start_eddyd || return 1
    start_load "$kind" --threads 2 --max-events 20 --interval 0.02
    wait_until 20 test -s "$BATS_TEST_TMPDIR/sink.ndjson" || { echo "nothing delivered"; return 1; }

    outage_begin "$kind" || { echo "could not start the $kind outage"; return 1; }
    local before during pending_mid state_mid
    before=$(acked_count "$kind")
    sleep "$secs"
    during=$(($(acked_count "$kind") - before))
    pending_mid=$(status_field pending.batches)
    state_mid=$(status_field delivery.state)
    outage_end "$kind" || { echo "could not end the $kind outage"; return 1; }
    local t0=$SECONDS

    sleep 1
    stop_load "$kind"
    wait_drained 120 || return 1
    local drain_s=$((SECONDS - t0)) dead_batches
    dead_batches=$(status_field dead.batches)
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 0 ] || { echo "eddyd exited $EDDYD_STATUS on SIGTERM"; return 1; }
    local figures rc
    figures=$(check_acked --max-dead 0 --max-pending 0)
    rc=$?
    rel_note "outage $kind (${secs}s): acknowledged during it $during events, pending at its end $pending_mid batches (delivery state $state_mid), drained ${drain_s}s after, dead batches $dead_batches; $figures; answers $(load_answers "$kind")"
    [ $rc -eq 0 ] || { echo "$figures"; return 1; }
    [ "$during" -gt 0 ] || { echo "ingest stalled during the outage"; return 1; }
    [ "$pending_mid" -gt 0 ] || { echo "nothing pending during the outage: was it one?"; return 1; }
    [ "$dead_batches" = 0 ] || { echo "$dead_batches batches dead-lettered"; return 1; }
    grep -q '"answers"' "$BATS_TEST_TMPDIR/load.$kind.json"
}
