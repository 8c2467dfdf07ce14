/*
 * test_pending.c - the pending side: group append (round trip, all or
 * nothing under MDB_MAP_FULL), ready reads and next-try times, acks, the
 * attempt history cap, burial and the bisection split.
 */
#include "../helpers.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>

/* Sync faults without a shim: liblmdb.so calls fdatasync/fsync through the
 * PLT, and these definitions in the executable take precedence. While
 * sync_errno is set every sync fails with it. */
static volatile int sync_errno;
static volatile int sync_calls;

int fdatasync(int fd)
{
    sync_calls++;
    if (sync_errno) {
        errno = sync_errno;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    sync_calls++;
    if (sync_errno) {
        errno = sync_errno;
        return -1;
    }
    return (int)syscall(SYS_fsync, fd);
}

static void test_group_round_trip(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, true);
    enum { N = 32 };
    struct queue_batch b[N];
    char *bodies[N];
    size_t lens[N];
    for (int i = 0; i < N; i++) {
        char tag[8];
        snprintf(tag, sizeof(tag), "g%d", i);
        bodies[i] = th_body(tag, 1 + i % 5, 20 * i, &lens[i]);
        b[i] = (struct queue_batch){.body = (unsigned char *)bodies[i],
                                    .body_len = lens[i],
                                    .write_key = i % 2 ? "key-odd" : NULL,
                                    .write_key_len = i % 2 ? 7 : 0,
                                    .types = "users.messages.email.Send",
                                    .types_len = 25,
                                    .event_count = (uint32_t)(1 + i % 5),
                                    .received_ms = 1000 + i};
    }
    assert_int_equal(queue_append_group(q, b, N), QUEUE_OK);
    uint64_t events = 0, bytes = 0;
    for (int i = 0; i < N; i++) {
        assert_int_equal(b[i].seq, (uint64_t)i + 1);
        events += b[i].event_count;
        bytes += lens[i];
    }
    struct queue_entry e[N];
    size_t n;
    assert_int_equal(th_ready(q, 0, 0, e, N, &n), QUEUE_OK);
    assert_int_equal(n, N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(e[i].id, b[i].seq);
        assert_int_equal(e[i].status, RECORD_OK);
        assert_int_equal(e[i].rec.body_len, lens[i]);
        assert_memory_equal(e[i].rec.body, bodies[i], lens[i]);
        assert_int_equal(e[i].rec.event_count, b[i].event_count);
        assert_int_equal(e[i].rec.received_ms, 1000 + i);
        assert_int_equal(e[i].rec.write_key_len, i % 2 ? 7 : 0);
        if (i % 2)
            assert_memory_equal(e[i].rec.write_key, "key-odd", 7);
        assert_int_equal(e[i].rec.types_len, 25);
        assert_int_equal(e[i].attempts.counted, 0);
        queue_entry_free(&e[i]);
        free(bodies[i]);
    }
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, N);
    assert_int_equal(s.pending_events, events);
    assert_int_equal(s.pending_bytes, bytes);
    assert_int_equal(s.pending_oldest_ms, 1000);
    /* after and max page through the queue. */
    assert_int_equal(th_ready(q, 30, 0, e, N, &n), QUEUE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].id, 31);
    queue_entry_free(&e[0]);
    queue_entry_free(&e[1]);
    assert_int_equal(th_ready(q, 0, 0, e, 3, &n), QUEUE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        queue_entry_free(&e[i]);
    queue_close(q);
}

