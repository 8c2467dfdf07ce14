/*
 * ingest.c - the public listener: POST {"events":[...]} from Braze.
 *
 * Threads and ownership. evhttp is single-threaded, so every evhttp call
 * happens on the loop thread that owns it. A request's life:
 *   1. loop thread: method, path, auth, Content-Encoding, backpressure;
 *      the body is moved (not copied) into a job-owned evbuffer;
 *   2. worker thread (workq): inflate gzip with a cap, batch_validate
 *      (yajl, streaming); 4xx outcomes go straight to the completion queue,
 *      valid batches to the committer. Large and gzip bodies have a pool of
 *      their own, so even several of them at once leave the workers for
 *      ordinary batches free;
 *   3. committer thread: group commit, then the whole group is pushed onto
 *      the completion queue and the loop is woken with event_active;
 *   4. loop thread: drains the completion queue in full (activations
 *      coalesce) and sends every answer.
 * So the loop never parses JSON, a 4 MB body never holds up small requests
 * on other connections, and no 200 leaves before its commit returned 0.
 *
 * Memory is bounded: bytes accepted but not yet answered are counted, and
 * above a limit new requests get 503 + Retry-After instead of queueing.
 */
#include "ingest.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "../storage/batch.h"
#include "../storage/compress.h"
#include "acceptguard.h"
#include "auth.h"
#include "gzip.h"
#include "../storage/clock.h"
#include "log.h"
#include "workq.h"

#define INGEST_HEADERS_MAX (64 << 10)
#define INGEST_TIMEOUT_S 30
#define INGEST_READ_MAX (256 << 10)        /* bytes per socket read */
#define INGEST_INFLIGHT_MIN (256ull << 20) /* at least this many bytes may wait */
#define INGEST_RETRY_FULL 30
#define INGEST_RETRY_BUSY 1
#define INGEST_RETRY_STOP 5
#define INGEST_FLUSH_WAIT_S 5 /* longest wait for answers to leave at shutdown */
/* Descriptors ingest leaves free: a socket (and a resolver's pair) per
 * delivery connection, admin's, a reopened log or config. */
#define INGEST_FD_HEADROOM(cfg) (2 * (cfg)->concurrency + 8)
/* Bodies this large (and every gzip body, which may inflate to max_body)
 * are validated by a separate pool, so however many of them arrive at once
 * the workers for ordinary batches stay free. */
#define INGEST_LARGE_BODY (1u << 20)
/* A connection holding more than this of a request not yet read in full is
 * a "large reader": it counts against the reading cap and may be paused.
 * Smaller ones (nearly every Braze post arrives in one or two reads) never
 * are. */
#define INGEST_READ_SLACK (1u << 20)
#define INGEST_READ_CAP_MIN (64ull << 20)
/* After a burst that held this much, freed memory goes back to the system
 * (malloc_trim) once nothing is held any more. */
#define INGEST_TRIM_AFTER (64ull << 20)

enum stage { INGEST_ANSWERED, INGEST_COMMITTED };

/* A connection with more than INGEST_READ_SLACK of an unfinished request in
 * its input buffer (loop thread only). Lives while that lasts or until the
 * connection closes. */
struct conn {
    struct ingest *in;
    struct bufferevent *bev;
    struct evhttp_connection *evcon;
    size_t held;       /* bytes in bev's input buffer */
    bool paused;       /* reading disabled by us, on in->paused */
    int64_t paused_ms; /* CLOCK_MONOTONIC */
    struct conn *prev, *next;
};

struct job {
    struct committer_req creq; /* committer path; creq.batch points into this job */
    struct workq_item witem;
    struct ingest *in;
    struct evhttp_request *req;
    struct evbuffer *raw;    /* the body as received */
    unsigned char *inflated; /* malloc'd when Content-Encoding: gzip */
    unsigned char *zbody;    /* malloc'd: the body compressed for storage */
    unsigned char *ztypes;   /* malloc'd: the types list packed with it */
    char *types;             /* batch_summary.types */
    bool gzip;
    enum stage stage;
    size_t accounted; /* bytes counted in in->inflight_bytes */
    int code;         /* INGEST_ANSWERED: status and body to send */
    int retry_after;
    char answer[384];
    int64_t received_ms;
    size_t key_len;
    char key[QUEUE_KEY_MAX];
    struct job *next_done;
};

