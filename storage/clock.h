/*
 * clock.h - the one set of clock readings eddy's code shares (eddyd's
 * threads, storage, the CLI): wall-clock milliseconds (stored times,
 * Retry-After), monotonic time (durations, timers, progress rates) and
 * absolute deadlines for pthread_cond_timedwait. Header-only, so storage/
 * and tools/ use it without linking daemon/.
 */
#ifndef EDDY_CLOCK_H
#define EDDY_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Unix time in milliseconds. */
static inline int64_t clock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Monotonic seconds, for measuring durations. */
static inline double clock_mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int64_t clock_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t clock_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* *at = now on clock `id` + ms: an absolute deadline for a timed wait on a
 * condition variable using that clock. */
static inline void clock_deadline(clockid_t id, long ms, struct timespec *at)
{
    clock_gettime(id, at);
    at->tv_sec += ms / 1000;
    at->tv_nsec += (ms % 1000) * 1000000L;
    if (at->tv_nsec >= 1000000000L) {
        at->tv_sec++;
        at->tv_nsec -= 1000000000L;
    }
}

#endif
