#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS] - builds eddy's libFuzzer harnesses with clang
# (-fsanitize=fuzzer,address,undefined) against the storage and daemon
# sources, replays the saved regression inputs (tests/fuzz/regress/<name>/),
# then runs each harness for SECONDS (default 60) on a corpus seeded from
# tests/fixtures/. Prints executions and findings per harness; exits non-zero
# when a harness crashed, leaked, hit UB or broke one of its properties.
#   make fuzz FUZZ_SECONDS=60          (BUILD=build/fuzz)
#   FUZZ_HARNESSES="diff split" tests/fuzz/run.sh 30
# Crash inputs land in $BUILD/findings/<name>/; reproduce one with
#   $BUILD/fuzz_<name> $BUILD/findings/<name>/crash-...
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
SECS=${1:-60}
BUILD=${BUILD:-$ROOT/build/fuzz}
CC=${FUZZ_CC:-clang}
CXX=${FUZZ_CXX:-clang++}
HARNESSES=${FUZZ_HARNESSES:-ingest record split diff config}
MAX_LEN=${FUZZ_MAX_LEN:-131072}
PKGS="lmdb libevent libevent_pthreads jansson libcurl inih zlib yajl libisal libdeflate simdjson"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CFLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -pthread $SAN $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lstdc++ -lm"

command -v "$CC" >/dev/null || { echo "fuzz: $CC not found (make deps installs clang)" >&2; exit 1; }
mkdir -p "$BUILD/obj" "$BUILD/seeds" "$BUILD/corpus" "$BUILD/findings" "$BUILD/logs"

# ---- build ------------------------------------------------------------------

headers_newest=$(ls -t storage/*.h daemon/*.h tests/fuzz/*.h 2>/dev/null | head -1)
compile() { # SRC [EXTRA_FLAGS...] -> prints the object path
    local src=$1; shift
    local obj=$BUILD/obj/${src//\//_}.o
    if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$headers_newest" -nt "$obj" ]; then
        case $src in
        # vptr and function checks need the C++ sanitizer runtime, which clang
        # links only for clang++; the harnesses are linked by clang.
        *.cpp) $CXX ${CFLAGS/-std=c11/-std=c++17} -fno-sanitize=vptr,function "$@" -c "$src" -o "$obj" || return 1 ;;
        *) $CC $CFLAGS "$@" -c "$src" -o "$obj" || return 1 ;;
        esac
    fi
    echo "$obj"
}
archive() { # LIB SRC... : objects built with fuzzer-no-link coverage
    local lib=$1 objs=() o s; shift
    for s in "$@"; do
        o=$(compile "$s" -fsanitize=fuzzer-no-link) || return 1
        objs+=("$o")
    done
    rm -f "$lib" && ar rcs "$lib" "${objs[@]}"
}

storage_src=$(ls storage/*.c storage/*.cpp 2>/dev/null)
daemon_src=$(ls daemon/*.c 2>/dev/null | grep -v '^daemon/main.c$')
build_failed=0
if [ -n "$storage_src" ]; then
    archive "$BUILD/libstore.a" $storage_src || build_failed=1
fi
if [ -n "$daemon_src" ]; then
    archive "$BUILD/libdaemon.a" $daemon_src || build_failed=1
fi
[ $build_failed -eq 0 ] || { echo "fuzz: building the sources failed" >&2; exit 1; }

needs() { # HARNESS -> the sources it cannot do without
    case $1 in
    record) echo storage/record.c ;;
    config) echo daemon/config.c daemon/log.c ;;
    *) echo storage/batch.c storage/record.c ;;
    esac
}

built=()
for h in $HARNESSES; do
    missing=
    for f in $(needs "$h"); do [ -f "$f" ] || missing="$missing $f"; done
    if [ -n "$missing" ]; then
        echo "fuzz_$h: skipped, not written yet:$missing"
        continue
    fi
    libs="$BUILD/libstore.a"
    [ "$h" != config ] || libs="$BUILD/libdaemon.a $BUILD/libstore.a"
    if ! $CC $CFLAGS -fsanitize=fuzzer -Istorage -Idaemon -Itests/fuzz \
        "tests/fuzz/fuzz_$h.c" $libs $LIBS -o "$BUILD/fuzz_$h"; then
        echo "fuzz_$h: build failed" >&2
        exit 1
    fi
    built+=("$h")
done
[ ${#built[@]} -gt 0 ] || { echo "fuzz: nothing to run"; exit 0; }

# ---- seeds --------------------------------------------------------------------

json_seeds=$BUILD/seeds/json
rm -rf "$json_seeds" && mkdir -p "$json_seeds"
for f in tests/fixtures/edge/*.json; do
    case $f in */manifest.json) continue ;; esac
    [ "$(stat -c %s "$f")" -le "$MAX_LEN" ] && cp "$f" "$json_seeds/"
