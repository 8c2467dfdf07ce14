#!/usr/bin/env bats
# crash.bats - eddyd is SIGKILLed at random instants while a load generator
# posts batches (ingest, group commit), while batches are being delivered to
# a slow sink, and while `eddy dlq replay` moves dead letters back; it is
# restarted each time. At the end every event answered 200 must be at the
# sink, in pending or in dead. 50 cycles in make test, 500 with EDDY_SOAK=1.

load rel_helpers

setup() {
    write_config delivery.backoff_min=10ms delivery.backoff_max=200ms delivery.timeout=2s \
        delivery.max_batch_bytes=64K
}

teardown() {
    rel_teardown
}

@test "crash loop: SIGKILL during ingest, commit, delivery and dlq replay loses nothing acknowledged" {
    cycles=50
    soak && cycles=500
    # Events carrying the marker get 400 from the sink: bisection isolates
    # them and they are dead-lettered, so there is something to replay.
    start_fake --marker poison-event
    start_eddyd
    touch "$BATS_TEST_TMPDIR/replay.log"
    start_load crash --threads 3 --max-events 20 --marker poison-event --marker-ratio 0.01

    local c replays=0 cli_killed=0 delay cli
    RANDOM=42
    for ((c = 1; c <= cycles; c++)); do
        # Odd cycles: a slow sink, so deliveries are in flight at the kill.
        if ((c % 2)); then delay=$((50 + RANDOM % 300)); else delay=0; fi
        fake_ctl "delay_ms=$delay"
        sleep "$(printf '0.%03d' $((50 + RANDOM % 300)))"
        if ((c % 5 == 0 && c >= 10)) && [ -x "$EDDY" ]; then
            # Every 5th kill lands during a dead-letter replay (small chunks,
            # one per transaction, so it spans many), and the CLI is killed too.
            "$EDDY" -c "$EDDY_CONF" dlq replay --all --chunk 1 >>"$BATS_TEST_TMPDIR/replay.log" 2>&1 &
            cli=$!
            REL_PIDS+=("$cli")
            replays=$((replays + 1))
            sleep "0.00$((RANDOM % 10))"
            stop_eddyd KILL 2>/dev/null
            sleep "0.00$((RANDOM % 10))"
            if proc_alive "$cli"; then
                kill -9 "$cli" && cli_killed=$((cli_killed + 1))
            fi
            wait "$cli" 2>/dev/null || true
            start_eddyd
        else
            restart_eddyd_hard
        fi
    done

    stop_load crash
    fake_ctl "delay_ms=0"
    # Bisecting the poison batches costs a commit per step: a soak's backlog
    # takes minutes to drain.
    local drain=90
    soak && drain=900
    wait_drained $drain
    stop_eddyd TERM
    [ "$EDDYD_STATUS" -eq 0 ]

    run check_acked
    echo "$output"
    rel_note "crash loop: $cycles SIGKILL cycles, $replays dlq replays ($cli_killed CLI killed mid-run); $output"
    rel_note "crash loop answers: $(load_answers crash); CLI replays: $(grep -c '^replayed' "$BATS_TEST_TMPDIR/replay.log") finished, $(awk '$1 == "replayed" { n += $2 } END { print n + 0 }' "$BATS_TEST_TMPDIR/replay.log") dead letters replayed by them"
    [ "$status" -eq 0 ]
    [ "$(acked_count crash)" -gt 0 ]
}
