/*
 * committer.c - group commit on one thread.
 *
 * Natural batching, no added delay: while one transaction commits, new
 * requests queue up; the next pass takes everything queued (capped in bytes
 * so one giant group cannot starve the next) and appends it with a single
 * queue_append_group, i.e. one LMDB transaction and one fsync. Only after
 * that call returned 0 are the requests handed back for their 200s; a failed
 * commit fails its whole group, and nothing of it is stored.
 *
 * Backpressure is exact, not sampled: before each commit the group's pages
 * are added to the usage last read from queue_stats (plus everything
 * appended since, so the estimate never runs low), and a group that would
 * pass high water, or eat into a small reserve kept even at high_water = 1,
 * is refused with QUEUE_FULL (503) without being written. A full LMDB map
 * cannot even delete, so it could never drain. The "above high water" flag
 * ingest and /readyz read is refreshed after commits (at most every 50 ms)
 * and every 100 ms while idle, so backpressure lifts by itself once
 * delivery frees space.
 *
 * The same refresh checks that the store still is the one at data_dir
 * (queue_check_identity): after an rm -rf of the data dir, or a file moved
 * over it, every commit would go to a file no later process can find. From
 * then on every request is refused (QUEUE_LOST, 503 storage_error); nothing
 * is ever recreated behind the operator's back.
 */
#include "committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../storage/clock.h"
#include "log.h"

#define COMMITTER_IDLE_MS 100
#define COMMITTER_REFRESH_MS 50
#define COMMITTER_DISK_RESERVE (2u << 20) /* filesystem bytes kept free */

struct committer {
    struct committer_options o;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct committer_req *head, *tail; /* under lock */
    bool stopping;                     /* under lock */
    atomic_bool failed;
    atomic_bool above_high_water;
    atomic_int full_why;         /* enum fit while above_high_water */
    atomic_bool lost;            /* the store is no longer the one at data_dir */
    char lost_why[600];          /* written once, before lost is set */
    struct queue_batch *batches; /* committer thread only */
    size_t batches_cap;
    int64_t last_refresh_ms;
    /* Storage use as last measured plus what was appended since: deletes
     * only lower it, so this never underestimates. */
    uint64_t est_used, est_max;
    uint64_t blocked_need; /* bytes a refused group needed; 0 when none */
};

/* The most a commit may fill the map to: high_water of it, and never the
 * last 1/32 (at most 8 MiB), even with high_water = 1, because LMDB needs
 * free pages to delete: a completely full map could never drain again. */
static double fill_limit(const struct committer *c, uint64_t max)
{
    uint64_t reserve = max / 32 < (8u << 20) ? max / 32 : (8u << 20);
    double hw = c->o.high_water * (double)max;
    return hw < (double)(max - reserve) ? hw : (double)(max - reserve);
}

enum fit { COMMITTER_FITS = 0, COMMITTER_HIGH_WATER, COMMITTER_DISK };

/* True when the filesystem has room for the store to grow by `growth`
 * bytes and keep a small reserve (for delivery's own writes). Without this
 * a full disk shows up as a failed write inside LMDB, which LMDB reports as
 * EIO: indistinguishable from a dying disk, so eddyd would have to stop. */
static bool disk_fits(const struct committer *c, uint64_t used_after)
{
    uint64_t growth, avail;
    if (!c->o.data_dir || queue_disk_room(c->o.data_dir, used_after, &growth, &avail) != QUEUE_OK)
        return true; /* cannot tell: let LMDB decide */
    /* Room inside the file (pages freed by delivery) needs no disk at all. */
    return growth == 0 || growth + COMMITTER_DISK_RESERVE <= avail;
}

/* Whether a group needing `need` bytes fits under the limit and on disk, by
 * the current estimate of use, and if not, which of the two it passes. */
static enum fit check_fit(const struct committer *c, uint64_t need)
{
    if (!c->est_max)
        return COMMITTER_FITS;
    if ((double)(c->est_used + need) > fill_limit(c, c->est_max))
        return COMMITTER_HIGH_WATER;
    return disk_fits(c, c->est_used + need) ? COMMITTER_FITS : COMMITTER_DISK;
}

static bool fits(const struct committer *c, uint64_t need)
{
    return check_fit(c, need) == COMMITTER_FITS;
}

/* Latches `lost` the first time the store is found to be no longer the one
 * at data_dir. Committer thread only. */
static void check_identity(struct committer *c)
{
    char why[512];
    if (atomic_load(&c->lost) || queue_check_identity(c->o.queue, why, sizeof(why)) != QUEUE_LOST)
        return;
    snprintf(c->lost_why, sizeof(c->lost_why), "store lost: %s", why);
    atomic_store(&c->lost, true);
    log_error("%s while eddyd had it open: ingest answers 503 storage_error and /readyz fails "
              "from now on; eddyd will not create a new store by itself. Delivery goes on "
              "sending what the open store holds (GET /status shows what is left); then stop "
              "eddyd, restore or recreate the data dir and start it again",
              why);
}

