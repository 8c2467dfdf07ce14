/*
 * delivery.c - the delivery worker: replays pending batches to RudderStack's
 * webhook with libcurl, at least once, per source.
 *
 * Design:
 * - One sender thread drives `concurrency` easy handles (slots, reused, so
 *   connections are kept alive) on a curl multi handle. (Two senders with
 *   half the slots each drained ~25% slower on a 2-core machine: they
 *   compete with the acker and the receiver for the same cores.)
 * - A source is the write key a batch is forwarded with (its own, else
 *   [delivery] write_key), named by its fingerprint (queue_fingerprint).
 *   Each source has its own state: ok (any number of transfers), backoff
 *   after 408/429/5xx or a network failure, held after 401/403/404 (then
 *   one probe at a time, with one of its own batches, after its gate), and
 *   paused by `eddy pause` (nothing sent). One source's trouble never
 *   slows the others: the scan skips its batches without copying them.
 * - Work is listed with queue_ready_scan, which shows each record's key and
 *   stored next-try time to choose_ready below; each chosen batch is copied
 *   out with queue_get (its CRC checked), so no read transaction is ever
 *   held across network I/O. A cursor finds new batches (ingest, CLI
 *   replays and split halves all get higher sequences); a scan from the
 *   head of pending runs at least every second and whenever a batch went
 *   back to pending or a source became deliverable again.
 * - Every deadline is on CLOCK_MONOTONIC: the sources' gates and each
 *   failed batch's retry time (the `retry` map), so a step of the wall
 *   clock never delays a retry. The next-try time stored with a batch is
 *   wall-clock and is only used after a restart, clamped to the longest
 *   wait the policy can ask for.
 * - Answers follow policy.c (DESIGN.md "Delivery policy"). A failed attempt
 *   counts toward max_attempts only when its source accepted another batch
 *   since the batch's previous attempt (policy_attempt_counts): an outage
 *   never dead-letters. A 2xx is acked in groups: an acker thread deletes
 *   the seqs of many completions in one queue_ack transaction, so its fsync
 *   never stalls transfers (a crash before it only means a duplicate
 *   later). Splits and burials are single transactions in storage, so a
 *   kill at any instant loses nothing: a batch is pending, dead, or was
 *   acknowledged by RudderStack.
 * - A bisected batch (400/413, or split for max_batch_bytes) logs one line
 *   when all of its events are settled (delivered, dead-lettered, requests
 *   spent), not one per split.
 * - content_encoding = gzip: a batch stored gzip-compressed is copied out
 *   as stored (queue_get_stored) and POSTed as it is with
 *   Content-Encoding: gzip, never inflated on the happy path; identity,
 *   require_external_user_id and raw records (older stores) send the raw
 *   body. Splits recompress their halves in storage. A source whose
 *   destination refuses gzip (415, or a 400 that the identity resend of
 *   the same batch passes) is switched to identity, logged once.
 * - The states are recorded for `eddy status` and /status through
 *   status.h (meta "delivery"), and shown in the per-source metrics.
 */
#include "delivery.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../storage/batch.h"
#include "../storage/clock.h"
#include "../storage/text.h"
#include "log.h"
#include "policy.h"
#include "seqmap.h"
#include "status.h"

#define DELIVERY_ACK_MAX 256         /* acks waiting for the acker before dispatch pauses */
#define DELIVERY_ACK_GATHER 64       /* the acker waits for this many acks... */
#define DELIVERY_ACK_GATHER_MS 5     /* ...or this long, whichever comes first */
#define DELIVERY_HEAD_SCAN_MS 1000   /* head-of-queue rescan period */
#define DELIVERY_HEAD_EXAMINE 100000 /* records one head scan looks at, at most */
#define DELIVERY_IDLE_POLL_MS 50     /* how often an idle sender looks for new batches */
#define DELIVERY_STATE_WRITE_MS 1000 /* status/error-only changes written at most this often */
#define DELIVERY_PAUSE_POLL_MS 500   /* how often pause flags set by `eddy pause` are read */

struct source;

struct slot {
    CURL *easy;
    bool busy;
    uint64_t seq; /* the pending batch it holds */
    struct source *src;
    struct queue_entry e;
    unsigned char *filtered; /* body without dropped events, or NULL: e's body is sent */
    size_t filtered_len;
    size_t sent_len; /* bytes of the body being POSTed */
    bool sent_gzip;  /* ...the stored gzip member, with Content-Encoding: gzip */
    uint32_t sent_events, dropped;
    struct curl_slist *headers;
    char *url;
    char answer[QUEUE_ANSWER_MAX];
    size_t answer_len;
    char errbuf[CURL_ERROR_SIZE];
    double started_s; /* clock_mono_s() when the POST began */
};

/* One RudderStack source as the sender sees it. */
struct source {
    char fp[QUEUE_FP_SIZE];
    char *key; /* the key batches are forwarded with ("" for none) */
    size_t keylen;
    bool is_default; /* [delivery] write_key: batches stored without a key go here */
    enum delivery_state state;
    bool paused;               /* by `eddy pause`, read from the store */
    int64_t gate_ms;           /* monotonic: no new transfer before this */
    unsigned failures;         /* consecutive, for the gate's backoff */
    int64_t accepted_ms;       /* wall-clock: its last 2xx (policy_attempt_counts) */
    unsigned inflight, chosen; /* transfers running; taken by the scan under way */
    uint64_t probe_seq;        /* the batch probed while held or backing off */
    /* content_encoding = gzip: a source whose destination refused gzip gets
     * identity from then on; until a gzip body got a 2xx, a 400 to one is
     * retried once as identity (identity_trial) to tell the two apart. */
    bool identity, gzip_ok;
    uint64_t identity_trial;
    int64_t since_ms; /* wall-clock: state entered */
    int last_status;
    char last_error[160];
    struct metrics_source *ms;
};

/* A batch being bisected: counted until every event is settled. */
struct bisection {
    uint64_t root;
    uint32_t events, left, delivered, dead, requests;
};

