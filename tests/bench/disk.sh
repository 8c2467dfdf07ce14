#!/usr/bin/env bash
# tests/bench/disk.sh - bytes on disk per raw byte: every tests/fixtures/corpus
# body posted $REPS times through eddyd (the sink down, so all stays pending),
# once with [storage] compress = gzip (the default) and once with none, in
# the same run. On disk = the pending database's pages (branch + leaf +
# overflow, from lmdb-utils' mdb_stat) x the page size; raw = the bodies'
# bytes. Target: gzip <= 0.30. Also prints how many days of outage a 100 GB
# disk holds at 1,000 events/s (up to high_water 0.95), from the measured
# bytes per event.
set -u
cd "$(dirname "$0")/../.."
REPS=${REPS:-5}
BENCH="disk bench"
tmp=$(mktemp -d "${PWD}/var/bench-disk.XXXXXX" 2>/dev/null || mktemp -d)
scratch=$tmp
. tests/bench/lib.bash
need eddyd
command -v mdb_stat >/dev/null || { echo "$BENCH: mdb_stat missing (make deps: lmdb-utils)"; exit 1; }
bodies=(tests/fixtures/corpus/batch-*.json)

# measure COMPRESS: writes "pages page_size raw_bytes events" to $tmp/COMPRESS
measure() {
    local ip adp f raw=0 events=0 i
    ip=$(port) adp=$(port)
    rm -rf "$tmp/data"
    bench_conf "$tmp/eddy.conf" "$ip" "$adp" "$tmp/data" max_size=4G compress="$1"
    "$BUILD/eddyd" -c "$tmp/eddy.conf" 2>"$tmp/eddyd.log" &
    pids+=($!)
    wait_port "http://127.0.0.1:$adp/healthz" || return 1
    for i in $(seq 1 "$REPS"); do
        for f in "${bodies[@]}"; do
            code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$f" \
                "http://127.0.0.1:$ip/v1/webhook?writeKey=bench")
            [ "$code" = 200 ] || { echo "$BENCH: $f answered $code" >&2; return 1; }
            raw=$((raw + $(stat -c %s "$f")))
        done
    done
    events=$(curl -s "http://127.0.0.1:$adp/status" | python3 -c 'import json,sys; print(json.load(sys.stdin)["pending"]["events"])')
    kill "${pids[-1]}"
    wait "${pids[-1]}" 2>/dev/null
    mdb_stat -e -s pending "$tmp/data" | awk -v raw="$raw" -v ev="$events" '
        /Page size:/ {ps = $3} /Branch pages:/ {p += $3} /Leaf pages:/ {p += $3}
        /Overflow pages:/ {p += $3} END {print p, ps, raw, ev}' >"$tmp/$1"
}

measure gzip || exit 1
measure none || exit 1
read -r gp gps graw gev <"$tmp/gzip"
read -r np nps nraw nev <"$tmp/none"
python3 - "$gp" "$gps" "$graw" "$gev" "$np" "$nps" "$nraw" "$nev" "$REPS" "${#bodies[@]}" <<'PY'
import sys
gp, gps, graw, gev, np_, nps, nraw, nev, reps, nb = map(int, sys.argv[1:])
print("== disk: %d corpus bodies x %d posted through eddyd, %d raw bytes, %d events" % (nb, reps, graw, gev))
for name, p, ps, raw, ev in (("gzip", gp, gps, graw, gev), ("none", np_, nps, nraw, nev)):
    per_event = p * ps / ev
    day = per_event * 1000 * 86400
    print("compress = %-4s  %6d pages x %d = %10d bytes, %.3f per raw byte, %5.0f bytes/event; "
          "100 GB at 1,000 events/s: %.1f days" % (name, p, ps, p * ps, p * ps / raw, per_event,
                                                     100e9 * 0.95 / day))
print("bytes on disk per raw byte (gzip): %.4f  (target <= 0.30)" % (gp * gps / graw))
PY