struct ingest {
    const struct config *cfg;
    struct auth_creds *creds; /* loop thread only: swapped whole on reload */
    struct metrics *m;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct accept_guard *guard; /* pauses accepting while out of descriptors */
    struct committer *committer;
    struct workq *workers;       /* small identity bodies */
    struct workq *large_workers; /* bodies of INGEST_LARGE_BODY or more, and gzip */
    struct event *done_ev, *stop_ev;
    pthread_mutex_t done_lock;
    struct job *done_head, *done_tail; /* under done_lock */
    /* loop thread only */
    size_t inflight;
    bool replying; /* inside evhttp_send_reply: output bytes are ours */
    /* bodies being read: large readers, their bytes, the paused ones (FIFO) */
    size_t large_active; /* large readers not paused */
    uint64_t held_bytes; /* sum of their held */
    uint64_t read_cap;   /* held_bytes + inflight_bytes above this: pause */
    uint64_t burst_peak; /* most held + queued since the last trim */
    struct conn *paused_head, *paused_tail;
    struct event *unpause_ev; /* resumes readers paused INGEST_TIMEOUT_S ago */
    struct event *trim_ev;    /* returns memory after a burst */
    struct log_limit libevent_log;
    bool draining;
    bool exiting;
    long closing;           /* answered during the drain, connection not closed yet */
    struct event *flush_ev; /* bounds the wait for those connections */
    /* any thread */
    _Atomic uint64_t inflight_bytes;
    uint64_t inflight_limit;
    atomic_int exit_code;
    atomic_bool stop_requested;
};

static const char *reason_phrase(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* Writes s into a JSON string body (without quotes): escapes quotes,
 * backslashes and control bytes, and replaces non-ASCII bytes by '?' so the
 * answer is valid UTF-8 whatever a parser error quoted. */
static void json_escape(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20) {
            o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
        } else if (c >= 0x80) {
            out[o++] = '?';
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/* The body of every error answer: {"error":CODE,"message":TEXT}, the text
 * escaped (DESIGN.md "Ingest HTTP"). */
static void error_body(char *out, size_t cap, const char *error, const char *msg)
{
    char esc[256];
    json_escape(esc, sizeof(esc), msg);
    snprintf(out, cap, "{\"error\":\"%s\",\"message\":\"%s\"}", error, esc);
}

static void set_error(struct job *j, int code, const char *error, const char *msg, int retry_after)
{
    j->stage = INGEST_ANSWERED;
    j->code = code;
    j->retry_after = retry_after;
    error_body(j->answer, sizeof(j->answer), error, msg);
}

static void on_conn_closed(struct evhttp_connection *evcon, void *arg);
static void memory_freed(struct ingest *in);

/* Sends an answer on the loop thread and counts it. */
static void reply(struct ingest *in, struct evhttp_request *req, int code, const char *json,
                  int retry_after)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (retry_after > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", retry_after);
        evhttp_add_header(h, "Retry-After", v);
    }
    if (code == 405)
        evhttp_add_header(h, "Allow", "POST");
    if (code == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer, Basic realm=\"eddy\"");
    if (code == 411) /* the body that followed would be read as the next request */
        evhttp_add_header(h, "Connection", "close");
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (in->draining && evcon) {
        /* evhttp closes the connection once this answer is written; the
         * loop runs until then, so no answer is lost at exit. */
        evhttp_add_header(h, "Connection", "close");
        evhttp_connection_set_closecb(evcon, on_conn_closed, in);
        in->closing++;
    }
    struct evbuffer *b = evbuffer_new();
    if (b)
        evbuffer_add_printf(b, "%s\n", json);
    in->replying = true;
    evhttp_send_reply(req, code, reason_phrase(code), b);
    in->replying = false;
    if (b)
        evbuffer_free(b);
    metrics_count_code(in->m->ingest_requests, code);
}

static void reply_error(struct ingest *in, struct evhttp_request *req, int code, const char *error,
                        const char *msg, int retry_after)
{
    char json[384];
    error_body(json, sizeof(json), error, msg);
    reply(in, req, code, json, retry_after);
}

static void job_free(struct job *j)
{
    if (j->raw)
        evbuffer_free(j->raw);
    free(j->inflated);
    free(j->zbody);
    free(j->ztypes);
    free(j->types);
    free(j);
}

static void maybe_exit(struct ingest *in)
{
    if (!in->draining || in->exiting || in->inflight > 0 || in->closing > 0)
        return;
    in->exiting = true;
    /* One more short turn of the loop writes out answers sent just before
     * the drain began (kept-alive connections, not counted in closing). */
    struct timeval grace = {0, 50 * 1000};
    event_base_loopexit(in->base, &grace);
}

/* Loop thread: a connection answered during the drain is closed (written
 * out, or the client went away). */
static void on_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct ingest *in = arg;
    in->closing--;
    maybe_exit(in);
}

/* Loop thread: clients that do not read their answers must not hold the
 * shutdown forever. */
static void on_flush_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ingest *in = arg;
    if (in->inflight > 0)
        return; /* still committing: check again at the next tick */
    if (in->closing > 0)
        log_warn("ingest: %ld answer(s) not written out after %ds; stopping anyway", in->closing,
                 INGEST_FLUSH_WAIT_S);
    in->closing = 0;
    maybe_exit(in);
}

