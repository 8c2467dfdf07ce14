/*
 * recorder.c - LD_PRELOAD library that records what a process writes to the
 * files of one directory, for the power-loss checker (build/powerloss/
 * recorder.so, read by tests/powerloss/powerloss.py).
 *
 * EDDY_PL_DIR names the directory (eddy's data dir), EDDY_PL_TRACE a
 * directory for the trace: each process appends to EDDY_PL_TRACE/trace.PID.
 * For every file opened under EDDY_PL_DIR it logs open (with its flags:
 * a write through an O_DSYNC/O_SYNC descriptor is durable when it returns),
 * close, dup, every write of the write/pwrite/writev/pwritev family with
 * the offset and the bytes that were written, ftruncate, fsync, fdatasync,
 * sync_file_range, and (by path) rename and unlink; sync, syncfs and msync
 * are logged wherever they come from. Each record carries CLOCK_MONOTONIC
 * stamps taken before and after the call, so traces of several processes
 * (eddyd and the eddy CLI) merge into one order and line up with the times
 * the load clients and the sink log.
 *
 * Every call goes through to the real one unchanged: LMDB reads its pages
 * back through its mmap, so nothing may be withheld from the real file. The
 * check on every write is one table lookup, so sockets pay nothing more.
 * A record is one writev to an O_APPEND file, so records of concurrent
 * threads never interleave and a SIGKILLed process loses none it returned
 * from.
 *
 * What LMDB 0.9.24 (Debian) calls on data.mdb, per strace of eddyd: open
 * O_RDWR|O_CREAT, a second open O_WRONLY|O_DSYNC for the meta pages,
 * lseek + writev for runs of dirty pages, pwrite64 for single pages and
 * the meta page, fdatasync; ftruncate only on lock.mdb. glibc exports
 * several names for most of these (open64, __open_2, pwrite64, ...): all
 * are wrapped.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "trace.h"

#define PL_MAX_FD 65536
#define PL_MAX_IOV 1024

static pthread_once_t pl_once = PTHREAD_ONCE_INIT;
static int pl_trace_fd = -1;
static char pl_dir[PATH_MAX];
static size_t pl_dir_len;
static unsigned char pl_tracked[PL_MAX_FD]; /* 1: fd is a file under pl_dir */

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static int (*real_dup)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_pwritev2)(int, const struct iovec *, int, off_t, int);
static int (*real_ftruncate)(int, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_sync_file_range)(int, off_t, off_t, unsigned int);
static int (*real_msync)(void *, size_t, int);
static void (*real_sync)(void);
static int (*real_syncfs)(int);
static int (*real_rename)(const char *, const char *);
static int (*real_renameat)(int, const char *, int, const char *);
static int (*real_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*real_unlink)(const char *);
static int (*real_unlinkat)(int, const char *, int);

#define PL_REAL(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)

static void pl_init(void)
{
    PL_REAL(open);
    PL_REAL(openat);
    PL_REAL(close);
    PL_REAL(dup);
    PL_REAL(dup2);
    PL_REAL(dup3);
    PL_REAL(write);
    PL_REAL(pwrite);
    PL_REAL(writev);
    PL_REAL(pwritev);
    PL_REAL(pwritev2);
    PL_REAL(ftruncate);
    PL_REAL(fsync);
    PL_REAL(fdatasync);
    PL_REAL(sync_file_range);
    PL_REAL(msync);
    PL_REAL(sync);
    PL_REAL(syncfs);
    PL_REAL(rename);
    PL_REAL(renameat);
    PL_REAL(renameat2);
    PL_REAL(unlink);
    PL_REAL(unlinkat);
    const char *dir = getenv("EDDY_PL_DIR"), *trace = getenv("EDDY_PL_TRACE");
    if (!dir || !trace)
        return; /* nothing to record: every wrapper just passes through */
    /* A data dir that does not exist yet (eddyd creates it) is taken as
     * given, so it must then be absolute and free of symlinks. */
    if (!realpath(dir, pl_dir))
        snprintf(pl_dir, sizeof(pl_dir), "%s", dir);
    pl_dir_len = strlen(pl_dir);
    while (pl_dir_len > 1 && pl_dir[pl_dir_len - 1] == '/')
        pl_dir[--pl_dir_len] = '\0';
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/trace.%d", trace, (int)getpid());
    /* The raw syscall: our own file must not be recorded or looked up. */
    pl_trace_fd =
        (int)syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (pl_trace_fd < 0) {
        /* Not fprintf: stdio would come back into our write wrapper while
         * pthread_once is still running. */
        static const char msg[] = "recorder: cannot open the trace file in EDDY_PL_TRACE\n";
        syscall(SYS_write, 2, msg, sizeof(msg) - 1);
    }
}

static inline void pl_start(void)
{
    pthread_once(&pl_once, pl_init);
}

