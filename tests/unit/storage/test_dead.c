/*
 * test_dead.c - reading and the dead-letter queue: queue_scan (order, after,
 * limit, stop), queue_get, replay (new sequence, identical body bytes, replay
 * count carried through a second death) and purge, by id and by filter, in
 * chunks with progress and stop.
 */
#include "../helpers.h"

/* Appends n batches and buries them all; dead ids 1..n. */
static void fill_dead(queue_t *q, size_t n, const char *reason)
{
    for (size_t i = 0; i < n; i++) {
        char tag[16];
        snprintf(tag, sizeof(tag), "d%zu", i);
        size_t len;
        char *body = th_body(tag, 1 + i % 3, 10, &len);
        uint64_t s = th_append(q, body, len, (int64_t)i);
        assert_int_equal(queue_bury(q, s, reason, NULL), QUEUE_OK);
        free(body);
    }
}

struct collect {
    uint64_t ids[2048];
    size_t n;
    size_t stop_at; /* return 7 after this many (0 = never) */
};

static int collect_fn(void *ctx, const struct queue_entry *e)
{
    struct collect *c = ctx;
    c->ids[c->n++] = e->id;
    return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static void test_scan_order_after_limit_stop(void **state)
{
    queue_t *q = th_open(*state, 32 << 20, false);
    size_t len;
    char *body = th_body("s", 1, 5, &len);
    for (int i = 0; i < 600; i++) /* more than one read chunk */
        th_append(q, body, len, i);
    struct collect c = {0};
    assert_int_equal(queue_scan(q, QUEUE_PENDING, NULL, 0, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 600);
    for (size_t i = 0; i < c.n; i++)
        assert_int_equal(c.ids[i], i + 1);
    c.n = 0;
    assert_int_equal(queue_scan(q, QUEUE_PENDING, NULL, 250, 300, collect_fn, &c), 0);
    assert_int_equal(c.n, 300);
    assert_int_equal(c.ids[0], 251);
    assert_int_equal(c.ids[299], 550);
    c = (struct collect){.stop_at = 5};
    assert_int_equal(queue_scan(q, QUEUE_PENDING, NULL, 0, 0, collect_fn, &c), 7);
    assert_int_equal(c.n, 5);
    c = (struct collect){0};
    assert_int_equal(queue_scan(q, QUEUE_DEAD, NULL, 0, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 0);
    queue_close(q);
    free(body);
}

static void test_get_dead_and_missing(void **state)
{
    queue_t *q = th_open(*state, 8 << 20, false);
    fill_dead(q, 2, "HTTP 400");
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_DEAD, 2, &e), QUEUE_OK);
    assert_int_equal(e.id, 2);
    assert_string_equal(e.reason, "HTTP 400");
    assert_int_equal(e.rec.event_count, 2);
    queue_entry_free(&e);
    assert_int_equal(queue_get(q, QUEUE_DEAD, 3, &e), QUEUE_NOT_FOUND);
    assert_null(e.mem);
    assert_int_equal(queue_get(q, QUEUE_PENDING, 1, &e), QUEUE_NOT_FOUND);
    queue_close(q);
}

static void test_replay_keeps_body_bytes(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, true);
    size_t len;
    unsigned char *body = th_read_file("tests/fixtures/edge/number-limits.json", &len);
    assert_non_null(body);
    uint64_t s = th_append(q, (char *)body, len, 777);
    struct queue_attempt at = {.at_ms = 5, .status = 400};
    assert_int_equal(queue_fail(q, s, &at, 0), QUEUE_OK);
    uint64_t id;
    assert_int_equal(queue_bury(q, s, "HTTP 400", &id), QUEUE_OK);
    uint64_t ids[] = {id};
    uint64_t done = 0;
    assert_int_equal(queue_dead_apply(q, QUEUE_REPLAY, ids, 1, NULL, 0, NULL, NULL, &done),
                     QUEUE_OK);
    assert_int_equal(done, 1);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.dead_batches, 0);
    assert_int_equal(st.dead_events, 0);
    assert_int_equal(st.pending_batches, 1);
    assert_int_equal(st.pending_events, 2);
    assert_int_equal(st.pending_bytes, len);
    struct queue_entry e[2];
    size_t n;
    assert_int_equal(th_ready(q, 0, 0, e, 2, &n), QUEUE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].id, s + 1); /* a new sequence */
    assert_int_equal(e[0].rec.body_len, len);
    assert_memory_equal(e[0].rec.body, body, len);
    assert_true(e[0].rec.flags & RECORD_F_REPLAYED);
    assert_int_equal(e[0].rec.origin_seq, s);
    assert_int_equal(e[0].rec.received_ms, 777);
    assert_memory_equal(e[0].rec.write_key, "wk", 2);
    assert_int_equal(e[0].replays, 1);
    assert_int_equal(e[0].attempts.counted, 0); /* fresh budget */
    uint64_t s2 = e[0].id;
    queue_entry_free(&e[0]);
    /* It dies again: the dead letter remembers one replay; replay again. */
    assert_int_equal(queue_bury(q, s2, "HTTP 400 again", &id), QUEUE_OK);
    assert_int_equal(id, 2);
    struct queue_entry d;
    assert_int_equal(queue_get(q, QUEUE_DEAD, id, &d), QUEUE_OK);
    assert_int_equal(d.replays, 1);
    assert_memory_equal(d.rec.body, body, len);
    queue_entry_free(&d);
    ids[0] = id;
    assert_int_equal(queue_dead_apply(q, QUEUE_REPLAY, ids, 1, NULL, 0, NULL, NULL, NULL),
                     QUEUE_OK);
    assert_int_equal(th_ready(q, 0, 0, e, 2, &n), QUEUE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(e[0].replays, 2);
    assert_memory_equal(e[0].rec.body, body, len);
    queue_entry_free(&e[0]);
    queue_close(q);
    free(body);
}

