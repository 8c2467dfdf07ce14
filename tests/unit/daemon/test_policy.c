/*
 * test_policy.c - every row of the delivery policy table (DESIGN.md), the
 * full-jitter backoff, Retry-After clamping and the dead-letter rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "../../../daemon/policy.h"

static void test_2xx_acks(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_OK, 200, false), POLICY_ACK);
    assert_int_equal(policy_classify(CURLE_OK, 201, false), POLICY_ACK);
    assert_int_equal(policy_classify(CURLE_OK, 204, false), POLICY_ACK);
    assert_int_equal(policy_classify(CURLE_OK, 299, false), POLICY_ACK);
}

static void test_unusable_body_bisects(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_OK, 400, false), POLICY_BISECT);
    assert_int_equal(policy_classify(CURLE_OK, 415, false), POLICY_BISECT);
    assert_int_equal(policy_classify(CURLE_OK, 422, false), POLICY_BISECT);
}

static void test_too_large_splits(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_OK, 413, false), POLICY_SPLIT);
}

static void test_config_faults_hold(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_OK, 401, false), POLICY_HOLD);
    assert_int_equal(policy_classify(CURLE_OK, 403, false), POLICY_HOLD);
    assert_int_equal(policy_classify(CURLE_OK, 404, false), POLICY_HOLD);
    /* redirects are never followed: a wrong URL */
    assert_int_equal(policy_classify(CURLE_OK, 301, false), POLICY_HOLD);
    assert_int_equal(policy_classify(CURLE_OK, 308, false), POLICY_HOLD);
}

static void test_transient_retries_counted(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_OK, 408, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 429, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 500, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 502, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 503, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 504, false), POLICY_RETRY);
    /* answers the table does not name are retried and counted too */
    assert_int_equal(policy_classify(CURLE_OK, 405, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 409, false), POLICY_RETRY);
    assert_int_equal(policy_classify(CURLE_OK, 100, false), POLICY_RETRY);
}

static void test_network_failures_not_counted(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_COULDNT_CONNECT, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_COULDNT_RESOLVE_HOST, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_OPERATION_TIMEDOUT, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_SSL_CONNECT_ERROR, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_PEER_FAILED_VERIFICATION, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_GOT_NOTHING, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_RECV_ERROR, 0, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_SEND_ERROR, 0, false), POLICY_NETWORK);
    /* a status line then a cut connection: still no complete answer */
    assert_int_equal(policy_classify(CURLE_PARTIAL_FILE, 200, false), POLICY_NETWORK);
    assert_int_equal(policy_classify(CURLE_OPERATION_TIMEDOUT, 500, false), POLICY_NETWORK);
    /* CURLE_OK without a status cannot be trusted either */
    assert_int_equal(policy_classify(CURLE_OK, 0, false), POLICY_NETWORK);
}

static void test_stop_aborts_without_attempt(void **state)
{
    (void)state;
    assert_int_equal(policy_classify(CURLE_ABORTED_BY_CALLBACK, 0, false), POLICY_ABORTED);
    assert_int_equal(policy_classify(CURLE_OK, 200, true), POLICY_ABORTED);
    assert_string_equal(policy_action_name(POLICY_HOLD), "hold");
}

static void test_backoff_full_jitter_bounds(void **state)
{
    (void)state;
    /* n-th failure: uniform in [min, min(max, min * 2^(n-1))] */
    assert_int_equal(policy_backoff_ms(1000, 300000, 1, 0.0), 1000);
    assert_int_equal(policy_backoff_ms(1000, 300000, 1, 0.99), 1000);
    assert_int_equal(policy_backoff_ms(1000, 300000, 2, 0.0), 1000);
    assert_in_range(policy_backoff_ms(1000, 300000, 2, 0.999), 1990, 2000);
    assert_in_range(policy_backoff_ms(1000, 300000, 4, 0.5), 4400, 4600);
    assert_in_range(policy_backoff_ms(1000, 300000, 6, 0.999), 31900, 32000);
    /* capped by max, even for huge n (no overflow) */
    assert_in_range(policy_backoff_ms(1000, 300000, 30, 0.999), 299000, 300000);
    assert_in_range(policy_backoff_ms(1000, 300000, 4000000000u, 0.999), 299000, 300000);
    assert_int_equal(policy_backoff_ms(1000, 300000, 4000000000u, 0.0), 1000);
    /* out-of-range inputs stay inside the bounds */
    assert_int_equal(policy_backoff_ms(1000, 300000, 0, 0.0), 1000);
    assert_in_range(policy_backoff_ms(1000, 300000, 5, 1.5), 1000, 16000);
    assert_int_equal(policy_backoff_ms(1000, 300000, 5, -1), 1000);
    assert_int_equal(policy_backoff_ms(5000, 1000, 5, 0.5), 5000);
}

static void test_backoff_is_spread(void **state)
{
    (void)state;
    /* different u give different waits: jitter, not a fixed schedule */
    uint64_t a = policy_backoff_ms(100, 60000, 8, 0.1);
    uint64_t b = policy_backoff_ms(100, 60000, 8, 0.9);
    assert_true(b > a + 10000);
}