static inline int64_t pl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int pl_is_tracked(int fd)
{
    return fd >= 0 && fd < PL_MAX_FD && pl_tracked[fd];
}

/* Is the absolute path p inside pl_dir? */
static int pl_under(const char *p)
{
    return pl_dir_len && strncmp(p, pl_dir, pl_dir_len) == 0 && p[pl_dir_len] == '/';
}

/* Appends one record: hdr, then the path, then the first hdr->len bytes of
 * iov (the bytes a write really wrote). */
static void pl_emit(struct pl_record *hdr, const char *path, const struct iovec *iov, int iovcnt)
{
    if (pl_trace_fd < 0)
        return;
    int saved = errno;
    struct iovec v[PL_MAX_IOV + 2];
    int n = 0;
    hdr->magic = PL_MAGIC;
    hdr->pid = (int32_t)getpid();
    hdr->path_len = path ? (uint32_t)strlen(path) : 0;
    v[n++] = (struct iovec){hdr, sizeof(*hdr)};
    if (hdr->path_len)
        v[n++] = (struct iovec){(void *)path, hdr->path_len};
    uint64_t left = hdr->len;
    for (int i = 0; i < iovcnt && left > 0 && n < PL_MAX_IOV + 2; i++) {
        size_t take = iov[i].iov_len < left ? iov[i].iov_len : (size_t)left;
        if (take)
            v[n++] = (struct iovec){iov[i].iov_base, take};
        left -= take;
    }
    hdr->len -= left; /* only what fit in the record */
    /* Trace writes go straight to the kernel: never through our wrappers. */
    size_t total = 0;
    for (int i = 0; i < n; i++)
        total += v[i].iov_len;
    ssize_t w = syscall(SYS_writev, pl_trace_fd, v, n);
    if (w != (ssize_t)total) {
        static int warned;
        if (!warned++)
            fprintf(stderr, "recorder: short trace write (%zd of %zu bytes)\n", w, total);
    }
    errno = saved;
}

/* Path of an open fd, "" when unknown. */
static void pl_fd_path(int fd, char *out, size_t cap)
{
    char link[64];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    out[n > 0 ? n : 0] = '\0';
}

static void pl_after_open(int fd, int flags, int64_t t0)
{
    if (fd < 0 || fd >= PL_MAX_FD || pl_trace_fd < 0)
        return;
    char path[PATH_MAX];
    pl_fd_path(fd, path, sizeof(path));
    if (!pl_under(path)) {
        pl_tracked[fd] = 0;
        return;
    }
    pl_tracked[fd] = 1;
    struct pl_record r = {.op = PL_OPEN, .fd = fd, .flags = flags, .t0 = t0, .t1 = pl_now()};
    pl_emit(&r, path + pl_dir_len + 1, NULL, 0);
}

static int pl_mode_needed(int flags)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

static int pl_open(int dirfd, const char *path, int flags, mode_t mode)
{
    pl_start();
    int64_t t0 = pl_now();
    int fd =
        dirfd == AT_FDCWD ? real_open(path, flags, mode) : real_openat(dirfd, path, flags, mode);
    if (fd >= 0)
        pl_after_open(fd, flags, t0);
    return fd;
}

/* The variadic entry points: the mode argument exists only with O_CREAT or
 * O_TMPFILE. */
#define PL_OPEN_BODY(dirfd)                                                                        \
    mode_t mode = 0;                                                                               \
    if (pl_mode_needed(flags)) {                                                                   \
        va_list ap;                                                                                \
        va_start(ap, flags);                                                                       \
        mode = va_arg(ap, mode_t);                                                                 \
        va_end(ap);                                                                                \
    }                                                                                              \
    return pl_open(dirfd, path, flags, mode)

int open(const char *path, int flags, ...)
{
    PL_OPEN_BODY(AT_FDCWD);
}
int open64(const char *path, int flags, ...)
{
    PL_OPEN_BODY(AT_FDCWD);
}
int openat(int dirfd, const char *path, int flags, ...)
{
    PL_OPEN_BODY(dirfd);
}
int openat64(int dirfd, const char *path, int flags, ...)
{
    PL_OPEN_BODY(dirfd);
}

