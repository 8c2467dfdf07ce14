#!/usr/bin/env bash
# tests/bench/run.sh - runs every tests/bench/*.sh in name order, passing
# BUILD (but peers.sh, which make bench-peers runs); a failing benchmark is
# reported and the others still run.
set -u
cd "$(dirname "$0")/../.."
export BUILD=${BUILD:-$PWD/build}
rc=0
for b in tests/bench/*.sh; do
    # peers.sh needs servers of its own: make bench-peers installs and runs it
    case $(basename "$b") in run.sh | peers.sh) continue ;; esac
    if ! bash "$b"; then
        echo "bench: $b failed" >&2
        rc=1
    fi
done
exit $rc
