/*
 * test_status.c - daemon/status.c: the status object of `eddy status
 * --json` and GET /status built from storage's counts and the two meta
 * blobs eddyd records (delivery's, admin's), which storage keeps opaque.
 */
#include "../helpers.h"

#include <jansson.h>

#include "../../../daemon/status.h"

/* The status object of q at now_ms, parsed. */
static json_t *status_of(queue_t *q, int64_t now_ms)
{
    char *js = NULL, err[256] = "";
    assert_int_equal(status_json(q, now_ms, &js, err, sizeof(err)), 0);
    json_error_t e;
    json_t *o = json_loads(js, 0, &e);
    assert_non_null(o);
    free(js);
    return o;
}

static json_int_t int_at(json_t *o, const char *a, const char *b)
{
    return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(o, a), b));
}

static uint64_t append_key(queue_t *q, const char *key, size_t events, int64_t received_ms)
{
    size_t len;
    char *body = th_body(key, events, 8, &len);
    uint64_t seq = th_append_as(q, key, body, len, received_ms, false);
    free(body);
    return seq;
}

static void test_counts_and_delivery_blob(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, false);
    size_t len;
    char *body = th_body("j", 3, 5, &len);
    th_append(q, body, len, 1000000);
    th_append(q, body, len, 2000000);
    json_t *o = status_of(q, 61000000);
    const char *keys[] = {"pending", "dead", "delivery", "storage", "eddyd", "sources"};
    assert_int_equal(json_object_size(o), 6);
    for (size_t i = 0; i < 6; i++)
        assert_non_null(json_object_get(o, keys[i]));
    assert_int_equal(int_at(o, "pending", "batches"), 2);
    assert_int_equal(int_at(o, "pending", "events"), 6);
    assert_int_equal(int_at(o, "pending", "bytes"), 2 * len);
    assert_int_equal(int_at(o, "pending", "oldest_age_s"), 60000);
    assert_int_equal(int_at(o, "dead", "batches"), 0);
    /* never recorded: ok, no answer yet */
    assert_string_equal(str_at(o, "delivery", "state"), "ok");
    assert_int_equal(int_at(o, "delivery", "last_status"), 0);
    assert_string_equal(str_at(o, "delivery", "last_error"), "");
    assert_int_equal(int_at(o, "storage", "max_bytes"), 4 << 20);
    assert_true(int_at(o, "storage", "used_bytes") > 0);
    json_decref(o);

    /* A recorded state is shown as recorded. */
    const char *blob = "{\"state\":\"backoff\",\"last_status\":503,\"last_error\":\"x\"}";
    assert_int_equal(queue_meta_put(q, "delivery", blob, strlen(blob)), QUEUE_OK);
    o = status_of(q, 61000000);
    assert_string_equal(str_at(o, "delivery", "state"), "backoff");
    assert_int_equal(int_at(o, "delivery", "last_status"), 503);
    json_decref(o);

    /* A large blob is read whole; one that is not a JSON object counts as
     * never written. */
    char big[9000];
    int k = snprintf(big, sizeof(big), "{\"state\":\"held\",\"last_error\":\"");
    memset(big + k, 'e', 8000);
    k += 8000;
    k += snprintf(big + k, sizeof(big) - (size_t)k, "\"}");
    assert_int_equal(queue_meta_put(q, "delivery", big, (size_t)k), QUEUE_OK);
    o = status_of(q, 61000000);
    assert_string_equal(str_at(o, "delivery", "state"), "held");
    assert_int_equal(strlen(str_at(o, "delivery", "last_error")), 8000);
    json_decref(o);
    const char *bad[] = {"{broken", "[1,2]", "\"held\""};
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(queue_meta_put(q, "delivery", bad[i], strlen(bad[i])), QUEUE_OK);
        o = status_of(q, 61000000);
        assert_string_equal(str_at(o, "delivery", "state"), "ok");
        json_decref(o);
    }
    queue_close(q);
    free(body);
}

/* What the delivery worker records comes back joined with storage's
 * per-source counts, once per source. */
