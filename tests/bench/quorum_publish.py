#!/usr/bin/python3
"""quorum_publish.py - what an ack that waits for a quorum fsync costs
(DESIGN.md "Replication"): publishes one Currents batch over and over to a
RabbitMQ quorum queue (3 replicas) with publisher confirms, and posts the
same body to one eddyd, in the same run on the same machine.

For each target: sequential (one request in flight: the latency of an ack)
and --clients connections at once (throughput). Prints one JSON object.
Needs python3-pika (Debian's, hence /usr/bin/python3); run by quorum.sh.
"""
import argparse
import http.client
import json
import multiprocessing
import statistics
import time
import urllib.parse

import pika


def rabbit_channel(port):
    conn = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", port))
    ch = conn.channel()
    ch.confirm_delivery()
    return conn, ch


def rabbit_sender(port):
    conn, ch = rabbit_channel(port)
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def send(body):
        # With confirms on, basic_publish returns once the broker confirmed:
        # for a quorum queue, after a majority of replicas wrote it to disk.
        ch.basic_publish("", "eddy", body, props, mandatory=True)

    return send, conn.close


def eddyd_sender(url):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    path = u.path + "?" + u.query

    def send(body):
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            raise RuntimeError("eddyd answered %d" % r.status)

    return send, conn.close


def sequential(make, body, n):
    send, close = make()
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        send(body)
        lat.append(time.perf_counter() - t)
    close()
    lat.sort()
    return {"requests": n, "p50_ms": round(statistics.median(lat) * 1000, 2),
            "p99_ms": round(lat[int(len(lat) * 0.99) - 1] * 1000, 2)}


def parallel(make, body, clients, seconds):
    # One process per client: Python threads would serialize on the GIL
    # and measure the client instead of the server.
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    stop = time.time() + seconds

    def run():
        send, close = make()
        n = 0
        while time.time() < stop:
            send(body)
            n += 1
        close()
        q.put(n)

    procs = [ctx.Process(target=run) for _ in range(clients)]
    t0 = time.time()
    for pr in procs:
        pr.start()
    total = sum(q.get() for _ in procs)
    for pr in procs:
        pr.join()
    dt = time.time() - t0
    return {"clients": clients, "requests": total, "per_s": round(total / dt, 1),
            "MB_per_s": round(total * len(body) / dt / 1e6, 1)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--body", required=True)
    p.add_argument("--amqp-port", type=int, required=True)
    p.add_argument("--eddyd-url", required=True)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10)
    a = p.parse_args()
    body = open(a.body, "rb").read()

    conn, ch = rabbit_channel(a.amqp_port)
    ch.queue_declare("eddy", durable=True,
                     arguments={"x-queue-type": "quorum", "x-quorum-initial-group-size": 3})
    conn.close()

    def rabbit():
        return rabbit_sender(a.amqp_port)

    def eddyd():
        return eddyd_sender(a.eddyd_url)

    out = {"body_bytes": len(body)}
    # Interleaved, so both see the same machine.
    for name, make in (("eddyd", eddyd), ("quorum_queue", rabbit)):
        out[name] = {"sequential": sequential(make, body, a.requests)}
    for name, make in (("eddyd", eddyd), ("quorum_queue", rabbit)):
        out[name]["parallel"] = parallel(make, body, a.clients, a.seconds)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
