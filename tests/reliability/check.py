#!/usr/bin/env python3
"""check.py - where did every acknowledged event go?

Reads the ids loadgen.py recorded as acknowledged (--acked, repeatable), the
fake RudderStack's NDJSON output of accepted requests (--sink, repeatable),
and eddy's LMDB stores (--data-dir, repeatable: one per node) through
lmdb-utils' mdb_dump, so that the check does not trust eddy's own code to
read its records. Every acknowledged id must be at the sink, in pending or
in dead. Prints one line

  acked=N at_sink=N pending=N dead=N lost=N duplicates=N unacked_delivered=N

and exits 1 when an id is lost, or when --max-dead / --max-pending are
exceeded (ids of acknowledged events found there).
"""
import argparse
import json
import struct
import subprocess
import sys
import zlib

MAGIC = b"EDR1"
HEADER = 48


def dump_db(data_dir, name):
    """Values of LMDB database `name`, via mdb_dump's hex (bytevalue) format."""
    out = subprocess.run(["mdb_dump", "-s", name, data_dir], capture_output=True)
    if out.returncode != 0:
        err = out.stderr.decode(errors="replace")
        if "MDB_NOTFOUND" in err or "not found" in err.lower():
            return []
        sys.exit("check.py: mdb_dump -s %s %s failed: %s" % (name, data_dir, err.strip()))
    lines = out.stdout.decode().split("\n")
    try:
        start = lines.index("HEADER=END") + 1
    except ValueError:
        return []
    pairs = []
    body = [l[1:] for l in lines[start:] if l.startswith(" ")]
    for i in range(0, len(body) - 1, 2):
        pairs.append((bytes.fromhex(body[i]), bytes.fromhex(body[i + 1])))
    return pairs


def record_ids(value, db):
    """Event ids in the body of the record inside an LMDB value."""
    at = value.find(MAGIC)
    if at < 0:
        raise ValueError("no record in a %s value" % db)
    h = value[at:at + HEADER]
    klen = struct.unpack_from("<H", h, 6)[0]
    tlen = struct.unpack_from("<I", h, 8)[0]
    blen = struct.unpack_from("<Q", h, 32)[0]
    off = at + HEADER + klen + tlen
    if h[4] >= 2 and h[5] & 8:
        # version 2 or 3, gzip: the rest of the value is one gzip member of the
        # blen raw bytes (the record ends a pending or a dead value)
        body = zlib.decompress(value[off:], 31)
    else:
        body = value[off:off + blen]
    if len(body) != blen:
        raise ValueError("short record in %s" % db)
    events = json.loads(body.decode("utf-8", errors="surrogateescape"))["events"]
    return [e.get("id") for e in events if isinstance(e, dict)]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--acked", action="append", default=[])
    p.add_argument("--sink", action="append", default=[])
    p.add_argument("--data-dir", action="append", default=[])
    p.add_argument("--max-dead", type=int, default=-1)
    p.add_argument("--max-pending", type=int, default=-1)
    p.add_argument("--json", help="also write the figures to this file")
    a = p.parse_args()

    acked = set()
    for f in a.acked:
        with open(f, encoding="utf-8") as fh:
            acked.update(l.strip() for l in fh if l.strip())

    seen = {}
    for f in a.sink:
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    for i in json.loads(line).get("ids") or []:
                        if i is not None:
                            seen[i] = seen.get(i, 0) + 1

    pending, dead = set(), set()
    for d in a.data_dir:
        for _, v in dump_db(d, "pending"):
            pending.update(record_ids(v, "pending"))
        for _, v in dump_db(d, "dead"):
            dead.update(record_ids(v, "dead"))

    lost = sorted(i for i in acked if i not in seen and i not in pending and i not in dead)
    fig = {
        "acked": len(acked),
        "at_sink": sum(1 for i in acked if i in seen),
        "pending": len(acked & pending),
        "dead": len(acked & dead),
        "lost": len(lost),
        "duplicates": sum(n - 1 for n in seen.values() if n > 1),
        "unacked_delivered": sum(1 for i in seen if i not in acked),
    }
    print(" ".join("%s=%d" % kv for kv in fig.items()))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as fh:
            json.dump(fig, fh)
    if lost:
        print("lost ids (first 20): " + " ".join(lost[:20]))
    bad = bool(lost)
    if a.max_dead >= 0 and fig["dead"] > a.max_dead:
        print("acknowledged events dead-lettered: %d > %d" % (fig["dead"], a.max_dead))
        bad = True
    if a.max_pending >= 0 and fig["pending"] > a.max_pending:
        print("acknowledged events still pending: %d > %d" % (fig["pending"], a.max_pending))
        bad = True
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