static void test_group_all_or_nothing_map_full(void **state)
{
    queue_t *q = th_open(*state, 256 << 10, true);
    size_t len;
    char *body = th_body("full", 10, 900, &len); /* ~11 KB */
    uint64_t first = th_append(q, body, len, 1);
    enum { N = 40 };
    struct queue_batch b[N];
    for (int i = 0; i < N; i++)
        b[i] = (struct queue_batch){.body = (unsigned char *)body,
                                    .body_len = len,
                                    .event_count = 10,
                                    .received_ms = 2,
                                    .seq = 77};
    int rc = queue_append_group(q, b, N);
    assert_int_equal(rc, QUEUE_FULL);
    assert_non_null(strstr(queue_last_error(), "MDB_MAP_FULL"));
    for (int i = 0; i < N; i++)
        assert_int_equal(b[i].seq, 0);
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 1);
    assert_int_equal(s.pending_events, 10);
    assert_int_equal(s.pending_bytes, len);
    assert_int_equal(s.next_seq, first + 1);
    /* The store still works: a small group fits and gets the next ids. */
    struct queue_batch two[2] = {b[0], b[1]};
    assert_int_equal(queue_append_group(q, two, 2), QUEUE_OK);
    assert_int_equal(two[0].seq, first + 1);
    assert_int_equal(two[1].seq, first + 2);
    struct queue_entry e[4];
    size_t n;
    assert_int_equal(th_ready(q, 0, 0, e, 4, &n), QUEUE_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        assert_memory_equal(e[i].rec.body, body, len);
        queue_entry_free(&e[i]);
    }
    queue_close(q);
    /* And after a reopen. */
    q = th_open(*state, 0, true);
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 3);
    queue_close(q);
    free(body);
}

/* A failed sync fails the whole group: EIO is QUEUE_IO (not retryable),
 * ENOSPC is QUEUE_FULL; nothing of the group becomes visible. */
static void test_sync_failure_fails_group(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, true);
    size_t len;
    char *body = th_body("io", 3, 100, &len);
    uint64_t first = th_append(q, body, len, 1);
    struct queue_batch b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (struct queue_batch){
            .body = (unsigned char *)body, .body_len = len, .event_count = 3, .received_ms = 2};
    int calls = sync_calls;
    sync_errno = EIO;
    assert_int_equal(queue_append_group(q, b, 4), QUEUE_IO);
    sync_errno = 0;
    assert_true(sync_calls > calls); /* the fault really went through LMDB's sync */
    assert_non_null(strstr(queue_last_error(), "Input/output error"));
    for (int i = 0; i < 4; i++)
        assert_int_equal(b[i].seq, 0);
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 1);
    assert_int_equal(s.pending_events, 3);
    assert_int_equal(s.next_seq, first + 1);
    sync_errno = ENOSPC;
    assert_int_equal(queue_append_group(q, b, 4), QUEUE_FULL);
    uint64_t ids[] = {first};
    assert_int_equal(queue_ack(q, ids, 1), QUEUE_FULL);
    sync_errno = 0;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 1);
    /* Space is back: the same group goes in under the next ids. */
    assert_int_equal(queue_append_group(q, b, 4), QUEUE_OK);
    assert_int_equal(b[0].seq, first + 1);
    assert_int_equal(b[3].seq, first + 4);
    queue_close(q);
    q = th_open(*state, 0, true);
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 5);
    queue_close(q);
    free(body);
}

static void test_ready_honours_next_try(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, false);
    size_t len;
    char *body = th_body("r", 2, 10, &len);
    uint64_t a = th_append(q, body, len, 1), b = th_append(q, body, len, 2),
             c = th_append(q, body, len, 3);
    struct queue_attempt at = {.at_ms = 500, .status = 503, .answer_len = 4};
    memcpy(at.answer, "busy", 4);
    assert_int_equal(queue_fail(q, b, &at, 10000), QUEUE_OK);
    struct queue_entry e[4];
    size_t n;
    assert_int_equal(th_ready(q, 0, 9999, e, 4, &n), QUEUE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].id, a);
    assert_int_equal(e[1].id, c);
    queue_entry_free(&e[0]);
    queue_entry_free(&e[1]);
    assert_int_equal(th_ready(q, 0, 10000, e, 4, &n), QUEUE_OK);
    assert_int_equal(n, 3);
    assert_int_equal(e[1].id, b);
    assert_int_equal(e[1].attempts.counted, 1);
    assert_int_equal(e[1].attempts.last_status, 503);
    assert_int_equal(e[1].attempts.next_try_ms, 10000);
    assert_int_equal(e[1].attempts.nhistory, 1);
    assert_memory_equal(e[1].attempts.history[0].answer, "busy", 4);
    for (size_t i = 0; i < n; i++)
        queue_entry_free(&e[i]);
    queue_close(q);
    free(body);
}