done
# Real batches are ~100 KB: seed with the first 1, 2 and 5 events of a few,
# small enough for the fuzzer to mutate quickly, and two whole ones.
python3 - "$json_seeds" tests/fixtures/corpus/batch-0000[1-5].json <<'PY'
import json, os, sys
out = sys.argv[1]
for path in sys.argv[2:]:
    events = json.load(open(path, encoding="utf-8"))["events"]
    name = os.path.basename(path)[:-5]
    for k in (1, 2, 5):
        with open(os.path.join(out, "%s-first%d.json" % (name, k)), "w", encoding="utf-8") as f:
            json.dump({"events": events[:k]}, f, ensure_ascii=False, separators=(",", ":"))
PY
cp tests/fixtures/corpus/batch-00001.json tests/fixtures/corpus/batch-00002.json "$json_seeds/"

seed_dir() { # HARNESS -> a directory of seeds made for it
    local h=$1 d=$BUILD/seeds/$1
    case $h in
    ingest)
        rm -rf "$d" && mkdir -p "$d" && cp "$json_seeds"/* "$d/"
        for f in "$json_seeds"/*-first*.json "$json_seeds"/unicode-*.json; do
            gzip -9 -c "$f" >"$d/$(basename "$f").gz"
        done ;;
    record)
        rm -rf "$d" && mkdir -p "$d"
        $CC $CFLAGS -Istorage tests/fuzz/seed_record.c "$BUILD/libstore.a" $LIBS \
            -fsanitize=fuzzer-no-link -o "$BUILD/seed_record" &&
            "$BUILD/seed_record" "$d" "$json_seeds"/* >/dev/null ;;
    config)
        rm -rf "$d" && mkdir -p "$d" && cp tests/fuzz/seeds/config/* "$d/"
        [ ! -f etc/eddy.conf ] || cp etc/eddy.conf "$d/" ;;
    *) d=$json_seeds ;;
    esac
    echo "$d"
}

# ---- run ----------------------------------------------------------------------

failed=0
summary=()
for h in "${built[@]}"; do
    bin=$BUILD/fuzz_$h
    dict=tests/fuzz/json.dict
    [ "$h" != config ] || dict=tests/fuzz/config.dict
    opts=(-max_len="$MAX_LEN" -timeout=10 -rss_limit_mb=2048 -dict="$dict" -print_final_stats=1)

    # 1. saved regression inputs: every one must run clean
    regress=(tests/fuzz/regress/"$h"/*)
    if [ -e "${regress[0]}" ]; then
        if "$bin" "${opts[@]}" "${regress[@]}" >"$BUILD/logs/$h.regress.log" 2>&1; then
            echo "fuzz_$h: ${#regress[@]} regression inputs pass"
        else
            echo "fuzz_$h: REGRESSION INPUT FAILS (log: $BUILD/logs/$h.regress.log)"
            grep -m5 -E 'ERROR|property broken|SUMMARY|Running:' "$BUILD/logs/$h.regress.log"
            summary+=("fuzz_$h: a saved regression input fails: $(grep '^Running:' "$BUILD/logs/$h.regress.log" | tail -1)")
            failed=1
        fi
    fi

    # 2. timed run on the saved corpus plus fresh seeds
    seeds=$(seed_dir "$h")
    corpus=$BUILD/corpus/$h findings=$BUILD/findings/$h
    mkdir -p "$corpus" "$findings"
    log=$BUILD/logs/$h.log
    timeout -k 10 $((SECS + 120)) "$bin" "${opts[@]}" -max_total_time="$SECS" \
        -artifact_prefix="$findings/" "$corpus" "$seeds" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    new=$(find "$findings" -type f -newer "$bin" | wc -l)
    if [ $rc -ne 0 ]; then
        failed=1
        echo "fuzz_$h: FAILED (exit $rc) after ${execs:-?} executions; log: $log"
        grep -m8 -E 'ERROR|property broken|SUMMARY|Test unit written|runtime error' "$log"
    fi
    line="fuzz_$h: ${execs:-0} executions in ${SECS}s, ${cov:-cov: ?}, corpus $(ls "$corpus" | wc -l), findings $new"
    echo "$line"
    summary+=("$line")
done

echo "# fuzz summary"
printf '%s\n' "${summary[@]}"
exit $failed