static void refresh_usage(struct committer *c)
{
    struct queue_stats st;
    c->last_refresh_ms = clock_mono_ms();
    check_identity(c);
    if (queue_stats(c->o.queue, &st) != QUEUE_OK)
        return; /* keep the last known state */
    c->est_used = st.used_bytes;
    c->est_max = st.max_bytes;
    /* Above: past high water or out of disk, or too close to either for the
     * last group that was refused (so /readyz and ingest agree, without
     * flapping). */
    enum fit why = check_fit(c, c->blocked_need);
    bool above = why != COMMITTER_FITS;
    if (!above)
        c->blocked_need = 0;
    atomic_store(&c->full_why, (int)why);
    bool was = atomic_exchange(&c->above_high_water, above);
    if (above != was) {
        if (above)
            log_warn("storage full: above high water or out of disk (%llu of %llu bytes used); "
                     "ingest answers 503",
                     (unsigned long long)st.used_bytes, (unsigned long long)st.max_bytes);
        else
            log_info("storage has room again (%llu of %llu bytes used): ingest resumes",
                     (unsigned long long)st.used_bytes, (unsigned long long)st.max_bytes);
    }
    if (c->o.metrics)
        atomic_store(&c->o.metrics->storage_above_high_water, above ? 1 : 0);
}

/* Takes the next group off the queue: everything queued, up to the byte cap
 * (the first request always goes, whatever its size). Call under lock. */
static struct committer_req *take(struct committer *c, size_t *n)
{
    struct committer_req *first = c->head, *last = NULL, *r = c->head;
    size_t bytes = 0;
    *n = 0;
    while (r && (*n == 0 || bytes + r->batch.body_len <= c->o.group_max_bytes)) {
        bytes += r->batch.body_len;
        last = r;
        r = r->next;
        (*n)++;
    }
    if (last) {
        c->head = r;
        if (!r)
            c->tail = NULL;
        last->next = NULL;
    }
    return last ? first : NULL;
}

/* Room in c->batches for n batches. */
static bool reserve_batches(struct committer *c, size_t n)
{
    if (n <= c->batches_cap)
        return true;
    size_t cap = n * 2;
    struct queue_batch *b = realloc(c->batches, cap * sizeof(*b));
    if (!b)
        return false;
    c->batches = b;
    c->batches_cap = cap;
    return true;
}

#ifdef EDDY_FAULT_ACK_BEFORE_COMMIT
/* Test-only fault, never in a real build (make powerloss FAULT=1
 * builds it into build/fault): the group gets its 200s before it is
 * committed, the bug tests/powerloss must catch. The answered jobs
 * are freed meanwhile, so every buffer a batch points to is copied
 * first (and leaked). */
static void fault_answer_first(struct committer *c, struct committer_req *group, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct queue_batch *b = &c->batches[i];
        unsigned char *m = malloc(b->body_len + b->zbody_len + b->ztypes_len + b->write_key_len +
                                  b->types_len + 1);
        if (!m)
            abort();
        b->body = memcpy(m, b->body, b->body_len);
        m += b->body_len;
        if (b->zbody)
            b->zbody = memcpy(m, b->zbody, b->zbody_len);
        m += b->zbody_len;
        if (b->ztypes)
            b->ztypes = memcpy(m, b->ztypes, b->ztypes_len);
        m += b->ztypes_len;
        if (b->write_key)
            b->write_key = memcpy(m, b->write_key, b->write_key_len);
        m += b->write_key_len;
        if (b->types)
            b->types = memcpy(m, b->types, b->types_len);
    }
    for (struct committer_req *r = group; r; r = r->next)
        r->result = QUEUE_OK;
    c->o.done(c->o.arg, group);
}
#endif

