/*
 * metrics.h - eddyd's counters and histograms, rendered as Prometheus text on
 * the admin listener. Updated lock-free (C11 atomics) from any thread.
 */
#ifndef EDDY_METRICS_H
#define EDDY_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_BUCKETS_MAX 16
#define METRICS_CODES 600 /* HTTP status codes 0..599; 0 = no HTTP answer */

struct histogram {
    const double *bounds; /* upper bounds, ascending; +Inf implied */
    size_t nbounds;
    _Atomic uint64_t counts[METRICS_BUCKETS_MAX + 1];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_micro; /* sum of observations x 1e6 */
};

#define METRICS_SOURCES_MAX 64 /* sources with their own series; more share the last */

/* The delivery counters of one source (label source="FP"). The delivery
 * worker claims an entry (fp written before nsources is raised) and only
 * ever adds to it. */
struct metrics_source {
    char fp[16];
    _Atomic uint64_t requests[METRICS_CODES]; /* by answer code, 0 = network */
    _Atomic uint64_t delivered_events;
    _Atomic uint64_t dead_lettered;
    _Atomic int state; /* enum delivery_state (delivery.h) */
};

struct metrics {
    _Atomic uint64_t ingest_requests[METRICS_CODES]; /* by answer code */
    _Atomic uint64_t ingest_events;
    _Atomic uint64_t ingest_bytes;
    struct histogram commit_seconds;
    struct histogram commit_batches;
    _Atomic uint64_t delivery_requests[METRICS_CODES]; /* by answer code, 0 = network */
    _Atomic uint64_t delivered_events;
    _Atomic uint64_t dropped_events; /* require_external_user_id */
    _Atomic uint64_t dead_lettered;  /* batches moved to dead by delivery */
    _Atomic uint64_t splits;         /* bisections and size splits */
    /* delivery attempts that failed after the whole body was sent */
    _Atomic uint64_t possible_duplicates;
    struct histogram delivery_seconds;
    _Atomic int delivery_state; /* enum delivery_state (delivery.h): the worst of all sources */
    struct metrics_source sources[METRICS_SOURCES_MAX];
    _Atomic unsigned nsources;
    _Atomic uint64_t reader_slots_cleared;
    /* ingest side, set by eddyd's committer and front end */
    _Atomic uint64_t commit_failures;         /* group commits that returned an error */
    _Atomic uint64_t ingest_queued_bytes;     /* gauge: bytes accepted, not yet answered */
    _Atomic uint64_t ingest_compressed_small; /* bodies stored at compress_level small */
    _Atomic uint64_t ingest_compressed_fast;  /* ... and fast (auto under load, or fast) */
    _Atomic int storage_above_high_water;     /* gauge: 1 while ingest answers 503 */
};

/* Sets up histogram bounds; counters start at zero. */
void metrics_init(struct metrics *m);
void metrics_observe(struct histogram *h, double v);
static inline void metrics_inc(_Atomic uint64_t *c, uint64_t by)
{
    atomic_fetch_add_explicit(c, by, memory_order_relaxed);
}
static inline void metrics_count_code(_Atomic uint64_t *codes, int code)
{
    metrics_inc(&codes[(code >= 0 && code < METRICS_CODES) ? code : 0], 1);
}

/* The entry of source fp, claimed when new. Call from one thread only (the
 * delivery worker); readers may run meanwhile. */
struct metrics_source *metrics_source(struct metrics *m, const char *fp);

/* Appends the Prometheus exposition of m plus the storage gauges of st
 * (struct queue_stats *) and of the nsrc sources src (struct queue_source *,
 * may be NULL) to a malloc'd string. Returns NULL on OOM. */
struct queue_stats;
struct queue_source;
char *metrics_render(const struct metrics *m, const struct queue_stats *st,
                     const struct queue_source *src, size_t nsrc, int64_t now_ms);

#endif
