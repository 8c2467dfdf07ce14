/*
 * metrics.c - eddyd's counters and histograms and their Prometheus text
 * exposition (version 0.0.4: HELP and TYPE lines, cumulative _bucket{le}
 * series with _sum and _count).
 *
 * Writers only do relaxed atomic adds, so a scrape may see a histogram's
 * count a moment ahead of one bucket; Prometheus tolerates that, and it
 * keeps the hot paths free of locks.
 */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/queue.h"

static const double commit_bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05,
                                       0.1,    0.2,   0.5,   1,     2,    5};
static const double group_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
static const double delivery_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                         0.5,   1,    2.5,   5,    10,  30};

#define METRICS_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void hist_init(struct histogram *h, const double *bounds, size_t n)
{
    h->bounds = bounds;
    h->nbounds = n > METRICS_BUCKETS_MAX ? METRICS_BUCKETS_MAX : n;
}

void metrics_init(struct metrics *m)
{
    hist_init(&m->commit_seconds, commit_bounds, METRICS_LEN(commit_bounds));
    hist_init(&m->commit_batches, group_bounds, METRICS_LEN(group_bounds));
    hist_init(&m->delivery_seconds, delivery_bounds, METRICS_LEN(delivery_bounds));
}

void metrics_observe(struct histogram *h, double v)
{
    size_t i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    metrics_inc(&h->counts[i], 1);
    metrics_inc(&h->count, 1);
    if (v > 0)
        metrics_inc(&h->sum_micro, (uint64_t)(v * 1e6 + 0.5));
}

struct metrics_source *metrics_source(struct metrics *m, const char *fp)
{
    unsigned n = atomic_load(&m->nsources);
    for (unsigned i = 0; i < n; i++)
        if (!strcmp(m->sources[i].fp, fp))
            return &m->sources[i];
    if (n == METRICS_SOURCES_MAX)
        return &m->sources[n - 1]; /* beyond the table: counted with the last one */
    snprintf(m->sources[n].fp, sizeof(m->sources[n].fp), "%s", fp);
    atomic_store(&m->nsources, n + 1);
    return &m->sources[n];
}