/* The _FORTIFY_SOURCE entry points take no mode (O_CREAT is not allowed). */
int __open_2(const char *path, int flags)
{
    return pl_open(AT_FDCWD, path, flags, 0);
}
int __open64_2(const char *path, int flags)
{
    return pl_open(AT_FDCWD, path, flags, 0);
}
int __openat_2(int dirfd, const char *path, int flags)
{
    return pl_open(dirfd, path, flags, 0);
}
int __openat64_2(int dirfd, const char *path, int flags)
{
    return pl_open(dirfd, path, flags, 0);
}
int creat(const char *path, mode_t mode)
{
    return pl_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
int creat64(const char *path, mode_t mode)
{
    return pl_open(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

int close(int fd)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_close(fd);
    /* Untracked before the fd is released, so a socket that reuses the
     * number at once is never taken for the file. */
    pl_tracked[fd] = 0;
    struct pl_record r = {.op = PL_CLOSE, .fd = fd, .t0 = pl_now()};
    int rc = real_close(fd);
    r.t1 = pl_now();
    r.ret = rc;
    pl_emit(&r, NULL, NULL, 0);
    return rc;
}

static int pl_after_dup(int oldfd, int newfd, int64_t t0)
{
    if (newfd >= 0 && newfd < PL_MAX_FD) {
        pl_tracked[newfd] = pl_is_tracked(oldfd);
        if (pl_tracked[newfd]) {
            struct pl_record r = {
                .op = PL_DUP, .fd = newfd, .off = oldfd, .t0 = t0, .t1 = pl_now()};
            pl_emit(&r, NULL, NULL, 0);
        }
    }
    return newfd;
}

int dup(int oldfd)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_after_dup(oldfd, real_dup(oldfd), t0);
}

int dup2(int oldfd, int newfd)
{
    pl_start();
    int64_t t0 = pl_now();
    if (newfd != oldfd && pl_is_tracked(newfd))
        close(newfd); /* recorded: dup2 closes it first */
    return pl_after_dup(oldfd, real_dup2(oldfd, newfd), t0);
}

int dup3(int oldfd, int newfd, int flags)
{
    pl_start();
    int64_t t0 = pl_now();
    if (newfd != oldfd && pl_is_tracked(newfd))
        close(newfd);
    return pl_after_dup(oldfd, real_dup3(oldfd, newfd, flags), t0);
}

/* Records a write of ret bytes at off (off < 0: at the file position, which
 * is then read back after the call). */
static void pl_record_write(int fd, int64_t off, const struct iovec *iov, int iovcnt, ssize_t ret,
                            int64_t t0)
{
    int64_t t1 = pl_now();
    if (off < 0) {
        off_t pos = lseek(fd, 0, SEEK_CUR);
        off = ret > 0 && pos >= ret ? pos - ret : pos;
    }
    struct pl_record r = {.op = PL_WRITE,
                          .fd = fd,
                          .t0 = t0,
                          .t1 = t1,
                          .off = off,
                          .len = ret > 0 ? (uint64_t)ret : 0,
                          .ret = ret,
                          .err = ret < 0 ? errno : 0};
    pl_emit(&r, NULL, iov, iovcnt);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_write(fd, buf, n);
    int64_t t0 = pl_now();
    ssize_t ret = real_write(fd, buf, n);
    struct iovec v = {(void *)buf, n};
    pl_record_write(fd, -1, &v, 1, ret, t0);
    return ret;
}

static ssize_t pl_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_pwrite(fd, buf, n, off);
    int64_t t0 = pl_now();
    ssize_t ret = real_pwrite(fd, buf, n, off);
    struct iovec v = {(void *)buf, n};
    pl_record_write(fd, off, &v, 1, ret, t0);
    return ret;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pl_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    return pl_pwrite(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_writev(fd, iov, iovcnt);
    int64_t t0 = pl_now();
    ssize_t ret = real_writev(fd, iov, iovcnt);
    pl_record_write(fd, -1, iov, iovcnt, ret, t0);
    return ret;
}

static ssize_t pl_pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags,
                           int v2)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return v2 ? real_pwritev2(fd, iov, iovcnt, off, flags) : real_pwritev(fd, iov, iovcnt, off);
    int64_t t0 = pl_now();
    ssize_t ret =
        v2 ? real_pwritev2(fd, iov, iovcnt, off, flags) : real_pwritev(fd, iov, iovcnt, off);
    /* RWF_DSYNC / RWF_SYNC make this one write durable at return. */
    if (v2 && (flags & (RWF_DSYNC | RWF_SYNC)) && ret >= 0) {
        pl_record_write(fd, off, iov, iovcnt, ret, t0);
        struct pl_record s = {.op = PL_FDATASYNC, .fd = fd, .t0 = pl_now(), .t1 = pl_now()};
        pl_emit(&s, NULL, NULL, 0);
        return ret;
    }
    pl_record_write(fd, off, iov, iovcnt, ret, t0);
    return ret;
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return pl_pwritev2(fd, iov, iovcnt, off, 0, 0);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return pl_pwritev2(fd, iov, iovcnt, off, 0, 0);
}

ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    return pl_pwritev2(fd, iov, iovcnt, off, flags, 1);
}

ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    return pl_pwritev2(fd, iov, iovcnt, off, flags, 1);
}