struct delivery {
    queue_t *q;
    struct config cfg; /* shallow copy: only the [delivery] scalars and arrays are used */
    /* delivery_reconfigure hands the sender new live settings here */
    pthread_mutex_t reconf_mu;
    struct config reconf; /* under reconf_mu: only the live fields are set */
    atomic_bool reconf_pending;
    struct metrics *m;
    atomic_bool stop;
    /* The sender thread owns everything but the acker's fields. */
    pthread_t sender;
    bool sender_started;
    CURLM *multi;
    struct slot *slots;
    unsigned nslots;
    bool idle; /* the last dispatch found no ready batch */
    /* Acked by RudderStack, not yet deleted: still "busy". The acker thread
     * deletes them so the fsync of the delete never stalls transfers; it
     * takes everything queued (`acks`) into `committing` per transaction,
     * so acks group by themselves under load. Guarded by ack_mu. */
    pthread_t acker;
    pthread_mutex_t ack_mu;
    pthread_cond_t ack_cv;
    uint64_t *acks, *committing;
    size_t nacks, ncommitting, ack_cap;
    bool acker_stop, acker_started;
    /* where to look for work */
    uint64_t cursor;
    int64_t last_head_scan_ms; /* monotonic */
    bool rescan_head;
    /* sources */
    struct source **sources;
    size_t nsources, cap_sources;
    int64_t pause_read_ms;         /* monotonic */
    char (*paused)[QUEUE_FP_SIZE]; /* as last read: QUEUE_PAUSED_MAX entries */
    size_t npaused;
    /* per batch, in memory: monotonic retry time of failed batches; the
     * bisection a split half belongs to (index + 1 into bisections) */
    struct seqmap retry, halves;
    struct bisection *bisections;
    size_t nbisections;
    uint64_t max_wait_ms; /* the longest wait the policy asks for */
    /* state, all sources together */
    enum delivery_state state;
    int last_status;
    char last_error[QUEUE_ANSWER_MAX];
    bool state_dirty;
    int64_t state_written_ms;    /* monotonic */
    int64_t now_ms, now_wall_ms; /* of the dispatch under way (choose_ready) */
    uint64_t scan_until;         /* the scan under way stops past this (0: no bound) */
    unsigned rng;
    uint64_t *scan; /* scratch for queue_ready_scan */
    size_t scan_cap;
};

static double uniform(struct delivery *d)
{
    return (double)rand_r(&d->rng) / ((double)RAND_MAX + 1.0);
}

/* ---- sources -------------------------------------------------------------- */

/* The worst state of all sources becomes eddy_delivery_state. */
static void state_overall(struct delivery *d)
{
    enum delivery_state worst = DELIVERY_OK;
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i]->state > worst)
            worst = d->sources[i]->state;
    if (worst != d->state) {
        d->state = worst;
        d->state_dirty = true;
    }
    atomic_store(&d->m->delivery_state, (int)worst);
}

/* The source a stored key belongs to, added when new. NULL when out of
 * memory. */
static struct source *source_of(struct delivery *d, const char *key, size_t keylen)
{
    if (!key)
        keylen = 0;
    bool dflt = keylen == 0;
    if (dflt) {
        key = d->cfg.write_key;
        keylen = strlen(d->cfg.write_key);
    }
    for (size_t i = 0; i < d->nsources; i++) {
        struct source *s = d->sources[i];
        if (s->keylen == keylen && memcmp(s->key, key, keylen) == 0)
            return s;
    }
    if (d->nsources == d->cap_sources) {
        size_t cap = d->cap_sources ? d->cap_sources * 2 : 8;
        struct source **p = realloc(d->sources, cap * sizeof(*p));
        if (!p)
            return NULL;
        d->sources = p;
        d->cap_sources = cap;
    }
    struct source *s = calloc(1, sizeof(*s));
    char *k = malloc(keylen + 1);
    if (!s || !k) {
        free(s);
        free(k);
        return NULL;
    }
    memcpy(k, key, keylen);
    k[keylen] = 0;
    s->key = k;
    s->keylen = keylen;
    s->is_default = keylen == strlen(d->cfg.write_key) && !memcmp(key, d->cfg.write_key, keylen);
    queue_fingerprint(key, keylen, s->fp);
    s->since_ms = clock_wall_ms();
    s->ms = metrics_source(d->m, s->fp);
    for (size_t i = 0; i < d->npaused; i++)
        if (!strcmp(d->paused[i], s->fp)) {
            s->paused = true;
            s->state = DELIVERY_PAUSED;
            atomic_store(&s->ms->state, (int)s->state);
        }
    d->sources[d->nsources++] = s;
    d->state_dirty = true;
    state_overall(d);
    return s;
}

static const char *state_name(enum delivery_state s)
{
    return s == DELIVERY_PAUSED    ? "paused"
           : s == DELIVERY_HELD    ? "held"
           : s == DELIVERY_BACKOFF ? "backoff"
                                   : "ok";
}

/* Records the state for eddy status and /status (status.h): the worst state
 * of all sources, the latest answer, and every source. */
static void state_write(struct delivery *d)
{
    struct status_source *srcs = calloc(d->nsources ? d->nsources : 1, sizeof(*srcs));
    if (!srcs)
        return; /* out of memory: still dirty, written on a later turn */
    for (size_t i = 0; i < d->nsources; i++) {
        const struct source *s = d->sources[i];
        srcs[i] = (struct status_source){.fp = s->fp,
                                         .state = state_name(s->state),
                                         .since_ms = s->since_ms,
                                         .last_status = s->last_status,
                                         .last_error = s->last_error,
                                         .probing = s->probe_seq};
    }
    struct status_delivery sd = {.state = state_name(d->state),
                                 .last_status = d->last_status,
                                 .last_error = d->last_error,
                                 .updated_ms = clock_wall_ms(),
                                 .sources = srcs,
                                 .nsources = d->nsources};
    const char *why = status_put_delivery(d->q, &sd);
    free(srcs);
    if (!why) {
        d->state_dirty = false;
        d->state_written_ms = clock_mono_ms();
    } else {
        log_warn("delivery: cannot record the delivery state: %s", why);
    }
}

/* Keeps only printable bytes of an answer for the one-line last_error. */
static void set_error_text(char *dst, size_t cap, const char *src, size_t len)
{
    size_t j = len < cap ? len : cap - 1;
    text_scrub(dst, src, j, ' ');
    while (j > 0 && dst[j - 1] == ' ')
        j--;
    dst[j] = 0;
}

/* Moves source s to state st after an answer (status 0: none). One log
 * line per change of state. */
static void source_set(struct delivery *d, struct source *s, enum delivery_state st, int status,
                       const char *err, size_t errlen)
{
    char text[sizeof(s->last_error)];
    bool changed = false;
    set_error_text(text, sizeof(text), err ? err : "", err ? errlen : 0);
    if (s->paused && st != DELIVERY_PAUSED)
        st = DELIVERY_PAUSED; /* an answer that was in flight when it was paused */
    if (st != s->state) {
        if (st == DELIVERY_HELD)
            log_error("delivery: source %s HELD: RudderStack answered %d (%s); a configuration "
                      "fault (write key refused, source disabled, URL); nothing is dropped, "
                      "probing every %llu ms with one of its batches until it answers 2xx; "
                      "other sources go on",
                      s->fp, status, text,
                      (unsigned long long)policy_hold_probe_ms(d->cfg.backoff_min_ms,
                                                               d->cfg.backoff_max_ms));
        else if (st == DELIVERY_BACKOFF)
            log_warn("delivery: source %s backing off: %s %d (%s)", s->fp,
                     status ? "HTTP" : "network error", status, text);
        else if (st == DELIVERY_PAUSED)
            log_warn("delivery: source %s paused (eddy pause); its batches stay pending", s->fp);
        else if (s->state == DELIVERY_PAUSED)
            log_info("delivery: source %s resumed (eddy resume)", s->fp);
        else
            log_info("delivery: source %s ok again: RudderStack answered %d", s->fp, status);
        if (st == DELIVERY_OK || st == DELIVERY_PAUSED)
            s->probe_seq = 0;
        if (st == DELIVERY_OK && s->state != DELIVERY_OK)
            d->rescan_head = true; /* its batches the scans skipped are deliverable */
        s->state = st;
        s->since_ms = clock_wall_ms();
        atomic_store(&s->ms->state, (int)st);
        d->state_dirty = true;
        state_overall(d);
        changed = true;
    }
    if (status != 0 || st != DELIVERY_PAUSED) {
        if (status != s->last_status || strcmp(text, s->last_error) != 0)
            d->state_dirty = true;
        s->last_status = status;
        memcpy(s->last_error, text, sizeof(text));
        if (status != d->last_status || strncmp(text, d->last_error, sizeof(d->last_error)))
            d->state_dirty = true;
        d->last_status = status;
        snprintf(d->last_error, sizeof(d->last_error), "%s", text);
    }
    /* A change of state is recorded at once (eddy status, /status); a new
     * status or error alone at most every DELIVERY_STATE_WRITE_MS. */
    if (changed)
        state_write(d);
}

