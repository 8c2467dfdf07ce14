"""load.py - one recorded run: eddyd under load, with the DLQ moving.

A fresh store is created (eddyd started and stopped once, then synced:
that is the run's base), then eddyd runs again, under the recorder when
asked, while:
- several clients post batches of 1-20 events with unique ids, a few
  carrying a marker the fake RudderStack answers 400 for, so delivery
  bisects and dead-letters them; each client logs, per 200, the monotonic
  time the answer arrived and the batch's event ids;
- delivery forwards to build/fake-rudderstack, which logs every accepted
  request with its event ids and a monotonic stamp taken before it answers;
- `eddy dlq replay --all` runs again and again (under the recorder too),
  moving the dead letters back to pending while ingest and delivery go on.
All timers are CLOCK_MONOTONIC (time.monotonic_ns on Linux).
"""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.request

MARKER = "poison-pl"
KEY = "pl-key"


def free_ports(n):
    """n distinct free ports on 127.0.0.1, bound all at once (asked for one
    at a time, two can come back the same)."""
    held = [socket.socket() for _ in range(n)]
    for s in held:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in held]
    for s in held:
        s.close()
    return ports


def log_count(path, what):
    with open(path, "rb") as f:
        return f.read().count(what)


def wait_http(url, seconds=15):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError as e:
            if getattr(e, "code", None):
                return  # any HTTP answer means it is up
            time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + url)


class Client(threading.Thread):
    """Posts `batches` batches one after the other on one connection; logs
    each acknowledged one to `log` as "MONOTONIC_NS id id ...\n"."""

    def __init__(self, url, name, batches, seed, log, deadline):
        super().__init__(daemon=True)
        self.url, self.name, self.batches, self.deadline = url, name, batches, deadline
        self.rng = random.Random(seed)
        self.log = open(log, "w", encoding="utf-8")
        self.last_ack = None
        self.answers = {}
        self.first_send = None

    def body(self, n):
        events, ids = [], []
        for _ in range(self.rng.randint(1, 20)):
            n += 1
            eid = "%s-%d" % (self.name, n)
            ids.append(eid)
            props = {"n": n, "pad": "x" * self.rng.randint(0, 600)}
            if self.rng.random() < 0.02:
                props["note"] = MARKER
            events.append({"id": eid, "event_type": "users.behaviors.CustomEvent",
                           "time": int(time.time()),
                           "user": {"external_user_id": "cust-%d" % self.rng.randint(1, 50)},
                           "properties": props})
        return n, ids, json.dumps({"events": events}).encode()

    def run(self):
        host, port = self.url
        conn = None
        n = sent = 0
        path = "/v1/webhook?writeKey=" + KEY
        self.first_send = time.monotonic_ns()
        while sent < self.batches and time.monotonic() < self.deadline:
            n2, ids, body = self.body(n)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("POST", path, body=body,
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                t = time.monotonic_ns()  # as soon as the status line is in
                resp.read()
            except (OSError, http.client.HTTPException) as e:
                self.answers[type(e).__name__] = self.answers.get(type(e).__name__, 0) + 1
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.05)
                continue
            self.answers[resp.status] = self.answers.get(resp.status, 0) + 1
            if resp.status == 200:
                self.log.write("%d %s\n" % (t, " ".join(ids)))
                self.last_ack = t
                n = n2
                sent += 1
            else:
                time.sleep(0.05)
        if conn:
            conn.close()
        self.log.close()
        self.finished = sent == self.batches


def read_acks(paths):
    """[(monotonic ns of the 200, event id)] from the clients' logs, in time order."""
    acks = []
    for p in paths:
        with open(p, encoding="utf-8") as f:
            for line in f:
                t, *ids = line.split()
                acks.extend((int(t), i) for i in ids)
    acks.sort()
    return acks


def write_config(path, data_dir, ports, sync):
    with open(path, "w") as f:
        f.write("[ingest]\nlisten = 127.0.0.1:%d\nwrite_keys = %s\n" % (ports[0], KEY))
        f.write("[admin]\nlisten = 127.0.0.1:%d\n" % ports[1])
        f.write("[storage]\ndata_dir = %s\nmax_size = 64M\nsync = %s\n" % (data_dir, sync))
        f.write("[delivery]\nurl = http://127.0.0.1:%d/v1/webhook\nbackoff_min = 10ms\n"
                "backoff_max = 100ms\ntimeout = 5s\nmax_batch_bytes = 64K\n" % ports[2])
    os.chmod(path, 0o600)


