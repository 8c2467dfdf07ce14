/*
 * test_filter.c - every filter narrows exactly: event type glob (including a
 * cut type list, where the body is scanned, and packed lists of version 3
 * records), since/until on received time
 * (pending) and dead-letter time (dead), last status, reason substring,
 * event id, combinations; corrupt records are never filtered out.
 */
#include "../helpers.h"

struct ids {
    uint64_t v[64];
    size_t n;
};

static int collect(void *ctx, const struct queue_entry *e)
{
    struct ids *c = ctx;
    c->v[c->n++] = e->id;
    return 0;
}

static struct ids scan(queue_t *q, enum queue_db db, const struct queue_filter *f)
{
    struct ids c = {0};
    assert_int_equal(queue_scan(q, db, f, 0, 0, collect, &c), 0);
    return c;
}

static void expect_ids(struct ids got, const uint64_t *want, size_t n)
{
    if (got.n != n)
        fail_msg("got %zu records, want %zu", got.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(got.v[i], want[i]);
}

static uint64_t append_json(queue_t *q, const char *json, int64_t received)
{
    return th_append(q, json, strlen(json), received);
}

/* Pending: 1 email (t=100), 2 push+custom (t=200), 3 custom (t=300),
 * 4 no types (t=400). */
static queue_t *fixture(const char *dir)
{
    queue_t *q = th_open(dir, 8 << 20, false);
    append_json(q, "{\"events\":[{\"id\":\"e-1\",\"event_type\":\"users.messages.email.Send\"}]}",
                100);
    append_json(q,
                "{\"events\":[{\"id\":\"p-1\",\"event_type\":\"users.messages.pushnotification."
                "Open\"},{\"id\":\"c-1\",\"event_type\":\"users.behaviors.CustomEvent\"}]}",
                200);
    append_json(q,
                "{\"events\":[{\"id\":\"c-2\",\"event_type\":\"users.behaviors.CustomEvent\","
                "\"properties\":{\"id\":\"inner-id\"}}]}",
                300);
    append_json(q, "{\"events\":[1,{\"id\":\"x-1\"}]}", 400);
    return q;
}

static void test_no_filter_passes_all(void **state)
{
    queue_t *q = fixture(*state);
    uint64_t all[] = {1, 2, 3, 4};
    expect_ids(scan(q, QUEUE_PENDING, NULL), all, 4);
    struct queue_filter empty = {0};
    expect_ids(scan(q, QUEUE_PENDING, &empty), all, 4);
    queue_close(q);
}

static void test_type_glob(void **state)
{
    queue_t *q = fixture(*state);
    struct queue_filter f = {.type_glob = "users.behaviors.*"};
    uint64_t w1[] = {2, 3};
    expect_ids(scan(q, QUEUE_PENDING, &f), w1, 2);
    f.type_glob = "*email*";
    uint64_t w2[] = {1};
    expect_ids(scan(q, QUEUE_PENDING, &f), w2, 1);
    f.type_glob = "users.messages.pushnotification.Open";
    uint64_t w3[] = {2};
    expect_ids(scan(q, QUEUE_PENDING, &f), w3, 1);
    f.type_glob = "users.behaviors"; /* a glob matches whole names */
    expect_ids(scan(q, QUEUE_PENDING, &f), NULL, 0);
    queue_close(q);
}

/* Version 3 records (as eddyd stores them by default: gzip bodies, packed
 * types lists): the lists are unpacked for views (the filter) and for
 * copies alike. */
static uint64_t append_gzip(queue_t *q, const char *type1, const char *type2)
{
    char b[4096];
    size_t k = (size_t)sprintf(b, "{\"events\":[");
    for (int i = 0; i < 20; i++)
        k += (size_t)sprintf(b + k, "%s{\"id\":\"g-%d\",\"event_type\":\"%s\",\"p\":\"padding\"}",
                             i ? "," : "", i, i % 2 && type2 ? type2 : type1);
    k += (size_t)sprintf(b + k, "]}");
    return th_append_z(q, b, k, 1, true);
}

static void test_type_glob_packed(void **state)
{
    queue_t *q = th_open(*state, 8 << 20, false);
    append_gzip(q, "users.messages.email.Send", NULL);
    append_gzip(q, "users.messages.pushnotification.Open", "users.behaviors.CustomEvent");
    append_gzip(q, "users.behaviors.CustomEvent", "not.a.known.Type");
    struct queue_filter f = {.type_glob = "users.behaviors.*"};
    uint64_t w1[] = {2, 3};
    expect_ids(scan(q, QUEUE_PENDING, &f), w1, 2);
    f.type_glob = "*email*";
    uint64_t w2[] = {1};
    expect_ids(scan(q, QUEUE_PENDING, &f), w2, 1);
    f.type_glob = "not.a.known.Type";
    uint64_t w3[] = {3};
    expect_ids(scan(q, QUEUE_PENDING, &f), w3, 1);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, 2, &e), QUEUE_OK);
    assert_int_equal(e.rec.version, 3);
    assert_true(e.rec.flags & RECORD_F_TYPES_Z);
    assert_string_equal(e.rec.types, "users.messages.pushnotification.Open\n"
                                     "users.behaviors.CustomEvent");
    queue_entry_free(&e);
    queue_close(q);
}

