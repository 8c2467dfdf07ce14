#!/usr/bin/env bash
# tests/bench/storage.sh - the storage engine's write path against raw LMDB
# and a raw fdatasync loop (build/bench/bench_storage). The data dir sits in
# the repo's var/ (same disk as the repo, never tmpfs); BENCH_DIR overrides.
set -eu
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-$PWD/build}
dir=${BENCH_DIR:-$PWD/var/bench-storage}
mkdir -p "$(dirname "$dir")"
echo "== storage: $BUILD/bench/bench_storage $dir"
"$BUILD/bench/bench_storage" "$dir" tests/fixtures/corpus/batch-00001.json