static int pl_fd_call(int op, int fd, int64_t a, int64_t b, int rc, int64_t t0)
{
    struct pl_record r = {.op = (uint8_t)op,
                          .fd = fd,
                          .t0 = t0,
                          .t1 = pl_now(),
                          .off = a,
                          .len = 0,
                          .ret = rc,
                          .err = rc < 0 ? errno : 0,
                          .arg = b};
    pl_emit(&r, NULL, NULL, 0);
    return rc;
}

static int pl_ftruncate(int fd, off_t len)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_ftruncate(fd, len);
    int64_t t0 = pl_now();
    return pl_fd_call(PL_TRUNCATE, fd, len, 0, real_ftruncate(fd, len), t0);
}

int ftruncate(int fd, off_t len)
{
    return pl_ftruncate(fd, len);
}

int ftruncate64(int fd, off_t len)
{
    return pl_ftruncate(fd, len);
}

int fsync(int fd)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_fsync(fd);
    int64_t t0 = pl_now();
    return pl_fd_call(PL_FSYNC, fd, 0, 0, real_fsync(fd), t0);
}

int fdatasync(int fd)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_fdatasync(fd);
    int64_t t0 = pl_now();
    return pl_fd_call(PL_FDATASYNC, fd, 0, 0, real_fdatasync(fd), t0);
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    pl_start();
    if (!pl_is_tracked(fd))
        return real_sync_file_range(fd, off, n, flags);
    int64_t t0 = pl_now();
    return pl_fd_call(PL_SYNC_RANGE, fd, off, n, real_sync_file_range(fd, off, n, flags), t0);
}

int msync(void *addr, size_t n, int flags)
{
    pl_start();
    int64_t t0 = pl_now();
    int rc = real_msync(addr, n, flags);
    /* Which file a mapping belongs to is not known here: the checker gives
     * msync no effect, which can only make it report more loss, never hide
     * one. LMDB without MDB_WRITEMAP never calls it. */
    return pl_fd_call(PL_MSYNC, -1, (int64_t)(uintptr_t)addr, (int64_t)n, rc, t0);
}

void sync(void)
{
    pl_start();
    int64_t t0 = pl_now();
    real_sync();
    pl_fd_call(PL_SYNC_ALL, -1, 0, 0, 0, t0);
}

int syncfs(int fd)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_fd_call(PL_SYNC_ALL, fd, 0, 0, real_syncfs(fd), t0);
}

/* Absolute form of path relative to dirfd (best effort: no symlinks, no
 * "..": enough to tell whether it names something in the data dir). */
static void pl_abs_path(int dirfd, const char *path, char *out, size_t cap)
{
    if (path[0] == '/') {
        snprintf(out, cap, "%s", path);
        return;
    }
    char base[PATH_MAX] = "";
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof(base)))
            base[0] = '\0';
    } else {
        pl_fd_path(dirfd, base, sizeof(base));
    }
    snprintf(out, cap, "%s/%s", base, path);
}

/* Logs a rename or unlink touching the data dir, as "old\nnew". */
static int pl_path_call(int op, int fd1, const char *p1, int fd2, const char *p2, int rc,
                        int64_t t0)
{
    if (pl_trace_fd < 0)
        return rc;
    char a[PATH_MAX], b[PATH_MAX] = "";
    pl_abs_path(fd1, p1, a, sizeof(a));
    if (p2)
        pl_abs_path(fd2, p2, b, sizeof(b));
    if (!pl_under(a) && !(p2 && pl_under(b)))
        return rc;
    char both[2 * PATH_MAX + 2];
    snprintf(both, sizeof(both), "%s%c%s", a, '\n', b);
    struct pl_record r = {
        .op = (uint8_t)op, .fd = -1, .t0 = t0, .t1 = pl_now(), .ret = rc, .err = rc ? errno : 0};
    pl_emit(&r, both, NULL, 0);
    return rc;
}

int rename(const char *from, const char *to)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_path_call(PL_RENAME, AT_FDCWD, from, AT_FDCWD, to, real_rename(from, to), t0);
}

int renameat(int fd1, const char *from, int fd2, const char *to)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_path_call(PL_RENAME, fd1, from, fd2, to, real_renameat(fd1, from, fd2, to), t0);
}

int renameat2(int fd1, const char *from, int fd2, const char *to, unsigned int flags)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_path_call(PL_RENAME, fd1, from, fd2, to, real_renameat2(fd1, from, fd2, to, flags),
                        t0);
}

int unlink(const char *path)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_path_call(PL_UNLINK, AT_FDCWD, path, AT_FDCWD, NULL, real_unlink(path), t0);
}

int unlinkat(int dirfd, const char *path, int flags)
{
    pl_start();
    int64_t t0 = pl_now();
    return pl_path_call(PL_UNLINK, dirfd, path, AT_FDCWD, NULL, real_unlinkat(dirfd, path, flags),
                        t0);
}
