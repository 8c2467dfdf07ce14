#!/usr/bin/env python3
"""ingest_client.py - HTTP load and checks for tests/e2e/ingest.bats.

  edge URL QUERY FIXDIR OUT      post every case of FIXDIR/manifest.json, one
                                 line per case to OUT: "file status events id"
  load URL QUERY N CLIENTS OUT   post N generated batches from CLIENTS threads
                                 (keep-alive connections); OUT/posted.tsv gets
                                 "id sha256 len" for every 200, OUT/status.tsv
                                 every answer's status
  flood URL QUERY CLIENTS OUT    like load, without end, until connections fail
  verify DUMPDIR POSTED          every posted id is in the qtool dump with the
                                 same bytes; prints the count
Bodies are deterministic, distinct and of varied sizes (1..40 events).
"""
import hashlib
import http.client
import json
import os
import sys
import threading
import urllib.parse

TYPES = ["users.messages.email.Send", "users.behaviors.app.SessionStart",
         "users.campaigns.Conversion", "users.messages.pushnotification.Open"]


def gen_body(n):
    events = []
    for j in range(1 + (n * 7) % 40):
        events.append({
            "id": "b%06d-e%02d" % (n, j),
            "event_type": TYPES[(n + j) % len(TYPES)],
            "time": 1767225600 + n,
            "user": {"user_id": "u%d" % (n % 97), "external_user_id": "x%d" % n},
            "properties": {"pad": "p" * ((n * 131 + j * 17) % 600), "n": n, "uni": "\u00e9\u2603"},
        })
    # separators vary so the stored bytes are not what json.dumps would redo
    return json.dumps({"events": events}, separators=(", ", ": ") if n % 2 else (",", ":"),
                      ensure_ascii=bool(n % 3)).encode()


class Poster:
    def __init__(self, url, query):
        u = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = u.hostname, u.port, u.path + ("?" + query if query else "")
        self.conn = None

    def post(self, body, headers=None):
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
            try:
                h = {"Content-Type": "application/json"}
                h.update(headers or {})
                self.conn.request("POST", self.path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return r.status, data, r
            except (ConnectionError, http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise RuntimeError("unreachable")


def cmd_edge(url, query, fixdir, out):
    manifest = json.load(open(os.path.join(fixdir, "manifest.json")))
    p = Poster(url, query)
    with open(out, "w") as f:
        for case in manifest["cases"]:
            body = open(os.path.join(fixdir, case["file"]), "rb").read()
            status, data, _ = p.post(body)
            try:
                ans = json.loads(data)
            except ValueError:
                ans = {}
            f.write("%s %d %d %s %s\n" % (case["file"], case["status"], status,
                                          ans.get("events", "-"), ans.get("id", "-")))


def run_clients(url, query, clients, out, total=None):
    lock = threading.Lock()
    counter = [0]
    posted = open(os.path.join(out, "posted.tsv"), "w")
    statuses = open(os.path.join(out, "status.tsv"), "w")
    errors = []

    def worker():
        p = Poster(url, query)
        while True:
            with lock:
                n = counter[0]
                if total is not None and n >= total:
                    return
                counter[0] += 1
            body = gen_body(n)
            try:
                status, data, resp = p.post(body)
            except Exception as e:  # connection refused after shutdown
                with lock:
                    errors.append(str(e))
                if total is None:
                    return
                continue
            with lock:
                statuses.write("%d %d %s\n" % (n, status, resp.getheader("Retry-After") or "-"))
                statuses.flush()
                if status == 200:
                    ans = json.loads(data)
                    assert ans["status"] == "ok" and ans["events"] == 1 + (n * 7) % 40, ans
                    posted.write("%d %s %d\n" % (ans["id"], hashlib.sha256(body).hexdigest(),
                                                 len(body)))
                    posted.flush()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posted.close()
    statuses.close()
    if total is not None and errors:
        print("errors: %d, first: %s" % (len(errors), errors[0]), file=sys.stderr)
        sys.exit(1)


def cmd_verify(dumpdir, posted):
    n = 0
    seen = set()
    for line in open(posted):
        seq, sha, length = line.split()
        if seq in seen:
            sys.exit("id %s answered twice" % seq)
        seen.add(seq)
        path = os.path.join(dumpdir, seq + ".body")
        if not os.path.exists(path):
            sys.exit("id %s was answered 200 but is not pending" % seq)
        data = open(path, "rb").read()
        if len(data) != int(length) or hashlib.sha256(data).hexdigest() != sha:
            sys.exit("id %s: stored bytes differ from what was posted" % seq)
        n += 1
    print(n)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "edge":
        cmd_edge(*args)
    elif cmd == "load":
        run_clients(args[0], args[1], int(args[3]), args[4], total=int(args[2]))
    elif cmd == "flood":
        run_clients(args[0], args[1], int(args[2]), args[3])
    elif cmd == "verify":
        cmd_verify(*args)
    elif cmd == "body":
        sys.stdout.buffer.write(gen_body(int(args[0])))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
