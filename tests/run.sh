#!/usr/bin/env bash
# tests/run.sh - runs every suite and ends with one line "N passed, N failed".
# Unit tests (cmocka, TAP output: every $BUILD/tests/test_x, built from
# tests/unit/<module>/test_x.c), then the bats end-to-end and reliability
# suites against the binaries in $BUILD. SUITES="unit e2e reliability" selects.
set -u
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-$PWD/build}
SUITES=${SUITES:-unit e2e reliability}
log=$(mktemp -d "${TMPDIR:-/tmp}/eddy-tests.XXXXXX")
pass=0 fail=0

tally() { # reads TAP on stdin, echoes it, counts ok / not ok
    local line
    while IFS= read -r line; do
        printf '%s\n' "$line"
        case "$line" in
        "not ok "*) fail=$((fail + 1)) ;;
        "ok "*) pass=$((pass + 1)) ;;
        esac
    done
}

for suite in $SUITES; do
    case $suite in
    unit)
        for t in "$BUILD"/tests/test_*; do
            [ -x "$t" ] || continue
            echo "# unit: $(basename "$t")"
            out="$log/$(basename "$t").tap"
            CMOCKA_MESSAGE_OUTPUT=TAP "$t" >"$out" 2>"$log/$(basename "$t").err"
            rc=$?
            tally <"$out"
            if [ $rc -ne 0 ] && ! grep -q '^not ok' "$out"; then
                echo "not ok - $(basename "$t") exited $rc"; cat "$log/$(basename "$t").err"
                fail=$((fail + 1))
            fi
        done
        ;;
    e2e | reliability)
        files=$(ls tests/$suite/*.bats 2>/dev/null)
        [ -n "$files" ] || continue
        for f in $files; do
            echo "# $suite: $(basename "$f")"
            tally < <(bats --tap "$f" 2>&1)
        done
        ;;
    esac
done
rm -rf "$log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
