/*
 * test_source.c - storage/source.c: key fingerprints, the per-source
 * counters kept in the same transactions as the records (append, ack,
 * bury, split, replay), their one-time build on an older store, the
 * default source of keyless records, pause flags and the ready scan that
 * delivery chooses batches with.
 */
#include "../helpers.h"

static uint64_t append_key(queue_t *q, const char *key, size_t events)
{
    size_t len;
    char *body = th_body(key ? key : "none", events, 8, &len);
    uint64_t seq = th_append_as(q, key, body, len, 1000, false);
    free(body);
    return seq;
}

/* The counters of source fp (zero when not listed). */
static struct queue_source find(queue_t *q, const char *fp)
{
    struct queue_source *list, none = {.fp = ""};
    size_t n;
    assert_int_equal(queue_sources(q, &list, &n), QUEUE_OK);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(list[i].fp, fp))
            none = list[i];
    free(list);
    return none;
}

static void test_fingerprint(void **state)
{
    (void)state;
    char fp[QUEUE_FP_SIZE];
    /* SHA-256("test-key") = 62af8704... (sha256sum agrees) */
    queue_fingerprint("test-key", 8, fp);
    assert_string_equal(fp, "62af8704");
    queue_fingerprint("", 0, fp);
    assert_string_equal(fp, "e3b0c442");
    queue_source_of(NULL, 0, "62af8704", fp);
    assert_string_equal(fp, "62af8704");
    queue_source_of(NULL, 0, "", fp);
    assert_string_equal(fp, "-");
}

static void test_counters_follow_every_move(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, false);
    assert_int_equal(queue_sources_prepare(q, "dflt", 4), QUEUE_OK);
    char a[QUEUE_FP_SIZE], dflt[QUEUE_FP_SIZE];
    queue_fingerprint("key-a", 5, a);
    queue_fingerprint("dflt", 4, dflt);
    uint64_t s1 = append_key(q, "key-a", 4), s2 = append_key(q, "key-a", 2);
    uint64_t s3 = append_key(q, NULL, 3);
    struct queue_source x = find(q, a);
    assert_int_equal(x.batches, 2);
    assert_int_equal(x.events, 6);
    assert_int_equal(x.oldest_ms, 1000);
    /* keyless records count for the default source */
    x = find(q, dflt);
    assert_int_equal(x.batches, 1);
    assert_int_equal(x.events, 3);
    char got[QUEUE_FP_SIZE];
    assert_int_equal(queue_default_source(q, got), QUEUE_OK);
    assert_string_equal(got, dflt);

    uint64_t h1, h2, dead;
    assert_int_equal(queue_split(q, s1, 0, &h1, &h2), QUEUE_OK);
    x = find(q, a);
    assert_int_equal(x.batches, 3);
    assert_int_equal(x.events, 6);
    assert_int_equal(queue_bury(q, h1, "test", &dead), QUEUE_OK);
    assert_int_equal(queue_ack(q, &s2, 1), QUEUE_OK);
    x = find(q, a);
    assert_int_equal(x.batches, 1);
    assert_int_equal(x.events, 2);
    assert_int_equal(queue_dead_apply(q, QUEUE_REPLAY, &dead, 1, NULL, 0, NULL, NULL, NULL),
                     QUEUE_OK);
    x = find(q, a);
    assert_int_equal(x.batches, 2);
    assert_int_equal(x.events, 4);
    uint64_t rest[] = {h2, s3};
    assert_int_equal(queue_ack(q, rest, 2), QUEUE_OK);
    x = find(q, dflt);
    assert_int_equal(x.batches, 0);
    /* the totals and the per-source counts agree */
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    x = find(q, a);
    assert_int_equal(st.pending_batches, x.batches);
    assert_int_equal(st.pending_events, x.events);
    queue_close(q);
}

static void test_older_store_is_counted_once(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, false);
    /* written before the counters are kept (as by an older eddy) */
    append_key(q, "key-a", 4);
    append_key(q, "key-b", 1);
    append_key(q, "key-a", 1);
    char a[QUEUE_FP_SIZE], b[QUEUE_FP_SIZE];
    queue_fingerprint("key-a", 5, a);
    queue_fingerprint("key-b", 5, b);
    assert_int_equal(find(q, a).batches, 0);
    assert_int_equal(queue_sources_prepare(q, "", 0), QUEUE_OK);
    assert_int_equal(find(q, a).batches, 2);
    assert_int_equal(find(q, a).events, 5);
    assert_int_equal(find(q, b).batches, 1);
    /* a second prepare does not count twice */
    assert_int_equal(queue_sources_prepare(q, "", 0), QUEUE_OK);
    assert_int_equal(find(q, a).batches, 2);
    queue_close(q);
}