/* Follows the pause flags `eddy pause` / `eddy resume` keep in the store,
 * read at most every DELIVERY_PAUSE_POLL_MS. */
static void read_pauses(struct delivery *d, int64_t now)
{
    if (d->pause_read_ms && now - d->pause_read_ms < DELIVERY_PAUSE_POLL_MS)
        return;
    d->pause_read_ms = now;
    size_t n = 0;
    if (queue_paused(d->q, d->paused, QUEUE_PAUSED_MAX, &n) != QUEUE_OK)
        return; /* cannot read them now: keep what we know */
    char(*fps)[QUEUE_FP_SIZE] = d->paused;
    d->npaused = n;
    for (size_t i = 0; i < d->nsources; i++) {
        struct source *s = d->sources[i];
        bool paused = false;
        for (size_t k = 0; k < n && !paused; k++)
            paused = !strcmp(fps[k], s->fp);
        if (paused == s->paused)
            continue;
        s->paused = paused;
        if (paused) {
            source_set(d, s, DELIVERY_PAUSED, 0, NULL, 0);
        } else {
            s->gate_ms = 0;
            s->failures = 0;
            source_set(d, s, DELIVERY_OK, 0, NULL, 0);
        }
    }
}

/* ---- bisections ----------------------------------------------------------- */

static struct bisection *bisection_of(struct delivery *d, uint64_t seq)
{
    int64_t v;
    if (!seqmap_get(&d->halves, seq, &v) || v < 1 || (size_t)v > d->nbisections)
        return NULL;
    return &d->bisections[v - 1];
}

/* Called when a batch is split into a and b: they belong to the bisection
 * of seq, or start one with seq as its root. */
static void bisection_split(struct delivery *d, uint64_t seq, uint32_t events, bool answered,
                            uint64_t a, uint64_t b)
{
    int64_t v;
    if (!seqmap_get(&d->halves, seq, &v)) {
        size_t i = 0;
        while (i < d->nbisections && d->bisections[i].root != 0)
            i++;
        if (i == d->nbisections) {
            struct bisection *p =
                realloc(d->bisections, (d->nbisections + 1) * sizeof(*d->bisections));
            if (!p)
                return;
            d->bisections = p;
            d->nbisections++;
        }
        d->bisections[i] = (struct bisection){
            .root = seq, .events = events, .left = events, .requests = answered ? 1 : 0};
        v = (int64_t)i + 1;
    }
    seqmap_del(&d->halves, seq);
    if (seqmap_put(&d->halves, a, v) != 0 || seqmap_put(&d->halves, b, v) != 0)
        log_warn("delivery: out of memory tracking a bisection");
}

/* Settles `events` of seq's bisection (delivered or dead); logs the summary
 * when nothing is left. */
static void bisection_settle(struct delivery *d, uint64_t seq, uint32_t delivered, uint32_t dead)
{
    struct bisection *b = bisection_of(d, seq);
    seqmap_del(&d->halves, seq);
    if (!b)
        return;
    b->delivered += delivered;
    b->dead += dead;
    uint32_t n = delivered + dead;
    b->left = b->left > n ? b->left - n : 0;
    if (b->left == 0) {
        log_msg(b->dead ? LOG_LVL_WARN : LOG_LVL_INFO,
                "delivery: batch %llu (%u events) split to deliver it: %u events delivered, %u "
                "dead-lettered, %u requests",
                (unsigned long long)b->root, b->events, b->delivered, b->dead, b->requests);
        b->root = 0;
    }
}

/* ---- acks ----------------------------------------------------------------- */

static void *acker_main(void *arg)
{
    struct delivery *d = arg;
    pthread_mutex_lock(&d->ack_mu);
    for (;;) {
        while (d->nacks == 0 && !d->acker_stop)
            pthread_cond_wait(&d->ack_cv, &d->ack_mu);
        if (d->nacks == 0 && d->acker_stop)
            break;
        /* Under load, gather a few ms of acks into one transaction: fewer
         * fsyncs, fewer wake-ups (a crash meanwhile only means duplicates). */
        if (d->nacks < DELIVERY_ACK_GATHER && !d->acker_stop) {
            struct timespec until;
            clock_deadline(CLOCK_MONOTONIC, DELIVERY_ACK_GATHER_MS, &until);
            while (d->nacks < DELIVERY_ACK_GATHER && !d->acker_stop &&
                   pthread_cond_timedwait(&d->ack_cv, &d->ack_mu, &until) == 0)
                ;
        }
        uint64_t *t = d->committing;
        d->committing = d->acks;
        d->ncommitting = d->nacks;
        d->acks = t;
        d->nacks = 0;
        pthread_mutex_unlock(&d->ack_mu);
        if (queue_ack(d->q, d->committing, d->ncommitting) != QUEUE_OK)
            log_error("delivery: cannot delete %zu delivered batches (they will be sent again): "
                      "%s",
                      d->ncommitting, queue_last_error());
        pthread_mutex_lock(&d->ack_mu);
        d->ncommitting = 0;
    }
    pthread_mutex_unlock(&d->ack_mu);
    return NULL;
}

static size_t acks_waiting(struct delivery *d)
{
    pthread_mutex_lock(&d->ack_mu);
    size_t n = d->nacks + d->ncommitting;
    pthread_mutex_unlock(&d->ack_mu);
    return n;
}

/* True when seq is in flight or delivered but not yet deleted. The caller
 * holds ack_mu. */
static bool is_busy_locked(const struct delivery *d, uint64_t seq)
{
    for (unsigned i = 0; i < d->nslots; i++)
        if (d->slots[i].busy && d->slots[i].seq == seq)
            return true;
    for (size_t i = 0; i < d->nacks; i++)
        if (d->acks[i] == seq)
            return true;
    for (size_t i = 0; i < d->ncommitting; i++)
        if (d->committing[i] == seq)
            return true;
    return false;
}

/* Hands a delivered seq to the acker. The arrays hold DELIVERY_ACK_MAX + the
 * slots; dispatch pauses while DELIVERY_ACK_MAX are waiting. */
