/*
 * test_cli_output.c - the CLI's printing pieces (tools/output.c,
 * tools/progress.c): aligned tables, JSON strings from bytes that are not
 * UTF-8, the JSON form of a record, cut type lists, the progress line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tools/output.h"
#include "../../../tools/progress.h"

static char *print_table(struct cli_table *t)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cli_table_print(t, f);
    fclose(f);
    return buf;
}

static void table_aligns(void **state)
{
    (void)state;
    static const char *const head[] = {"ID", "NAME", "N"};
    struct cli_table *t = cli_table_new(head, 3, "rlr");
    assert_non_null(t);
    const char *r1[] = {"7", "caf\xc3\xa9", "12"};
    const char *r2[] = {"1234", "x\ny", "3"};
    assert_int_equal(cli_table_add(t, r1), 0);
    assert_int_equal(cli_table_add(t, r2), 0);
    assert_int_equal(cli_table_rows(t), 2);
    char *out = print_table(t);
    /* numbers right-aligned, text padded by characters (é is one), control
     * bytes shown as '?', no trailing blanks */
    assert_string_equal(out, "  ID  NAME   N\n"
                             "   7  caf\xc3\xa9  12\n"
                             "1234  x?y    3\n");
    free(out);
    cli_table_free(t);
}

static void last_column_not_padded(void **state)
{
    (void)state;
    static const char *const head[] = {"A", "REASON"};
    struct cli_table *t = cli_table_new(head, 2, "ll");
    const char *r1[] = {"x", "a long reason"};
    cli_table_add(t, r1);
    char *out = print_table(t);
    assert_string_equal(out, "A  REASON\nx  a long reason\n");
    free(out);
    cli_table_free(t);
}

static void json_string_scrubs_invalid_utf8(void **state)
{
    (void)state;
    static const char in[] = "caf\xe9 \xc3\xa9 \xed\xa0\x80 ok\0x";
    json_t *j = cli_json_string(in, sizeof in - 1);
    assert_non_null(j);
    /* the Latin-1 byte, the encoded surrogate and the NUL become U+FFFD */
    assert_string_equal(json_string_value(j), "caf\xef\xbf\xbd \xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd"
                                              "\xef\xbf\xbd ok\xef\xbf\xbdx");
    json_decref(j);
}

static void types_array_and_text(void **state)
{
    (void)state;
    json_t *a = cli_json_types("a.b\nc.d\n", 8);
    assert_int_equal(json_array_size(a), 2);
    assert_string_equal(json_string_value(json_array_get(a, 1)), "c.d");
    json_decref(a);
    char buf[64];
    assert_string_equal(cli_types_text("a.b\nc.d", 7, 40, buf, sizeof buf), "a.b, c.d");
    assert_string_equal(cli_types_text("abcdefghij", 10, 8, buf, sizeof buf), "abcde...");
    assert_string_equal(
        cli_types_text("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", 10, 4, buf, sizeof buf),
        "\xc3\xa9...");
    assert_string_equal(cli_types_text("", 0, 40, buf, sizeof buf), "");
}