static void test_type_glob_on_cut_list(void **state)
{
    queue_t *q = th_open(*state, 8 << 20, false);
    /* 400 distinct types overflow RECORD_TYPES_MAX; the last one is only
     * found by scanning the body. */
    size_t cap = 400 * 80 + 64, k = 0;
    char *b = malloc(cap);
    k += (size_t)sprintf(b, "{\"events\":[");
    for (int i = 0; i < 400; i++)
        k += (size_t)sprintf(b + k, "%s{\"id\":\"i%d\",\"event_type\":\"type.number.%05d\"}",
                             i ? "," : "", i, i);
    k += (size_t)sprintf(b + k, "]}");
    uint64_t s = th_append(q, b, k, 1);
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, s, &e), QUEUE_OK);
    assert_true(e.rec.flags & RECORD_F_TYPES_CUT);
    assert_null(memmem(e.rec.types, e.rec.types_len, "type.number.00399", 17));
    struct queue_filter f = {.type_glob = "type.number.00399"};
    assert_true(queue_filter_match(&f, &e));
    f.type_glob = "type.number.00400";
    assert_false(queue_filter_match(&f, &e));
    queue_entry_free(&e);
    queue_close(q);
    free(b);
}

static void test_time_range(void **state)
{
    queue_t *q = fixture(*state);
    struct queue_filter f = {.since_ms = 200};
    uint64_t w1[] = {2, 3, 4};
    expect_ids(scan(q, QUEUE_PENDING, &f), w1, 3);
    f = (struct queue_filter){.until_ms = 300};
    uint64_t w2[] = {1, 2}; /* until is exclusive */
    expect_ids(scan(q, QUEUE_PENDING, &f), w2, 2);
    f = (struct queue_filter){.since_ms = 150, .until_ms = 301};
    uint64_t w3[] = {2, 3};
    expect_ids(scan(q, QUEUE_PENDING, &f), w3, 2);
    /* Dead letters filter on when they died, not when they arrived. */
    struct queue_entry e;
    assert_int_equal(queue_get(q, QUEUE_PENDING, 1, &e), QUEUE_OK);
    e.dead_ms = 5000;
    f = (struct queue_filter){.since_ms = 5000};
    assert_true(queue_filter_match(&f, &e));
    f = (struct queue_filter){.since_ms = 5001};
    assert_false(queue_filter_match(&f, &e));
    f = (struct queue_filter){.until_ms = 5000};
    assert_false(queue_filter_match(&f, &e));
    f = (struct queue_filter){.until_ms = 5001};
    assert_true(queue_filter_match(&f, &e));
    queue_entry_free(&e);
    queue_close(q);
}