static void ack(struct delivery *d, uint64_t seq)
{
    pthread_mutex_lock(&d->ack_mu);
    if (d->nacks < d->ack_cap) {
        d->acks[d->nacks++] = seq;
        /* wake the acker for the first ack and when a group is full */
        if (d->nacks == 1 || d->nacks == DELIVERY_ACK_GATHER)
            pthread_cond_signal(&d->ack_cv);
        pthread_mutex_unlock(&d->ack_mu);
        return;
    }
    pthread_mutex_unlock(&d->ack_mu);
    /* Cannot happen with the sizes chosen in delivery_start; stay correct. */
    if (queue_ack(d->q, &seq, 1) != QUEUE_OK)
        log_error("delivery: cannot delete delivered batch %llu (it will be sent again): %s",
                  (unsigned long long)seq, queue_last_error());
}

/* ---- dead letters and splits ---------------------------------------------- */

static void record_attempt(struct delivery *d, uint64_t seq, int status, bool counts,
                           const char *answer, size_t len, int64_t now_wall, int64_t next_try)
{
    struct queue_attempt a = {.at_ms = now_wall, .status = status, .uncounted = !counts};
    if (len > QUEUE_ANSWER_MAX)
        len = QUEUE_ANSWER_MAX;
    memcpy(a.answer, answer, len);
    a.answer_len = (uint16_t)len;
    if (queue_fail(d->q, seq, &a, next_try) != QUEUE_OK)
        log_warn("delivery: cannot record a failed attempt of batch %llu: %s",
                 (unsigned long long)seq, queue_last_error());
}

/* Moves seq to the DLQ; quiet for the single events of a bisection, which
 * its summary line counts. Returns true when it moved. */
static bool bury(struct delivery *d, struct source *src, uint64_t seq, const char *reason,
                 bool quiet)
{
    uint64_t dead_id = 0;
    if (queue_bury(d->q, seq, reason, &dead_id) != QUEUE_OK) {
        log_error("delivery: cannot dead-letter batch %llu (it stays pending): %s",
                  (unsigned long long)seq, queue_last_error());
        return false;
    }
    seqmap_del(&d->retry, seq);
    metrics_inc(&d->m->dead_lettered, 1);
    if (src)
        metrics_inc(&src->ms->dead_lettered, 1);
    if (!quiet)
        log_warn("delivery: batch %llu of source %s dead-lettered as %llu: %s",
                 (unsigned long long)seq, src ? src->fp : "?", (unsigned long long)dead_id, reason);
    return true;
}

/* Returns true when seq was replaced by two halves. */
static bool split(struct delivery *d, uint64_t seq, uint32_t events, bool answered, const char *why)
{
    uint64_t a = 0, b = 0;
    if (queue_split(d->q, seq, 0, &a, &b) != QUEUE_OK) {
        log_error("delivery: cannot split batch %llu (%s): %s", (unsigned long long)seq, why,
                  queue_last_error());
        return false;
    }
    metrics_inc(&d->m->splits, 1);
    seqmap_del(&d->retry, seq);
    bisection_split(d, seq, events, answered, a, b);
    return true;
}

/* ---- require_external_user_id --------------------------------------------- */

static bool event_has_external_id(const unsigned char *body, const struct batch_event *ev)
{
    json_error_t jerr;
    json_t *v =
        json_loadb((const char *)body + ev->off, ev->len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v)
        return true; /* cannot judge it (jansson is stricter than the gateway): keep it */
    json_t *id = json_object_get(json_object_get(v, "user"), "external_user_id");
    bool has = id && !json_is_null(id) && !(json_is_string(id) && json_string_length(id) == 0);
    json_decref(v);
    return has;
}

/* Drops the events lacking user.external_user_id from s's body. Leaves
 * s->filtered NULL when every event stays (the stored bytes are sent). */
static void filter_events(struct slot *s)
{
    const struct record *r = &s->e.rec;
    struct batch_event *ev = NULL;
    size_t n = 0, kept = 0;
    s->sent_events = r->event_count;
    s->dropped = 0;
    if (batch_scan(r->body, r->body_len, &ev, &n) != BATCH_OK)
        return;
    for (size_t i = 0; i < n; i++)
        if (event_has_external_id(r->body, &ev[i]))
            ev[kept++] = ev[i];
    if (kept < n) {
        size_t len = 0;
        s->dropped = (uint32_t)(n - kept);
        s->sent_events = (uint32_t)kept;
        if (kept > 0 && batch_join(r->body, ev, kept, &s->filtered, &len) == BATCH_OK) {
            s->filtered_len = len;
        } else if (kept > 0) {
            s->dropped = 0; /* out of memory: send the batch whole */
            s->sent_events = (uint32_t)n;
        }
    }
    free(ev);
}

/* ---- transfers -------------------------------------------------------------- */

static size_t on_answer(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct slot *s = arg;
    size_t n = size * nmemb, room = sizeof(s->answer) - s->answer_len;
    memcpy(s->answer + s->answer_len, ptr, n < room ? n : room);
    s->answer_len += n < room ? n : room;
    return n;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const struct delivery *d = arg;
    return atomic_load(&d->stop) ? 1 : 0; /* non-zero aborts the transfer */
}

/* Frees what a finished transfer held and frees the slot. */
static void slot_release(struct slot *s)
{
    if (s->busy && s->src && s->src->inflight)
        s->src->inflight--;
    s->src = NULL;
    s->seq = 0;
    queue_entry_free(&s->e);
    memset(&s->e, 0, sizeof(s->e));
    free(s->filtered);
    s->filtered = NULL;
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    free(s->url);
    s->url = NULL;
    s->busy = false;
}

static int slot_init(struct delivery *d, struct slot *s)
{
    s->easy = curl_easy_init();
    if (!s->easy)
        return -1;
    CURL *h = s->easy;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_answer);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, d);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(h, CURLOPT_PRIVATE, s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "eddy");
    return 0;
}

/* Starts the POST of s->e (already in the slot). Returns 0 or -1. */
static int send_batch(struct delivery *d, struct slot *s)
{
    const struct record *r = &s->e.rec;
    const char *key = s->src->key;
    size_t keylen = s->src->keylen;
    const unsigned char *body = r->body;
    size_t body_len = r->body_len;

    if (s->filtered) {
        body = s->filtered;
        body_len = s->filtered_len;
    } else if (s->sent_gzip) {
        body = r->stored; /* forwarded as stored: never inflated */
        body_len = r->stored_len;
    }
    s->answer_len = 0;
    s->errbuf[0] = 0;
    /* per request: a reload may have changed it */
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)d->cfg.timeout_ms);
    curl_easy_setopt(s->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)d->cfg.timeout_ms);

    char *esc = keylen ? curl_easy_escape(s->easy, key, (int)keylen) : NULL;
    size_t ulen = strlen(d->cfg.url) + (esc ? strlen(esc) : 0) + 16;
    s->url = malloc(ulen);
    if (!s->url) {
        curl_free(esc);
        return -1;
    }
    if (esc)
        snprintf(s->url, ulen, "%s%cwriteKey=%s", d->cfg.url, strchr(d->cfg.url, '?') ? '&' : '?',
                 esc);
    else
        snprintf(s->url, ulen, "%s", d->cfg.url);
    curl_free(esc);

    char idem[64];
    snprintf(idem, sizeof(idem), "Idempotency-Key: eddy-%llu", (unsigned long long)s->e.id);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = h ? curl_slist_append(h, "Expect:") : NULL;
    h = h ? curl_slist_append(h, idem) : NULL;
    /* rudder-server's gateway inflates exactly "gzip" on every route. */
    if (h && s->sent_gzip)
        h = curl_slist_append(h, "Content-Encoding: gzip");
    if (!h)
        return -1;
    s->headers = h;

    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    s->sent_len = body_len;
    s->started_s = clock_mono_s();
    return curl_multi_add_handle(d->multi, s->easy) == CURLM_OK ? 0 : -1;
}

