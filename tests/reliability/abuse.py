#!/usr/bin/env python3
"""abuse.py - hostile clients against eddyd's ingest listener, with a
well-behaved client posting a small batch every 100 ms alongside.

  abuse.py MODE --port P [--seconds S] [--max-body BYTES]
  MODE: idle | slowloris | trickle | overlimit | deep | badcreds | gzipbomb
        | fds (with --pid, --log, --admin-port: eddyd started with few fds)
        | bigbad (--connections bodies of --body-mb MB at once, wrong key)
        | biggood (the same with valid batches and the right key: all 200)

Prints one JSON object with the figures (the good client's answers and its
worst latency, what the abuse got back) and exits 1 when the good client got
anything but 200 within 5 s, or the abuse got an answer it must not get.
"""
import argparse
import gzip
import http.client
import json
import os
import resource
import socket
import sys
import threading
import time
import zlib

HOST = "127.0.0.1"
GOOD_BODY = json.dumps({"events": [{"id": "good", "event_type": "users.messages.email.Send",
                                    "user": {"user_id": "u1", "external_user_id": "c1"}}]})


class GoodClient(threading.Thread):
    """Posts a valid one-event batch every 100 ms on a fresh connection."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.stop, self.answers, self.worst = port, False, {}, 0.0

    def run(self):
        n = 0
        while not self.stop:
            n += 1
            t = time.time()
            try:
                c = http.client.HTTPConnection(HOST, self.port, timeout=5)
                c.request("POST", "/v1/webhook?writeKey=test-key",
                          body=GOOD_BODY.replace("good", "good-%d" % n),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                r.read()
                c.close()
                k = str(r.status)
            except (OSError, http.client.HTTPException) as e:
                k = "error:" + type(e).__name__
            self.worst = max(self.worst, time.time() - t)
            self.answers[k] = self.answers.get(k, 0) + 1
            time.sleep(0.1)


def closed_by_server(socks):
    """How many of socks the server has closed (EOF or reset)."""
    n = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1, socket.MSG_PEEK) == b"":
                n += 1
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


def connect_many(port, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=5)
        socks.append(s)
    return socks


def mode_idle(a, fig):
    socks = connect_many(a.port, a.connections or 1000)
    fig["opened"] = len(socks)
    time.sleep(a.seconds)
    fig["closed_by_server"] = closed_by_server(socks)
    for s in socks:
        s.close()


def drip(a, fig, prefix, total):
    """Opens connections that send prefix, then the rest one byte a second."""
    socks = connect_many(a.port, a.connections or 100)
    for s in socks:
        s.sendall(prefix)
    sent = 0
    end = time.time() + a.seconds
    while time.time() < end and sent < total:
        for s in socks:
            try:
                s.send(b"a")
            except OSError:
                pass
        sent += 1
        time.sleep(1)
    fig["opened"] = len(socks)
    fig["bytes_dripped_each"] = sent
    fig["closed_by_server"] = closed_by_server(socks)
    for s in socks:
        s.close()


def mode_slowloris(a, fig):
    drip(a, fig, b"POST /v1/webhook?writeKey=test-key HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ",
         10 ** 6)


def mode_trickle(a, fig):
    n = 100000
    drip(a, fig, b"POST /v1/webhook?writeKey=test-key HTTP/1.1\r\nHost: 127.0.0.1\r\n"
         b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n{\"events\":[\"" % n, n)


def post_raw(port, body, headers, path="/v1/webhook?writeKey=test-key", timeout=30):
    c = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.request("POST", path, body=body, headers=headers)
    except OSError:
        pass  # the server may answer and close before reading it all
    try:
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:
        return "error:" + type(e).__name__
    finally:
        c.close()


def mode_overlimit(a, fig):
    body = b'{"events":[' + b'"' + b"x" * (2 * a.max_body) + b'"]}'
    fig["plain_status"] = post_raw(a.port, body, {"Content-Type": "application/json"})
    # Also over the limit only once decompressed.
    fig["gzip_status"] = post_raw(a.port, gzip.compress(body, 1),
                                  {"Content-Type": "application/json",
                                   "Content-Encoding": "gzip"})
    fig["ok"] = fig["plain_status"] == 413 and fig["gzip_status"] == 413


def mode_deep(a, fig):
    d = 100000
    arrays = b'{"events":[' + b"[" * d + b"]" * d + b"]}"
    objects = b'{"events":[' + b'{"a":' * d + b"1" + b"}" * d + b"]}"
    unclosed = b'{"events":[' + b"[" * d
    fig["arrays_status"] = post_raw(a.port, arrays, {"Content-Type": "application/json"})
    fig["objects_status"] = post_raw(a.port, objects, {"Content-Type": "application/json"})
    fig["unclosed_status"] = post_raw(a.port, unclosed, {"Content-Type": "application/json"})
    # Valid JSON, one event each: 200 (stored); an unclosed text: 400.
    fig["ok"] = (fig["arrays_status"] == 200 and fig["objects_status"] == 200 and
                 fig["unclosed_status"] == 400)


def mode_badcreds(a, fig):
    total, threads, counts, lock = 10000, 4, {}, threading.Lock()

    def run(tid):
        c = None
        for i in range(tid, total, threads):
            if c is None:
                c = http.client.HTTPConnection(HOST, a.port, timeout=10)
            if i % 2:
                path, h = "/v1/webhook?writeKey=wrong-%d" % i, {}
            else:
                path, h = "/v1/webhook", {"Authorization": "Bearer wrong-%d" % i}
            h["Content-Type"] = "application/json"
            try:
                c.request("POST", path, body=GOOD_BODY, headers=h)
                r = c.getresponse()
                r.read()
                k = str(r.status)
                if r.getheader("Connection", "").lower() == "close":
                    c.close()
                    c = None
            except (OSError, http.client.HTTPException) as e:
                k = "error:" + type(e).__name__
                c.close()
                c = None
            with lock:
                counts[k] = counts.get(k, 0) + 1

    t0 = time.time()
    ts = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    fig["requests"] = total
    fig["answers"] = counts
    fig["seconds"] = round(time.time() - t0, 2)
    fig["ok"] = counts.get("401", 0) == total


def mode_gzipbomb(a, fig):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zero = b"\0" * (1 << 20)
    parts = [c.compress(b'{"events":["')]
    for _ in range(256):
        parts.append(c.compress(zero))
    parts.append(c.flush())
    bomb = b"".join(parts)
    fig["compressed_bytes"] = len(bomb)
    fig["inflated_bytes"] = 256 << 20
    t0 = time.time()
    fig["status"] = post_raw(a.port, bomb, {"Content-Type": "application/json",
                                            "Content-Encoding": "gzip"})
    fig["seconds"] = round(time.time() - t0, 2)
    fig["ok"] = fig["status"] == 413


def post_many(a, fig, key, body, want):
    """Posts body on --connections connections at once; ok when all get want."""
    n = a.connections or 16
    head = ("POST /v1/webhook?writeKey=%s HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % (key, len(body))).encode()
    answers, lock = {}, threading.Lock()

    def run():
        k = "none"
        try:
            s = socket.create_connection((HOST, a.port), timeout=60)
            s.sendall(head)
            s.sendall(body)
            line = s.makefile("rb").readline().split()
            k = line[1].decode() if len(line) > 1 else "eof"
            s.close()
        except OSError as e:
            k = "error:" + type(e).__name__
        with lock:
            answers[k] = answers.get(k, 0) + 1

    t0 = time.time()
    ts = [threading.Thread(target=run) for _ in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    fig["seconds"] = round(time.time() - t0, 2)
    fig["bodies"] = "%d x %d MiB" % (n, a.body_mb)
    fig["answers"] = answers
    fig["ok"] = answers.get(want, 0) == n


def mode_bigbad(a, fig):
    """Large bodies with a wrong write key, all at once: each gets 401, and
    eddyd must not hold them all in memory while they arrive."""
    post_many(a, fig, "wrong", b"x" * (a.body_mb << 20), "401")


def mode_biggood(a, fig):
    """Large valid batches at once: readers paused for memory resume, and
    every one is stored."""
    pad = b"p" * ((a.body_mb << 20) - 200)
    body = b'{"events":[{"id":"big","event_type":"t","user":{"user_id":"u"},"p":"' + pad + b'"}]}'
    post_many(a, fig, "test-key", body, "200")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines(path):
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def mode_fds(a, fig):
    """More connections than eddyd has descriptors for: it must not spin or
    flood its log, /healthz must keep answering, and ingest must work again
    once the connections are gone."""
    socks = connect_many(a.port, a.connections or 80)
    time.sleep(0.5)
    if a.ready:
        open(a.ready, "w").close()
    cpu0, lines0, t0 = cpu_seconds(a.pid), log_lines(a.log), time.time()
    health = {}
    while time.time() - t0 < a.seconds:
        try:
            c = http.client.HTTPConnection(HOST, a.admin_port, timeout=2)
            c.request("GET", "/healthz")
            k = str(c.getresponse().status)
            c.close()
        except (OSError, http.client.HTTPException) as e:
            k = "error:" + type(e).__name__
        health[k] = health.get(k, 0) + 1
        time.sleep(a.probe_every)
    dt = time.time() - t0
    fig["cpu_percent"] = round(100 * (cpu_seconds(a.pid) - cpu0) / dt, 1)
    fig["log_lines"] = log_lines(a.log) - lines0
    fig["healthz"] = health
    for s in socks:
        s.close()
    status, t1 = None, time.time()
    while time.time() - t1 < 10 and status != 200:
        status = post_raw(a.port, GOOD_BODY.encode(), {"Content-Type": "application/json"},
                          timeout=5)
        if status != 200:
            time.sleep(0.2)
    fig["post_after"] = status
    fig["ok"] = (fig["cpu_percent"] < 25 and fig["log_lines"] <= 2 * a.seconds + 2 and
                 set(health) == {"200"} and status == 200)


MODES = {"idle": mode_idle, "slowloris": mode_slowloris, "trickle": mode_trickle,
         "overlimit": mode_overlimit, "deep": mode_deep, "badcreds": mode_badcreds,
         "gzipbomb": mode_gzipbomb, "fds": mode_fds,
         "bigbad": mode_bigbad, "biggood": mode_biggood}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=sorted(MODES))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--seconds", type=float, default=5)
    p.add_argument("--connections", type=int, default=0)
    p.add_argument("--max-body", type=int, default=1 << 20)
    p.add_argument("--body-mb", type=int, default=30)
    p.add_argument("--pid", type=int)
    p.add_argument("--log")
    p.add_argument("--admin-port", type=int)
    p.add_argument("--probe-every", type=float, default=0.5)
    p.add_argument("--ready", help="fds: a file created once the connections are open")
    a = p.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    # With descriptors exhausted no client can be served: fds checks
    # ingest after the abuse instead.
    good = GoodClient(a.port) if a.mode != "fds" else None
    if good:
        good.start()
    fig = {"mode": a.mode}
    MODES[a.mode](a, fig)
    good_ok = True
    if good:
        time.sleep(0.5)  # one more good request after the abuse
        good.stop = True
        good.join()
        fig["good_answers"] = good.answers
        fig["good_worst_s"] = round(good.worst, 3)
        good_ok = set(good.answers) == {"200"} and good.worst < 5
    print(json.dumps(fig))
    sys.exit(0 if good_ok and fig.get("ok", True) else 1)


if __name__ == "__main__":
    main()
