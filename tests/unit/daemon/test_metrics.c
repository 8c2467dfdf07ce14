/*
 * test_metrics.c - daemon/metrics.c: histogram bucketing and the Prometheus
 * text exposition (HELP/TYPE lines, cumulative buckets, _sum/_count, code
 * labels, storage gauges from queue_stats).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../../daemon/delivery.h"
#include "../../../daemon/metrics.h"
#include "../../../storage/queue.h"

/* The value of the sample line starting with "name " (or "name{...} "). */
static double sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    fail_msg("series %s not found", series);
    return -1;
}

static void test_histogram_buckets(void **state)
{
    (void)state;
    static struct metrics m;
    memset(&m, 0, sizeof(m));
    metrics_init(&m);
    metrics_observe(&m.commit_batches, 1);   /* le=1 */
    metrics_observe(&m.commit_batches, 3);   /* le=4 */
    metrics_observe(&m.commit_batches, 4);   /* le=4 (bounds are inclusive) */
    metrics_observe(&m.commit_batches, 1e6); /* +Inf only */
    char *t = metrics_render(&m, NULL, NULL, 0, 0);
    assert_non_null(t);
    assert_true(sample(t, "eddy_commit_batches_bucket{le=\"1\"}") == 1);
    assert_true(sample(t, "eddy_commit_batches_bucket{le=\"2\"}") == 1);
    assert_true(sample(t, "eddy_commit_batches_bucket{le=\"4\"}") == 3);
    assert_true(sample(t, "eddy_commit_batches_bucket{le=\"512\"}") == 3);
    assert_true(sample(t, "eddy_commit_batches_bucket{le=\"+Inf\"}") == 4);
    assert_true(sample(t, "eddy_commit_batches_count") == 4);
    assert_true(sample(t, "eddy_commit_batches_sum") == 1000008);
    assert_non_null(strstr(t, "# TYPE eddy_commit_batches histogram\n"));
    free(t);
}

static void test_codes_and_counters(void **state)
{
    (void)state;
    static struct metrics m;
    memset(&m, 0, sizeof(m));
    metrics_init(&m);
    metrics_count_code(m.ingest_requests, 200);
    metrics_count_code(m.ingest_requests, 200);
    metrics_count_code(m.ingest_requests, 503);
    metrics_count_code(m.delivery_requests, 0);
    metrics_count_code(m.delivery_requests, 9999); /* out of range counts as 0 */
    metrics_inc(&m.ingest_events, 100);
    metrics_observe(&m.commit_seconds, 0.003);
    atomic_store(&m.delivery_state, DELIVERY_HELD);
    char *t = metrics_render(&m, NULL, NULL, 0, 0);
    assert_non_null(t);
    assert_true(sample(t, "eddy_ingest_requests_total{code=\"200\"}") == 2);
    assert_true(sample(t, "eddy_ingest_requests_total{code=\"503\"}") == 1);
    assert_null(strstr(t, "eddy_ingest_requests_total{code=\"400\"}"));
    assert_true(sample(t, "eddy_delivery_requests_total{code=\"0\"}") == 2);
    assert_true(sample(t, "eddy_ingest_events_total") == 100);
    assert_true(sample(t, "eddy_commit_seconds_bucket{le=\"0.002\"}") == 0);
    assert_true(sample(t, "eddy_commit_seconds_bucket{le=\"0.005\"}") == 1);
    assert_true(sample(t, "eddy_commit_seconds_sum") > 0.0029);
    assert_true(sample(t, "eddy_delivery_state") == 2);
    free(t);
}

static void test_every_design_name(void **state)
{
    (void)state;
    static struct metrics m;
    memset(&m, 0, sizeof(m));
    metrics_init(&m);
    struct queue_stats st = {.pending_batches = 7,
                             .pending_events = 700,
                             .pending_bytes = 7000,
                             .pending_oldest_ms = 1000000,
                             .dead_batches = 2,
                             .dead_events = 3,
                             .used_bytes = 4096,
                             .max_bytes = 1 << 20};
    char *t = metrics_render(&m, &st, NULL, 0, 1010500);
    assert_non_null(t);
    const char *names[][2] = {
        {"eddy_ingest_requests_total", "counter"},
        {"eddy_ingest_events_total", "counter"},
        {"eddy_ingest_bytes_total", "counter"},
        {"eddy_commit_seconds", "histogram"},
        {"eddy_commit_batches", "histogram"},
        {"eddy_pending_batches", "gauge"},
        {"eddy_pending_events", "gauge"},
        {"eddy_pending_oldest_age_seconds", "gauge"},
        {"eddy_dead_batches", "gauge"},
        {"eddy_delivery_requests_total", "counter"},
        {"eddy_delivered_events_total", "counter"},
        {"eddy_delivery_seconds", "histogram"},
        {"eddy_delivery_state", "gauge"},
        {"eddy_storage_used_bytes", "gauge"},
        {"eddy_storage_max_bytes", "gauge"},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char line[160];
        snprintf(line, sizeof(line), "# TYPE %s %s\n", names[i][0], names[i][1]);
        assert_non_null(strstr(t, line));
        snprintf(line, sizeof(line), "# HELP %s ", names[i][0]);
        assert_non_null(strstr(t, line));
    }
    assert_true(sample(t, "eddy_pending_batches") == 7);
    assert_true(sample(t, "eddy_pending_events") == 700);
    assert_true(sample(t, "eddy_pending_oldest_age_seconds") == 10.5);
    assert_true(sample(t, "eddy_dead_batches") == 2);
    assert_true(sample(t, "eddy_storage_used_bytes") == 4096);
    assert_true(sample(t, "eddy_storage_max_bytes") == 1048576);
    free(t);

    /* Nothing pending: age 0, not "now minus zero". */
    st.pending_oldest_ms = 0;
    t = metrics_render(&m, &st, NULL, 0, 1010500);
    assert_true(sample(t, "eddy_pending_oldest_age_seconds") == 0);
    free(t);

    /* A fraction is printed as written, not as 2.1059999999999999. */
    st.pending_oldest_ms = 1000000;
    t = metrics_render(&m, &st, NULL, 0, 1002106);
    assert_non_null(strstr(t, "\neddy_pending_oldest_age_seconds 2.106\n"));
    free(t);
}

static void test_source_series(void **state)
{
    (void)state;
    static struct metrics m;
    memset(&m, 0, sizeof(m));
    metrics_init(&m);
    struct metrics_source *a = metrics_source(&m, "0123abcd");
    assert_ptr_equal(metrics_source(&m, "0123abcd"), a);
    metrics_count_code(a->requests, 401);
    atomic_store(&a->state, 2);
    struct queue_source src[] = {{.fp = "0123abcd", .batches = 3, .events = 9, .oldest_ms = 1000}};
    char *t = metrics_render(&m, NULL, src, 1, 3500);
    assert_non_null(t);
    assert_non_null(strstr(t, "\neddy_source_state{source=\"0123abcd\"} 2\n"));
    assert_non_null(
        strstr(t, "\neddy_source_delivery_requests_total{source=\"0123abcd\",code=\"401\"} 1\n"));
    assert_non_null(strstr(t, "\neddy_source_pending_batches{source=\"0123abcd\"} 3\n"));
    assert_non_null(strstr(t, "\neddy_source_oldest_age_seconds{source=\"0123abcd\"} 2.5\n"));
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_source_series),
        cmocka_unit_test(test_codes_and_counters),
        cmocka_unit_test(test_every_design_name),
    };
    return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