static void test_ack_idempotent(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, false);
    size_t len;
    char *body = th_body("a", 3, 10, &len);
    uint64_t a = th_append(q, body, len, 1), b = th_append(q, body, len, 2);
    struct queue_attempt at = {.at_ms = 1, .status = 500};
    assert_int_equal(queue_fail(q, a, &at, 0), QUEUE_OK);
    uint64_t ids[] = {a, 999, a};
    assert_int_equal(queue_ack(q, ids, 3), QUEUE_OK);
    assert_int_equal(queue_ack(q, ids, 3), QUEUE_OK); /* a replayed ack is harmless */
    struct queue_stats s;
    assert_int_equal(queue_stats(q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 1);
    assert_int_equal(s.pending_events, 3);
    assert_int_equal(s.pending_bytes, len);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, a, &e), QUEUE_NOT_FOUND);
    assert_int_equal(queue_get(q, QUEUE_PENDING, b, &e), QUEUE_OK);
    queue_entry_free(&e);
    /* The attempts went with the record: failing a gone record is refused. */
    assert_int_equal(queue_fail(q, a, &at, 0), QUEUE_NOT_FOUND);
    queue_close(q);
    free(body);
}

static void test_attempt_history_capped(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, false);
    size_t len;
    char *body = th_body("h", 1, 10, &len);
    uint64_t s = th_append(q, body, len, 1);
    for (int i = 0; i < 50; i++) {
        struct queue_attempt at = {.at_ms = 100 + i, .status = i % 5 == 4 ? 0 : 500 + i};
        at.answer_len = (uint16_t)snprintf(at.answer, sizeof(at.answer), "answer %d", i);
        assert_int_equal(queue_fail(q, s, &at, 1000 + i), QUEUE_OK);
    }
    /* An answer longer than the cap is kept at QUEUE_ANSWER_MAX bytes. */
    struct queue_attempt big = {.at_ms = 150, .status = 400, .answer_len = QUEUE_ANSWER_MAX};
    memset(big.answer, 'x', QUEUE_ANSWER_MAX);
    assert_int_equal(queue_fail(q, s, &big, 2000), QUEUE_OK);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, s, &e), QUEUE_OK);
    struct queue_attempts *a = &e.attempts;
    assert_int_equal(a->counted, 41);
    assert_int_equal(a->network, 10);
    assert_int_equal(a->nhistory, QUEUE_HISTORY_MAX);
    assert_int_equal(a->dropped, 51 - QUEUE_HISTORY_MAX);
    assert_int_equal(a->first_failed_ms, 100);
    assert_int_equal(a->last_failed_ms, 150);
    assert_int_equal(a->next_try_ms, 2000);
    assert_int_equal(a->last_status, 400);
    /* The first 8 and the last 24, in order. */
    for (int i = 0; i < 8; i++) {
        assert_int_equal(a->history[i].at_ms, 100 + i);
        char want[32];
        snprintf(want, sizeof(want), "answer %d", i);
        assert_int_equal(a->history[i].answer_len, strlen(want));
        assert_memory_equal(a->history[i].answer, want, strlen(want));
    }
    for (int i = 8; i < 31; i++)
        assert_int_equal(a->history[i].at_ms, 100 + 19 + i); /* attempts 27..49 */
    assert_int_equal(a->history[31].answer_len, QUEUE_ANSWER_MAX);
    assert_int_equal(a->history[31].status, 400);
    queue_entry_free(&e);
    queue_close(q);
    free(body);
}