static uint64_t load_relaxed(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void put_head(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_scalar(FILE *f, const char *name, const char *type, const char *help, double v)
{
    put_head(f, name, type, help);
    fprintf(f, "%s %.15g\n", name, v); /* 15 digits: 2.106, not 2.1059999999999999 */
}

static void put_codes(FILE *f, const char *name, const char *help, const _Atomic uint64_t *codes)
{
    put_head(f, name, "counter", help);
    for (int c = 0; c < METRICS_CODES; c++) {
        uint64_t v = load_relaxed(&codes[c]);
        if (v)
            fprintf(f, "%s{code=\"%d\"} %llu\n", name, c, (unsigned long long)v);
    }
}

static void put_histogram(FILE *f, const char *name, const char *help, const struct histogram *h)
{
    put_head(f, name, "histogram", help);
    uint64_t cum = 0;
    for (size_t i = 0; i < h->nbounds; i++) {
        cum += load_relaxed(&h->counts[i]);
        fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    cum += load_relaxed(&h->counts[h->nbounds]);
    fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    fprintf(f, "%s_sum %.6f\n", name, (double)load_relaxed(&h->sum_micro) / 1e6);
    fprintf(f, "%s_count %llu\n", name, (unsigned long long)cum);
}

/* The per-source delivery series (state and counters; the pending gauges
 * per source come with the storage figures). */
static void put_sources(FILE *f, const struct metrics *m)
{
    unsigned n = atomic_load(&m->nsources);
    if (n == 0)
        return;
    put_head(f, "eddy_source_state", "gauge",
             "Delivery state of a source: 0 ok, 1 backoff, 2 held, 3 paused.");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "eddy_source_state{source=\"%s\"} %d\n", m->sources[i].fp,
                atomic_load(&m->sources[i].state));
    put_head(f, "eddy_source_delivery_requests_total", "counter",
             "Delivery requests of a source, by HTTP status (0: no HTTP answer).");
    for (unsigned i = 0; i < n; i++)
        for (int c = 0; c < METRICS_CODES; c++) {
            uint64_t v = load_relaxed(&m->sources[i].requests[c]);
            if (v)
                fprintf(f, "eddy_source_delivery_requests_total{source=\"%s\",code=\"%d\"} %llu\n",
                        m->sources[i].fp, c, (unsigned long long)v);
        }
    put_head(f, "eddy_source_delivered_events_total", "counter",
             "Events of a source RudderStack acknowledged.");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "eddy_source_delivered_events_total{source=\"%s\"} %llu\n", m->sources[i].fp,
                (unsigned long long)load_relaxed(&m->sources[i].delivered_events));
    put_head(f, "eddy_source_dead_lettered_total", "counter",
             "Batches of a source moved to the dead-letter queue by delivery.");
    for (unsigned i = 0; i < n; i++)
        fprintf(f, "eddy_source_dead_lettered_total{source=\"%s\"} %llu\n", m->sources[i].fp,
                (unsigned long long)load_relaxed(&m->sources[i].dead_lettered));
}

/* The pending gauges per source, from storage's counters. */
static void put_source_pending(FILE *f, const struct queue_source *src, size_t n, int64_t now_ms)
{
    if (!src || n == 0)
        return;
    put_head(f, "eddy_source_pending_batches", "gauge", "Batches of a source waiting.");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "eddy_source_pending_batches{source=\"%s\"} %llu\n", src[i].fp,
                (unsigned long long)src[i].batches);
    put_head(f, "eddy_source_pending_events", "gauge", "Events of a source waiting.");
    for (size_t i = 0; i < n; i++)
        fprintf(f, "eddy_source_pending_events{source=\"%s\"} %llu\n", src[i].fp,
                (unsigned long long)src[i].events);
    put_head(f, "eddy_source_oldest_age_seconds", "gauge",
             "Age of the oldest pending batch of a source (0 when none).");
    for (size_t i = 0; i < n; i++) {
        double age = 0;
        if (src[i].batches && src[i].oldest_ms > 0 && now_ms > src[i].oldest_ms)
            age = (double)(now_ms - src[i].oldest_ms) / 1000.0;
        fprintf(f, "eddy_source_oldest_age_seconds{source=\"%s\"} %.15g\n", src[i].fp, age);
    }
}

static void put_ingest(FILE *f, const struct metrics *m)
{
    put_codes(f, "eddy_ingest_requests_total", "Ingest requests answered, by HTTP status.",
              m->ingest_requests);
    put_scalar(f, "eddy_ingest_events_total", "counter", "Events stored by ingest.",
               (double)load_relaxed(&m->ingest_events));
    put_scalar(f, "eddy_ingest_bytes_total", "counter",
               "Body bytes stored by ingest (decompressed).",
               (double)load_relaxed(&m->ingest_bytes));
    put_scalar(f, "eddy_ingest_queued_bytes", "gauge",
               "Body bytes accepted by ingest and not answered yet.",
               (double)load_relaxed(&m->ingest_queued_bytes));
    put_head(f, "eddy_ingest_compressed_total", "counter",
             "Bodies stored gzip-compressed, by compress_level used (auto: fast when "
             "other bodies are being validated).");
    fprintf(f, "eddy_ingest_compressed_total{level=\"small\"} %llu\n",
            (unsigned long long)load_relaxed(&m->ingest_compressed_small));
    fprintf(f, "eddy_ingest_compressed_total{level=\"fast\"} %llu\n",
            (unsigned long long)load_relaxed(&m->ingest_compressed_fast));
}

