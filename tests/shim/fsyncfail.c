/*
 * fsyncfail.c - LD_PRELOAD shim that makes durability calls fail on demand,
 * for the fsync-failure and disk-full reliability tests
 * (build/shim/fsyncfail.so).
 *
 * While the file named by EDDY_FSYNC_FAIL_FILE exists, fsync, fdatasync,
 * syncfs, sync_file_range and msync fail with EDDY_FSYNC_FAIL_ERRNO (EIO by
 * default; ENOSPC, EDQUOT or a number also work). With EDDY_FSYNC_FAIL_WRITES=1
 * the write family (write, pwrite, pwritev, writev) fails too. Only file
 * descriptors whose path contains EDDY_FSYNC_FAIL_PATH (default "data.mdb")
 * are touched, so stderr, sockets and the config are never affected; msync
 * has no descriptor and fails for every mapping.
 *
 * Creating or removing the trigger file switches the fault on and off while
 * the process runs, so a test picks the instant. Each injected failure is
 * appended as one line to EDDY_FSYNC_FAIL_LOG (when set): a test can prove
 * the fault really happened instead of trusting that it did.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int fail_errno(void)
{
    const char *e = getenv("EDDY_FSYNC_FAIL_ERRNO");
    if (!e || !*e || strcmp(e, "EIO") == 0)
        return EIO;
    if (strcmp(e, "ENOSPC") == 0)
        return ENOSPC;
    if (strcmp(e, "EDQUOT") == 0)
        return EDQUOT;
    int n = atoi(e);
    return n > 0 ? n : EIO;
}

static int armed(void)
{
    const char *trigger = getenv("EDDY_FSYNC_FAIL_FILE");
    struct stat st;
    /* stat, not access: access is itself interposable and cheap enough. */
    return trigger && *trigger && stat(trigger, &st) == 0;
}

/* True when fd names a file whose path contains the configured pattern. */
static int fd_matches(int fd, char *path, size_t cap)
{
    const char *want = getenv("EDDY_FSYNC_FAIL_PATH");
    if (!want || !*want)
        want = "data.mdb";
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, cap - 1);
    if (n < 0)
        return 0;
    path[n] = '\0';
    return strstr(path, want) != NULL;
}

static void note(const char *call, int fd, const char *path, int err)
{
    const char *log = getenv("EDDY_FSYNC_FAIL_LOG");
    if (!log || !*log)
        return;
    /* The line goes out through the real write, never this shim's. */
    int lfd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (lfd < 0)
        return;
    char line[512];
    int len = snprintf(line, sizeof line, "%s fd=%d path=%s errno=%d\n", call, fd,
                       path ? path : "-", err);
    if (len > 0) {
        static ssize_t (*real_write)(int, const void *, size_t);
        if (!real_write)
            real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
        if (real_write)
            real_write(lfd, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1);
    }
    close(lfd);
}

/* Returns the errno to fail fd's call with, or 0 to let it through. */
static int should_fail_fd(const char *call, int fd, int is_write)
{
    if (is_write) {
        const char *w = getenv("EDDY_FSYNC_FAIL_WRITES");
        if (!w || strcmp(w, "1") != 0)
            return 0;
    }
    if (!armed())
        return 0;
    char path[1024];
    if (!fd_matches(fd, path, sizeof path))
        return 0;
    int err = fail_errno();
    note(call, fd, path, err);
    return err;
}

#define REAL(ret, name, ...)                                                                       \
    static ret (*real_##name)(__VA_ARGS__);                                                        \
    if (!real_##name)                                                                              \
        real_##name = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, #name);

#define FAIL_FD(call, fd, is_write)                                                                \
    do {                                                                                           \
        int e_ = should_fail_fd(call, fd, is_write);                                               \
        if (e_) {                                                                                  \
            errno = e_;                                                                            \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

int fsync(int fd)
{
    REAL(int, fsync, int);
    FAIL_FD("fsync", fd, 0);
    return real_fsync(fd);
}

int fdatasync(int fd)
{
    REAL(int, fdatasync, int);
    FAIL_FD("fdatasync", fd, 0);
    return real_fdatasync(fd);
}

int syncfs(int fd)
{
    REAL(int, syncfs, int);
    FAIL_FD("syncfs", fd, 0);
    return real_syncfs(fd);
}

int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
    REAL(int, sync_file_range, int, off_t, off_t, unsigned int);
    FAIL_FD("sync_file_range", fd, 0);
    return real_sync_file_range(fd, off, n, flags);
}

int msync(void *addr, size_t len, int flags)
{
    REAL(int, msync, void *, size_t, int);
    if (armed()) {
        int err = fail_errno();
        note("msync", -1, NULL, err);
        errno = err;
        return -1;
    }
    return real_msync(addr, len, flags);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    REAL(ssize_t, write, int, const void *, size_t);
    FAIL_FD("write", fd, 1);
    return real_write(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite, int, const void *, size_t, off_t);
    FAIL_FD("pwrite", fd, 1);
    return real_pwrite(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    REAL(ssize_t, pwrite64, int, const void *, size_t, off_t);
    FAIL_FD("pwrite64", fd, 1);
    return real_pwrite64(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    REAL(ssize_t, writev, int, const struct iovec *, int);
    FAIL_FD("writev", fd, 1);
    return real_writev(fd, iov, cnt);
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(ssize_t, pwritev, int, const struct iovec *, int, off_t);
    FAIL_FD("pwritev", fd, 1);
    return real_pwritev(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
    REAL(ssize_t, pwritev64, int, const struct iovec *, int, off_t);
    FAIL_FD("pwritev64", fd, 1);
    return real_pwritev64(fd, iov, cnt, off);
}
