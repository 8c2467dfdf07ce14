#!/usr/bin/env bats
# powerloss.bats - the sample of `make powerloss` that make test runs: one
# recorded run of eddyd under load (tests/powerloss/), 120 crash states
# built from its write trace, none may lose an acknowledged event or leave
# a store LMDB or `eddy verify` refuses. And the checker is shown to fail:
# the same run with sync = none must report lost events.

load rel_helpers

PL=$BATS_TEST_DIRNAME/../powerloss/powerloss.py

powerloss() {
    [ -f "$BUILD/powerloss/recorder.so" ] || skip "build/powerloss/recorder.so not built"
    run /usr/bin/python3 "$PL" --build "$BUILD" --runs 1 --clients 3 --batches 60 --no-bare \
        --work "$BATS_TEST_TMPDIR/work" --keep "$BATS_TEST_TMPDIR/failures" "$@"
    echo "$output"
    summary=$(printf '%s\n' "$output" | tail -1)
    rel_note "$summary"
    [[ $summary =~ ^powerloss:\ ([0-9]+)\ states,\ ([0-9]+)\ acknowledged\ events\ checked,\ ([0-9]+)\ lost,\ ([0-9]+)\ unopenable$ ]]
    states=${BASH_REMATCH[1]} checked=${BASH_REMATCH[2]} lost=${BASH_REMATCH[3]}
    unopenable=${BASH_REMATCH[4]}
}

@test "power loss: 120 crash states of a recorded run lose nothing acknowledged" {
    powerloss --states 120 --seed "$RANDOM"
    [ "$status" -eq 0 ]
    [ "$states" -eq 120 ]
    [ "$checked" -gt 0 ]
    [ "$lost" -eq 0 ]
    [ "$unopenable" -eq 0 ]
}

@test "power loss: with sync = none the checker reports lost events and fails" {
    powerloss --states 40 --sync none --seed "$RANDOM"
    [ "$status" -eq 1 ]
    [ "$states" -eq 40 ]
    [ "$lost" -gt 0 ]
    # The failing states are kept with the trace slice that made them.
    ls "$BATS_TEST_TMPDIR"/failures/*/slice.txt >/dev/null
}
