/*
 * delivery.c - the delivery worker: replays pending batches to RudderStack's
 * webhook with libcurl, at least once.
 *
 * Design:
 * - One sender thread drives `concurrency` easy handles (slots, reused, so
 *   connections are kept alive) on a curl multi handle. (Two senders with
 *   half the slots each drained ~25% slower on a 2-core machine: they
 *   compete with the acker and the receiver for the same cores.)
 * - Work is listed with queue_ready_ids (sequences only), then each batch is
 *   copied out with queue_get (its CRC checked), so no read transaction is
 *   ever held across network I/O. A cursor finds new batches
 *   (ingest, CLI replays and split halves all get higher sequences); a scan
 *   from the head of pending runs at least every second and whenever a batch
 *   went back to pending, to pick up retries whose next-try time passed.
 * - Answers follow policy.c (DESIGN.md "Delivery policy"). A 2xx is acked in
 *   groups: an acker thread deletes the seqs of many completions in one
 *   queue_ack transaction, so its fsync never stalls transfers (a crash
 *   before it only means a duplicate later). Splits and
 *   burials are single transactions in storage, so a kill at any instant
 *   loses nothing: a batch is pending, dead, or was acknowledged by
 *   RudderStack.
 * - Failures gate the whole sender (state backoff: wait, then one probe at a
 *   time until a 2xx) besides setting the batch's own next-try time; a 401,
 *   403 or 404 holds it (state held: nothing is failed or buried, one slow
 *   probe at a time). The state is mirrored in meta "delivery" for
 *   `eddy status` and /status.
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
#include "clock.h"
#include "log.h"
#include "policy.h"

#define DELIVERY_ACK_MAX 256         /* acks waiting for the acker before dispatch pauses */
#define DELIVERY_ACK_GATHER 64       /* the acker waits for this many acks... */
#define DELIVERY_ACK_GATHER_MS 5     /* ...or this long, whichever comes first */
#define DELIVERY_HEAD_SCAN_MS 1000   /* head-of-queue rescan period */
#define DELIVERY_IDLE_POLL_MS 50     /* how often an idle sender looks for new batches */
#define DELIVERY_STATE_WRITE_MS 1000 /* status/error-only changes written at most this often */

struct slot {
    CURL *easy;
    bool busy;
    uint64_t seq; /* the pending batch it holds */
    struct queue_entry e;
    unsigned char *filtered; /* body without dropped events, or NULL: e's body is sent */
    size_t filtered_len;
    size_t sent_len; /* bytes of the body being POSTed */
    uint32_t sent_events, dropped;
    struct curl_slist *headers;
    char *url;
    char answer[QUEUE_ANSWER_MAX];
    size_t answer_len;
    char errbuf[CURL_ERROR_SIZE];
    struct timespec started;
};

struct delivery {
    queue_t *q;
    struct config cfg; /* shallow copy: only the [delivery] scalars and arrays are used */
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
    int64_t last_head_scan_ms;
    bool rescan_head;
    /* state */
    enum delivery_state state;
    int last_status;
    char last_error[QUEUE_ANSWER_MAX];
    bool state_dirty;
    int64_t state_written_ms;
    unsigned global_failures;
    int64_t gate_ms; /* no new transfers before this */
    unsigned rng;
    uint64_t *scan; /* scratch for queue_ready_ids */
    size_t scan_cap;
};