static void test_retry_after_honoured_and_clamped(void **state)
{
    (void)state;
    const uint64_t hour = 3600 * 1000;
    assert_int_equal(policy_retry_delay_ms(50, 10000, hour, 1, 0.5, 3), 3000);
    assert_int_equal(policy_retry_delay_ms(50, 10000, hour, 9, 0.5, 3), 3000);
    /* above retry_after_max: clamped to it */
    assert_int_equal(policy_retry_delay_ms(1000, 300000, hour, 1, 0.5, 86400), hour);
    assert_int_equal(policy_retry_delay_ms(1000, 300000, hour, 1, 0.5, INT64_MAX), hour);
    /* below backoff_min: at least min (also when retry_after_max is lower) */
    assert_int_equal(policy_retry_delay_ms(5000, 300000, hour, 1, 0.5, 1), 5000);
    assert_int_equal(policy_retry_delay_ms(5000, 300000, 1000, 1, 0.5, 3), 5000);
    /* absent (0 or negative): jittered backoff */
    assert_int_equal(policy_retry_delay_ms(1000, 300000, hour, 1, 0.5, 0), 1000);
    assert_in_range(policy_retry_delay_ms(1000, 300000, hour, 3, 0.5, -1), 2400, 2600);
}

static void test_retry_after_beyond_backoff_max(void **state)
{
    (void)state;
    /* issue 10: Retry-After 3 with backoff_max 1 s waits 3 s, not 1 s */
    assert_int_equal(policy_retry_delay_ms(50, 1000, 3600 * 1000, 1, 0.5, 3), 3000);
    /* retry_after_max caps it, whatever backoff_max says */
    assert_int_equal(policy_retry_delay_ms(50, 1000, 2000, 1, 0.5, 3), 2000);
    assert_int_equal(policy_retry_delay_ms(50, 600000, 2000, 1, 0.5, 3), 2000);
}

static void test_attempt_counts_only_at_a_healthy_source(void **state)
{
    (void)state;
    const int64_t t = 1700000000000;
    /* the source accepted another batch since this one last failed: poison */
    assert_true(policy_attempt_counts(POLICY_RETRY, t, t + 1));
    /* nothing accepted since (an outage of the source): not counted */
    assert_false(policy_attempt_counts(POLICY_RETRY, t, t));
    assert_false(policy_attempt_counts(POLICY_RETRY, t, t - 5000));
    assert_false(policy_attempt_counts(POLICY_RETRY, t, 0));
    /* a first attempt has no "since": never counted */
    assert_false(policy_attempt_counts(POLICY_RETRY, 0, t));
    /* network failures and holds never count */
    assert_false(policy_attempt_counts(POLICY_NETWORK, t, t + 1));
    assert_false(policy_attempt_counts(POLICY_HOLD, t, t + 1));
}

static void test_hold_probe_is_slow_but_bounded(void **state)
{
    (void)state;
    assert_int_equal(policy_hold_probe_ms(1000, 300000), 30000);
    assert_int_equal(policy_hold_probe_ms(50, 1000), 1000);
    assert_int_equal(policy_hold_probe_ms(60000, 300000), 60000);
}

static void test_give_up_needs_attempts_and_window(void **state)
{
    (void)state;
    const int64_t h = 3600 * 1000;
    const int64_t now = 1000 * h;
    /* neither */
    assert_false(policy_give_up(3, now - h, now, 10, 72 * h));
    /* attempts reached, window not passed */
    assert_false(policy_give_up(10, now - h, now, 10, 72 * h));
    assert_false(policy_give_up(500, now - 71 * h, now, 10, 72 * h));
    /* window passed, attempts not reached (an outage: network failures never count) */
    assert_false(policy_give_up(9, now - 100 * h, now, 10, 72 * h));
    assert_false(policy_give_up(0, now - 1000 * h, now, 10, 72 * h));
    /* both */
    assert_true(policy_give_up(10, now - 72 * h, now, 10, 72 * h));
    assert_true(policy_give_up(11, now - 100 * h, now, 10, 72 * h));
    /* never failed before: the window starts now */
    assert_false(policy_give_up(10, 0, now, 10, 72 * h));
    assert_true(policy_give_up(1, 0, now, 1, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2xx_acks),
        cmocka_unit_test(test_unusable_body_bisects),
        cmocka_unit_test(test_too_large_splits),
        cmocka_unit_test(test_config_faults_hold),
        cmocka_unit_test(test_transient_retries_counted),
        cmocka_unit_test(test_network_failures_not_counted),
        cmocka_unit_test(test_stop_aborts_without_attempt),
        cmocka_unit_test(test_backoff_full_jitter_bounds),
        cmocka_unit_test(test_backoff_is_spread),
        cmocka_unit_test(test_retry_after_honoured_and_clamped),
        cmocka_unit_test(test_retry_after_beyond_backoff_max),
        cmocka_unit_test(test_attempt_counts_only_at_a_healthy_source),
        cmocka_unit_test(test_hold_probe_is_slow_but_bounded),
        cmocka_unit_test(test_give_up_needs_attempts_and_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