/* Queues finished jobs for the loop thread and wakes it. */
static void push_done(struct ingest *in, struct job *first, struct job *last)
{
    last->next_done = NULL;
    pthread_mutex_lock(&in->done_lock);
    if (in->done_tail)
        in->done_tail->next_done = first;
    else
        in->done_head = first;
    in->done_tail = last;
    pthread_mutex_unlock(&in->done_lock);
    event_active(in->done_ev, EV_READ, 0);
}

void ingest_commit_done(void *arg, struct committer_req *group)
{
    struct ingest *in = arg;
    struct job *first = NULL, *last = NULL;
    for (struct committer_req *r = group; r; r = r->next) {
        struct job *j = (struct job *)r; /* creq is the first member */
        j->stage = INGEST_COMMITTED;
        if (last)
            last->next_done = j;
        else
            first = j;
        last = j;
    }
    if (first)
        push_done(in, first, last);
}

void ingest_commit_fatal(void *arg)
{
    log_error("storage reported an I/O or sync failure: eddyd stops (a retried fsync can report "
              "success for lost data); restart it once the disk is healthy");
    ingest_shutdown(arg, 1);
}

/* Loop thread: answers every finished job. */
static void on_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ingest *in = arg;
    pthread_mutex_lock(&in->done_lock);
    struct job *j = in->done_head;
    in->done_head = in->done_tail = NULL;
    pthread_mutex_unlock(&in->done_lock);
    while (j) {
        struct job *next = j->next_done;
        if (j->stage == INGEST_COMMITTED) {
            int rc = j->creq.result;
            if (rc == QUEUE_OK) {
                char json[128];
                snprintf(json, sizeof(json), "{\"status\":\"ok\",\"events\":%u,\"id\":%llu}",
                         j->creq.batch.event_count, (unsigned long long)j->creq.batch.seq);
                reply(in, j->req, 200, json, 0);
            } else if (rc == QUEUE_FULL) {
                reply_error(in, j->req, 503, "storage_full",
                            "storage is at its high-water mark or full; retry later",
                            INGEST_RETRY_FULL);
            } else {
                reply_error(in, j->req, 503, "storage_error",
                            "eddy could not store the batch; retry later", INGEST_RETRY_FULL);
            }
        } else {
            reply(in, j->req, j->code, j->answer, j->retry_after);
        }
        atomic_fetch_sub(&in->inflight_bytes, j->accounted);
        atomic_fetch_sub(&in->m->ingest_queued_bytes, j->accounted);
        in->inflight--;
        job_free(j);
        j = next;
    }
    memory_freed(in);
    maybe_exit(in);
}

/* compress_level = auto: libdeflate's smallest output costs ~9x igzip 1's
 * CPU, which is free while the validation threads have nothing else to do
 * and sets the ingest rate once they have. So a body is compressed small
 * only when it is the one body being validated or waiting to be: under
 * concurrent posts the other thread is usually busy even when none wait
 * (choosing small whenever none waited cost ~10% more CPU a request under
 * wrk -c32, from the ~2% of bodies it compressed small). */
static bool compress_small(struct ingest *in)
{
    switch (in->cfg->compress_level) {
    case CONFIG_LEVEL_SMALL:
        return true;
    case CONFIG_LEVEL_FAST:
        return false;
    default:
        return workq_unfinished(in->workers) + workq_unfinished(in->large_workers) <= 1;
    }
}