static void test_sources_joined(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, false);
    char a[QUEUE_FP_SIZE], b[QUEUE_FP_SIZE], c[QUEUE_FP_SIZE];
    queue_fingerprint("key-a", 5, a);
    queue_fingerprint("key-b", 5, b);
    queue_fingerprint("key-c", 5, c);
    assert_int_equal(queue_sources_prepare(q, "", 0), QUEUE_OK); /* as eddyd does at start */
    append_key(q, "key-a", 2, 1000);
    uint64_t probe = append_key(q, "key-b", 3, 5000);
    append_key(q, "key-b", 1, 6000);
    bool changed;
    assert_int_equal(queue_set_paused(q, c, true, &changed), QUEUE_OK);

    /* b is held and probing; d is known to delivery only (nothing pending) */
    struct status_source src[] = {
        {.fp = a, .state = "ok", .since_ms = 0, .last_status = 200, .last_error = ""},
        {.fp = b,
         .state = "held",
         .since_ms = 86400000 + 61000,
         .last_status = 401,
         .last_error = "bad key",
         .probing = probe},
        {.fp = "0000000d", .state = "backoff", .last_status = 503, .last_error = "down"},
    };
    struct status_delivery d = {.state = "held",
                                .last_status = 401,
                                .last_error = "bad key",
                                .updated_ms = 12345,
                                .sources = src,
                                .nsources = 3};
    assert_null(status_put_delivery(q, &d));

    json_t *o = status_of(q, 11000);
    assert_string_equal(str_at(o, "delivery", "state"), "held");
    assert_int_equal(int_at(o, "delivery", "updated_ms"), 12345);
    /* the per-source list is given once, under "sources" */
    assert_null(json_object_get(json_object_get(o, "delivery"), "sources"));
    json_t *list = json_object_get(o, "sources");
    assert_int_equal(json_array_size(list), 4);
    bool seen[4] = {false};
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *fp = json_string_value(json_object_get(s, "source"));
        const char *st = json_string_value(json_object_get(s, "state"));
        json_int_t batches = int_at(s, "pending", "batches");
        if (!strcmp(fp, a)) {
            seen[0] = true;
            assert_string_equal(st, "ok");
            assert_int_equal(batches, 1);
            assert_int_equal(int_at(s, "pending", "events"), 2);
            assert_int_equal(int_at(s, "pending", "oldest_age_s"), 10);
            assert_int_equal(json_integer_value(json_object_get(s, "last_status")), 200);
        } else if (!strcmp(fp, b)) {
            seen[1] = true;
            assert_string_equal(st, "held");
            assert_string_equal(json_string_value(json_object_get(s, "since")),
                                "1970-01-02T00:01:01Z");
            assert_int_equal(batches, 2);
            assert_int_equal(int_at(s, "pending", "events"), 4);
            assert_int_equal(int_at(s, "pending", "oldest_age_s"), 6);
            assert_string_equal(json_string_value(json_object_get(s, "last_error")), "bad key");
            assert_int_equal(json_integer_value(json_object_get(s, "probing")), (json_int_t)probe);
        } else if (!strcmp(fp, c)) {
            seen[2] = true; /* paused in the store, unknown to delivery */
            assert_string_equal(st, "paused");
            assert_int_equal(batches, 0);
            assert_string_equal(json_string_value(json_object_get(s, "since")), "");
        } else {
            seen[3] = true;
            assert_string_equal(fp, "0000000d");
            assert_string_equal(st, "backoff");
            assert_int_equal(batches, 0);
            assert_int_equal(json_integer_value(json_object_get(s, "last_status")), 503);
        }
    }
    for (size_t k = 0; k < 4; k++)
        assert_true(seen[k]);
    json_decref(o);

    uint64_t seqs[4];
    size_t n = 9;
    status_probing(q, seqs, 4, &n);
    assert_int_equal(n, 1);
    assert_int_equal(seqs[0], probe);
    queue_close(q);
}

static void test_eddyd_record(void **state)
{
    queue_t *q = th_open(*state, 4 << 20, false);
    uint64_t seqs[4];
    size_t n = 9;
    status_probing(q, seqs, 4, &n);
    assert_int_equal(n, 0); /* nothing recorded */
    /* no eddyd holds the lock and none ever recorded itself */
    char *js = NULL, err[256];
    assert_int_equal(status_json(q, 0, &js, err, sizeof(err)), 0);
    assert_non_null(strstr(js, "\"eddyd\":{\"running\":false,\"pid\":0,\"updated_ms\":0}"));
    free(js);

    assert_null(status_put_eddyd(q, 777, "storage_full", "above high water"));
    json_t *o = status_of(q, 0);
    json_t *e = json_object_get(o, "eddyd");
    assert_true(json_is_false(json_object_get(e, "running")));
    assert_int_equal(int_at(o, "eddyd", "updated_ms"), 777);
    json_t *in = json_object_get(e, "ingest");
    assert_true(json_is_false(json_object_get(in, "accepting")));
    assert_string_equal(json_string_value(json_object_get(in, "error")), "storage_full");
    assert_string_equal(json_string_value(json_object_get(in, "reason")), "above high water");
    json_decref(o);
    queue_close(q);

    /* eddyd itself (it holds the lock): running, its own pid */
    struct queue_options opt = {.dir = *state, .create = true, .lock = true};
    assert_int_equal(queue_open(&q, &opt, err, sizeof(err)), QUEUE_OK);
    assert_null(status_put_eddyd(q, 888, NULL, NULL));
    o = status_of(q, 0);
    e = json_object_get(o, "eddyd");
    assert_true(json_is_true(json_object_get(e, "running")));
    assert_int_equal(int_at(o, "eddyd", "pid"), (json_int_t)getpid());
    assert_int_equal(int_at(o, "eddyd", "updated_ms"), 888);
    in = json_object_get(e, "ingest");
    assert_true(json_is_true(json_object_get(in, "accepting")));
    assert_null(json_object_get(in, "error"));
    json_decref(o);
    queue_close(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_counts_and_delivery_blob, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_sources_joined, th_setup, th_teardown),
        cmocka_unit_test_setup_teardown(test_eddyd_record, th_setup, th_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
