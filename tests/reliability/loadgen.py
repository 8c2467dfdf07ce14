#!/usr/bin/env python3
"""loadgen.py - posts generated Currents batches to eddyd and records every
event id that was answered 200 (acknowledged), for the reliability suite.

Each event gets a unique id "<prefix>-<thread>-<n>". A batch's ids are
appended to --acked (one per line, flushed at once) only after its 200 came
back, so the file is exactly the set of events eddyd promised to keep; a
SIGKILLed eddyd just looks like refused or reset connections, which are
counted and retried with fresh events. Runs until --duration seconds pass,
--batches batches were acknowledged, or --stop-file appears; then writes the
per-status counts as JSON to --stats. An https:// URL (a TLS front such as
etc/haproxy-eddy.cfg) is verified against --cacert.
"""
import argparse
import gzip
import http.client
import json
import os
import random
import ssl
import threading
import time
import urllib.parse

TYPES = ["users.messages.email.Send", "users.messages.email.Open", "users.behaviors.CustomEvent",
         "users.messages.pushnotification.Send", "users.campaigns.Conversion"]


def filler(rng, n, incompressible):
    # Hex of random bytes compresses about 2:1, as real event properties do
    # roughly; a run of "x" compresses to almost nothing.
    return rng.randbytes((n + 1) // 2).hex()[:n] if incompressible else "x" * n


def make_batch(rng, prefix, tid, counter, max_events, marker, marker_ratio, pad, random_pad):
    events = []
    for _ in range(rng.randint(1, max_events)):
        counter[0] += 1
        eid = "%s-%d-%d" % (prefix, tid, counter[0])
        props = {"n": counter[0], "pad": filler(rng, rng.randint(0, pad), random_pad)}
        if marker and rng.random() < marker_ratio:
            props["note"] = marker
        events.append({"id": eid, "event_type": rng.choice(TYPES), "time": int(time.time()),
                       "user": {"user_id": "u%d" % rng.randint(1, 500),
                                "external_user_id": "cust-%d" % rng.randint(1, 500)},
                       "properties": props})
    return [e["id"] for e in events], json.dumps({"events": events}).encode()


class Shared:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.acked = open(args.acked, "a", encoding="utf-8")
        self.counts = {}
        self.after503 = {}  # answers counted from the first 503 on (disk full)
        self.acked_batches = 0
        self.acked_events = 0
        self.stop = False

    def count(self, what):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + 1
            if self.after503 or what == "503":
                self.after503[what] = self.after503.get(what, 0) + 1

    def ack(self, ids):
        with self.lock:
            self.acked.write("".join(i + "\n" for i in ids))
            self.acked.flush()
            self.acked_batches += 1
            self.acked_events += len(ids)
            if self.args.batches and self.acked_batches >= self.args.batches:
                self.stop = True


def worker(shared, tid):
    a = shared.args
    u = urllib.parse.urlsplit(a.url)
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    rng = random.Random(a.seed * 1000 + tid)
    counter = [0]
    conn = None
    deadline = time.time() + a.duration if a.duration else None
    while not shared.stop:
        if deadline and time.time() >= deadline:
            break
        if a.stop_file and os.path.exists(a.stop_file):
            break
        ids, body = make_batch(rng, a.prefix, tid, counter, a.max_events, a.marker,
                               a.marker_ratio, a.pad, a.random_pad)
        headers = {"Content-Type": "application/json"}
        if a.token:
            headers["Authorization"] = "Bearer " + a.token
        if a.gzip_ratio and rng.random() < a.gzip_ratio:
            body = gzip.compress(body, 1)
            headers["Content-Encoding"] = "gzip"
        try:
            if conn is None and u.scheme == "https":
                tls = ssl.create_default_context(cafile=a.cacert)
                conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=a.timeout,
                                                   context=tls)
            elif conn is None:
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
            conn.request("POST", path, body=body, headers=headers)
            resp = conn.getresponse()
            answer = resp.read()
            status = resp.status
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            shared.count("conn:" + type(e).__name__)
            if conn:
                conn.close()
            conn = None
            time.sleep(a.retry_sleep)
            continue
        shared.count(str(status))
        if status == 200:
            try:
                ok = json.loads(answer).get("events") == len(ids)
            except ValueError:
                ok = False
            if not ok:
                shared.count("200-bad-answer")
            shared.ack(ids)
        else:
            time.sleep(a.retry_sleep)
        if a.interval:
            time.sleep(a.interval)
    if conn:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True, help="ingest URL, with ?writeKey= if wanted")
    p.add_argument("--token", default="")
    p.add_argument("--cacert", help="CA file for an https:// URL")
    p.add_argument("--acked", required=True)
    p.add_argument("--stats")
    p.add_argument("--prefix", default="ev")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--max-events", type=int, default=20)
    p.add_argument("--pad", type=int, default=200, help="max filler bytes per event")
    p.add_argument("--random-pad", action="store_true",
                   help="filler of random hex, so stored (compressed) bodies stay large")
    p.add_argument("--gzip-ratio", type=float, default=0.2)
    p.add_argument("--marker", default="")
    p.add_argument("--marker-ratio", type=float, default=0.0)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--batches", type=int, default=0)
    p.add_argument("--stop-file")
    p.add_argument("--interval", type=float, default=0)
    p.add_argument("--retry-sleep", type=float, default=0.02)
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    shared = Shared(a)
    threads = [threading.Thread(target=worker, args=(shared, t), daemon=True)
               for t in range(a.threads)]
    for t in threads:
        t.start()
    # The stats file is rewritten twice a second, so a test can watch the
    # answers while the load runs (e.g. wait for the first 503s).
    while any(t.is_alive() for t in threads):
        time.sleep(0.5)
        write_stats(shared)
    shared.acked.close()
    print(json.dumps(write_stats(shared)))


def write_stats(shared):
    with shared.lock:
        stats = {"acked_batches": shared.acked_batches, "acked_events": shared.acked_events,
                 "answers": dict(shared.counts), "answers_after_first_503": dict(shared.after503)}
    if shared.args.stats:
        tmp = shared.args.stats + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(stats, f)
        os.replace(tmp, shared.args.stats)
    return stats


if __name__ == "__main__":
    main()