/* Worker thread: inflate, validate, hand to the committer or answer. */
static void work(void *arg, struct workq_item *item)
{
    struct ingest *in = arg;
    struct job *j = (struct job *)((char *)item - offsetof(struct job, witem));
    size_t len = evbuffer_get_length(j->raw);
    const unsigned char *body = len ? evbuffer_pullup(j->raw, -1) : NULL;
    char err[256];

    if (len && !body) {
        set_error(j, 503, "overloaded", "out of memory; retry later", INGEST_RETRY_BUSY);
        goto answer;
    }
    if (j->gzip && len) {
        size_t ilen;
        int rc = gzip_inflate(body, len, in->cfg->max_body, &j->inflated, &ilen);
        if (rc == GZIP_TOO_LARGE) {
            snprintf(err, sizeof(err), "inflated body over max_body (%llu bytes)",
                     (unsigned long long)in->cfg->max_body);
            set_error(j, 413, "payload_too_large", err, 0);
            goto answer;
        }
        if (rc == GZIP_CORRUPT) {
            set_error(j, 400, "invalid_json",
                      "Content-Encoding is gzip but the body is not valid gzip data", 0);
            goto answer;
        }
        if (rc != GZIP_OK) {
            set_error(j, 503, "overloaded", "out of memory; retry later", INGEST_RETRY_BUSY);
            goto answer;
        }
        atomic_fetch_add(&in->inflight_bytes, ilen);
        atomic_fetch_add(&in->m->ingest_queued_bytes, ilen);
        j->accounted += ilen;
        body = j->inflated;
        len = ilen;
    }
    if (len > in->cfg->max_body) {
        snprintf(err, sizeof(err), "body over max_body (%llu bytes)",
                 (unsigned long long)in->cfg->max_body);
        set_error(j, 413, "payload_too_large", err, 0);
        goto answer;
    }
    struct batch_summary sum = {0};
    int rc = len ? batch_validate(body, len, &sum, err, sizeof(err)) : BATCH_EMPTY;
    switch (rc) {
    case BATCH_OK:
        break;
    case BATCH_EMPTY:
        j->stage = INGEST_ANSWERED;
        j->code = 200;
        snprintf(j->answer, sizeof(j->answer), "{\"status\":\"ok\",\"events\":0,\"id\":null}");
        goto answer;
    case BATCH_INVALID_JSON:
        set_error(j, 400, "invalid_json", err, 0);
        goto answer;
    case BATCH_INVALID_SHAPE:
        set_error(j, 400, "invalid_shape", err, 0);
        goto answer;
    default: /* our fault, never a 400 */
        set_error(j, 503, "overloaded", "out of memory; retry later", INGEST_RETRY_BUSY);
        goto answer;
    }
    j->types = sum.types;
    struct queue_batch *b = &j->creq.batch;
    b->body = body;
    b->body_len = len;
    /* Compressed here, once, on a validation thread: the committer only
     * copies the smaller bytes. Any failure just stores the body raw. */
    bool small = compress_small(in);
    if (in->cfg->compress && (small ? compress_gzip : compress_gzip_fast)(
                                 body, len, &j->zbody, &b->zbody_len) == COMPRESS_OK) {
        atomic_fetch_add_explicit(small ? &in->m->ingest_compressed_small
                                        : &in->m->ingest_compressed_fast,
                                  1, memory_order_relaxed);
        b->zbody = j->zbody;
        atomic_fetch_add(&in->inflight_bytes, b->zbody_len);
        atomic_fetch_add(&in->m->ingest_queued_bytes, b->zbody_len);
        j->accounted += b->zbody_len;
        if (sum.types &&
            record_pack_types(sum.types, sum.types_len, &j->ztypes, &b->ztypes_len) == COMPRESS_OK)
            b->ztypes = j->ztypes;
    }
    b->write_key = j->key_len ? j->key : NULL;
    b->write_key_len = j->key_len;
    b->types = sum.types ? sum.types : "";
    b->types_len = sum.types ? sum.types_len : 0;
    b->event_count = sum.events;
    b->received_ms = j->received_ms;
    committer_submit(in->committer, &j->creq);
    return;
answer:
    push_done(in, j, j);
}

/* ---- bodies being read: the reading cap ----------------------------------
 *
 * libevent 2.1 reads a whole body before it calls us (there is no server-side
 * hook between the headers and the body: evhttp_request_set_header_cb only
 * works on requests we create, i.e. as a client), so credentials and
 * Content-Encoding can only be judged once the body is in memory. What can be
 * bounded is how much of that memory there is: each connection's input
 * buffer reports its growth (an evbuffer callback), and while the bytes held
 * by large readers plus those waiting to be stored exceed read_cap, a large
 * reader that grows stops being read (TCP pushes back on the client) unless
 * it is the last one still reading, so one always finishes and frees its
 * share. Paused readers resume in arrival order as memory is freed, and at
 * the latest after INGEST_TIMEOUT_S, so that the idle timeout applies to
 * them again. */

/* The one ingest of the process: the input callback's argument is the
 * connection's bufferevent, which the ingest cannot be found from. */
static struct ingest *loop_ingest;

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);
static void on_input_large(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg);

static uint64_t held_total(const struct ingest *in)
{
    return in->held_bytes + atomic_load(&in->inflight_bytes);
}

static void note_peak(struct ingest *in)
{
    uint64_t t = held_total(in);
    if (t > in->burst_peak)
        in->burst_peak = t;
}

/* Arms unpause_ev for the oldest pause's deadline. */
static void arm_unpause(struct ingest *in)
{
    if (!in->paused_head)
        return;
    int64_t left = in->paused_head->paused_ms + INGEST_TIMEOUT_S * 1000 - clock_mono_ms();
    if (left < 0)
        left = 0;
    struct timeval tv = {left / 1000, (left % 1000) * 1000};
    evtimer_add(in->unpause_ev, &tv); /* libevent timers run on the monotonic clock */
}

/* Reads the oldest paused connection again. */
static void resume_oldest(struct ingest *in)
{
    struct conn *c = in->paused_head;
    in->paused_head = c->next;
    if (in->paused_head)
        in->paused_head->prev = NULL;
    else
        in->paused_tail = NULL;
    c->prev = c->next = NULL;
    c->paused = false;
    in->large_active++;
    bufferevent_enable(c->bev, EV_READ);
}

/* Loop thread: a reader paused for as long as the idle timeout is read
 * again, so that one that sends nothing more is timed out as any other
 * (while paused, libevent's read timeout does not run). */