static double since_s(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static double uniform(struct delivery *d)
{
    return (double)rand_r(&d->rng) / ((double)RAND_MAX + 1.0);
}

/* ---- state ---------------------------------------------------------------- */

static const char *state_name(enum delivery_state s)
{
    return s == DELIVERY_HELD ? "held" : s == DELIVERY_BACKOFF ? "backoff" : "ok";
}

/* Writes the state blob to meta (eddy status, /status read it). */
static void state_write(struct delivery *d, int64_t now)
{
    json_t *o =
        json_pack("{s:s,s:i,s:s,s:I}", "state", state_name(d->state), "last_status", d->last_status,
                  "last_error", d->last_error, "updated_ms", (json_int_t)now);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (s && queue_meta_put(d->q, "delivery", s, strlen(s)) == QUEUE_OK) {
        d->state_dirty = false;
        d->state_written_ms = now;
    } else if (s) {
        log_warn("delivery: cannot record the delivery state: %s", queue_last_error());
    }
    free(s);
    json_decref(o);
}

/* Keeps only printable bytes of an answer for the one-line last_error. */
static void set_error_text(char *dst, size_t cap, const char *src, size_t len)
{
    size_t j = 0;
    for (size_t i = 0; i < len && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)src[i];
        dst[j++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    while (j > 0 && dst[j - 1] == ' ')
        j--;
    dst[j] = 0;
}

static void state_set(struct delivery *d, enum delivery_state st, int status, const char *err,
                      size_t errlen, int64_t now)
{
    char text[sizeof(d->last_error)];
    set_error_text(text, sizeof(text), err ? err : "", err ? errlen : 0);
    bool changed_state = st != d->state;
    if (changed_state) {
        if (st == DELIVERY_HELD)
            log_error("delivery HELD: RudderStack answered %d (%s); this is a configuration "
                      "fault (write key, source disabled, URL); nothing is dropped, probing "
                      "every %llu ms until it answers 2xx",
                      status, text,
                      (unsigned long long)policy_hold_probe_ms(d->cfg.backoff_min_ms,
                                                               d->cfg.backoff_max_ms));
        else if (st == DELIVERY_BACKOFF)
            log_warn("delivery backing off: %s %d (%s)", status ? "HTTP" : "network error", status,
                     text);
        else
            log_info("delivery resumed: RudderStack answered %d", status);
        atomic_store(&d->m->delivery_state, (int)st);
    }
    if (changed_state || status != d->last_status || strcmp(text, d->last_error) != 0) {
        d->state = st;
        d->last_status = status;
        memcpy(d->last_error, text, sizeof(text));
        d->state_dirty = true;
        if (changed_state || now - d->state_written_ms >= DELIVERY_STATE_WRITE_MS)
            state_write(d, now);
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
            clock_deadline(CLOCK_REALTIME, DELIVERY_ACK_GATHER_MS, &until);
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

static void record_attempt(struct delivery *d, uint64_t seq, int status, const char *answer,
                           size_t len, int64_t now, int64_t next_try)
{
    struct queue_attempt a = {.at_ms = now, .status = status};
    if (len > QUEUE_ANSWER_MAX)
        len = QUEUE_ANSWER_MAX;
    memcpy(a.answer, answer, len);
    a.answer_len = (uint16_t)len;
    if (queue_fail(d->q, seq, &a, next_try) != QUEUE_OK)
        log_warn("delivery: cannot record a failed attempt of batch %llu: %s",
                 (unsigned long long)seq, queue_last_error());
}

static void bury(struct delivery *d, uint64_t seq, const char *reason)
{
    uint64_t dead_id = 0;
    if (queue_bury(d->q, seq, reason, &dead_id) != QUEUE_OK) {
        log_error("delivery: cannot dead-letter batch %llu (it stays pending): %s",
                  (unsigned long long)seq, queue_last_error());
        return;
    }
    metrics_inc(&d->m->dead_lettered, 1);
    log_warn("delivery: batch %llu dead-lettered as %llu: %s", (unsigned long long)seq,
             (unsigned long long)dead_id, reason);
}

/* Returns true when seq was replaced by two halves. */
static bool split(struct delivery *d, uint64_t seq, const char *why)
{
    uint64_t a = 0, b = 0;
    if (queue_split(d->q, seq, 0, &a, &b) != QUEUE_OK) {
        log_error("delivery: cannot split batch %llu (%s): %s", (unsigned long long)seq, why,
                  queue_last_error());
        return false;
    }
    metrics_inc(&d->m->splits, 1);
    log_info("delivery: batch %llu split into %llu and %llu (%s)", (unsigned long long)seq,
             (unsigned long long)a, (unsigned long long)b, why);
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
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)d->cfg.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)d->cfg.timeout_ms);
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
    const char *key = r->write_key_len ? r->write_key : d->cfg.write_key;
    size_t keylen = r->write_key_len ? r->write_key_len : strlen(d->cfg.write_key);
    const unsigned char *body = r->body;
    size_t body_len = r->body_len;

    if (s->filtered) {
        body = s->filtered;
        body_len = s->filtered_len;
    }
    s->answer_len = 0;
    s->errbuf[0] = 0;

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
    if (!h)
        return -1;
    s->headers = h;

    curl_easy_setopt(s->easy, CURLOPT_URL, s->url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    s->sent_len = body_len;
    clock_gettime(CLOCK_MONOTONIC, &s->started);
    return curl_multi_add_handle(d->multi, s->easy) == CURLM_OK ? 0 : -1;
}

static unsigned inflight(const struct delivery *d)
{
    unsigned n = 0;
    for (unsigned i = 0; i < d->nslots; i++)
        n += d->slots[i].busy;
    return n;
}

/* How many more transfers may start now: the free slots while delivery is
 * ok, else one probe at a time. */
static unsigned capacity(const struct delivery *d, int64_t now)
{
    unsigned busy = inflight(d);
    if (now < d->gate_ms || busy >= d->nslots)
        return 0;
    if (d->state == DELIVERY_OK)
        return d->nslots - busy;
    return busy == 0 ? 1 : 0;
}

static struct slot *free_slot(struct delivery *d)
{
    for (unsigned i = 0; i < d->nslots; i++)
        if (!d->slots[i].busy)
            return &d->slots[i];
    return NULL;
}

/* Copies pending batch seq into the free slot s and starts its transfer.
 * Buries a corrupt record, splits an oversize one, acks one whose events were
 * all dropped. Returns true when a transfer started; else s stays free. */
static bool start_slot(struct delivery *d, struct slot *s, uint64_t seq)
{
    bool rescan = false;
    s->busy = true;
    s->seq = seq;
    int rc = queue_get(d->q, QUEUE_PENDING, s->seq, &s->e);
    if (rc != QUEUE_OK) {
        /* QUEUE_NOT_FOUND: removed meanwhile (eddy); else retry from the head */
        rescan = rc != QUEUE_NOT_FOUND;
        if (rescan)
            log_warn("delivery: cannot read pending batch %llu: %s", (unsigned long long)s->seq,
                     queue_last_error());
    } else if (s->e.status != RECORD_OK) {
        char reason[128];
        snprintf(reason, sizeof(reason), "corrupt record: %s", record_strerror(s->e.status));
        bury(d, s->seq, reason);
    } else if (d->state == DELIVERY_OK && s->e.rec.body_len > d->cfg.max_batch_bytes &&
               s->e.rec.event_count >= 2 && split(d, s->seq, "larger than max_batch_bytes")) {
        /* Split only while RudderStack answers: a probe during an outage
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
            ack(d, s->seq);
        } else if (send_batch(d, s) == 0) {
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

/* Fills the free slots with ready batches (one slot in all while backing
 * off or held: a probe). */
static void dispatch(struct delivery *d, int64_t now)
{
    unsigned want = capacity(d, now);
    if (want == 0)
        return;
    unsigned busy = inflight(d);
    size_t acking = acks_waiting(d);
    if (acking >= DELIVERY_ACK_MAX) {
        d->idle = true; /* the disk is behind: let the acker catch up (poll, don't spin) */
        return;
    }
    size_t seen = 0;
    bool head = d->rescan_head || now - d->last_head_scan_ms >= DELIVERY_HEAD_SCAN_MS;

    for (int pass = head ? 0 : 1; pass < 2 && want > 0; pass++) {
        /* pass 0: from the head (retries whose time came, batches returned to
         * pending); pass 1: after the cursor (new batches). */
        uint64_t after = pass == 0 ? 0 : d->cursor;
        size_t max = want + (pass == 0 ? busy + acking : 0), n = 0;
        if (max > d->scan_cap)
            max = d->scan_cap;
        /* ack_mu is held from before the read until the busy sequences are
         * dropped: the acker cannot forget a seq it deleted after this read
         * began, so a delivered batch is never seen as new again. */
        pthread_mutex_lock(&d->ack_mu);
        int rc = queue_ready_ids(d->q, after, now, d->scan, max, &n);
        for (size_t i = 0; rc == QUEUE_OK && i < n; i++)
            if (is_busy_locked(d, d->scan[i]))
                d->scan[i] = 0;
        pthread_mutex_unlock(&d->ack_mu);
        if (rc != QUEUE_OK) {
            log_warn("delivery: cannot read pending batches: %s", queue_last_error());
            break;
        }
        if (pass == 0) {
            d->last_head_scan_ms = now;
            d->rescan_head = false;
        }
        /* Past the slots we can fill, the cursor stays before the rest. */
        for (size_t i = 0; i < n && want > 0; i++) {
            if (d->scan[i] == 0)
                continue;
            if (d->scan[i] > d->cursor)
                d->cursor = d->scan[i];
            seen++;
            if (start_slot(d, free_slot(d), d->scan[i]))
                want--;
        }
    }
    d->idle = seen == 0;
}

/* Applies the policy to one finished transfer. */
static void complete(struct delivery *d, struct slot *s, CURLcode code, int64_t now)
{
    long status = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &retry_after);
    metrics_observe(&d->m->delivery_seconds, since_s(&s->started));
    enum policy_action act = policy_classify((int)code, status, atomic_load(&d->stop));
    if (act == POLICY_ABORTED)
        return;
    int st = act == POLICY_NETWORK ? 0 : (int)status;
    metrics_count_code(d->m->delivery_requests, st);
    const struct queue_attempts *at = &s->e.attempts;
    uint64_t seq = s->e.id;

    if (act == POLICY_NETWORK) {
        const char *msg = s->errbuf[0] ? s->errbuf : curl_easy_strerror(code);
        s->answer_len = strlen(msg) < sizeof(s->answer) ? strlen(msg) : sizeof(s->answer);
        memcpy(s->answer, msg, s->answer_len);
    }

    switch (act) {
    case POLICY_ACK:
        ack(d, seq);
        metrics_inc(&d->m->delivered_events, s->sent_events);
        if (s->dropped)
            metrics_inc(&d->m->dropped_events, s->dropped);
        d->global_failures = 0;
        state_set(d, DELIVERY_OK, st, "", 0, now);
        break;
    case POLICY_BISECT:
    case POLICY_SPLIT:
        /* RudderStack read the body and judged it: it is up and the key works. */
        d->global_failures = 0;
        state_set(d, DELIVERY_OK, st, s->answer, s->answer_len, now);
        if (s->e.rec.event_count < 2 ||
            !split(d, seq, act == POLICY_SPLIT ? "413 too large" : "rejected: bisecting")) {
            /* One event (or a body that cannot be split): it goes to the DLQ
             * with this answer in its history. Should the move fail, the
             * next-try time keeps it from being resent at once. */
            char reason[256], text[160];
            set_error_text(text, sizeof(text), s->answer, s->answer_len);
            snprintf(reason, sizeof(reason), "HTTP %d from RudderStack: %s", st, text);
            record_attempt(d, seq, st, s->answer, s->answer_len, now,
                           now + (int64_t)d->cfg.backoff_max_ms);
            bury(d, seq, reason);
        }
        break;
    case POLICY_HOLD:
        d->gate_ms =
            now + (int64_t)policy_hold_probe_ms(d->cfg.backoff_min_ms, d->cfg.backoff_max_ms);
        state_set(d, DELIVERY_HELD, st, s->answer, s->answer_len, now);
        d->rescan_head = true;
        break;
    case POLICY_RETRY:
    case POLICY_NETWORK: {
        /* The whole body went out and no 2xx came back: RudderStack may have
         * stored it (a 504 after its commit, a cut connection), so the
         * redelivery can be a duplicate. Count what can be known. */
        curl_off_t up = 0;
        curl_easy_getinfo(s->easy, CURLINFO_SIZE_UPLOAD_T, &up);
        if (up >= (curl_off_t)s->sent_len)
            metrics_inc(&d->m->possible_duplicates, 1);
        unsigned n = at->counted + at->network + 1;
        uint64_t delay = policy_retry_delay_ms(d->cfg.backoff_min_ms, d->cfg.backoff_max_ms, n,
                                               uniform(d), (int64_t)retry_after);
        record_attempt(d, seq, st, s->answer, s->answer_len, now, now + (int64_t)delay);
        if (act == POLICY_RETRY && policy_give_up(at->counted + 1, at->first_failed_ms, now,
                                                  d->cfg.max_attempts, d->cfg.retry_window_ms)) {
            char reason[256], text[160];
            set_error_text(text, sizeof(text), s->answer, s->answer_len);
            snprintf(reason, sizeof(reason),
                     "gave up after %u HTTP failures over %llds, last HTTP %d: %s", at->counted + 1,
                     (long long)((now - (at->first_failed_ms ? at->first_failed_ms : now)) / 1000),
                     st, text);
            bury(d, seq, reason);
        }
        d->global_failures++;
        uint64_t gate = policy_retry_delay_ms(d->cfg.backoff_min_ms, d->cfg.backoff_max_ms,
                                              d->global_failures, uniform(d), (int64_t)retry_after);
        if (now + (int64_t)gate > d->gate_ms)
            d->gate_ms = now + (int64_t)gate;
        state_set(d, DELIVERY_BACKOFF, st, s->answer, s->answer_len, now);
        d->rescan_head = true;
        break;
    }
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
        complete(d, s, code, clock_wall_ms());
        slot_release(s);
    }
}

/* How long the sender may sleep; 0 when it has work to start at once. */
static long sleep_ms(const struct delivery *d, int64_t now)
{
    if (capacity(d, now) > 0 && !d->idle)
        return 0;
    int64_t t = 1000;
    if (d->gate_ms > now)
        t = d->gate_ms - now;
    else if (inflight(d) < d->nslots)
        t = DELIVERY_IDLE_POLL_MS; /* idle: look for new batches now and then */
    if (d->state_dirty && t > DELIVERY_STATE_WRITE_MS)
        t = DELIVERY_STATE_WRITE_MS;
    return (long)(t < 1 ? 1 : t);
}

static void *sender_main(void *arg)
{
    struct delivery *d = arg;
    while (!atomic_load(&d->stop)) {
        dispatch(d, clock_wall_ms());
        int running = 0;
        curl_multi_perform(d->multi, &running);
        reap(d);
        int64_t now = clock_wall_ms();
        if (d->state_dirty && now - d->state_written_ms >= DELIVERY_STATE_WRITE_MS)
            state_write(d, now);
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

static void delivery_free(struct delivery *d)
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
    pthread_mutex_destroy(&d->ack_mu);
    pthread_cond_destroy(&d->ack_cv);
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

int delivery_start(struct delivery **out, queue_t *q, const struct config *cfg, struct metrics *m,
                   char *err, size_t errlen)
{
    struct delivery *d = calloc(1, sizeof(*d));
    *out = NULL;
    if (!d) {
        snprintf(err, errlen, "delivery: out of memory");
        return -1;
    }
    d->q = q;
    d->cfg = *cfg;
    d->m = m;
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
    pthread_cond_init(&d->ack_cv, NULL);
    d->nslots = nslots;
    d->slots = calloc(nslots, sizeof(*d->slots));
    d->multi = curl_multi_init();
    bool ok = d->scan && d->acks && d->committing && d->slots && d->multi;
    if (ok)
        curl_multi_setopt(d->multi, CURLMOPT_MAXCONNECTS, (long)nslots);
    for (unsigned i = 0; ok && i < nslots; i++)
        ok = slot_init(d, &d->slots[i]) == 0;
    if (!ok) {
        snprintf(err, errlen, "delivery: out of memory (curl handles)");
        delivery_free(d);
        return -1;
    }
    /* Start from the last recorded state so `eddy status` stays truthful
     * across a restart until the first answer. */
    char buf[1024];
    size_t len = 0;
    if (queue_meta_get(q, "delivery", buf, sizeof(buf) - 1, &len) == QUEUE_OK &&
        len < sizeof(buf)) {
        buf[len] = 0;
        json_t *o = json_loads(buf, 0, NULL);
        const char *st = json_string_value(json_object_get(o, "state"));
        if (st && !strcmp(st, "held"))
            d->state = DELIVERY_HELD;
        else if (st && !strcmp(st, "backoff"))
            d->state = DELIVERY_BACKOFF;
        d->last_status = (int)json_integer_value(json_object_get(o, "last_status"));
        const char *le = json_string_value(json_object_get(o, "last_error"));
        snprintf(d->last_error, sizeof(d->last_error), "%s", le ? le : "");
        json_decref(o);
    }
    atomic_store(&m->delivery_state, (int)d->state);
    int rc = pthread_create(&d->acker, NULL, acker_main, d);
    if (rc == 0)
        d->acker_started = true;
    if (rc == 0)
        rc = pthread_create(&d->sender, NULL, sender_main, d);
    d->sender_started = rc == 0;
    if (rc != 0) {
        snprintf(err, errlen, "delivery: cannot start a thread: %s", strerror(rc));
        acker_finish(d);
        delivery_free(d);
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
        state_write(d, clock_wall_ms());
    acker_finish(d);
    delivery_free(d);
}
