#!/usr/bin/python3
"""powerloss.py - power loss, proven: crash states built from eddyd's real
write traces (`make powerloss`, and a sample in `make test`).

Records R runs (load.py: eddyd and `eddy dlq replay` under recorder.so,
clients and the fake RudderStack logging with monotonic stamps), then for S
sampled crash states spread over them (crash.py: an instant C, and which of
the writes no sync had covered by C reached the disk) checks that LMDB opens
the files, `eddy verify` passes, and every event acknowledged before C is
pending, dead, or was accepted by the sink before C. States that fail are
kept (the files and the trace slice that made them). Prints, last:

  powerloss: S states, A acknowledged events checked, L lost, U unopenable

A counts (state, acknowledged event) pairs, L the pairs lost, U the states
LMDB or `eddy verify` refused. Exits 1 when L or U is not 0, 2 on errors.
"""
import argparse
import bisect
import os
import random
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import crash  # noqa: E402
import load  # noqa: E402
import pltrace  # noqa: E402


def crash_points(trace, n, rng):
    """n instants: just before each recorded call starts (between two calls),
    in the middle of O_DSYNC writes (a write that is durable at return may be
    cut while it runs), and after the last call; sampled without repeats
    while there are enough, in time order."""
    cands = [o.t0 - 1 for o in trace.ops]
    cands += [(o.t0 + o.t1) // 2 for o in trace.ops if o.kind == pltrace.WRITE and o.dsync]
    if trace.ops:
        cands.append(max(o.t1 for o in trace.ops) + 1)
    cands = sorted(set(cands))
    if not cands:
        return []
    picked = rng.sample(cands, min(n, len(cands)))
    picked += [rng.choice(cands) for _ in range(n - len(picked))]
    return sorted(picked)


def keep_failure(keep_dir, name, img, c, strategy, optional, overlay, lost, notes, trace):
    d = os.path.join(keep_dir, name)
    shutil.copytree(img.dir, d, dirs_exist_ok=True)
    with open(os.path.join(d, "slice.txt"), "w") as f:
        f.write("crash instant (CLOCK_MONOTONIC ns): %d\nstrategy: %s\n" % (c, strategy))
        f.write("sectors laid over the durable state: %d\n" % overlay.sectors)
        f.write("\nlast 40 calls before the instant:\n")
        before = [o for o in trace.ops if o.t0 < c][-40:]
        for o in before:
            dur = "" if o.kind not in (pltrace.WRITE, pltrace.TRUNCATE) else (
                " durable at %d" % o.durable_at if o.durable_at < pltrace.NEVER else
                " never synced")
            f.write("  #%d %s%s\n" % (o.seq, o.describe(), dur))
        f.write("\nwrites not durable at the instant (%d):\n" % len(optional))
        for o in optional[:200]:
            f.write("  #%d %s\n" % (o.seq, o.describe()))
        f.write("\nacknowledged before the instant, lost (%d, first 100; ns before the "
                "instant the 200 arrived):\n" % len(lost))
        for e, t in lost[:100]:
            f.write("  %s %d\n" % (e, c - t))
        f.write("\n".join(notes) + "\n")
    return d


def check_run(rec, states, args, rng, totals, kept):
    trace = pltrace.Trace(rec["trace"])
    acks = load.read_acks(rec["acks"])
    ack_times = [t for t, _ in acks]
    sink = load.sink_first(rec["sink"])
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    img_root = tempfile.mkdtemp(prefix="eddy-powerloss-img.", dir=shm)
    img = crash.Image(trace, rec["base"], os.path.join(img_root, "img"))
    pending = crash.Optional(trace)
    run = {"acked": len(acks), "sink": len(sink), "states": 0, "checked": 0, "lost": 0,
           "unopenable": 0, "lost_states": 0, "overlaid": 0, "strategies": {}}
    try:
        for i, c in enumerate(crash_points(trace, states, rng)):
            img.advance(c)
            optional = pending.at(c)
            strategy = rng.choice(crash.STRATEGIES) if optional else "durable"
            planned = crash.plan(optional, strategy, rng) if optional else {}
            overlay = crash.Overlay(img, planned)
            stamp = img.stamp()
            ok, ids, notes = crash.read_store(args.build, img.dir)
            if img.stamp() != stamp:
                raise RuntimeError("a check wrote to the crash image in %s" % img.dir)
            n = bisect.bisect_left(ack_times, c)
            lost = [] if not ok else [
                (e, t) for t, e in acks[:n] if e not in ids and sink.get(e, pltrace.NEVER) >= c]
            run["states"] += 1
            run["checked"] += n
            run["overlaid"] += 1 if overlay.sectors else 0
            run["strategies"][strategy] = run["strategies"].get(strategy, 0) + 1
            if not ok:
                run["unopenable"] += 1
            if lost:
                run["lost"] += len(lost)
                run["lost_states"] += 1
            if (lost or not ok) and kept[0] < args.keep_max:
                kept[0] += 1
                name = "%s-state%d-%s" % (os.path.basename(rec["dir"]), i, strategy)
                d = keep_failure(args.keep, name, img, c, strategy, optional, overlay, lost,
                                 notes, trace)
                if kept[0] <= 3:
                    print("  kept %s: %d lost%s" % (d, len(lost), "" if ok else ", " +
                                                     "; ".join(notes)[:300]))
            overlay.remove()
    finally:
        run["rebuilds"] = img.rebuilds
        run["ops"] = len(trace.ops)
        run["writes"] = sum(1 for o in trace.ops if o.kind == pltrace.WRITE)
        run["syncs"] = sum(1 for o in trace.ops if o.kind in (pltrace.FSYNC, pltrace.FDATASYNC))
        run["pids"] = len({o.pid for o in trace.ops})
        trace.close()
        shutil.rmtree(img_root, ignore_errors=True)
    for k in ("states", "checked", "lost", "unopenable"):
        totals[k] += run[k]
    return run


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--states", type=int, default=2000, help="crash states in all (>= 1)")
    p.add_argument("--runs", type=int, default=3, help="recorded runs")
    p.add_argument("--sync", default="full", choices=("full", "none"))
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--batches", type=int, default=250, help="acknowledged batches per client")
    p.add_argument("--build", default=os.environ.get("BUILD") or os.path.join(here, "../../build"))
    p.add_argument("--daemon-build", help="eddyd and eddy from here (e.g. build/fault)")
    p.add_argument("--work", help="where runs are recorded (default: a temp dir, removed)")
    p.add_argument("--keep", help="where failing states are kept (default: WORK/failures "
                   "or build/powerloss/failures)")
    p.add_argument("--keep-max", type=int, default=20)
    p.add_argument("--no-bare", action="store_true",
                   help="skip the runs without the recorder (the overhead figure)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    args.build = os.path.abspath(args.build)
    daemon_build = os.path.abspath(args.daemon_build or args.build)
    work = args.work or tempfile.mkdtemp(prefix="eddy-powerloss-runs.")
    args.keep = os.path.abspath(args.keep or os.path.join(args.build, "powerloss", "failures"))
    if os.path.isdir(args.keep):
        shutil.rmtree(args.keep)
    os.makedirs(args.keep)
    rng = random.Random(args.seed)
    totals = {"states": 0, "checked": 0, "lost": 0, "unopenable": 0}
    kept = [0]
    started = time.monotonic()
    print("powerloss: %d runs, sync = %s, eddyd from %s, %d states, seed %d" % (
        args.runs, args.sync, daemon_build, args.states, args.seed))
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    traces = tempfile.mkdtemp(prefix="eddy-powerloss-traces.", dir=shm)
    cost = {"rec": 0.0, "bare": 0.0, "rec_cpu": 0.0, "bare_cpu": 0.0, "ratios": []}

    def one(name, seed, recorder):
        return load.record(os.path.join(work, name), os.path.join(traces, name), args.build,
                           daemon_build, args.sync, args.clients, args.batches, seed,
                           recorder=recorder)

    def drop(rec):
        shutil.rmtree(rec["dir"], ignore_errors=True)
        shutil.rmtree(rec["trace"], ignore_errors=True)

    try:
        for r in range(args.runs):
            seed = args.seed * 1000 + r + 1
            states = args.states // args.runs + (1 if r < args.states % args.runs else 0)
            # The same load without the recorder just before and just after
            # the recorded run: the machine's drift hits both sides alike.
            bare = [] if args.no_bare else [one("bare%da" % (r + 1), seed, False)]
            rec = one("run%d" % (r + 1), seed, True)
            if not args.no_bare:
                bare.append(one("bare%db" % (r + 1), seed, False))
            for b in bare:
                drop(b)
            line = "run %d: %d clients x %d batches, ingest %.2f s, eddyd CPU %.2f s" % (
                r + 1, args.clients, args.batches, rec["ingest_s"], rec["cpu_s"])
            if bare:
                b_s = sum(b["ingest_s"] for b in bare) / len(bare)
                b_cpu = sum(b["cpu_s"] for b in bare) / len(bare)
                cost["rec"] += rec["ingest_s"]
                cost["bare"] += b_s
                cost["rec_cpu"] += rec["cpu_s"]
                cost["bare_cpu"] += b_cpu
                cost["ratios"].append(rec["ingest_s"] / b_s)
                line += " (without the recorder: %s s, CPU %.2f s)" % (
                    " / ".join("%.2f" % b["ingest_s"] for b in bare), b_cpu)
            print(line)
            print("  answers %s; %d dlq replays moved %d dead letters back" % (
                " ".join("%s:%d" % kv for kv in sorted(rec["answers"].items())), rec["replays"],
                rec["replayed"]))
            sys.stdout.flush()
            run = check_run(rec, states, args, rng, totals, kept)
            print("  %d events acknowledged, %d accepted by the sink; trace: %d calls (%d writes, "
                  "%d syncs) from %d processes; %d states (%s), %d with torn or partial writes "
                  "laid over, %d lost in %d, %d unopenable" % (
                      run["acked"], run["sink"], run["ops"], run["writes"], run["syncs"], run["pids"], run["states"],
                      " ".join("%s:%d" % kv for kv in sorted(run["strategies"].items())),
                      run["overlaid"], run["lost"], run["lost_states"], run["unopenable"]))
            sys.stdout.flush()
            drop(rec)
    except (pltrace.TraceError, RuntimeError, OSError) as e:
        print("powerloss: error: %s" % e)
        print("powerloss: %d states, %d acknowledged events checked, %d lost, %d unopenable" % (
            totals["states"], totals["checked"], totals["lost"], totals["unopenable"]))
        sys.exit(2)
    finally:
        shutil.rmtree(traces, ignore_errors=True)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    if cost["bare"]:
        ratios = sorted(cost["ratios"])
        print("recorder cost: ingest %.2f s recorded vs %.2f s without over %d runs (%+.1f%%, "
              "median run %+.1f%%); eddyd CPU %.2f s vs %.2f s (%+.1f%%)" % (
                  cost["rec"], cost["bare"], args.runs, 100.0 * (cost["rec"] / cost["bare"] - 1),
                  100.0 * (ratios[len(ratios) // 2] - 1), cost["rec_cpu"], cost["bare_cpu"],
                  100.0 * (cost["rec_cpu"] / cost["bare_cpu"] - 1)))
    if kept[0]:
        print("failing states kept in %s (%d)" % (args.keep, kept[0]))
    else:
        shutil.rmtree(args.keep, ignore_errors=True)
    print("checked in %.0f s" % (time.monotonic() - started))
    print("powerloss: %d states, %d acknowledged events checked, %d lost, %d unopenable" % (
        totals["states"], totals["checked"], totals["lost"], totals["unopenable"]))
    sys.exit(1 if totals["lost"] or totals["unopenable"] else 0)


if __name__ == "__main__":
    main()