char *metrics_render(const struct metrics *m, const struct queue_stats *st,
                     const struct queue_source *src, size_t nsrc, int64_t now_ms)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return NULL;

    put_ingest(f, m);
    put_histogram(f, "eddy_commit_seconds", "Time of one group commit (append and fsync).",
                  &m->commit_seconds);
    put_histogram(f, "eddy_commit_batches", "Requests stored per group commit.",
                  &m->commit_batches);
    put_scalar(f, "eddy_commit_failures_total", "counter",
               "Group commits that failed (every request of the group got 503).",
               (double)load_relaxed(&m->commit_failures));

    if (st) {
        double age = 0;
        if (st->pending_oldest_ms > 0 && now_ms > st->pending_oldest_ms)
            age = (double)(now_ms - st->pending_oldest_ms) / 1000.0;
        put_scalar(f, "eddy_pending_batches", "gauge", "Batches waiting for delivery.",
                   (double)st->pending_batches);
        put_scalar(f, "eddy_pending_events", "gauge", "Events waiting for delivery.",
                   (double)st->pending_events);
        put_scalar(f, "eddy_pending_bytes", "gauge", "Body bytes waiting for delivery.",
                   (double)st->pending_bytes);
        put_scalar(f, "eddy_pending_oldest_age_seconds", "gauge",
                   "Age of the oldest pending batch (0 when none).", age);
        put_scalar(f, "eddy_dead_batches", "gauge", "Batches in the dead-letter queue.",
                   (double)st->dead_batches);
        put_scalar(f, "eddy_dead_events", "gauge", "Events in the dead-letter queue.",
                   (double)st->dead_events);
        put_scalar(f, "eddy_storage_used_bytes", "gauge", "LMDB pages in use, in bytes.",
                   (double)st->used_bytes);
        put_scalar(f, "eddy_storage_max_bytes", "gauge", "LMDB map size (max_size).",
                   (double)st->max_bytes);
        put_scalar(f, "eddy_storage_file_bytes", "gauge",
                   "Size of the data file (never shrinks by itself; see eddy compact).",
                   (double)st->file_bytes);
        put_scalar(f, "eddy_storage_free_pages", "gauge",
                   "Pages on LMDB's freelist, reused before the file grows.",
                   (double)st->free_pages);
        put_scalar(f, "eddy_storage_freelist_entries", "gauge",
                   "Records of LMDB's freelist (merged and rewritten on commits).",
                   (double)st->freelist_entries);
    }
    put_source_pending(f, src, nsrc, now_ms);
    put_scalar(f, "eddy_storage_above_high_water", "gauge",
               "1 while storage is above high_water and ingest answers 503.",
               (double)atomic_load(&m->storage_above_high_water));

    put_codes(f, "eddy_delivery_requests_total",
              "Delivery requests to RudderStack, by HTTP status (0: no HTTP answer).",
              m->delivery_requests);
    put_scalar(f, "eddy_delivered_events_total", "counter", "Events RudderStack acknowledged.",
               (double)load_relaxed(&m->delivered_events));
    put_histogram(f, "eddy_delivery_seconds", "Time of one delivery request.",
                  &m->delivery_seconds);
    put_scalar(f, "eddy_delivery_state", "gauge",
               "Delivery state, the worst of all sources: 0 ok, 1 backoff, 2 held, 3 paused.",
               (double)atomic_load(&m->delivery_state));
    put_sources(f, m);
    put_scalar(f, "eddy_dropped_events_total", "counter",
               "Events dropped for lack of user.external_user_id "
               "(require_external_user_id).",
               (double)load_relaxed(&m->dropped_events));
    put_scalar(f, "eddy_dead_lettered_total", "counter",
               "Batches moved to the dead-letter queue by delivery.",
               (double)load_relaxed(&m->dead_lettered));
    put_scalar(f, "eddy_delivery_splits_total", "counter",
               "Batches split by bisection or size before sending.",
               (double)load_relaxed(&m->splits));
    put_scalar(f, "eddy_delivery_possible_duplicates_total", "counter",
               "Delivery attempts that failed after the whole body was sent (timeout, cut "
               "connection, 408/5xx): RudderStack may hold that batch already.",
               (double)load_relaxed(&m->possible_duplicates));
    put_scalar(f, "eddy_reader_slots_cleared_total", "counter",
               "Stale LMDB reader slots freed by mdb_reader_check.",
               (double)load_relaxed(&m->reader_slots_cleared));

    if (fclose(f) != 0) {
        free(buf);
        return NULL;
    }
    return buf;
}