static void test_bury_moves_with_history(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, true);
    size_t len;
    char *body = th_body("d", 4, 30, &len);
    uint64_t s = th_append(q, body, len, 1234);
    struct queue_attempt at = {.at_ms = 77, .status = 400, .answer_len = 3};
    memcpy(at.answer, "bad", 3);
    assert_int_equal(queue_fail(q, s, &at, 0), QUEUE_OK);
    uint64_t id = 0;
    assert_int_equal(queue_bury(q, s, "HTTP 400 after bisection", &id), QUEUE_OK);
    assert_int_equal(id, 1);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 0);
    assert_int_equal(st.pending_events, 0);
    assert_int_equal(st.pending_bytes, 0);
    assert_int_equal(st.dead_batches, 1);
    assert_int_equal(st.dead_events, 4);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, s, &e), QUEUE_NOT_FOUND);
    assert_int_equal(queue_get(q, QUEUE_DEAD, id, &e), QUEUE_OK);
    assert_int_equal(e.id, id);
    assert_int_equal(e.status, RECORD_OK);
    assert_string_equal(e.reason, "HTTP 400 after bisection");
    assert_true(e.dead_ms > 0);
    assert_int_equal(e.replays, 0);
    assert_int_equal(e.attempts.counted, 1);
    assert_int_equal(e.attempts.last_status, 400);
    assert_memory_equal(e.attempts.history[0].answer, "bad", 3);
    assert_int_equal(e.rec.body_len, len);
    assert_memory_equal(e.rec.body, body, len);
    assert_int_equal(e.rec.received_ms, 1234);
    queue_entry_free(&e);
    assert_int_equal(queue_bury(q, s, "again", NULL), QUEUE_NOT_FOUND);
    /* A long reason is cut, not refused. */
    uint64_t s2 = th_append(q, body, len, 1);
    char reason[600];
    memset(reason, 'r', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    assert_int_equal(queue_bury(q, s2, reason, &id), QUEUE_OK);
    assert_int_equal(id, 2);
    assert_int_equal(queue_get(q, QUEUE_DEAD, id, &e), QUEUE_OK);
    assert_int_equal(strlen(e.reason), 255);
    queue_entry_free(&e);
    queue_close(q);
    free(body);
}

static void test_split_halves_concatenate(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, true);
    size_t len;
    unsigned char *body = th_read_file("tests/fixtures/corpus/batch-00003.json", &len);
    assert_non_null(body);
    uint64_t s = th_append(q, (char *)body, len, 4242);
    struct queue_attempt at = {.at_ms = 1, .status = 400};
    assert_int_equal(queue_fail(q, s, &at, 0), QUEUE_OK);
    uint64_t a, b;
    assert_int_equal(queue_split(q, s, 0, &a, &b), QUEUE_OK);
    assert_int_equal(a, s + 1);
    assert_int_equal(b, s + 2);
    struct queue_entry e[2];
    assert_int_equal(queue_get(q, QUEUE_PENDING, s, &e[0]), QUEUE_NOT_FOUND);
    assert_int_equal(queue_get(q, QUEUE_PENDING, a, &e[0]), QUEUE_OK);
    assert_int_equal(queue_get(q, QUEUE_PENDING, b, &e[1]), QUEUE_OK);
    struct batch_event *orig, *h0, *h1;
    size_t n, n0, n1;
    assert_int_equal(batch_scan(body, len, &orig, &n), BATCH_OK);
    assert_int_equal(batch_scan(e[0].rec.body, e[0].rec.body_len, &h0, &n0), BATCH_OK);
    assert_int_equal(batch_scan(e[1].rec.body, e[1].rec.body_len, &h1, &n1), BATCH_OK);
    assert_int_equal(n0, n / 2);
    assert_int_equal(n0 + n1, n);
    assert_int_equal(e[0].rec.event_count, n0);
    assert_int_equal(e[1].rec.event_count, n1);
    for (size_t i = 0; i < n; i++) {
        const struct queue_entry *h = i < n0 ? &e[0] : &e[1];
        const struct batch_event *ev = i < n0 ? &h0[i] : &h1[i - n0];
        assert_int_equal(ev->len, orig[i].len);
        assert_memory_equal(h->rec.body + ev->off, body + orig[i].off, ev->len);
    }
    for (int k = 0; k < 2; k++) {
        assert_true(e[k].rec.flags & RECORD_F_SPLIT);
        assert_int_equal(e[k].rec.origin_seq, s);
        assert_int_equal(e[k].rec.received_ms, 4242);
        assert_memory_equal(e[k].rec.write_key, "wk", 2);
        assert_int_equal(e[k].attempts.counted, 0); /* halves start fresh */
        struct batch_summary sum;
        char err[128];
        assert_int_equal(batch_validate(e[k].rec.body, e[k].rec.body_len, &sum, err, sizeof(err)),
                         BATCH_OK);
        assert_int_equal(e[k].rec.types_len, sum.types_len);
        assert_memory_equal(e[k].rec.types, sum.types, sum.types_len);
        free(sum.types);
    }
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 2);
    assert_int_equal(st.pending_events, n);
    assert_int_equal(st.pending_bytes, e[0].rec.body_len + e[1].rec.body_len);
    /* An explicit split point, down to single events; one event cannot split. */
    uint64_t c, d;
    assert_int_equal(queue_split(q, a, n0 - 1, &c, &d), QUEUE_OK);
    struct queue_entry last;
    assert_int_equal(queue_get(q, QUEUE_PENDING, d, &last), QUEUE_OK);
    assert_int_equal(last.rec.event_count, 1);
    assert_int_equal(last.rec.origin_seq, a);
    queue_entry_free(&last);
    uint64_t x, y;
    assert_int_equal(queue_split(q, d, 0, &x, &y), QUEUE_ERROR);
    assert_int_equal(queue_split(q, b, n1, &x, &y), QUEUE_ERROR);
    assert_int_equal(queue_split(q, 9999, 0, &x, &y), QUEUE_NOT_FOUND);
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 3);
    assert_int_equal(st.pending_events, n);
    free(orig);
    free(h0);
    free(h1);
    queue_entry_free(&e[0]);
    queue_entry_free(&e[1]);
    queue_close(q);
    free(body);
}

