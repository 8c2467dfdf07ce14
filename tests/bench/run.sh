#!/usr/bin/env bash
# tests/bench/run.sh - runs every tests/bench/*.sh in name order, passing
# BUILD; a failing benchmark is reported and the others still run.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-$PWD/build}
rc=0
for b in tests/bench/*.sh; do
    [ "$(basename "$b")" = run.sh ] && continue
    if ! bash "$b"; then
        echo "bench: $b failed" >&2
        rc=1
    fi
done
exit $rc