static void on_unpause(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ingest *in = arg;
    int64_t now = clock_mono_ms();
    while (in->paused_head && in->paused_head->paused_ms + INGEST_TIMEOUT_S * 1000 <= now)
        resume_oldest(in);
    arm_unpause(in);
}

/* Loop thread: memory was freed. Resumes paused readers while under the
 * cap; once nothing is held after a large burst, returns the memory. */
static void memory_freed(struct ingest *in)
{
    while (in->paused_head && held_total(in) <= in->read_cap)
        resume_oldest(in);
    /* The last body may still be held by its request until the answer is
     * written: trim a second later, if nothing came meanwhile. */
    if (in->burst_peak >= INGEST_TRIM_AFTER && held_total(in) == 0 &&
        !evtimer_pending(in->trim_ev, NULL)) {
        struct timeval later = {1, 0};
        evtimer_add(in->trim_ev, &later);
    }
}

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ingest *in = arg;
    if (held_total(in) != 0)
        return; /* a new burst: memory_freed arms it again */
    in->burst_peak = 0;
    malloc_trim(0);
}

/* Takes c off the readers' counts (active or paused). */
static void conn_detach(struct conn *c)
{
    struct ingest *in = c->in;
    if (!c->paused) {
        in->large_active--;
        return;
    }
    if (c->prev)
        c->prev->next = c->next;
    else
        in->paused_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        in->paused_tail = c->prev;
    c->paused = false;
}

/* Loop thread: the connection is no longer a large reader (its request was
 * read, or it closes). */
static void conn_end(struct conn *c, bool closing)
{
    struct ingest *in = c->in;
    struct evbuffer *input = bufferevent_get_input(c->bev);
    conn_detach(c); /* a paused one cannot shrink: it only ends by closing */
    in->held_bytes -= c->held;
    evbuffer_remove_cb(input, on_input_large, c);
    if (!closing) {
        evbuffer_add_cb(input, on_input, c->bev);
        evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    }
    free(c);
    memory_freed(in);
}

static void on_large_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    conn_end(arg, true);
}

/* Loop thread: pauses c when the cap is passed and another reader goes on. */
static void conn_check(struct conn *c)
{
    struct ingest *in = c->in;
    if (c->paused || in->large_active < 2 || held_total(in) <= in->read_cap)
        return;
    bufferevent_disable(c->bev, EV_READ);
    c->paused = true;
    c->paused_ms = clock_mono_ms();
    in->large_active--;
    c->prev = in->paused_tail;
    c->next = NULL;
    if (in->paused_tail)
        in->paused_tail->next = c;
    else
        in->paused_head = c;
    in->paused_tail = c;
    if (!evtimer_pending(in->unpause_ev, NULL))
        arm_unpause(in);
}

/* Loop thread: a connection's input buffer changed (bytes read from the
 * socket, or taken by evhttp). Cheap unless it holds more than the slack. */
static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct bufferevent *bev = arg;
    struct ingest *in = loop_ingest;
    size_t len = info->orig_size + info->n_added - info->n_deleted;
    if (len <= INGEST_READ_SLACK || !in)
        return;
    /* evhttp passes its connection as the bufferevent's callback argument;
     * check that it is one before using it. */
    void *cbarg = NULL;
    bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
    struct evhttp_connection *evcon = cbarg;
    if (!evcon || evhttp_connection_get_bufferevent(evcon) != bev)
        return;
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return; /* not counted: no worse than without the cap */
    c->in = in;
    c->bev = bev;
    c->evcon = evcon;
    c->held = len;
    /* Callbacks may be changed from inside one (libevent saves the next). */
    evbuffer_remove_cb(buf, on_input, bev);
    if (!evbuffer_add_cb(buf, on_input_large, c)) {
        evbuffer_add_cb(buf, on_input, bev);
        free(c);
        return;
    }
    evhttp_connection_set_closecb(evcon, on_large_closed, c);
    in->held_bytes += len;
    in->large_active++;
    note_peak(in);
    conn_check(c);
}

static void on_input_large(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    (void)buf;
    struct conn *c = arg;
    struct ingest *in = c->in;
    size_t len = info->orig_size + info->n_added - info->n_deleted;
    in->held_bytes = in->held_bytes - c->held + len;
    c->held = len;
    if (len <= INGEST_READ_SLACK) {
        conn_end(c, false);
        return;
    }
    if (info->n_added) {
        note_peak(in);
        conn_check(c);
    } else {
        memory_freed(in);
    }
}

/* Loop thread: bytes written to a connection. evhttp answers some requests
 * by itself, without calling us (a Content-Length over its cap: 413; a
 * malformed request line, header or chunk: 400; an Expect other than
 * 100-continue: 417), and libevent 2.1 has no hook for that. Every answer
 * evhttp writes starts with its status line, added alone, and this callback
 * runs at each add; our own answers are written inside reply
 * (in->replying), so a status line added outside it is one of evhttp's. */