static unsigned inflight(const struct delivery *d)
{
    unsigned n = 0;
    for (unsigned i = 0; i < d->nslots; i++)
        n += d->slots[i].busy;
    return n;
}

static struct slot *free_slot(struct delivery *d)
{
    for (unsigned i = 0; i < d->nslots; i++)
        if (!d->slots[i].busy)
            return &d->slots[i];
    return NULL;
}

/* When a failed batch may be tried again, on the monotonic clock. A batch
 * failed in this run has its time in `retry`; one failed before a restart
 * has only its stored wall-clock time, taken as a wait from now that is
 * never longer than the policy's longest (so a clock stepped back since
 * cannot hold it). */
static int64_t retry_at(struct delivery *d, uint64_t seq, int64_t next_try_wall)
{
    int64_t at;
    if (seqmap_get(&d->retry, seq, &at))
        return at;
    if (next_try_wall <= d->now_wall_ms)
        return 0;
    int64_t wait = next_try_wall - d->now_wall_ms;
    if ((uint64_t)wait > d->max_wait_ms)
        wait = (int64_t)d->max_wait_ms;
    at = d->now_ms + wait;
    seqmap_put(&d->retry, seq, at);
    return at;
}

/* queue_ready_scan's choice (ack_mu is held): a batch not in flight nor
 * being acked, whose retry time came, of a source that may send now: any
 * number while the source is ok, one probe once its gate passed while it is
 * held or backing off, none while paused. Reads keys only, so the batches
 * of a stopped source are passed over without being copied. A head scan
 * stops at the cursor: what lies beyond is the cursor scan's. */
static enum queue_ready_choice choose_ready(void *ctx, uint64_t seq, const char *key, size_t keylen,
                                            int64_t next_try_wall)
{
    struct delivery *d = ctx;
    if (d->scan_until && seq > d->scan_until)
        return QUEUE_READY_STOP;
    /* cheapest first: a stopped source's batches cost a key comparison */
    struct source *s = source_of(d, key, keylen);
    if (!s || s->paused || s->state == DELIVERY_PAUSED || d->now_ms < s->gate_ms)
        return QUEUE_READY_SKIP;
    if (s->state != DELIVERY_OK && s->inflight + s->chosen > 0)
        return QUEUE_READY_SKIP;
    if (retry_at(d, seq, next_try_wall) > d->now_ms || is_busy_locked(d, seq))
        return QUEUE_READY_SKIP;
    s->chosen++;
    return QUEUE_READY_TAKE;
}

/* Copies pending batch seq into the free slot s and starts its transfer.
 * Buries a corrupt record, splits an oversize one, acks one whose events were
 * all dropped. Returns true when a transfer started; else s stays free. */
static bool start_slot(struct delivery *d, struct slot *s, uint64_t seq)
{
    bool rescan = false;
    s->busy = true;
    s->seq = seq;
    /* Stored gzip goes out as it is; it is inflated only when it must be. */
    int rc = queue_get_stored(d->q, QUEUE_PENDING, s->seq, &s->e);
    if (rc == QUEUE_OK && s->e.status == RECORD_OK)
        s->src = source_of(d, s->e.rec.write_key, s->e.rec.write_key_len);
    s->sent_gzip = s->src && d->cfg.content_gzip && (s->e.rec.flags & RECORD_F_GZIP) &&
                   !s->src->identity && s->src->identity_trial != seq &&
                   !d->cfg.require_external_user_id;
    if (s->src && !s->sent_gzip && queue_entry_inflate(&s->e) != QUEUE_OK)
        rc = QUEUE_ERROR;
    if (s->src)
        s->src->inflight++;
    if (rc != QUEUE_OK) {
        /* QUEUE_NOT_FOUND: removed meanwhile (eddy); else retry from the head */
        rescan = rc != QUEUE_NOT_FOUND;
        if (rescan)
            log_warn("delivery: cannot read pending batch %llu: %s", (unsigned long long)s->seq,
                     queue_last_error());
        else
            seqmap_del(&d->retry, seq);
    } else if (s->e.status != RECORD_OK) {
        char reason[128];
        snprintf(reason, sizeof(reason), "corrupt record: %s", record_strerror(s->e.status));
        bury(d, NULL, s->seq, reason, false);
    } else if (!s->src) {
        log_error("delivery: out of memory (sources)");
        rescan = true;
    } else if (s->src->state == DELIVERY_OK && s->e.rec.body_len > d->cfg.max_batch_bytes &&
               s->e.rec.event_count >= 2 &&
               split(d, s->seq, s->e.rec.event_count, false, "larger than max_batch_bytes")) {
        /* Split only while the source is ok: a probe during an outage
         * goes whole, so an outage does not churn the store (a 413 still
         * splits it once RudderStack is back). The halves come back through
         * the cursor; a batch that cannot be split is sent whole. */
    } else {
        s->filtered = NULL;
        s->sent_events = s->e.rec.event_count;
        s->dropped = 0;
        s->answer_len = 0;
        if (d->cfg.require_external_user_id)
            filter_events(s);
        if (s->sent_events == 0 && s->dropped > 0) {
            /* Every event lacked external_user_id: nothing to forward. */
            metrics_inc(&d->m->dropped_events, s->dropped);
            bisection_settle(d, s->seq, s->dropped, 0);
            ack(d, s->seq);
        } else if (send_batch(d, s) == 0) {
            if (s->src->state != DELIVERY_OK)
                s->src->probe_seq = s->seq;
            return true;
        } else {
            log_error("delivery: cannot start a transfer (out of memory?)");
            rescan = true;
        }
    }
    slot_release(s);
    if (rescan)
        d->rescan_head = true;
    return false;
}

