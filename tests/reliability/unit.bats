#!/usr/bin/env bats
# unit.bats - the shipped systemd unit, etc/eddyd.service, for real: eddyd
# runs under the unit's own system call filter (the SystemCallFilter= lines
# expanded with `systemd-analyze syscall-filter`, applied with libseccomp by
# tests/tools/seccomp_run), takes a batch, delivers it and stops cleanly; a
# refused setpriority costs one log line, not the process; and
# `systemd-analyze verify` accepts the unit.

load rel_helpers

UNIT=$BATS_TEST_DIRNAME/../../etc/eddyd.service
SECCOMP_RUN=$BUILD/tests/tools/seccomp_run

setup() {
    command -v systemd-analyze >/dev/null || skip "systemd-analyze missing (make deps installs systemd)"
    [ -x "$SECCOMP_RUN" ] || skip "no $SECCOMP_RUN (libseccomp-dev missing at build time)"
}

teardown() {
    rel_teardown
}

# expand_syscalls NAME_OR_@GROUP...: the system calls systemd means by them,
# nested groups expanded.
expand_syscalls() {
    local x y
    for x in "$@"; do
        case $x in
        @*)
            for y in $(systemd-analyze syscall-filter "$x" | awk 'NR > 1 && NF && $1 !~ /^#/ { print $1 }'); do
                expand_syscalls "$y"
            done
            ;;
        *) echo "$x" ;;
        esac
    done
}

# unit_allow_list UNIT OUT: the allow list systemd builds from UNIT's
# SystemCallFilter= lines, in order: the first is an allow list, a later
# "~..." removes calls from it, a later plain one adds them back.
unit_allow_list() {
    local unit=$1 out=$2 v
    : >"$out"
    while IFS= read -r v; do
        if [[ $v == "~"* ]]; then
            [ -s "$out" ] || { echo "unit.bats: only allow-list filters are modelled" >&2; return 1; }
            # shellcheck disable=SC2086
            expand_syscalls ${v#\~} | sort -u >"$out.rm"
            comm -23 "$out" "$out.rm" >"$out.new"
        else
            # shellcheck disable=SC2086
            { cat "$out"; expand_syscalls $v; } | sort -u >"$out.new"
        fi
        mv "$out.new" "$out"
    done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
    [ -s "$out" ]
}

# run_under_filter ALLOW_FILE [ERRNO]: starts eddyd under the filter, posts a
# batch, waits for its delivery, stops eddyd; EDDYD_STATUS is its exit
# status. Fails as soon as eddyd dies.
run_under_filter() {
    local allow=$1 errno=${2:-}
    write_config
    start_fake
    # LeakSanitizer stops the world with ptrace, which the unit's filter
    # refuses: under `make asan` its exit-time check would fail every run.
    # Leaks are checked by the other suites; this one is about the filter.
    ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
        "$SECCOMP_RUN" ${errno:+--errno "$errno"} "$allow" -- "$EDDYD" -c "$EDDY_CONF" \
        >>"$BATS_TEST_TMPDIR/eddyd.log" 2>&1 &
    EDDYD_PID=$!
    if ! wait_http "$ADMIN_URL/healthz" 15; then
        reap_eddyd
        echo "eddyd exited with status $EDDYD_STATUS under the filter:" >&2
        cat "$BATS_TEST_TMPDIR/eddyd.log" >&2
        return 1
    fi
    run post "$FIXTURES/corpus/batch-00001.json"
    [ "${output%% *}" = 200 ] || { echo "post: $output" >&2; return 1; }
    wait_until 30 test -s "$BATS_TEST_TMPDIR/sink.ndjson"
    wait_drained 30
    stop_eddyd TERM
}

@test "unit: eddyd runs under etc/eddyd.service's own system call filter: post, deliver, stop" {
    unit_allow_list "$UNIT" "$BATS_TEST_TMPDIR/allow"
    errno=$(sed -n 's/^SystemCallErrorNumber=//p' "$UNIT")
    run_under_filter "$BATS_TEST_TMPDIR/allow" "$errno"
    [ "$EDDYD_STATUS" -eq 0 ]
    grep -q 'stopped cleanly' "$BATS_TEST_TMPDIR/eddyd.log"
    ! grep -q 'cannot lower the priority' "$BATS_TEST_TMPDIR/eddyd.log" # setpriority allowed
    rel_note "unit filter: $(wc -l <"$BATS_TEST_TMPDIR/allow") system calls allowed, SystemCallErrorNumber=${errno:-none}"
}

@test "unit: the filter of the old unit (~@privileged @resources, no errno) kills on setpriority" {
    # What etc/eddyd.service shipped before: the launcher and the expansion
    # above are what kill eddyd here, so the first test means something.
    printf 'SystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n' \
        >"$BATS_TEST_TMPDIR/old.service"
    unit_allow_list "$BATS_TEST_TMPDIR/old.service" "$BATS_TEST_TMPDIR/allow"
    ! grep -qx setpriority "$BATS_TEST_TMPDIR/allow"
    write_config
    "$SECCOMP_RUN" "$BATS_TEST_TMPDIR/allow" -- "$EDDYD" -c "$EDDY_CONF" \
        >>"$BATS_TEST_TMPDIR/eddyd.log" 2>&1 &
    EDDYD_PID=$!
    reap_eddyd
    [ "$EDDYD_STATUS" -eq $((128 + 31)) ] # SIGSYS
}

@test "unit: a refused setpriority costs eddyd one log line, not the process" {
    printf 'SystemCallFilter=@system-service\nSystemCallFilter=~@privileged @resources\n' \
        >"$BATS_TEST_TMPDIR/old.service"
    unit_allow_list "$BATS_TEST_TMPDIR/old.service" "$BATS_TEST_TMPDIR/allow"
    run_under_filter "$BATS_TEST_TMPDIR/allow" EPERM
    [ "$EDDYD_STATUS" -eq 0 ]
    # every validation thread is refused; it is said once
    [ "$(grep -c 'cannot lower the priority of the validation threads' "$BATS_TEST_TMPDIR/eddyd.log")" -eq 1 ]
}

@test "unit: systemd-analyze verify accepts etc/eddyd.service" {
    # verify checks that ExecStart= exists: point it at the built eddyd
    mkdir -p "$BATS_TEST_TMPDIR/unit"
    sed "s#/usr/local/sbin/eddyd#$EDDYD#g" "$UNIT" >"$BATS_TEST_TMPDIR/unit/eddyd.service"
    run systemd-analyze verify "$BATS_TEST_TMPDIR/unit/eddyd.service"
    echo "$output"
    [ "$status" -eq 0 ]
    [[ "$output" != *eddyd.service* ]] # no warning about the unit at all
}