static void on_output(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct ingest *in = arg;
    if (in->replying || info->n_added < 13 || info->n_added > 256)
        return;
    char line[16];
    struct evbuffer_ptr at;
    if (evbuffer_ptr_set(buf, &at, info->orig_size, EVBUFFER_PTR_SET) != 0 ||
        evbuffer_copyout_from(buf, &at, line, sizeof(line) - 1) < 13)
        return;
    line[sizeof(line) - 1] = '\0';
    int code = 0;
    if (strncmp(line, "HTTP/1.", 7) != 0 || sscanf(line + 9, "%3d", &code) != 1 || code < 200)
        return; /* not a status line, or 100 Continue */
    metrics_count_code(in->m->ingest_requests, code);
    const char *why = code == 413   ? "Content-Length or chunked body over the size cap"
                      : code == 400 ? "malformed request line, header, length or chunk"
                                    : "request refused before it was read";
    uint64_t more;
    if (!log_limit_ok(&in->libevent_log, &more))
        return;
    if (more)
        log_warn("ingest: libevent answered %d by itself (%s); %llu more such answer(s) since the "
                 "last line",
                 code, why, (unsigned long long)more);
    else
        log_warn("ingest: libevent answered %d by itself (%s)", code, why);
}

/* evhttp's connections, as evhttp makes them, but reading up to
 * INGEST_READ_MAX per callback instead of libevent's 16 KiB: a 100 KB body
 * then takes one or two reads, loop wake-ups and buffer chains instead of
 * six or more (+5% ingest in back-to-back runs). A read never takes more
 * than the socket holds, so idle connections cost nothing more. */
static struct bufferevent *new_bev(struct event_base *base, void *arg)
{
    struct ingest *in = arg;
    accept_guard_admit(in->guard); /* a connection was just accepted */
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (!bev)
        return NULL;
    bufferevent_set_max_single_read(bev, INGEST_READ_MAX);
    if (!evbuffer_add_cb(bufferevent_get_output(bev), on_output, in) ||
        !evbuffer_add_cb(bufferevent_get_input(bev), on_input, bev)) {
        bufferevent_free(bev);
        return NULL;
    }
    return bev;
}

static bool is_gzip(const char *enc, bool *ok)
{
    *ok = true;
    if (!enc)
        return false;
    while (*enc == ' ')
        enc++;
    if (!*enc || strcasecmp(enc, "identity") == 0)
        return false;
    if (strcasecmp(enc, "gzip") == 0 || strcasecmp(enc, "x-gzip") == 0)
        return true;
    *ok = false;
    return false;
}

/* Loop thread: answers what can be refused before the credentials are
 * looked at (a wrong method, a stop under way, a body evhttp would not
 * read). Returns true when it answered. */
static bool refuse_request(struct ingest *in, struct evhttp_request *req)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply_error(in, req, 405, "method_not_allowed", "use POST", 0);
        return true;
    }
    if (in->draining || !in->committer) {
        reply_error(in, req, 503, "shutting_down", "eddy is shutting down; retry later",
                    INGEST_RETRY_STOP);
        return true;
    }
    /* Without a Content-Length (and not chunked) evhttp reads no body at
     * all: whatever the client sent after the headers would be lost. */
    struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
    const char *te = evhttp_find_header(hdr, "Transfer-Encoding");
    if (!evhttp_find_header(hdr, "Content-Length") && !(te && strcasecmp(te, "chunked") == 0)) {
        reply_error(in, req, 411, "length_required",
                    "send a Content-Length (or Transfer-Encoding: chunked)", 0);
        return true;
    }
    return false;
}

/* Loop thread: true when a credential the request carries is valid. Copies
 * the write key to store with the batch into key (*key_len 0 when none):
 * auth_check's view points into the query, which is freed here. */
static bool authenticate(struct ingest *in, struct evhttp_request *req, char key[QUEUE_KEY_MAX],
                         size_t *key_len)
{
    struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
    struct evkeyvalq query = {0};
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (q)
        evhttp_parse_query_str(q, &query);
    struct auth_request ar = {.authorization = evhttp_find_header(hdr, "Authorization"),
                              .write_key = q ? evhttp_find_header(&query, "writeKey") : NULL};
    const char *view;
    char keybuf[QUEUE_KEY_MAX + 64];
    *key_len = 0;
    int auth = auth_check(in->creds, &ar, &view, key_len, keybuf, sizeof(keybuf));
    if (auth == AUTH_OK && *key_len)
        memcpy(key, view, *key_len);
    if (q)
        evhttp_clear_headers(&query);
    return auth == AUTH_OK;
}

/* Loop thread: answers an authenticated request whose body cannot be taken
 * now (an unknown Content-Encoding, storage failed or full, too much
 * waiting to be stored). Returns true when it answered; else *gzip says
 * whether the body is gzip. */