/* Fills the free slots with ready batches of the sources that may send. */
static void dispatch(struct delivery *d, int64_t now)
{
    unsigned busy = inflight(d);
    if (busy >= d->nslots)
        return;
    unsigned want = d->nslots - busy;
    size_t acking = acks_waiting(d);
    if (acking >= DELIVERY_ACK_MAX) {
        d->idle = true; /* the disk is behind: let the acker catch up (poll, don't spin) */
        return;
    }
    d->now_ms = now;
    d->now_wall_ms = clock_wall_ms();
    size_t seen = 0;
    bool head = d->rescan_head || now - d->last_head_scan_ms >= DELIVERY_HEAD_SCAN_MS;
    for (size_t i = 0; i < d->nsources; i++)
        if (d->sources[i]->gate_ms && now >= d->sources[i]->gate_ms) {
            d->sources[i]->gate_ms = 0; /* open: its probe is due, from the head */
            head = true;
        }

    /* Before the first cursor scan there is nothing behind the cursor. */
    for (int pass = head && d->cursor ? 0 : 1; pass < 2 && want > 0; pass++) {
        /* pass 0: from the head up to the cursor (retries whose time came,
         * batches returned to pending, sources deliverable again); pass 1:
         * after the cursor (new batches). */
        uint64_t after = pass == 0 ? 0 : d->cursor, last = 0;
        d->scan_until = pass == 0 ? d->cursor : 0;
        size_t max = want < d->scan_cap ? want : d->scan_cap, n = 0;
        bool end = true;
        /* ack_mu is held from before the read until the choice is made: the
         * acker cannot forget a seq it deleted after this read began, so a
         * delivered batch is never seen as new again. */
        pthread_mutex_lock(&d->ack_mu);
        int rc = queue_ready_scan(d->q, after, pass == 0 ? DELIVERY_HEAD_EXAMINE : 0, choose_ready,
                                  d, d->scan, max, &n, &last, &end);
        pthread_mutex_unlock(&d->ack_mu);
        for (size_t i = 0; i < d->nsources; i++)
            d->sources[i]->chosen = 0;
        if (rc != QUEUE_OK) {
            log_warn("delivery: cannot read pending batches: %s", queue_last_error());
            break;
        }
        if (pass == 0) {
            d->last_head_scan_ms = now;
            /* found as much work behind the cursor as it could take: look
             * again at once, there may be more */
            d->rescan_head = n == max && n > 0;
        } else if (last > d->cursor) {
            /* Past what was looked at: batches passed over (their source
             * cannot send now) are picked up by a head scan later. */
            d->cursor = last;
        }
        for (size_t i = 0; i < n && want > 0; i++) {
            seen++;
            if (start_slot(d, free_slot(d), d->scan[i]))
                want--;
        }
    }
    d->idle = seen == 0;
}

/* A destination refusing gzip: a 415 to a gzip body, or a 400 to one whose
 * identity resend then passes. The source gets identity from then on
 * (logged once) and the batch is sent again at once, nothing counted.
 * Returns true when it took care of the answer. */
static bool gzip_refused(struct delivery *d, struct slot *s, int status)
{
    struct source *src = s->src;
    if (!src || status < 200 || status >= 500)
        return false;
    bool switch_now = false;
    if (s->sent_gzip && status == 415) {
        switch_now = true;
    } else if (s->sent_gzip && status == 400 && (src->identity || !src->gzip_ok)) {
        /* Could be the body, could be the encoding: before anything is
         * bisected, the first such batch goes again at once as identity
         * (the trial). Others answered 400 meanwhile wait a moment and go
         * again as identity or gzip, whatever the trial showed. */
        int64_t at = clock_mono_ms();
        if (!src->identity && !src->identity_trial)
            src->identity_trial = s->seq;
        else
            at += (int64_t)d->cfg.backoff_min_ms;
        seqmap_put(&d->retry, s->seq, at);
        d->rescan_head = true;
        return true;
    } else if (!s->sent_gzip && src->identity_trial == s->seq && status >= 200 && status < 300) {
        switch_now = true; /* identity passed where gzip got 400 */
    }
    if (!switch_now)
        return false;
    if (!src->identity) {
        src->identity = true;
        log_warn("delivery: source %s: RudderStack answered %d to a gzip body%s; sending its "
                 "batches inflated (Content-Encoding: identity) from now on",
                 src->fp, status == 415 ? 415 : 400,
                 status == 415 ? "" : " that passed as identity");
    }
    src->identity_trial = 0;
    if (status >= 200 && status < 300)
        return false; /* the identity resend was delivered: ack it as usual */
    seqmap_del(&d->retry, s->seq);
    d->rescan_head = true;
    return true;
}

/* One finished transfer, as complete hands it to the handler of its
 * policy action. */
struct outcome {
    struct slot *s;
    struct source *src;
    enum policy_action act;
    int status;            /* the HTTP status, 0 when no answer came */
    int64_t retry_after_s; /* Retry-After, <= 0 when absent */
    int64_t now, wall;     /* monotonic; wall-clock as stored */
    struct bisection *bis; /* the bisection the batch belongs to, or NULL */
};

/* What a source learns about gzip from an answer it did not refuse: a 2xx
 * to a gzip body, or the answer to the identity resend (the same 400: the
 * body is at fault, not gzip, and its 400s to gzip bodies are bisected from
 * now on without a resend). */
static void gzip_learn(const struct outcome *o)
{
    if (o->act == POLICY_ACK && o->s->sent_gzip)
        o->src->gzip_ok = true;
    if (o->src->identity_trial == o->s->e.id) {
        o->src->identity_trial = 0;
        if (o->status == 400)
            o->src->gzip_ok = true;
    }
}

/* POLICY_ACK: RudderStack stored it. */
static void on_ack(struct delivery *d, const struct outcome *o)
{
    const struct slot *s = o->s;
    uint64_t seq = s->e.id;
    ack(d, seq);
    seqmap_del(&d->retry, seq);
    metrics_inc(&d->m->delivered_events, s->sent_events);
    metrics_inc(&o->src->ms->delivered_events, s->sent_events);
    if (s->dropped)
        metrics_inc(&d->m->dropped_events, s->dropped);
    bisection_settle(d, seq, s->sent_events + s->dropped, 0);
    o->src->accepted_ms = o->wall;
    o->src->failures = 0;
    source_set(d, o->src, DELIVERY_OK, o->status, "", 0);
}

/* POLICY_BISECT, POLICY_SPLIT: the body is unusable (or too large) as a
 * whole. Halves go back to pending; a single event goes to the DLQ. */
static void on_rejected(struct delivery *d, const struct outcome *o)
{
    const struct slot *s = o->s;
    uint64_t seq = s->e.id;
    uint32_t events = s->e.rec.event_count;
    /* RudderStack read the body and judged it: it is up and the key works. */
    o->src->failures = 0;
    source_set(d, o->src, DELIVERY_OK, o->status, s->answer, s->answer_len);
    if (events >= 2 && split(d, seq, events, o->bis == NULL,
                             o->act == POLICY_SPLIT ? "413 too large" : "rejected: bisecting"))
        return;
    /* One event (or a body that cannot be split): it goes to the DLQ with
     * this answer in its history. Should the move fail, the retry time
     * keeps it from being resent at once. */
    char reason[256], text[160];
    set_error_text(text, sizeof(text), s->answer, s->answer_len);
    snprintf(reason, sizeof(reason), "HTTP %d from RudderStack: %s", o->status, text);
    int64_t wait = (int64_t)d->cfg.backoff_max_ms;
    record_attempt(d, seq, o->status, true, s->answer, s->answer_len, o->wall, o->wall + wait);
    seqmap_put(&d->retry, seq, o->now + wait);
    if (bury(d, o->src, seq, reason, o->bis != NULL))
        bisection_settle(d, seq, 0, events);
}

/* POLICY_HOLD: the source's key or configuration is refused, not this
 * batch: the batch stays ready (it is the next probe), nothing counts. */