static int find_id(void *ctx, const struct queue_entry *e)
{
    *(uint64_t *)ctx = e->id;
    return 0;
}

/* Gzip records next to raw ones: every read gives the raw body byte for
 * byte, counters count raw bytes, filters look into compressed bodies,
 * split keeps the halves compressed, bury and replay carry them as they are. */
static void test_gzip_records_read_raw(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, true);
    size_t len, tlen;
    unsigned char *body = th_read_file("tests/fixtures/corpus/batch-00003.json", &len);
    assert_non_null(body);
    char *tb = th_body("gz", 6, 300, &tlen);
    uint64_t raw = th_append(q, tb, tlen, 1);
    uint64_t s = th_append_z(q, (char *)body, len, 2, true);
    uint64_t t = th_append_z(q, tb, tlen, 3, true);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, s, &e), QUEUE_OK);
    assert_int_equal(e.status, RECORD_OK);
    assert_true(e.rec.flags & RECORD_F_GZIP);
    assert_int_equal(e.rec.body_len, len);
    assert_memory_equal(e.rec.body, body, len);
    assert_true(e.rec.stored_len < len / 2);
    queue_entry_free(&e);
    /* As delivery reads it: the gzip member as stored, inflated on demand. */
    assert_int_equal(queue_get_stored(q, QUEUE_PENDING, s, &e), QUEUE_OK);
    assert_null(e.rec.body);
    assert_int_equal(e.rec.body_len, len);
    assert_int_equal(e.rec.stored[0], 0x1f); /* gzip magic */
    assert_int_equal(e.rec.stored[1], 0x8b);
    assert_int_equal(queue_entry_inflate(&e), QUEUE_OK);
    assert_memory_equal(e.rec.body, body, len);
    assert_int_equal(queue_entry_inflate(&e), QUEUE_OK); /* once is enough */
    queue_entry_free(&e);
    assert_int_equal(queue_get(q, QUEUE_PENDING, raw, &e), QUEUE_OK);
    assert_false(e.rec.flags & RECORD_F_GZIP);
    assert_memory_equal(e.rec.body, tb, tlen);
    queue_entry_free(&e);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_bytes, len + 2 * tlen);

    /* An event id inside a compressed body is found. */
    struct queue_filter f = {.event_id = "ev-gz-5"};
    uint64_t hit = 0;
    assert_int_equal(queue_scan(q, QUEUE_PENDING, &f, raw, 0, find_id, &hit), QUEUE_OK);
    assert_int_equal(hit, t);

    /* Split: halves gzip, raw bytes still the events of the whole. */
    uint64_t a, b;
    assert_int_equal(queue_split(q, t, 0, &a, &b), QUEUE_OK);
    struct queue_entry h[2];
    assert_int_equal(queue_get(q, QUEUE_PENDING, a, &h[0]), QUEUE_OK);
    assert_int_equal(queue_get(q, QUEUE_PENDING, b, &h[1]), QUEUE_OK);
    size_t l0, l1;
    char *b0 = th_body("gz", 3, 300, &l0), *b1 = th_body("gz", 6, 300, &l1);
    for (int k = 0; k < 2; k++) {
        assert_true(h[k].rec.flags & RECORD_F_GZIP);
        assert_true(h[k].rec.flags & RECORD_F_SPLIT);
        assert_int_equal(h[k].rec.event_count, 3);
    }
    assert_int_equal(h[0].rec.body_len, l0);
    assert_memory_equal(h[0].rec.body, b0, l0);
    size_t halves = h[0].rec.body_len + h[1].rec.body_len;
    /* the second half holds events 3..5 of the whole */
    assert_non_null(memmem(h[1].rec.body, h[1].rec.body_len, "\"ev-gz-5\"", 9));
    assert_null(memmem(h[1].rec.body, h[1].rec.body_len, "\"ev-gz-2\"", 9));
    queue_entry_free(&h[0]);
    queue_entry_free(&h[1]);
    free(b0);
    free(b1);

    /* Bury and replay keep the stored bytes and give the raw body back. */
    uint64_t dead;
    assert_int_equal(queue_bury(q, s, "test", &dead), QUEUE_OK);
    assert_int_equal(queue_get(q, QUEUE_DEAD, dead, &e), QUEUE_OK);
    assert_int_equal(e.status, RECORD_OK);
    assert_memory_equal(e.rec.body, body, len);
    queue_entry_free(&e);
    uint64_t done;
    assert_int_equal(queue_dead_apply(q, QUEUE_REPLAY, &dead, 1, NULL, 0, NULL, NULL, &done),
                     QUEUE_OK);
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    uint64_t last = st.next_seq - 1;
    assert_int_equal(queue_get(q, QUEUE_PENDING, last, &e), QUEUE_OK);
    assert_true(e.rec.flags & RECORD_F_GZIP);
    assert_true(e.rec.flags & RECORD_F_REPLAYED);
    assert_memory_equal(e.rec.body, body, len);
    queue_entry_free(&e);
    assert_int_equal(st.pending_bytes, len + tlen + halves);
    free(tb);
    free(body);
    queue_close(q);
}