static void commit_group(struct committer *c, struct committer_req *group, size_t n)
{
    int rc;
    if (atomic_load(&c->failed)) {
        rc = QUEUE_IO;
    } else if (atomic_load(&c->lost)) {
        rc = QUEUE_LOST; /* said once, when it was found */
    } else {
        if (!reserve_batches(c, n)) {
            rc = QUEUE_ERROR;
            goto answer;
        }
        size_t i = 0;
        for (struct committer_req *r = group; r; r = r->next)
            c->batches[i++] = r->batch;
        /* Never let a commit carry the store past high water: the headroom
         * above it is what lets delivery delete (LMDB needs free pages to
         * delete), so a full map could never drain again. */
        uint64_t need = queue_group_footprint(c->batches, n);
        if (!fits(c, need)) {
            refresh_usage(c); /* space may have been freed since */
            if (!fits(c, need)) {
                c->blocked_need = need;
                refresh_usage(c);
                rc = QUEUE_FULL;
                goto answer;
            }
        }
#ifdef EDDY_FAULT_ACK_BEFORE_COMMIT
        fault_answer_first(c, group, n);
        group = NULL; /* answered: nothing below touches it */
#endif
        double t0 = clock_mono_s();
        rc = queue_append_group(c->o.queue, c->batches, n);
        double dt = clock_mono_s() - t0;
        struct metrics *m = c->o.metrics;
        if (rc == QUEUE_OK) {
            c->est_used += need;
            i = 0;
            uint64_t events = 0, bytes = 0;
            for (struct committer_req *r = group; r; r = r->next, i++) {
                r->batch.seq = c->batches[i].seq;
                events += r->batch.event_count;
                bytes += r->batch.body_len;
            }
            if (m) {
                metrics_observe(&m->commit_seconds, dt);
                metrics_observe(&m->commit_batches, (double)n);
                metrics_inc(&m->ingest_events, events);
                metrics_inc(&m->ingest_bytes, bytes);
            }
        } else {
            if (m)
                metrics_inc(&m->commit_failures, 1);
            log_error("group commit of %zu request(s) failed (%s): %s", n,
                      rc == QUEUE_FULL ? "storage full"
                      : rc == QUEUE_IO ? "I/O error"
                                       : "error",
                      queue_last_error());
        }
    }
answer:
    for (struct committer_req *r = group; r; r = r->next)
        r->result = rc;
    /* The shutdown starts before the failed group is handed back, so its
     * 503s are sent as part of the drain and written out before exit. */
    bool fatal = rc == QUEUE_IO && !atomic_exchange(&c->failed, true);
    if (fatal && c->o.fatal)
        c->o.fatal(c->o.arg);
    c->o.done(c->o.arg, group);
    if (rc == QUEUE_FULL || clock_mono_ms() - c->last_refresh_ms >= COMMITTER_REFRESH_MS)
        refresh_usage(c);
}

static void *run(void *arg)
{
    struct committer *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (!c->head) {
            if (c->stopping)
                break;
            struct timespec until;
            clock_deadline(CLOCK_MONOTONIC, COMMITTER_IDLE_MS, &until);
            int w = pthread_cond_timedwait(&c->wake, &c->lock, &until);
            if (w == ETIMEDOUT && !c->head) {
                pthread_mutex_unlock(&c->lock);
                refresh_usage(c);
                pthread_mutex_lock(&c->lock);
            }
            continue;
        }
        size_t n;
        struct committer_req *group = take(c, &n);
        pthread_mutex_unlock(&c->lock);
        commit_group(c, group, n);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

int committer_start(struct committer **out, const struct committer_options *o, char *err,
                    size_t errlen)
{
    struct committer *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "committer: out of memory");
        return -1;
    }
    c->o = *o;
    if (!c->o.group_max_bytes)
        c->o.group_max_bytes = 32u << 20;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->wake, &ca);
    pthread_condattr_destroy(&ca);
    refresh_usage(c);
    int rc = pthread_create(&c->thread, NULL, run, c);
    if (rc != 0) {
        snprintf(err, errlen, "committer: cannot start thread: %s", strerror(rc));
        pthread_cond_destroy(&c->wake);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return -1;
    }
    pthread_setname_np(c->thread, "eddyd-commit");
    *out = c;
    return 0;
}

void committer_submit(struct committer *c, struct committer_req *r)
{
    r->next = NULL;
    pthread_mutex_lock(&c->lock);
    bool was_empty = c->head == NULL;
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    if (was_empty)
        pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
}

bool committer_above_high_water(const struct committer *c)
{
    return atomic_load(&c->above_high_water);
}

bool committer_failed(const struct committer *c)
{
    return atomic_load(&c->failed);
}

bool committer_lost(const struct committer *c)
{
    return atomic_load(&c->lost);
}

const char *committer_refusing(const struct committer *c, const char **error)
{
    *error = "storage_error";
    if (atomic_load(&c->failed))
        return "storage failed (I/O error); eddyd is stopping";
    if (atomic_load(&c->lost))
        return c->lost_why;
    *error = "storage_full";
    if (atomic_load(&c->above_high_water))
        return atomic_load(&c->full_why) == COMMITTER_DISK
                   ? "storage full: the disk under the data dir is almost out of space"
                   : "storage full: the store is above high_water of max_size";
    *error = NULL;
    return NULL;
}

void committer_stop(struct committer *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    c->stopping = true;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c->batches);
    free(c);
}
