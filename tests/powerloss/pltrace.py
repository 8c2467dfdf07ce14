"""pltrace.py - reads recorder.c's traces and says, for every write, from
which instant on a power cut can no longer undo it.

The model (README "Power loss" says what it rests on):
- a write through a descriptor opened O_DSYNC or O_SYNC is durable when it
  returns;
- a successful fsync or fdatasync of a file, on any descriptor of any
  process, makes durable every write to that file that returned before the
  sync began, from the instant the sync returns (fdatasync also persists the
  size); sync() and syncfs() do so for every file;
- nothing else makes anything durable: sync_file_range and msync promise
  nothing here (LMDB without MDB_WRITEMAP never writes through its map, and
  calls neither), so the model leaves them out, which can only show more
  loss, never hide one;
- every write that started before the cut and is not durable at it may have
  reached the disk in part: any 512-byte sector of it, in any combination
  (crash.py picks which).

Only data.mdb is modelled: it is the store. lock.mdb holds nothing that
outlives a power cut (LMDB rebuilds it when the first process opens the
environment) and eddyd.pid only names the running eddyd. Renaming or
unlinking data.mdb, or truncating it outside a synced stretch, is refused
loudly (eddyd and the CLI never do either).
"""
import glob
import mmap
import os
import struct

HDR = struct.Struct("<IB3xiiiiqqqqqQII")
MAGIC = 0x31524C50
OPEN, CLOSE, DUP, WRITE, TRUNCATE, FSYNC, FDATASYNC, SYNC_RANGE, MSYNC, SYNC_ALL, RENAME, \
    UNLINK = range(1, 13)
NAMES = {OPEN: "open", CLOSE: "close", DUP: "dup", WRITE: "write", TRUNCATE: "ftruncate",
         FSYNC: "fsync", FDATASYNC: "fdatasync", SYNC_RANGE: "sync_file_range", MSYNC: "msync",
         SYNC_ALL: "sync", RENAME: "rename", UNLINK: "unlink"}
O_DSYNC = os.O_DSYNC  # O_SYNC includes this bit on Linux
O_TRUNC = os.O_TRUNC
MODELLED = {"data.mdb"}
NEVER = 1 << 62


class TraceError(Exception):
    pass


class Op:
    __slots__ = ("seq", "kind", "pid", "fd", "file", "t0", "t1", "off", "data", "size",
                 "dsync", "ok", "durable_at", "note")

    def __init__(self, kind, pid, fd, t0, t1):
        self.kind, self.pid, self.fd, self.t0, self.t1 = kind, pid, fd, t0, t1
        self.file, self.off, self.data, self.size, self.dsync = None, 0, b"", 0, False
        self.ok, self.durable_at, self.note, self.seq = True, NEVER, "", 0

    @property
    def end(self):
        return self.off + len(self.data)

    def describe(self):
        what = NAMES.get(self.kind, str(self.kind))
        s = "t=%d..%d pid %d %s %s" % (self.t0, self.t1, self.pid, what, self.file or "")
        if self.kind == WRITE:
            s += " off=%d len=%d%s" % (self.off, len(self.data), " O_DSYNC" if self.dsync else "")
        elif self.kind == TRUNCATE:
            s += " size=%d" % self.size
        if not self.ok:
            s += " FAILED"
        if self.note:
            s += " " + self.note
        return s


class Trace:
    """The merged trace of one recorded run: ops in time order (by start),
    each write with durable_at set; self.files: the modelled file names."""

    def __init__(self, trace_dir):
        self._maps = []
        raw = []
        for path in sorted(glob.glob(os.path.join(trace_dir, "trace.*"))):
            raw.extend(self._read(path))
        raw.sort(key=lambda o: (o.t0, o.t1))
        self.ops = raw
        for i, o in enumerate(self.ops):
            o.seq = i
        self.files = sorted({o.file for o in self.ops if o.file} | MODELLED)
        self._durability()

    def _read(self, path):
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return []
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        self._maps.append(mm)
        view = memoryview(mm)
        fds = {}  # fd -> (file or None when ignored, dsync)
        ops = []
        at = 0
        while at + HDR.size <= size:
            (magic, kind, pid, fd, flags, err, t0, t1, off, arg, ret, ln,
             plen, _) = HDR.unpack_from(mm, at)
            if magic != MAGIC:
                raise TraceError("%s: bad record at byte %d" % (path, at))
            at += HDR.size
            name = bytes(view[at:at + plen]).decode("utf-8", "replace")
            at += plen
            data = view[at:at + ln]
            at += ln
            if at > size:
                break  # a record cut short by a kill: the call never returned to us
            o = Op(kind, pid, fd, t0, t1)
            o.ok = ret >= 0
            if kind == OPEN:
                fds[fd] = (name if name in MODELLED else None, bool(flags & O_DSYNC))
                if name in MODELLED and flags & O_TRUNC:
                    o.kind, o.file, o.size, o.note = TRUNCATE, name, 0, "(open O_TRUNC)"
                    ops.append(o)
                continue
            if kind == CLOSE:
                fds.pop(fd, None)
                continue
            if kind == DUP:
                if off in fds:
                    fds[fd] = fds[off]
                continue
            if kind in (RENAME, UNLINK):
                names = [os.path.basename(p) for p in name.split("\n") if p]
                if any(n in MODELLED for n in names) and o.ok:
                    raise TraceError("trace has %s of %s: the builder does not model directory "
                                     "operations" % (NAMES[kind], name.replace("\n", " -> ")))
                continue
            if kind == SYNC_ALL:
                ops.append(o)
                continue
            if fd not in fds:
                raise TraceError("%s: %s on fd %d with no open recorded" % (path, NAMES[kind], fd))
            o.file, o.dsync = fds[fd]
            if o.file is None:
                continue
            if kind == WRITE:
                o.off, o.data = off, data
                if not o.ok or not ln:
                    continue
            elif kind == TRUNCATE:
                o.size = off
                if not o.ok:
                    continue
            ops.append(o)
        return ops

    def _durability(self):
        """Sets durable_at on every write and truncate (NEVER when no sync
        covers it)."""
        waiting = {f: [] for f in self.files}
        for o in self.ops:
            if o.kind in (WRITE, TRUNCATE):
                if o.kind == WRITE and o.dsync and o.ok:
                    o.durable_at = o.t1
                elif o.ok:
                    waiting[o.file].append(o)
            elif o.kind in (FSYNC, FDATASYNC, SYNC_ALL) and o.ok:
                for f in ([o.file] if o.kind != SYNC_ALL else self.files):
                    still = []
                    for w in waiting[f]:
                        if w.t1 < o.t0:
                            w.durable_at = o.t1
                        else:
                            still.append(w)  # still running when the sync began
                    waiting[f] = still

    def close(self):
        self.ops = []
        for m in self._maps:
            try:
                m.close()
            except BufferError:
                pass  # a view is still alive; the map goes with the process
