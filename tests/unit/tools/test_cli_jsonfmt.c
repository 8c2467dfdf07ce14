/*
 * test_cli_jsonfmt.c - showing bodies without rewriting them
 * (tools/jsonfmt.c): numbers keep their text, duplicate keys stay, the
 * embeddability check refuses invalid UTF-8 and non-JSON, base64 vectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "../../../tools/jsonfmt.h"

#define U(s) (const unsigned char *)(s), strlen(s)

static void pretty_keeps_numbers_and_duplicates(void **state)
{
    (void)state;
    const char *in = "{\"events\":[{\"a\":19.99,\"b\":-0,\"c\":123456789012345678901234,"
                     "\"d\":1E5,\"a\":2,\"s\":\"x\\u0000y\"}]}";
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(jsonfmt_pretty(U(in), &out, &len), 0);
    assert_int_equal(strlen(out), len);
    assert_non_null(strstr(out, "\"a\": 19.99"));
    assert_non_null(strstr(out, "\"b\": -0"));
    assert_non_null(strstr(out, "\"c\": 123456789012345678901234"));
    assert_non_null(strstr(out, "\"d\": 1E5"));
    assert_non_null(strstr(out, "\"a\": 2"));
    assert_non_null(strstr(out, "\\u0000"));
    assert_non_null(strstr(out, "\n  \"events\": ["));
    free(out);
}

static void pretty_refuses_non_json(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len;
    assert_int_equal(jsonfmt_pretty(U("{\"events\":[1,]}"), &out, &len), -1);
    assert_int_equal(jsonfmt_pretty(U("{} {}"), &out, &len), -1);
    assert_null(out);
}

static void embeddable(void **state)
{
    (void)state;
    assert_true(jsonfmt_embeddable(U("{\"events\":[{\"id\":\"\xc3\xa9\"}]}")));
    assert_true(jsonfmt_embeddable(U("{\n\"events\" :\r\n [1]\n}")));
    assert_false(jsonfmt_embeddable(U("{\"events\":[\"\xff\"]}")));
    assert_false(jsonfmt_embeddable(U("{\"events\":[\"\xc3\"]}")));
    assert_false(jsonfmt_embeddable(U("not json")));
    char out[32];
    const char *in = "{\n\"a\" :\r\n 1}";
    jsonfmt_embed(U(in), out);
    assert_memory_equal(out, "{ \"a\" :   1}", strlen(in));
}

static void base64(void **state)
{
    (void)state;
    const char *vec[][2] = {{"", ""},
                            {"f", "Zg=="},
                            {"fo", "Zm8="},
                            {"foo", "Zm9v"},
                            {"foob", "Zm9vYg=="},
                            {"fooba", "Zm9vYmE="},
                            {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
        char *b = jsonfmt_base64(U(vec[i][0]));
        assert_string_equal(b, vec[i][1]);
        free(b);
    }
    char *b = jsonfmt_base64((const unsigned char *)"\xff\x00\xfe", 3);
    assert_string_equal(b, "/wD+");
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pretty_keeps_numbers_and_duplicates),
        cmocka_unit_test(pretty_refuses_non_json),
        cmocka_unit_test(embeddable),
        cmocka_unit_test(base64),
    };
    return cmocka_run_group_tests_name("cli_jsonfmt", tests, NULL, NULL);
}