/* A record damaged on disk comes back from a ready read flagged, not as an
 * error, so delivery can dead-letter it; split refuses it. */
static void test_corrupt_record_surfaces(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, true);
    size_t len;
    char *body = th_body("c", 2, 10, &len);
    uint64_t s = th_append(q, body, len, 1);
    uint64_t t = th_append(q, body, len, 2);
    queue_close(q);
    MDB_env *env;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 4);
    assert_int_equal(mdb_env_open(env, *state, 0, 0600), 0);
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "pending", 0, &dbi), 0);
    unsigned char kb[8] = {0, 0, 0, 0, 0, 0, 0, (unsigned char)s};
    MDB_val k = {8, kb}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - 5] ^= 0x20; /* one flipped bit in the body */
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(copy);
    q = th_open(*state, 0, true);
    struct queue_entry e[2];
    size_t n;
    assert_int_equal(th_ready(q, 0, 0, e, 2, &n), QUEUE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(e[0].id, s);
    assert_int_equal(e[0].status, RECORD_BAD_CRC);
    assert_int_equal(e[1].id, t);
    assert_int_equal(e[1].status, RECORD_OK);
    queue_entry_free(&e[0]);
    queue_entry_free(&e[1]);
    uint64_t a, b;
    assert_int_equal(queue_split(q, s, 0, &a, &b), QUEUE_CORRUPT);
    uint64_t id;
    assert_int_equal(queue_bury(q, s, "corrupt record", &id), QUEUE_OK);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 1);
    assert_int_equal(st.dead_batches, 1);
    queue_close(q);
    free(body);
}

