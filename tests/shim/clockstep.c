/*
 * clockstep.c - LD_PRELOAD shim that steps the wall clock of a process on
 * demand, for the clock-step test (build/shim/clockstep.so).
 *
 * The file named by EDDY_CLOCK_OFFSET_FILE holds a number of seconds
 * (negative: back in time). clock_gettime(CLOCK_REALTIME and its coarse
 * variant), gettimeofday and time return the real wall clock plus that
 * offset; CLOCK_MONOTONIC and the other clocks are left alone, as a real
 * step (an NTP correction, an operator's `date -s`) leaves them. The file is
 * re-read at most every 50 ms of monotonic time, so a test steps the clock
 * of the running process by rewriting it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

typedef int (*clock_gettime_fn)(clockid_t, struct timespec *);

static clock_gettime_fn real_clock_gettime(void)
{
    static clock_gettime_fn fn;
    if (!fn)
        fn = (clock_gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
    return fn;
}

/* The offset in seconds, re-read from the file now and then. */
static long offset_s(void)
{
    static long offset;
    static struct timespec read_at;
    const char *path = getenv("EDDY_CLOCK_OFFSET_FILE");
    if (!path || !*path)
        return 0;
    struct timespec now;
    real_clock_gettime()(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - read_at.tv_sec) * 1000 + (now.tv_nsec - read_at.tv_nsec) / 1000000;
    if (read_at.tv_sec == 0 || ms >= 50) {
        FILE *f = fopen(path, "re");
        long v = 0;
        if (f) {
            if (fscanf(f, "%ld", &v) == 1)
                offset = v;
            fclose(f);
        }
        read_at = now;
    }
    return offset;
}

int clock_gettime(clockid_t id, struct timespec *ts)
{
    int rc = real_clock_gettime()(id, ts);
    if (rc == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
        ts->tv_sec += offset_s();
    return rc;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    struct timespec ts;
    int rc = clock_gettime(CLOCK_REALTIME, &ts);
    if (rc == 0) {
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return rc;
}

time_t time(time_t *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