static void on_hold(struct delivery *d, const struct outcome *o)
{
    const struct slot *s = o->s;
    uint64_t probe = policy_hold_probe_ms(d->cfg.backoff_min_ms, d->cfg.backoff_max_ms);
    record_attempt(d, s->e.id, o->status, false, s->answer, s->answer_len, o->wall, o->wall);
    seqmap_del(&d->retry, s->e.id);
    o->src->gate_ms = o->now + (int64_t)probe;
    o->src->probe_seq = s->e.id;
    source_set(d, o->src, DELIVERY_HELD, o->status, s->answer, s->answer_len);
}

/* A counted failure that reached max_attempts over retry_window: the batch
 * goes to the DLQ (policy_give_up). */
static void give_up(struct delivery *d, const struct outcome *o)
{
    const struct slot *s = o->s;
    const struct queue_attempts *at = &s->e.attempts;
    int64_t first = at->first_failed_ms ? at->first_failed_ms : o->wall;
    char reason[256], text[96];
    set_error_text(text, sizeof(text), s->answer, s->answer_len);
    snprintf(reason, sizeof(reason),
             "gave up after %u counted HTTP failures over %llds (its source accepted "
             "other batches meanwhile), last HTTP %d: %s",
             at->counted + 1, (long long)((o->wall - first) / 1000), o->status, text);
    if (bury(d, o->src, s->e.id, reason, false))
        bisection_settle(d, s->e.id, 0, s->e.rec.event_count);
}

/* POLICY_RETRY, POLICY_NETWORK: no 2xx came back. The batch waits (and
 * may give up, when the failure counts); its source waits too, since
 * Retry-After is about the server, not the batch, then probes one batch at
 * a time until a 2xx. */
static void on_failure(struct delivery *d, const struct outcome *o)
{
    const struct slot *s = o->s;
    const struct queue_attempts *at = &s->e.attempts;
    struct source *src = o->src;
    /* The whole body went out: RudderStack may have stored it (a 504 after
     * its commit, a cut connection), so the redelivery can be a duplicate.
     * Count what can be known. */
    curl_off_t up = 0;
    curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &up);
    if (up >= (curl_off_t)s->sent_len)
        metrics_inc(&d->m->possible_duplicates, 1);
    bool counts = policy_attempt_counts(o->act, at->last_failed_ms, src->accepted_ms);
    unsigned n = at->counted + at->uncounted + at->network + 1;
    uint64_t delay =
        policy_retry_delay_ms(d->cfg.backoff_min_ms, d->cfg.backoff_max_ms,
                              d->cfg.retry_after_max_ms, n, uniform(d), o->retry_after_s);
    record_attempt(d, s->e.id, o->status, counts, s->answer, s->answer_len, o->wall,
                   o->wall + (int64_t)delay);
    seqmap_put(&d->retry, s->e.id, o->now + (int64_t)delay);
    if (counts && policy_give_up(at->counted + 1, at->first_failed_ms, o->wall, d->cfg.max_attempts,
                                 d->cfg.retry_window_ms))
        give_up(d, o);
    src->failures++;
    uint64_t gate = policy_retry_delay_ms(d->cfg.backoff_min_ms, d->cfg.backoff_max_ms,
                                          d->cfg.retry_after_max_ms, src->failures, uniform(d),
                                          o->retry_after_s);
    if (o->now + (int64_t)gate > src->gate_ms)
        src->gate_ms = o->now + (int64_t)gate;
    src->probe_seq = s->e.id;
    source_set(d, src, DELIVERY_BACKOFF, o->status, s->answer, s->answer_len);
    d->rescan_head = true;
}

/* Applies the policy to one finished transfer: policy_classify decides the
 * action, one handler per action carries it out. */
static void complete(struct delivery *d, struct slot *s, CURLcode code, int64_t now)
{
    long status = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &retry_after);
    metrics_observe(&d->m->delivery_seconds, clock_mono_s() - s->started_s);
    enum policy_action act = policy_classify((int)code, status, atomic_load(&d->stop));
    if (act == POLICY_ABORTED)
        return;
    struct outcome o = {.s = s,
                        .src = s->src,
                        .act = act,
                        .status = act == POLICY_NETWORK ? 0 : (int)status,
                        .retry_after_s = (int64_t)retry_after,
                        .now = now,
                        .wall = clock_wall_ms(),
                        .bis = bisection_of(d, s->e.id)};
    metrics_count_code(d->m->delivery_requests, o.status);
    metrics_count_code(o.src->ms->requests, o.status);
    if (o.bis)
        o.bis->requests++;
    if (act == POLICY_NETWORK) {
        const char *msg = s->errbuf[0] ? s->errbuf : curl_easy_strerror(code);
        s->answer_len = strlen(msg) < sizeof(s->answer) ? strlen(msg) : sizeof(s->answer);
        memcpy(s->answer, msg, s->answer_len);
    }
    if (gzip_refused(d, s, o.status))
        return;
    gzip_learn(&o);
    switch (act) {
    case POLICY_ACK:
        on_ack(d, &o);
        break;
    case POLICY_BISECT:
    case POLICY_SPLIT:
        on_rejected(d, &o);
        break;
    case POLICY_HOLD:
        on_hold(d, &o);
        break;
    case POLICY_RETRY:
    case POLICY_NETWORK:
        on_failure(d, &o);
        break;
    case POLICY_ABORTED:
        break;
    }
}