static void test_pause_flags(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, false);
    bool changed;
    char fps[QUEUE_PAUSED_MAX][QUEUE_FP_SIZE];
    size_t n;
    assert_int_equal(queue_paused(q, fps, QUEUE_PAUSED_MAX, &n), QUEUE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(queue_set_paused(q, "0123abcd", true, &changed), QUEUE_OK);
    assert_true(changed);
    assert_int_equal(queue_set_paused(q, "0123abcd", true, &changed), QUEUE_OK);
    assert_false(changed);
    assert_int_equal(queue_set_paused(q, "ffffffff", true, &changed), QUEUE_OK);
    assert_int_equal(queue_paused(q, fps, QUEUE_PAUSED_MAX, &n), QUEUE_OK);
    assert_int_equal(n, 2);
    assert_string_equal(fps[0], "0123abcd");
    assert_true(find(q, "ffffffff").paused);
    assert_int_equal(queue_set_paused(q, "0123abcd", false, &changed), QUEUE_OK);
    assert_true(changed);
    assert_int_equal(queue_paused(q, fps, QUEUE_PAUSED_MAX, &n), QUEUE_OK);
    assert_int_equal(n, 1);
    assert_string_equal(fps[0], "ffffffff");
    assert_int_equal(queue_set_paused(q, "KEY", true, NULL), QUEUE_ERROR);
    assert_int_equal(queue_set_paused(q, "0123ABCD", true, NULL), QUEUE_ERROR);
    queue_close(q);
}

/* queue_ready_scan chooser: only the batches of key "key-b". */
static enum queue_ready_choice only_b(void *ctx, uint64_t seq, const char *key, size_t keylen,
                                      int64_t next_try)
{
    (void)seq, (void)next_try;
    (*(int *)ctx)++;
    return keylen == 5 && !memcmp(key, "key-b", 5) ? QUEUE_READY_TAKE : QUEUE_READY_SKIP;
}

/* ...up to sequence *ctx, then stop. */
static enum queue_ready_choice up_to(void *ctx, uint64_t seq, const char *key, size_t keylen,
                                     int64_t next_try)
{
    (void)key, (void)keylen, (void)next_try;
    return seq > *(uint64_t *)ctx ? QUEUE_READY_STOP : QUEUE_READY_TAKE;
}

static void test_ready_scan_chooses_by_key(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, false);
    uint64_t s[6];
    for (int i = 0; i < 6; i++)
        s[i] = append_key(q, i % 3 == 2 ? "key-b" : "key-a", 1);
    uint64_t got[4], last;
    size_t n;
    bool end;
    int looked = 0;
    assert_int_equal(queue_ready_scan(q, 0, 0, only_b, &looked, got, 4, &n, &last, &end), QUEUE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(got[0], s[2]);
    assert_int_equal(got[1], s[5]);
    assert_int_equal(last, s[5]);
    assert_true(end);
    assert_int_equal(looked, 6);
    /* a bound on the records looked at */
    looked = 0;
    assert_int_equal(queue_ready_scan(q, 0, 4, only_b, &looked, got, 4, &n, &last, &end), QUEUE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(last, s[3]);
    assert_false(end);
    /* stops when max were taken */
    looked = 0;
    assert_int_equal(queue_ready_scan(q, 0, 0, only_b, &looked, got, 1, &n, &last, &end), QUEUE_OK);
    assert_int_equal(n, 1);
    assert_int_equal(last, s[2]);
    assert_false(end);
    /* the chooser ends the scan */
    uint64_t bound = s[1];
    assert_int_equal(queue_ready_scan(q, 0, 0, up_to, &bound, got, 4, &n, &last, &end), QUEUE_OK);
    assert_int_equal(n, 2);
    assert_int_equal(last, s[1]);
    assert_false(end);
    queue_close(q);
}

static void test_uncounted_attempts(void **state)
{
    queue_t *q = th_open(*state, 16 << 20, false);
    uint64_t s = append_key(q, "key-a", 1);
    struct queue_attempt a = {.at_ms = 5, .status = 500, .uncounted = true};
    assert_int_equal(queue_fail(q, s, &a, 0), QUEUE_OK);
    a.uncounted = false;
    assert_int_equal(queue_fail(q, s, &a, 0), QUEUE_OK);
    a.status = 0;
    assert_int_equal(queue_fail(q, s, &a, 0), QUEUE_OK);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, s, &e), QUEUE_OK);
    assert_int_equal(e.attempts.counted, 1);
    assert_int_equal(e.attempts.uncounted, 1);
    assert_int_equal(e.attempts.network, 1);
    assert_int_equal(e.attempts.nhistory, 3);
    queue_entry_free(&e);
    queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test_setup_teardown(test_counters_follow_every_move, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_older_store_is_counted_once, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_pause_flags, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_ready_scan_chooses_by_key, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_uncounted_attempts, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