def record(run_dir, trace, build, daemon_build, sync, clients, batches, seed, recorder=True,
           replay_every=0.4):
    """Runs the load once; returns a dict describing the run (paths, acks,
    ingest seconds, eddyd's CPU seconds). The trace goes to the directory
    trace (best on tmpfs, so recording costs no disk bandwidth). With
    recorder=False nothing is traced (the bare run the recorder's cost is
    measured against)."""
    for d in (run_dir, trace):
        if os.path.exists(d):
            shutil.rmtree(d)
        os.makedirs(d)
    data = os.path.join(run_dir, "data")
    base = os.path.join(run_dir, "base")
    ports = free_ports(3)
    conf = os.path.join(run_dir, "eddy.conf")
    write_config(conf, data, ports, sync)
    eddyd = os.path.join(daemon_build, "eddyd")
    eddy = os.path.join(daemon_build, "eddy")
    log = open(os.path.join(run_dir, "eddyd.log"), "ab")
    procs = []

    traced_env = dict(os.environ)
    traced_env.update(LD_PRELOAD=os.path.join(build, "powerloss", "recorder.so"),
                      EDDY_PL_DIR=data, EDDY_PL_TRACE=trace)
    # A sanitizer build (make asan) accepts a preloaded library this way.
    asan = os.environ.get("ASAN_OPTIONS")
    traced_env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "verify_asan_link_order=0"

    def start_eddyd(traced):
        env = traced_env if traced else os.environ
        started = log_count(log.name, b": ingest on ")
        p = subprocess.Popen([eddyd, "-c", conf], stderr=log, stdout=log, env=env)
        wait_http("http://127.0.0.1:%d/healthz" % ports[1])
        # /healthz answers a little before eddyd handles SIGTERM: its start
        # line comes after that.
        end = time.monotonic() + 15
        while log_count(log.name, b": ingest on ") == started:
            if time.monotonic() > end or p.poll() is not None:
                raise RuntimeError("eddyd did not start (see %s)" % log.name)
            time.sleep(0.02)
        return p

    def stop_eddyd(p):
        """SIGTERM, then its exit status and CPU seconds."""
        p.send_signal(signal.SIGTERM)
        end = time.monotonic() + 60
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                p.returncode = os.waitstatus_to_exitcode(status)
                return p.returncode, usage.ru_utime + usage.ru_stime
            if time.monotonic() > end:
                p.kill()
                raise RuntimeError("eddyd did not stop within 60 s of SIGTERM")
            time.sleep(0.02)

    sink_out = os.path.join(run_dir, "sink.ndjson")
    sink = subprocess.Popen([os.path.join(build, "fake-rudderstack"), "--listen",
                             "127.0.0.1:%d" % ports[2], "--out", sink_out, "--marker", MARKER],
                            stdout=subprocess.DEVNULL, stderr=log)
    procs.append(sink)
    try:
        wait_http("http://127.0.0.1:%d/_stats" % ports[2])
        # The base: a new store, created and closed, on disk for sure.
        p = start_eddyd(False)
        if stop_eddyd(p)[0] != 0:
            raise RuntimeError("eddyd (creating the store) exited %d" % p.returncode)
        os.sync()
        shutil.copytree(data, base)
        d = start_eddyd(recorder)
        procs.append(d)
        deadline = time.monotonic() + 300
        cl = [Client(("127.0.0.1", ports[0]), "r%d-c%d" % (seed, i), batches, seed * 100 + i,
                     os.path.join(run_dir, "acks.%d" % i), deadline) for i in range(clients)]
        for c in cl:
            c.start()
        replays = [0, 0]  # runs that moved something, dead letters moved
        stop = threading.Event()
        env = traced_env if recorder else os.environ

        def replayer():
            while not stop.wait(replay_every):
                r = subprocess.run([eddy, "-d", data, "dlq", "replay", "--all", "--chunk", "5"],
                                   capture_output=True, env=env)
                words = r.stdout.split()
                if r.returncode == 0 and words[:1] == [b"replayed"] and words[1] != b"0":
                    replays[0] += 1
                    replays[1] += int(words[1])

        rt = threading.Thread(target=replayer, daemon=True)
        rt.start()
        for c in cl:
            c.join()
        if not all(c.finished for c in cl):
            raise RuntimeError("the clients did not get their 200s within 300 s: %s" % (
                " ".join("%s:%d" % kv for c in cl for kv in c.answers.items())))
        ingest_ns = max(c.last_ack for c in cl) - min(c.first_send for c in cl)
        time.sleep(0.5)  # let delivery and a replay or two go on after the last ack
        stop.set()
        rt.join()
        rc, cpu = stop_eddyd(d)
        if rc != 0:
            raise RuntimeError("eddyd exited %d (see %s)" % (rc, log.name))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        log.close()
    answers = {}
    for c in cl:
        for k, v in c.answers.items():
            answers[str(k)] = answers.get(str(k), 0) + v
    return {"dir": run_dir, "trace": trace, "base": base, "sink": sink_out,
            "acks": [c.log.name for c in cl],
            "ingest_s": ingest_ns / 1e9, "cpu_s": cpu, "answers": answers,
            "replays": replays[0], "replayed": replays[1]}


def sink_first(path):
    """{event id: monotonic ns when the sink first accepted it}."""
    first = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            t = rec["mono_ns"]
            for i in rec.get("ids") or []:
                if i is not None and (i not in first or t < first[i]):
                    first[i] = t
    return first
