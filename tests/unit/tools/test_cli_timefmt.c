/*
 * test_cli_timefmt.c - the CLI's TIME/duration parsing and its age, size
 * and RFC 3339 formatting (tools/timefmt.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "../../../tools/timefmt.h"

static void durations(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(timefmt_parse_duration("90s", &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(timefmt_parse_duration("30m", &ms), 0);
    assert_int_equal(ms, 1800000);
    assert_int_equal(timefmt_parse_duration("2h", &ms), 0);
    assert_int_equal(ms, 7200000);
    assert_int_equal(timefmt_parse_duration("7d", &ms), 0);
    assert_int_equal(ms, 7 * 86400000LL);
    assert_int_equal(timefmt_parse_duration("1w", &ms), 0);
    assert_int_equal(ms, 604800000LL);
    assert_int_equal(timefmt_parse_duration("1h30m", &ms), 0);
    assert_int_equal(ms, 5400000);
    assert_int_equal(timefmt_parse_duration("250ms", &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(timefmt_parse_duration("0s", &ms), 0);
    assert_int_equal(ms, 0);
}

static void bad_durations(void **state)
{
    (void)state;
    int64_t ms = 42;
    const char *bad[] = {"",          "5",   "h",   "2x",   "-2h",
                         "2h-",       " 2h", "2 h", "1.5h", "99999999999999999999d",
                         "2026-11-28"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(timefmt_parse_duration(bad[i], &ms), -1);
    assert_int_equal(ms, 42);
}

static void rfc3339(void **state)
{
    (void)state;
    int64_t ms, now = 1800000000000LL;
    assert_int_equal(timefmt_parse_time("2026-11-28T10:00:00Z", now, &ms), 0);
    assert_int_equal(ms, 1795860000000LL);
    assert_int_equal(timefmt_parse_time("2026-11-28T10:00:00.250Z", now, &ms), 0);
    assert_int_equal(ms, 1795860000250LL);
    assert_int_equal(timefmt_parse_time("2026-11-28 12:00:00+02:00", now, &ms), 0);
    assert_int_equal(ms, 1795860000000LL);
    assert_int_equal(timefmt_parse_time("2026-11-28T05:30:00-04:30", now, &ms), 0);
    assert_int_equal(ms, 1795860000000LL);
    assert_int_equal(timefmt_parse_time("2026-11-28T10:00Z", now, &ms), 0);
    assert_int_equal(ms, 1795860000000LL);
    assert_int_equal(timefmt_parse_time("2026-11-28", now, &ms), 0);
    assert_int_equal(ms, 1795824000000LL);
    /* relative: that long before now */
    assert_int_equal(timefmt_parse_time("2h", now, &ms), 0);
    assert_int_equal(ms, now - 7200000);
}

static void bad_times(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {
        "2026-11-28T10:00:00",      "2026-13-01",           "2026-02-30",
        "2026-11-28T25:00:00Z",     "2026-11-28T10:00:00X", "yesterday",
        "2026-11-28T10:00:00Zjunk", "2026/11/28",           "2026-11-28T10:00:00.Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(timefmt_parse_time(bad[i], 0, &ms), -1);
}

static void format_rfc3339_round_trip(void **state)
{
    (void)state;
    char buf[TIMEFMT_RFC3339_LEN];
    int64_t back;
    assert_string_equal(timefmt_rfc3339(1795860000250LL, buf, sizeof buf),
                        "2026-11-28T10:00:00.250Z");
    assert_int_equal(timefmt_parse_time(buf, 0, &back), 0);
    assert_int_equal(back, 1795860000250LL);
    assert_string_equal(timefmt_rfc3339(0, buf, sizeof buf), "1970-01-01T00:00:00.000Z");
}

static void ages(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(timefmt_age(400, b, sizeof b), "0s");
    assert_string_equal(timefmt_age(45000, b, sizeof b), "45s");
    assert_string_equal(timefmt_age(12 * 60000 + 5000, b, sizeof b), "12m");
    assert_string_equal(timefmt_age(3 * 3600000 + 5 * 60000, b, sizeof b), "3h05m");
    assert_string_equal(timefmt_age(2 * 86400000LL + 4 * 3600000, b, sizeof b), "2d04h");
    assert_string_equal(timefmt_age(400 * 86400000LL, b, sizeof b), "400d");
    assert_string_equal(timefmt_age(-90000, b, sizeof b), "-1m");
}

static void sizes(void **state)
{
    (void)state;
    char b[32];
    assert_string_equal(timefmt_size(0, b, sizeof b), "0 B");
    assert_string_equal(timefmt_size(1023, b, sizeof b), "1023 B");
    assert_string_equal(timefmt_size(1024, b, sizeof b), "1.0 KiB");
    assert_string_equal(timefmt_size(1536, b, sizeof b), "1.5 KiB");
    assert_string_equal(timefmt_size(3355443, b, sizeof b), "3.2 MiB");
    assert_string_equal(timefmt_size(500ULL << 20, b, sizeof b), "500 MiB");
    assert_string_equal(timefmt_size(1ULL << 30, b, sizeof b), "1.0 GiB");
    assert_string_equal(timefmt_size(5ULL << 40, b, sizeof b), "5.0 TiB");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(durations),
        cmocka_unit_test(bad_durations),
        cmocka_unit_test(rfc3339),
        cmocka_unit_test(bad_times),
        cmocka_unit_test(format_rfc3339_round_trip),
        cmocka_unit_test(ages),
        cmocka_unit_test(sizes),
    };
    return cmocka_run_group_tests_name("cli_timefmt", tests, NULL, NULL);
}