static void test_purge_by_id_and_missing(void **state)
{
    queue_t *q = th_open(*state, 8 << 20, false);
    fill_dead(q, 5, "x");
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.dead_batches, 5);
    uint64_t dead_events = st.dead_events;
    uint64_t ids[] = {2, 42, 4};
    uint64_t done = 0;
    assert_int_equal(queue_dead_apply(q, QUEUE_PURGE, ids, 3, NULL, 0, NULL, NULL, &done),
                     QUEUE_NOT_FOUND);
    assert_int_equal(done, 2); /* the others were applied */
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.dead_batches, 3);
    assert_int_equal(st.dead_events, dead_events - 2 - 1); /* ids 2 and 4: 2 and 1 events */
    assert_int_equal(st.pending_batches, 0);
    struct collect c = {0};
    assert_int_equal(queue_scan(q, QUEUE_DEAD, NULL, 0, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 3);
    assert_int_equal(c.ids[0], 1);
    assert_int_equal(c.ids[1], 3);
    assert_int_equal(c.ids[2], 5);
    queue_close(q);
}

struct prog {
    uint64_t calls[64];
    size_t n;
    size_t stop_after; /* stop after this many calls (0 = never) */
};

static int prog_fn(void *ctx, uint64_t done)
{
    struct prog *p = ctx;
    p->calls[p->n++] = done;
    return p->stop_after && p->n >= p->stop_after;
}

static void test_filter_mode_chunks_progress_stop(void **state)
{
    queue_t *q = th_open(*state, 32 << 20, false);
    fill_dead(q, 25, "HTTP 400 bad event");
    fill_dead(q, 10, "max attempts: HTTP 503");
    struct queue_filter f = {.reason = "HTTP 400"};
    struct prog p = {.stop_after = 2};
    uint64_t done = 0;
    /* Chunks of 4: stop after the second chunk. */
    assert_int_equal(queue_dead_apply(q, QUEUE_REPLAY, NULL, 0, &f, 4, prog_fn, &p, &done),
                     QUEUE_STOPPED);
    assert_int_equal(done, 8);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.calls[0], 4);
    assert_int_equal(p.calls[1], 8);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 8);
    assert_int_equal(st.dead_batches, 27);
    /* The rest of the matching ones, to the end. */
    p = (struct prog){0};
    assert_int_equal(queue_dead_apply(q, QUEUE_REPLAY, NULL, 0, &f, 4, prog_fn, &p, &done),
                     QUEUE_OK);
    assert_int_equal(done, 17);
    assert_int_equal(p.n, 5); /* 4+4+4+4+1 */
    assert_int_equal(p.calls[4], 17);
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, 25);
    assert_int_equal(st.dead_batches, 10);
    /* Every record in exactly one place: pending holds the 25 bodies. */
    struct collect c = {0};
    assert_int_equal(queue_scan(q, QUEUE_PENDING, NULL, 0, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 25);
    /* Purge all (NULL filter). */
    assert_int_equal(queue_dead_apply(q, QUEUE_PURGE, NULL, 0, NULL, 0, NULL, NULL, &done),
                     QUEUE_OK);
    assert_int_equal(done, 10);
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.dead_batches, 0);
    assert_int_equal(st.dead_events, 0);
    /* Dead ids are never reused either. */
    fill_dead(q, 1, "y");
    c = (struct collect){0};
    assert_int_equal(queue_scan(q, QUEUE_DEAD, NULL, 0, 0, collect_fn, &c), 0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.ids[0], 36);
    queue_close(q);
}

static void test_ids_mode_chunks(void **state)
{
    queue_t *q = th_open(*state, 32 << 20, false);
    fill_dead(q, 10, "z");
    uint64_t ids[10];
    for (int i = 0; i < 10; i++)
        ids[i] = (uint64_t)i + 1;
    struct prog p = {0};
    uint64_t done;
    assert_int_equal(queue_dead_apply(q, QUEUE_PURGE, ids, 10, NULL, 3, prog_fn, &p, &done),
                     QUEUE_OK);
    assert_int_equal(done, 10);
    assert_int_equal(p.n, 4);
    assert_int_equal(p.calls[0], 3);
    assert_int_equal(p.calls[3], 10);
    /* Again: all missing. */
    assert_int_equal(queue_dead_apply(q, QUEUE_PURGE, ids, 10, NULL, 3, NULL, NULL, &done),
                     QUEUE_NOT_FOUND);
    assert_int_equal(done, 0);
    queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scan_order_after_limit_stop, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_get_dead_and_missing, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_replay_keeps_body_bytes, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_purge_by_id_and_missing, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_filter_mode_chunks_progress_stop, th_setup,
                                        th_teardown),
        cmocka_unit_test_setup_teardown(test_ids_mode_chunks, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