static void reap(struct delivery *d)
{
    CURLMsg *msg;
    int left = 0;
    while ((msg = curl_multi_info_read(d->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct slot *s = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&s);
        curl_multi_remove_handle(d->multi, easy);
        complete(d, s, code, clock_mono_ms());
        slot_release(s);
    }
}

/* How long the sender may sleep; 0 when it has work to start at once. */
static long sleep_ms(const struct delivery *d, int64_t now)
{
    unsigned busy = inflight(d);
    if (busy < d->nslots && !d->idle)
        return 0;
    int64_t t = DELIVERY_HEAD_SCAN_MS;
    if (busy < d->nslots) {
        t = DELIVERY_IDLE_POLL_MS; /* idle: look for new batches now and then */
        /* a source's gate that opens sooner: its probe is due */
        for (size_t i = 0; i < d->nsources; i++) {
            const struct source *s = d->sources[i];
            if (s->gate_ms > now && s->gate_ms - now < t && s->state != DELIVERY_PAUSED)
                t = s->gate_ms - now;
        }
    }
    if (d->state_dirty && t > DELIVERY_STATE_WRITE_MS)
        t = DELIVERY_STATE_WRITE_MS;
    return (long)(t < 1 ? 1 : t);
}

/* The [delivery] settings a reload may change while batches are in
 * flight: each is read afresh for every request or decision. The write
 * key (it names the source of keyless batches), concurrency (the slots)
 * and content_encoding keep their start values. */
static void copy_live(struct config *dst, const struct config *src)
{
    memcpy(dst->url, src->url, sizeof(dst->url));
    dst->timeout_ms = src->timeout_ms;
    dst->max_attempts = src->max_attempts;
    dst->retry_window_ms = src->retry_window_ms;
    dst->backoff_min_ms = src->backoff_min_ms;
    dst->backoff_max_ms = src->backoff_max_ms;
    dst->retry_after_max_ms = src->retry_after_max_ms;
    dst->max_batch_bytes = src->max_batch_bytes;
    dst->require_external_user_id = src->require_external_user_id;
}

/* The longest wait the policy can ask for, from d->cfg. */
static void set_max_wait(struct delivery *d)
{
    const struct config *c = &d->cfg;
    uint64_t probe = policy_hold_probe_ms(c->backoff_min_ms, c->backoff_max_ms);
    d->max_wait_ms =
        c->backoff_max_ms > c->retry_after_max_ms ? c->backoff_max_ms : c->retry_after_max_ms;
    if (probe > d->max_wait_ms)
        d->max_wait_ms = probe;
}

void delivery_reconfigure(struct delivery *d, const struct config *cfg)
{
    pthread_mutex_lock(&d->reconf_mu);
    copy_live(&d->reconf, cfg);
    atomic_store(&d->reconf_pending, true);
    pthread_mutex_unlock(&d->reconf_mu);
    curl_multi_wakeup(d->multi);
}

static void *sender_main(void *arg)
{
    struct delivery *d = arg;
    while (!atomic_load(&d->stop)) {
        if (atomic_exchange(&d->reconf_pending, false)) {
            pthread_mutex_lock(&d->reconf_mu);
            copy_live(&d->cfg, &d->reconf);
            pthread_mutex_unlock(&d->reconf_mu);
            set_max_wait(d);
            log_info("delivery: new settings in force (to %s)", d->cfg.url);
        }
        int64_t now = clock_mono_ms();
        read_pauses(d, now);
        dispatch(d, now);
        int running = 0;
        curl_multi_perform(d->multi, &running);
        reap(d);
        now = clock_mono_ms();
        if (d->state_dirty && now - d->state_written_ms >= DELIVERY_STATE_WRITE_MS)
            state_write(d);
        long t = sleep_ms(d, now);
        if (t > 0)
            curl_multi_poll(d->multi, NULL, 0, (int)t, NULL);
    }
    /* Stopping: abort what is in flight; those batches stay pending. */
    for (unsigned i = 0; i < d->nslots; i++)
        if (d->slots[i].busy) {
            curl_multi_remove_handle(d->multi, d->slots[i].easy);
            slot_release(&d->slots[i]);
        }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void destroy(struct delivery *d)
{
    if (!d)
        return;
    for (unsigned i = 0; d->slots && i < d->nslots; i++) {
        if (d->slots[i].busy)
            slot_release(&d->slots[i]);
        if (d->slots[i].easy)
            curl_easy_cleanup(d->slots[i].easy);
    }
    if (d->multi)
        curl_multi_cleanup(d->multi);
    free(d->slots);
    free(d->scan);
    free(d->acks);
    free(d->committing);
    for (size_t i = 0; i < d->nsources; i++) {
        free(d->sources[i]->key);
        free(d->sources[i]);
    }
    free(d->sources);
    free(d->paused);
    seqmap_free(&d->retry);
    seqmap_free(&d->halves);
    free(d->bisections);
    pthread_mutex_destroy(&d->ack_mu);
    pthread_cond_destroy(&d->ack_cv);
    pthread_mutex_destroy(&d->reconf_mu);
    free(d);
}

/* Stops and joins the sender thread if it was started. */
static void sender_finish(struct delivery *d)
{
    atomic_store(&d->stop, true);
    if (!d->sender_started)
        return;
    curl_multi_wakeup(d->multi);
    pthread_join(d->sender, NULL);
    d->sender_started = false;
}

/* Lets the acker commit what is queued, then ends it. */
static void acker_finish(struct delivery *d)
{
    if (!d->acker_started)
        return;
    pthread_mutex_lock(&d->ack_mu);
    d->acker_stop = true;
    pthread_cond_signal(&d->ack_cv);
    pthread_mutex_unlock(&d->ack_mu);
    pthread_join(d->acker, NULL);
    d->acker_started = false;
}

int delivery_start(struct delivery **out, const struct delivery_options *o, char *err,
                   size_t errlen)
{
    struct delivery *d = calloc(1, sizeof(*d));
    *out = NULL;
    if (!d) {
        snprintf(err, errlen, "delivery: out of memory");
        return -1;
    }
    const struct config *cfg = o->cfg;
    d->q = o->queue;
    d->cfg = *cfg;
    d->m = o->metrics;
    unsigned nslots = cfg->concurrency ? cfg->concurrency : 1;
    d->rng = (unsigned)(clock_wall_ms() ^ (int64_t)getpid());
    d->rescan_head = true;
    d->scan_cap = nslots * 2 + DELIVERY_ACK_MAX + 8;
    d->scan = calloc(d->scan_cap, sizeof(*d->scan));
    /* room for DELIVERY_ACK_MAX waiting, plus one dispatch's worth of empty
     * batches and every slot completing at once */
    d->ack_cap = DELIVERY_ACK_MAX + d->scan_cap + nslots;
    d->acks = calloc(d->ack_cap, sizeof(*d->acks));
    d->committing = calloc(d->ack_cap, sizeof(*d->committing));
    pthread_mutex_init(&d->ack_mu, NULL);
    /* the acker's gathering wait is a timer: on the monotonic clock */
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&d->ack_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&d->reconf_mu, NULL);
    d->nslots = nslots;
    d->slots = calloc(nslots, sizeof(*d->slots));
    d->multi = curl_multi_init();
    d->paused = calloc(QUEUE_PAUSED_MAX, sizeof(*d->paused));
    bool ok = d->scan && d->acks && d->committing && d->slots && d->multi && d->paused;
    if (ok)
        curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)nslots);
    for (unsigned i = 0; ok && i < nslots; i++)
        ok = slot_init(d, &d->slots[i]) == 0;
    if (!ok) {
        snprintf(err, errlen, "delivery: out of memory (curl handles)");
        destroy(d);
        return -1;
    }
    set_max_wait(d);
    if (queue_sources_prepare(d->q, cfg->write_key, strlen(cfg->write_key)) != QUEUE_OK)
        log_warn("delivery: cannot prepare the per-source counters: %s", queue_last_error());
    /* The sources are learnt from the batches; until then there is none. */
    state_write(d);
    atomic_store(&d->m->delivery_state, (int)d->state);
    int rc = pthread_create(&d->acker, NULL, acker_main, d);
    if (rc == 0)
        d->acker_started = true;
    if (rc == 0)
        rc = pthread_create(&d->sender, NULL, sender_main, d);
    d->sender_started = rc == 0;
    if (rc != 0) {
        snprintf(err, errlen, "delivery: cannot start a thread: %s", strerror(rc));
        acker_finish(d);
        destroy(d);
        return -1;
    }
    log_info("delivery: forwarding to %s with %u connections", cfg->url, nslots);
    *out = d;
    return 0;
}

void delivery_stop(struct delivery *d)
{
    if (!d)
        return;
    sender_finish(d);
    if (d->state_dirty)
        state_write(d);
    acker_finish(d);
    destroy(d);
}