static bool refuse_body(struct ingest *in, struct evhttp_request *req, bool *gzip)
{
    struct evkeyvalq *hdr = evhttp_request_get_input_headers(req);
    bool enc_ok;
    *gzip = is_gzip(evhttp_find_header(hdr, "Content-Encoding"), &enc_ok);
    if (!enc_ok) {
        reply_error(in, req, 415, "unsupported_encoding",
                    "Content-Encoding must be gzip or identity", 0);
        return true;
    }
    if (committer_failed(in->committer)) {
        reply_error(in, req, 503, "storage_error", "eddy could not store the batch; retry later",
                    INGEST_RETRY_FULL);
        return true;
    }
    if (committer_above_high_water(in->committer)) {
        reply_error(in, req, 503, "storage_full",
                    "storage is above its high-water mark; retry later", INGEST_RETRY_FULL);
        return true;
    }
    size_t len = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    uint64_t queued = atomic_load(&in->inflight_bytes);
    if (queued > 0 && queued + len > in->inflight_limit) {
        reply_error(in, req, 503, "overloaded", "too much data waiting to be stored",
                    INGEST_RETRY_BUSY);
        return true;
    }
    return false;
}

/* Loop thread: moves the body into a job, counts it, and hands the job to
 * a validation pool (or answers 503 when out of memory). */
static void admit(struct ingest *in, struct evhttp_request *req, bool gzip, const char *key,
                  size_t key_len)
{
    struct evbuffer *input = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(input);
    struct job *j = calloc(1, sizeof(*j));
    if (j)
        j->raw = evbuffer_new();
    if (!j || !j->raw || evbuffer_add_buffer(j->raw, input) != 0) {
        if (j)
            job_free(j);
        reply_error(in, req, 503, "overloaded", "out of memory; retry later", INGEST_RETRY_BUSY);
        return;
    }
    j->in = in;
    j->req = req;
    j->gzip = gzip;
    j->received_ms = clock_wall_ms();
    j->key_len = key_len;
    if (key_len)
        memcpy(j->key, key, key_len);
    j->accounted = len;
    atomic_fetch_add(&in->inflight_bytes, len);
    atomic_fetch_add(&in->m->ingest_queued_bytes, len);
    in->inflight++;
    note_peak(in);
    workq_submit(gzip || len >= INGEST_LARGE_BODY ? in->large_workers : in->workers, &j->witem);
}

/* Loop thread: a request on one of the ingest paths. Authentication comes
 * before anything about the body (an empty body must still get its 401). */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct ingest *in = arg;
    if (refuse_request(in, req))
        return;
    char key[QUEUE_KEY_MAX];
    size_t key_len;
    if (!authenticate(in, req, key, &key_len)) {
        reply(in, req, 401, "{\"error\":\"unauthorized\"}", 0);
        return;
    }
    bool gzip;
    if (refuse_body(in, req, &gzip))
        return;
    admit(in, req, gzip, key, key_len);
}

/* Loop thread: any path that is not an ingest path. */
static void on_unknown(struct evhttp_request *req, void *arg)
{
    reply_error(arg, req, 404, "not_found", "no ingest endpoint at this path", 0);
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ingest *in = arg;
    if (!in->draining) {
        in->draining = true;
        if (in->bound) {
            accept_guard_free(in->guard);
            in->guard = NULL;
            evhttp_del_accept_socket(in->http, in->bound);
            in->bound = NULL;
        }
        log_info("ingest: stopped accepting; answering %zu request(s) in flight", in->inflight);
        struct timeval wait = {INGEST_FLUSH_WAIT_S, 0};
        in->flush_ev = event_new(in->base, -1, EV_PERSIST, on_flush_deadline, in);
        if (in->flush_ev)
            event_add(in->flush_ev, &wait);
    }
    maybe_exit(in);
}

void ingest_shutdown(struct ingest *in, int exit_code)
{
    int cur = atomic_load(&in->exit_code);
    while (exit_code > cur && !atomic_compare_exchange_weak(&in->exit_code, &cur, exit_code))
        ;
    atomic_store(&in->stop_requested, true);
    event_active(in->stop_ev, EV_READ, 0);
}

int ingest_exit_code(const struct ingest *in)
{
    return atomic_load(&in->exit_code);
}

bool ingest_accepting(const struct ingest *in)
{
    return !atomic_load(&in->stop_requested);
}

static unsigned worker_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 2)
        n = 2; /* validating one body must not serialize the next */
    if (n > 8)
        n = 8;
    return (unsigned)n;
}

