/*
 * test_text.c - storage/text.c: which bytes are control bytes, replacing
 * them (copy and in place), and counting them without writing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdbool.h>
#include <string.h>

#include "../../../storage/text.h"

/* Exactly 0x00-0x1f and 0x7f are control bytes; space, printable ASCII
 * and every byte from 0x80 up (UTF-8) are kept. */
static void test_which_bytes(void **state)
{
    (void)state;
    for (int c = 0; c < 256; c++) {
        char in = (char)c, out = 0;
        size_t n = text_scrub(&out, &in, 1, '?');
        bool control = c < 0x20 || c == 0x7f;
        assert_int_equal(n, control ? 1 : 0);
        assert_int_equal((unsigned char)out, control ? '?' : c);
    }
}

static void test_copy_keeps_length_and_nul_bytes(void **state)
{
    (void)state;
    const char in[] = "a\tb\0c\x7f\xc3\xa9\n"; /* a NUL inside is a control byte too */
    char out[sizeof(in)];
    memset(out, 'x', sizeof(out));
    assert_int_equal(text_scrub(out, in, sizeof(in) - 1, ' '), 4);
    assert_memory_equal(out, "a b c \xc3\xa9 ", sizeof(in) - 1);
    assert_int_equal(out[sizeof(in) - 1], 'x'); /* nothing written past len */
}

static void test_in_place_and_count_only(void **state)
{
    (void)state;
    char s[] = "page_view\r\nclick";
    assert_int_equal(text_scrub(NULL, s, strlen(s), '?'), 2);
    assert_string_equal(s, "page_view\r\nclick"); /* NULL dst: untouched */
    assert_int_equal(text_scrub(s, s, strlen(s), '?'), 2);
    assert_string_equal(s, "page_view??click");
    assert_int_equal(text_scrub(NULL, s, strlen(s), '?'), 0);
    assert_int_equal(text_scrub(NULL, "", 0, '?'), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_which_bytes),
        cmocka_unit_test(test_copy_keeps_length_and_nul_bytes),
        cmocka_unit_test(test_in_place_and_count_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
