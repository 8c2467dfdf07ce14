/*
 * test_cli_filter.c - FILTERS argument parsing (tools/filter.c): each
 * option lands in the right queue_filter field, bad values are refused with
 * a message, --older-than folds into the until bound, empty ranges refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../../tools/filter.h"

#define NOW 1800000000000LL

static int opt(struct cli_filter *cf, int o, const char *arg)
{
    char err[256] = "";
    int rc = cli_filter_option(cf, o, arg, NOW, err, sizeof err);
    if (rc < 0)
        assert_true(strlen(err) > 0); /* a refusal always says why */
    return rc;
}

static void each_option(void **state)
{
    (void)state;
    struct cli_filter cf;
    cli_filter_init(&cf);
    assert_false(cf.any);
    assert_int_equal(opt(&cf, CLI_OPT_TYPE, "users.*"), 1);
    assert_string_equal(cf.f.type_glob, "users.*");
    assert_int_equal(opt(&cf, CLI_OPT_SINCE, "2h"), 1);
    assert_int_equal(cf.f.since_ms, NOW - 7200000);
    assert_int_equal(opt(&cf, CLI_OPT_UNTIL, "2027-01-15T08:00:00Z"), 1);
    assert_int_equal(cf.f.until_ms, 1800000000000LL);
    assert_int_equal(opt(&cf, CLI_OPT_STATUS, "400"), 1);
    assert_int_equal(cf.f.status, 400);
    assert_int_equal(opt(&cf, CLI_OPT_REASON, "rejected"), 1);
    assert_string_equal(cf.f.reason, "rejected");
    assert_int_equal(opt(&cf, CLI_OPT_EVENT_ID, "ev-1"), 1);
    assert_string_equal(cf.f.event_id, "ev-1");
    assert_true(cf.any);
    char err[128];
    assert_int_equal(cli_filter_finish(&cf, err, sizeof err), 0);
}

static void not_a_filter(void **state)
{
    (void)state;
    struct cli_filter cf;
    cli_filter_init(&cf);
    assert_int_equal(opt(&cf, 'j', NULL), 0);
    assert_false(cf.any);
}

static void bad_values(void **state)
{
    (void)state;
    struct cli_filter cf;
    cli_filter_init(&cf);
    assert_int_equal(opt(&cf, CLI_OPT_STATUS, "4xx"), -1);
    assert_int_equal(opt(&cf, CLI_OPT_STATUS, "0"), -1);
    assert_int_equal(opt(&cf, CLI_OPT_STATUS, "1000"), -1);
    assert_int_equal(opt(&cf, CLI_OPT_STATUS, ""), -1);
    assert_int_equal(opt(&cf, CLI_OPT_SINCE, "yesterday"), -1);
    assert_int_equal(opt(&cf, CLI_OPT_UNTIL, "5"), -1);
    assert_int_equal(opt(&cf, CLI_OPT_TYPE, ""), -1);
    assert_int_equal(opt(&cf, CLI_OPT_REASON, ""), -1);
    assert_int_equal(opt(&cf, CLI_OPT_EVENT_ID, ""), -1);
    assert_int_equal(opt(&cf, CLI_OPT_OLDER_THAN, "2026-11-28"), -1);
    assert_false(cf.any);
    assert_int_equal(cf.f.status, 0);
}

static void older_than(void **state)
{
    (void)state;
    struct cli_filter cf;
    char err[128];
    cli_filter_init(&cf);
    assert_int_equal(opt(&cf, CLI_OPT_OLDER_THAN, "7d"), 1);
    assert_int_equal(cli_filter_finish(&cf, err, sizeof err), 0);
    assert_int_equal(cf.f.until_ms, NOW - 7 * 86400000LL);
    /* the tighter of --until and --older-than wins, in either order */
    cli_filter_init(&cf);
    assert_int_equal(opt(&cf, CLI_OPT_UNTIL, "1h"), 1);
    assert_int_equal(opt(&cf, CLI_OPT_OLDER_THAN, "2h"), 1);
    assert_int_equal(cli_filter_finish(&cf, err, sizeof err), 0);
    assert_int_equal(cf.f.until_ms, NOW - 2 * 3600000);
    cli_filter_init(&cf);
    assert_int_equal(opt(&cf, CLI_OPT_OLDER_THAN, "2h"), 1);
    assert_int_equal(opt(&cf, CLI_OPT_UNTIL, "3h"), 1);
    assert_int_equal(cli_filter_finish(&cf, err, sizeof err), 0);
    assert_int_equal(cf.f.until_ms, NOW - 3 * 3600000);
}

static void empty_range(void **state)
{
    (void)state;
    struct cli_filter cf;
    char err[128] = "";
    cli_filter_init(&cf);
    assert_int_equal(opt(&cf, CLI_OPT_SINCE, "1h"), 1);
    assert_int_equal(opt(&cf, CLI_OPT_UNTIL, "2h"), 1);
    assert_int_equal(cli_filter_finish(&cf, err, sizeof err), -1);
    assert_non_null(strstr(err, "--since"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_option), cmocka_unit_test(not_a_filter), cmocka_unit_test(bad_values),
        cmocka_unit_test(older_than),  cmocka_unit_test(empty_range),
    };
    return cmocka_run_group_tests_name("cli_filter", tests, NULL, NULL);
}