static void entry_json(void **state)
{
    (void)state;
    struct queue_entry e;
    memset(&e, 0, sizeof e);
    e.id = 42;
    e.rec.event_count = 3;
    e.rec.types = "x\ny";
    e.rec.types_len = 3;
    e.rec.body_len = 99;
    e.rec.received_ms = 1795860000250LL;
    e.dead_ms = 1795860001000LL;
    e.replays = 2;
    snprintf(e.reason, sizeof e.reason, "HTTP 400");
    e.attempts.counted = 2;
    e.attempts.network = 1;
    e.attempts.last_status = 400;
    e.attempts.first_failed_ms = 1795860000500LL;
    e.attempts.last_failed_ms = 1795860000900LL;
    e.attempts.nhistory = 1;
    e.attempts.history[0] = (struct queue_attempt){
        .at_ms = 1795860000900LL, .status = 400, .answer_len = 3, .answer = "bad"};
    json_t *o = cli_entry_json(&e, QUEUE_DEAD, true);
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    assert_string_equal(
        s, "{\"id\":42,\"events\":3,\"event_types\":[\"x\",\"y\"],\"bytes\":99,"
           "\"received_at\":\"2026-11-28T10:00:00.250Z\",\"dead_at\":\"2026-11-28T10:00:01.000Z\","
           "\"reason\":\"HTTP 400\",\"last_status\":400,\"attempts\":3,\"http_attempts\":2,"
           "\"counted\":2,\"uncounted\":0,\"network\":1,"
           "\"first_failed_at\":\"2026-11-28T10:00:00.500Z\","
           "\"last_failed_at\":\"2026-11-28T10:00:00.900Z\",\"replays\":2,\"split\":false,"
           "\"history\":[{\"at\":\"2026-11-28T10:00:00.900Z\",\"status\":400,\"answer\":\"bad\"}],"
           "\"history_dropped\":0}");
    free(s);
    json_decref(o);
    /* never failed: null times; a damaged record says so and nothing else */
    memset(&e.attempts, 0, sizeof e.attempts);
    o = cli_entry_json(&e, QUEUE_PENDING, false);
    assert_true(json_is_null(json_object_get(o, "first_failed_at")));
    assert_true(json_is_null(json_object_get(o, "next_try_at")));
    json_decref(o);
    e.status = RECORD_BAD_CRC;
    o = cli_entry_json(&e, QUEUE_DEAD, false);
    assert_int_equal(json_object_size(o), 2);
    assert_string_equal(json_string_value(json_object_get(o, "corrupt")),
                        record_strerror(RECORD_BAD_CRC));
    json_decref(o);
}

static void progress_line(void **state)
{
    (void)state;
    struct cli_progress p = {.label = "replay", .total = 1000, .done = 250, .start_ns = 0};
    char buf[256];
    cli_progress_format(&p, 2000000000LL, buf, sizeof buf); /* 2 s in: 125/s */
    assert_string_equal(buf, "replay 250/1000 [#####...............]  25%  125/s  ETA 0:06");
    p.total = 0;
    cli_progress_format(&p, 2000000000LL, buf, sizeof buf);
    assert_string_equal(buf, "replay 250  125/s");
    /* bytes (backup): sizes instead of counts */
    struct cli_progress b = {
        .label = "backup", .total = 8 << 20, .done = 2 << 20, .start_ns = 0, .bytes = true};
    cli_progress_format(&b, 1000000000LL, buf, sizeof buf);
    assert_string_equal(buf,
                        "backup 2.0 MiB/8.0 MiB [#####...............]  25%  2.0 MiB/s  ETA 0:03");
    /* A narrow terminal: never a line that wraps (it could not be redrawn in
     * place); first the bar and the rate go, then the line is cut. */
    p.total = 1000;
    p.cols = 80;
    cli_progress_format(&p, 2000000000LL, buf, sizeof buf);
    assert_string_equal(buf, "replay 250/1000 [#####...............]  25%  125/s  ETA 0:06");
    p.cols = 40;
    cli_progress_format(&p, 2000000000LL, buf, sizeof buf);
    assert_string_equal(buf, "replay 250/1000 25% ETA 0:06");
    p.cols = 20;
    cli_progress_format(&p, 2000000000LL, buf, sizeof buf);
    assert_string_equal(buf, "replay 250/1000 25%");
    assert_true(strlen(buf) < 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_aligns),
        cmocka_unit_test(last_column_not_padded),
        cmocka_unit_test(json_string_scrubs_invalid_utf8),
        cmocka_unit_test(types_array_and_text),
        cmocka_unit_test(entry_json),
        cmocka_unit_test(progress_line),
    };
    return cmocka_run_group_tests_name("cli_output", tests, NULL, NULL);
}