static void test_status_and_reason(void **state)
{
    queue_t *q = fixture(*state);
    struct queue_attempt a400 = {.at_ms = 1, .status = 400};
    struct queue_attempt a503 = {.at_ms = 1, .status = 503};
    assert_int_equal(queue_fail(q, 1, &a400, 0), QUEUE_OK);
    assert_int_equal(queue_fail(q, 2, &a400, 0), QUEUE_OK);
    assert_int_equal(queue_fail(q, 2, &a503, 0), QUEUE_OK); /* last status counts */
    assert_int_equal(queue_fail(q, 3, &a503, 0), QUEUE_OK);
    struct queue_filter f = {.status = 503};
    uint64_t w1[] = {2, 3};
    expect_ids(scan(q, QUEUE_PENDING, &f), w1, 2);
    f.status = 400;
    uint64_t w2[] = {1};
    expect_ids(scan(q, QUEUE_PENDING, &f), w2, 1);
    assert_int_equal(queue_bury(q, 1, "HTTP 400: invalid event", NULL), QUEUE_OK);
    assert_int_equal(queue_bury(q, 2, "max attempts reached: HTTP 503", NULL), QUEUE_OK);
    assert_int_equal(queue_bury(q, 3, "HTTP 503 for 72h", NULL), QUEUE_OK);
    f = (struct queue_filter){.reason = "HTTP 503"};
    uint64_t w3[] = {2, 3};
    expect_ids(scan(q, QUEUE_DEAD, &f), w3, 2);
    f.reason = "invalid";
    uint64_t w4[] = {1};
    expect_ids(scan(q, QUEUE_DEAD, &f), w4, 1);
    f.reason = "http"; /* case-sensitive substring */
    expect_ids(scan(q, QUEUE_DEAD, &f), NULL, 0);
    f = (struct queue_filter){.status = 503, .reason = "max"};
    uint64_t w5[] = {2};
    expect_ids(scan(q, QUEUE_DEAD, &f), w5, 1);
    /* A reason filter on pending matches nothing: pending has no reason. */
    f = (struct queue_filter){.reason = "x"};
    expect_ids(scan(q, QUEUE_PENDING, &f), NULL, 0);
    queue_close(q);
}

static void test_event_id(void **state)
{
    queue_t *q = fixture(*state);
    struct queue_filter f = {.event_id = "c-1"};
    uint64_t w1[] = {2};
    expect_ids(scan(q, QUEUE_PENDING, &f), w1, 1);
    f.event_id = "x-1";
    uint64_t w2[] = {4};
    expect_ids(scan(q, QUEUE_PENDING, &f), w2, 1);
    f.event_id = "inner-id"; /* only an event's own top-level "id" counts */
    expect_ids(scan(q, QUEUE_PENDING, &f), NULL, 0);
    f.event_id = "c-"; /* exact, not a prefix */
    expect_ids(scan(q, QUEUE_PENDING, &f), NULL, 0);
    /* An escaped id is matched on its decoded value. */
    uint64_t s5 = append_json(q, "{\"events\":[{\"id\":\"slash\\/id\\u0041\"}]}", 500);
    f.event_id = "slash/idA";
    uint64_t w4[] = {s5};
    expect_ids(scan(q, QUEUE_PENDING, &f), w4, 1);
    f = (struct queue_filter){.event_id = "c-2", .type_glob = "*Custom*", .since_ms = 250};
    uint64_t w3[] = {3};
    expect_ids(scan(q, QUEUE_PENDING, &f), w3, 1);
    f.since_ms = 301;
    expect_ids(scan(q, QUEUE_PENDING, &f), NULL, 0);
    queue_close(q);
}

static void test_corrupt_never_filtered(void **state)
{
    (void)state;
    struct queue_entry e;
    memset(&e, 0, sizeof(e));
    e.status = RECORD_BAD_CRC;
    struct queue_filter f = {.type_glob = "nothing",
                             .since_ms = 1,
                             .status = 418,
                             .reason = "never",
                             .event_id = "none"};
    assert_true(queue_filter_match(&f, &e));
    e.status = RECORD_OK;
    assert_false(queue_filter_match(&f, &e));
    assert_true(queue_filter_match(NULL, &e));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_filter_passes_all, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_type_glob, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_type_glob_packed, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_type_glob_on_cut_list, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_time_range, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_status_and_reason, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_event_id, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_never_filtered, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