int ingest_start(struct ingest **out, const struct ingest_options *o, char *err, size_t errlen)
{
    struct ingest *in = calloc(1, sizeof(*in));
    if (!in) {
        snprintf(err, errlen, "ingest: out of memory");
        return -1;
    }
    const struct config *cfg = o->cfg;
    struct event_base *base = o->base;
    in->cfg = cfg;
    in->m = o->metrics;
    in->base = base;
    in->inflight_limit =
        cfg->max_body * 4 > INGEST_INFLIGHT_MIN ? cfg->max_body * 4 : INGEST_INFLIGHT_MIN;
    in->read_cap =
        cfg->max_body * 2 > INGEST_READ_CAP_MIN ? cfg->max_body * 2 : INGEST_READ_CAP_MIN;
    pthread_mutex_init(&in->done_lock, NULL);
    char host[128];
    uint16_t port;
    in->http = evhttp_new(base);
    in->done_ev = event_new(base, -1, 0, on_done, in);
    in->stop_ev = event_new(base, -1, 0, on_stop, in);
    in->trim_ev = evtimer_new(base, on_trim, in);
    in->unpause_ev = evtimer_new(base, on_unpause, in);
    in->creds = auth_creds_new(cfg);
    if (!in->http || !in->done_ev || !in->stop_ev || !in->trim_ev || !in->unpause_ev ||
        !in->creds) {
        snprintf(err, errlen, "ingest: out of memory");
        goto fail;
    }
    /* The raw cap leaves room for gzip of incompressible data; the
     * decompressed size is checked against max_body by the workers. */
    evhttp_set_max_body_size(in->http, (ev_ssize_t)(cfg->max_body + cfg->max_body / 64 + 4096));
    evhttp_set_max_headers_size(in->http, INGEST_HEADERS_MAX);
    evhttp_set_timeout(in->http, INGEST_TIMEOUT_S);
    evhttp_set_flags(in->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_default_content_type(in->http, "application/json");
    evhttp_set_bevcb(in->http, new_bev, in);
    /* Let every method reach the callbacks, so a wrong one gets 405, not
     * evhttp's 501. */
    evhttp_set_allowed_methods(in->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                             EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                                             EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                             EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    for (size_t i = 0; i < cfg->npaths; i++) {
        if (evhttp_set_cb(in->http, cfg->paths[i], on_request, in) == -2) {
            snprintf(err, errlen, "ingest: cannot route path %s", cfg->paths[i]);
            goto fail;
        }
    }
    evhttp_set_gencb(in->http, on_unknown, in);
    if (config_split_hostport(cfg->listen, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "ingest: listen: \"%s\" is not HOST:PORT", cfg->listen);
        goto fail;
    }
    in->bound = evhttp_bind_socket_with_handle(in->http, host, port);
    if (!in->bound) {
        snprintf(err, errlen, "ingest: cannot listen on %s: %s", cfg->listen,
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        goto fail;
    }
    loop_ingest = in;
    struct accept_guard_options go = {.base = base,
                                      .listener = evhttp_bound_socket_get_listener(in->bound),
                                      .name = "ingest",
                                      .headroom = INGEST_FD_HEADROOM(cfg)};
    if (accept_guard_start(&in->guard, &go, err, errlen) != 0)
        goto fail;
    unsigned nworkers = worker_count();
    struct workq_options small = {
        .name = "eddyd-validate", .nthreads = nworkers, .fn = work, .arg = in};
    struct workq_options large = {.name = "eddyd-valid-lg",
                                  .nthreads = nworkers / 2 ? nworkers / 2 : 1,
                                  .fn = work,
                                  .arg = in};
    if (workq_start(&in->workers, &small, err, errlen) != 0 ||
        workq_start(&in->large_workers, &large, err, errlen) != 0)
        goto fail;
    *out = in;
    return 0;
fail:
    ingest_free(in);
    return -1;
}

void ingest_set_committer(struct ingest *in, struct committer *c)
{
    in->committer = c;
}

void ingest_stop_workers(struct ingest *in)
{
    if (!in)
        return;
    workq_stop(in->workers);
    workq_stop(in->large_workers);
    in->workers = in->large_workers = NULL;
}

void ingest_free(struct ingest *in)
{
    if (!in)
        return;
    ingest_stop_workers(in);
    accept_guard_free(in->guard);
    if (in->http)
        evhttp_free(in->http);
    if (in->done_ev)
        event_free(in->done_ev);
    if (in->stop_ev)
        event_free(in->stop_ev);
    if (in->flush_ev)
        event_free(in->flush_ev);
    if (in->trim_ev)
        event_free(in->trim_ev);
    if (in->unpause_ev)
        event_free(in->unpause_ev);
    /* Jobs answered after the loop stopped (none in a clean drain). */
    struct job *j = in->done_head;
    while (j) {
        struct job *next = j->next_done;
        job_free(j);
        j = next;
    }
    pthread_mutex_destroy(&in->done_lock);
    if (loop_ingest == in)
        loop_ingest = NULL;
    auth_creds_free(in->creds);
    free(in);
}

void ingest_set_credentials(struct ingest *in, struct auth_creds *creds)
{
    /* Requests are authenticated on this same thread, so each one sees the
     * old set or the new one whole, and none is refused in between; no
     * other thread holds the old one (a job keeps a copy of its key). */
    struct auth_creds *old = in->creds;
    in->creds = creds;
    auth_creds_free(old);
}