/* One queue_t shared by threads, as in eddyd: a committer appending
 * groups, a delivery thread reading and acking, a status reader. Every
 * batch is delivered exactly once, intact, and the counters end at zero. */
enum { MT_GROUPS = 150, MT_GROUP = 4, MT_TOTAL = MT_GROUPS * MT_GROUP };

struct mt {
    queue_t *q;
    char *body;
    size_t len;
    unsigned char seen[MT_TOTAL + 1];
    int errors;
};

static void *mt_append(void *arg)
{
    struct mt *m = arg;
    for (int g = 0; g < MT_GROUPS; g++) {
        struct queue_batch b[MT_GROUP];
        for (int i = 0; i < MT_GROUP; i++)
            b[i] = (struct queue_batch){.body = (unsigned char *)m->body,
                                        .body_len = m->len,
                                        .event_count = 3,
                                        .received_ms = g};
        if (queue_append_group(m->q, b, MT_GROUP) != QUEUE_OK)
            m->errors++;
    }
    return NULL;
}

static void *mt_deliver(void *arg)
{
    struct mt *m = arg;
    size_t got = 0;
    time_t deadline = time(NULL) + 30;
    while (got < MT_TOTAL && time(NULL) < deadline) {
        struct queue_entry e[16];
        uint64_t ids[16];
        size_t n;
        if (th_ready(m->q, 0, 0, e, 16, &n) != QUEUE_OK) {
            m->errors++;
            break;
        }
        for (size_t i = 0; i < n; i++) {
            if (e[i].id == 0 || e[i].id > MT_TOTAL || m->seen[e[i].id] ||
                e[i].status != RECORD_OK || e[i].rec.body_len != m->len ||
                memcmp(e[i].rec.body, m->body, m->len) != 0)
                m->errors++;
            else
                m->seen[e[i].id] = 1;
            ids[i] = e[i].id;
            queue_entry_free(&e[i]);
        }
        if (n && queue_ack(m->q, ids, n) != QUEUE_OK)
            m->errors++;
        got += n;
    }
    return NULL;
}

static void *mt_status(void *arg)
{
    struct mt *m = arg;
    for (int i = 0; i < 200; i++) {
        struct queue_stats st;
        struct queue_source *src = NULL;
        size_t n = 0;
        if (queue_stats(m->q, &st) != QUEUE_OK || queue_sources(m->q, &src, &n) != QUEUE_OK)
            m->errors++;
        free(src);
    }
    return NULL;
}

static void test_threads_share_queue(void **state)
{
    struct mt *m = calloc(1, sizeof(*m));
    m->q = th_open(*state, 64 << 20, false);
    m->body = th_body("mt", 3, 40, &m->len);
    pthread_t t[3];
    pthread_create(&t[0], NULL, mt_append, m);
    pthread_create(&t[1], NULL, mt_deliver, m);
    pthread_create(&t[2], NULL, mt_status, m);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(m->errors, 0);
    for (int i = 1; i <= MT_TOTAL; i++)
        assert_int_equal(m->seen[i], 1);
    struct queue_stats s;
    assert_int_equal(queue_stats(m->q, &s), QUEUE_OK);
    assert_int_equal(s.pending_batches, 0);
    assert_int_equal(s.pending_events, 0);
    assert_int_equal(s.pending_bytes, 0);
    assert_int_equal(s.next_seq, MT_TOTAL + 1);
    queue_close(m->q);
    free(m->body);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_group_round_trip, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_group_all_or_nothing_map_full, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_sync_failure_fails_group, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_ready_honours_next_try, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_ack_idempotent, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_attempt_history_capped, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_bury_moves_with_history, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_split_halves_concatenate, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_gzip_records_read_raw, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_record_surfaces, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_queue, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
