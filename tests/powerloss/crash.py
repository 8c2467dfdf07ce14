"""crash.py - builds the files a power cut could leave and checks each one.

A crash state is an instant C of a recorded run plus a choice of which
not-yet-durable writes reached the disk. Its files are: the run's base copy
(the store as it was, synced, before the run), every write durable before C
(pltrace.py), and for each 512-byte sector that writes started before C
touched but no sync covered, one of the contents the page cache held for it
since its last durable state (which of them: the strategy). Sectors are
chosen independently, so writes tear at 512-byte and 4 KiB boundaries; one
sector is never half old, half new, and the writes to one sector reach it
in order (the two things the model trusts the device with).

The durable part is kept as a real image on tmpfs and only moves forward
(states are visited in time order); each state's extra sectors are written
over it, checked, and put back. A check opens the image with LMDB through
storage/ (build/powerloss/plread, which prints the event ids in pending and
dead), runs `eddy verify` on it, and compares with what was acknowledged
before C and what the sink had accepted before C.
"""
import os
import shutil
import subprocess

import pltrace
from pltrace import NEVER, TRUNCATE, WRITE

SECTOR = 512
PAGE = 4096
STRATEGIES = ("none", "all", "writes", "prefix", "pages", "sectors")


class Image:
    """The durable state of a run's files at the current instant, on disk."""

    def __init__(self, trace, base_dir, img_dir):
        self.trace, self.base_dir, self.dir = trace, base_dir, img_dir
        self.durable = sorted((o for o in trace.ops if o.kind in (WRITE, TRUNCATE)
                               and o.durable_at < NEVER), key=lambda o: (o.durable_at, o.seq))
        self.fds = {}
        self.rebuilds = 0
        self._reset()

    def _reset(self):
        for fd in self.fds.values():
            os.close(fd)
        self.fds = {}
        if os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.dir)
        for f in self.trace.files:
            src = os.path.join(self.base_dir, f)
            dst = os.path.join(self.dir, f)
            if os.path.exists(src):
                shutil.copyfile(src, dst)
            self.fds[f] = os.open(dst, os.O_RDWR | os.O_CREAT, 0o600)
        self.next = 0  # index into self.durable of the first op not applied
        self.now = -1
        self.sector_seq = {f: {} for f in self.trace.files}  # last applied op per sector
        self.max_seq = -1

    def _apply(self, o):
        fd = self.fds[o.file]
        if o.kind == WRITE:
            os.pwrite(fd, o.data, o.off)
            last = self.sector_seq[o.file]
            for s in range(o.off // SECTOR, (o.end - 1) // SECTOR + 1):
                last[s] = o.seq
        else:
            os.ftruncate(fd, o.size)
        self.max_seq = max(self.max_seq, o.seq)

    def _overtakes(self, o):
        """True when o would overwrite bytes of a later op already applied
        (o became durable after a later write to the same sectors did)."""
        if o.seq > self.max_seq:
            return False
        if o.kind == TRUNCATE:
            return True
        last = self.sector_seq[o.file]
        return any(last.get(s, -1) > o.seq
                   for s in range(o.off // SECTOR, (o.end - 1) // SECTOR + 1))

    def advance(self, c):
        """Makes the image hold everything durable before instant c (c never
        goes back)."""
        assert c >= self.now
        self.now = c
        while self.next < len(self.durable) and self.durable[self.next].durable_at < c:
            o = self.durable[self.next]
            if self._overtakes(o):
                self._rebuild(c)
                return
            self._apply(o)
            self.next += 1

    def _rebuild(self, c):
        """From the base again, every op durable before c in issue order."""
        self.rebuilds += 1
        self._reset()
        self.now = c
        n = 0
        while n < len(self.durable) and self.durable[n].durable_at < c:
            n += 1
        for o in sorted(self.durable[:n], key=lambda o: o.seq):
            self._apply(o)
        self.next = n

    def size(self, f):
        return os.fstat(self.fds[f]).st_size

    def read(self, f, off, n):
        b = os.pread(self.fds[f], n, off)
        return b + bytes(n - len(b))

    def stamp(self):
        return tuple((os.fstat(fd).st_mtime_ns, os.fstat(fd).st_size)
                     for fd in self.fds.values())


class Optional:
    """The writes started before an instant and not durable at it, in issue
    order, for instants that never go back."""

    def __init__(self, trace):
        self.by_start = [o for o in trace.ops if o.kind in (WRITE, TRUNCATE)]
        self.by_durable = sorted(self.by_start, key=lambda o: o.durable_at)
        self.started = self.done = 0
        self.open = {}  # seq -> op

    def at(self, c):
        while self.started < len(self.by_start) and self.by_start[self.started].t0 < c:
            o = self.by_start[self.started]
            self.open[o.seq] = o
            self.started += 1
        while self.done < len(self.by_durable) and self.by_durable[self.done].durable_at < c:
            self.open.pop(self.by_durable[self.done].seq, None)
            self.done += 1
        out = [self.open[k] for k in sorted(self.open)]
        for o in out:
            if o.kind == TRUNCATE:
                raise pltrace.TraceError("a truncate of %s is not covered by a sync: not "
                                         "modelled" % o.file)
        return out


def plan(optional, strategy, rng):
    """For each (file, sector) touched by the optional writes: how many of
    the writes to it, in order, reached the disk. Returns {key: (k, ops)}."""
    touch = {}
    for o in optional:
        for s in range(o.off // SECTOR, (o.end - 1) // SECTOR + 1):
            touch.setdefault((o.file, s), []).append(o)
    if strategy == "none":
        return {}
    if strategy == "all":
        return {key: (len(ops), ops) for key, ops in touch.items()}
    if strategy == "sectors":
        return {key: (rng.randint(0, len(ops)), ops) for key, ops in touch.items()}
    if strategy == "pages":
        # Per 4 KiB page, one instant of the page cache: the writes to the
        # page up to a random one.
        pages = {}
        for (f, s), ops in touch.items():
            pages.setdefault((f, s * SECTOR // PAGE), set()).update(o.seq for o in ops)
        cut = {}
        for key, seqs in pages.items():
            seqs = sorted(seqs)
            i = rng.randint(0, len(seqs))
            cut[key] = seqs[i] if i < len(seqs) else NEVER
        return {(f, s): (sum(1 for o in ops if o.seq < cut[(f, s * SECTOR // PAGE)]), ops)
                for (f, s), ops in touch.items()}
    # "writes": each write reaches the disk whole or not at all;
    # "prefix": the first m writes whole, write m torn after a random 512-byte
    # or 4 KiB boundary, nothing after it.
    reached = {}  # op seq -> the first sector not reached (None: all of it)
    if strategy == "writes":
        for o in optional:
            if rng.random() < 0.5:
                reached[o.seq] = None
    elif strategy == "prefix":
        m = rng.randint(0, len(optional) - 1)
        for o in optional[:m]:
            reached[o.seq] = None
        o = optional[m]
        unit = PAGE if rng.random() < 0.5 else SECTOR
        cuts = list(range(o.off // unit * unit + unit, o.end, unit))
        reached[o.seq] = (rng.choice(cuts) if cuts else o.off) // SECTOR
    else:
        raise ValueError(strategy)
    out = {}
    for (f, s), ops in touch.items():
        k = 0
        for j, o in enumerate(ops):
            if o.seq in reached and (reached[o.seq] is None or s < reached[o.seq]):
                k = j + 1
        out[(f, s)] = (k, ops)
    return out


def sector_content(img, f, s, ops, k):
    """What sector s of f held after the first k of ops (the page cache at
    that instant): the durable content with each of them laid over it."""
    s0, s1 = s * SECTOR, (s + 1) * SECTOR
    start, buf = 0, None
    for j in range(k - 1, -1, -1):  # the last write that covers it all, if any
        o = ops[j]
        if o.off <= s0 and o.end >= s1:
            buf = bytearray(o.data[s0 - o.off:s1 - o.off])
            start = j + 1
            break
    if buf is None:
        buf = bytearray(img.read(f, s0, SECTOR))
    for o in ops[start:k]:
        a, b = max(o.off, s0), min(o.end, s1)
        buf[a - s0:b - s0] = o.data[a - o.off:b - o.off]
    return bytes(buf), max(min(o.end, s1) for o in ops[:k])


class Overlay:
    """One state's extra sectors written over the image, and undone."""

    def __init__(self, img, planned):
        self.img = img
        self.undo = []  # (file, off, old bytes)
        self.sizes = {f: img.size(f) for f in img.fds}
        runs = {}
        new_size = dict(self.sizes)
        for (f, s) in sorted(planned):
            k, ops = planned[(f, s)]
            if k == 0:
                continue
            content, end = sector_content(img, f, s, ops, k)
            new_size[f] = max(new_size[f], end)
            r = runs.setdefault(f, [])
            if r and r[-1][0] + len(r[-1][1]) == s * SECTOR:
                r[-1][1].extend(content)
            else:
                r.append([s * SECTOR, bytearray(content)])
        self.sectors = 0
        for f, rs in runs.items():
            fd = img.fds[f]
            for off, data in rs:
                self.undo.append((f, off, img.read(f, off, len(data))))
                os.pwrite(fd, data, off)
                self.sectors += len(data) // SECTOR
            if os.fstat(fd).st_size != new_size[f]:
                os.ftruncate(fd, new_size[f])

    def remove(self):
        for f, off, old in reversed(self.undo):
            os.pwrite(self.img.fds[f], old, off)
        for f, size in self.sizes.items():
            if self.img.size(f) != size:
                os.ftruncate(self.img.fds[f], size)


TOOL_TIMEOUT = 10  # seconds: LMDB can loop for ever in a damaged tree


def run_tool(argv, env):
    """(exit status or None when it had to be killed, stdout, stderr)."""
    try:
        r = subprocess.run(argv, capture_output=True, env=env, timeout=TOOL_TIMEOUT)
        return r.returncode, r.stdout, r.stderr
    except subprocess.TimeoutExpired as e:
        return None, e.stdout or b"", e.stderr or b""


def read_store(build, img_dir):
    """(openable and verified, {event ids in pending or dead}, diagnostics)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    rc, out, err = run_tool([os.path.join(build, "powerloss", "plread"), img_dir], env)
    ids = set()
    notes = []
    for line in out.decode("utf-8", "replace").splitlines():
        if line[:2] in ("P ", "D "):
            ids.add(line[2:])
        else:
            notes.append("plread: " + line)
    if rc != 0:
        notes.append("plread %s %s" % ("killed after %d s" % TOOL_TIMEOUT if rc is None else
                                       "exit %d" % rc, err.decode(errors="replace")[:500]))
        return False, ids, notes
    rc, out, err = run_tool([os.path.join(build, "eddy"), "-d", img_dir, "verify"], env)
    if rc != 0:
        notes.append("eddy verify %s: %s" % (
            "killed after %d s" % TOOL_TIMEOUT if rc is None else "exit %d" % rc,
            (out + err).decode(errors="replace")[-1500:]))
        return False, ids, notes
    return True, ids, notes
