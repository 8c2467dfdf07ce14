/*
 * test_config.c - daemon/config.c: defaults, sizes and durations, the INI
 * loader's "FILE:LINE: key: what is wrong" messages, flags over the file,
 * and config_validate's refusal to run without any authentication.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../daemon/config.h"

static char tmp_path[256];

static const char *write_tmp(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/eddy-test-config-%d.conf", (int)getpid());
    FILE *f = fopen(tmp_path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return tmp_path;
}

static void test_defaults(void **state)
{
    (void)state;
    struct config c;
    config_defaults(&c);
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.admin_listen, "127.0.0.1:8081");
    assert_int_equal(c.npaths, 2);
    assert_string_equal(c.paths[0], "/v1/webhook");
    assert_string_equal(c.paths[1], "/currents");
    assert_int_equal(c.ntokens, 0);
    assert_int_equal(c.nwrite_keys, 0);
    assert_false(c.allow_anonymous);
    assert_int_equal(c.max_body, 32ull << 20);
    assert_string_equal(c.data_dir, "./var/eddy");
    assert_int_equal(c.max_size, 8ull << 30);
    assert_true(c.high_water > 0.949 && c.high_water < 0.951);
    assert_true(c.sync_full);
    assert_true(c.compress);
    assert_string_equal(c.url, "http://127.0.0.1:8090/v1/webhook");
    assert_string_equal(c.write_key, "");
    assert_int_equal(c.concurrency, 4);
    assert_int_equal(c.timeout_ms, 30000);
    assert_int_equal(c.max_attempts, 10);
    assert_int_equal(c.retry_window_ms, 72ull * 3600 * 1000);
    assert_int_equal(c.backoff_min_ms, 1000);
    assert_int_equal(c.backoff_max_ms, 300000);
    assert_int_equal(c.max_batch_bytes, 1 << 20);
    assert_false(c.require_external_user_id);
    config_free(&c);
}

static void test_sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(config_parse_size("1024", &v), 0);
    assert_int_equal(v, 1024);
    assert_int_equal(config_parse_size("512K", &v), 0);
    assert_int_equal(v, 512 * 1024);
    assert_int_equal(config_parse_size("32M", &v), 0);
    assert_int_equal(v, 32ull << 20);
    assert_int_equal(config_parse_size("8G", &v), 0);
    assert_int_equal(v, 8ull << 30);
    assert_int_equal(config_parse_size("1MiB", &v), 0);
    assert_int_equal(v, 1 << 20);
    assert_int_equal(config_parse_size("2t", &v), 0);
    assert_int_equal(v, 2ull << 40);
    const char *bad[] = {
        "", "M", "12X", "-1", " 1M", "1M ", "1.5G", "99999999999T", "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(config_parse_size(bad[i], &v), -1);
}

static void test_durations(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(config_parse_duration("100ms", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(config_parse_duration("30s", &v), 0);
    assert_int_equal(v, 30000);
    assert_int_equal(config_parse_duration("5m", &v), 0);
    assert_int_equal(v, 300000);
    assert_int_equal(config_parse_duration("72h", &v), 0);
    assert_int_equal(v, 72ull * 3600000);
    assert_int_equal(config_parse_duration("2d", &v), 0);
    assert_int_equal(v, 2ull * 86400000);
    assert_int_equal(config_parse_duration("0", &v), 0);
    assert_int_equal(v, 0);
    const char *bad[] = {"", "10", "1x", "s", "-1s", "1 s", "1.5s", "99999999999999999999d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(config_parse_duration(bad[i], &v), -1);
}

static void test_load_every_key(void **state)
{
    (void)state;
    const char *p = write_tmp("; comment\n"
                              "[ingest]\n"
                              "listen = 0.0.0.0:9000   ; inline comment\n"
                              "paths = /a, /b /c\n"
                              "tokens = t1,t2\n"
                              "write_keys = k1\n"
                              "allow_anonymous = yes\n"
                              "max_body = 1M\n"
                              "[admin]\n"
                              "listen = [::1]:9001\n"
                              "[storage]\n"
                              "data_dir = /var/lib/eddy\n"
                              "max_size = 2G\n"
                              "high_water = 0.5\n"
                              "sync = none\n"
                              "compress = none\n"
                              "[delivery]\n"
                              "url = https://rs.example/v1/webhook\n"
                              "write_key = wk\n"
                              "concurrency = 8\n"
                              "timeout = 10s\n"
                              "max_attempts = 3\n"
                              "retry_window = 1h\n"
                              "backoff_min = 100ms\n"
                              "backoff_max = 2m\n"
                              "max_batch_bytes = 512K\n"
                              "require_external_user_id = true\n");
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_string_equal(c.listen, "0.0.0.0:9000");
    assert_int_equal(c.npaths, 3);
    assert_string_equal(c.paths[2], "/c");
    assert_int_equal(c.ntokens, 2);
    assert_string_equal(c.tokens[1], "t2");
    assert_int_equal(c.nwrite_keys, 1);
    assert_true(c.allow_anonymous);
    assert_int_equal(c.max_body, 1 << 20);
    assert_string_equal(c.admin_listen, "[::1]:9001");
    assert_string_equal(c.data_dir, "/var/lib/eddy");
    assert_int_equal(c.max_size, 2ull << 30);
    assert_true(c.high_water == 0.5);
    assert_false(c.sync_full);
    assert_false(c.compress);
    assert_string_equal(c.url, "https://rs.example/v1/webhook");
    assert_string_equal(c.write_key, "wk");
    assert_int_equal(c.concurrency, 8);
    assert_int_equal(c.timeout_ms, 10000);
    assert_int_equal(c.max_attempts, 3);
    assert_int_equal(c.retry_window_ms, 3600000);
    assert_int_equal(c.backoff_min_ms, 100);
    assert_int_equal(c.backoff_max_ms, 120000);
    assert_int_equal(c.max_batch_bytes, 512 * 1024);
    assert_true(c.require_external_user_id);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    config_free(&c);
    unlink(p);
}

/* Loads text and expects failure with exactly "<file>:<expect>". */
static void expect_load_error(const char *text, const char *expect)
{
    const char *p = write_tmp(text);
    struct config c;
    char err[512], want[600];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:%s", p, expect);
    assert_string_equal(err, want);
    config_free(&c);
    unlink(p);
}

static void test_load_errors(void **state)
{
    (void)state;
    expect_load_error("[ingest]\ntokens = a\nbogus = 1\n", "3: bogus: unknown key in [ingest]");
    expect_load_error("[storage]\nmax_size = lots\n",
                      "2: max_size: \"lots\" is not a size (like 512K, 32M, 8G)");
    expect_load_error("[delivery]\n\ntimeout = 30\n",
                      "3: timeout: \"30\" is not a duration (a number and ms, s, m, h or d)");
    expect_load_error("[ingest]\nlisten = localhost\n",
                      "2: listen: \"localhost\" is not HOST:PORT (port 1-65535)");
    expect_load_error("[ingest]\nlisten = 127.0.0.1:70000\n",
                      "2: listen: \"127.0.0.1:70000\" is not HOST:PORT (port 1-65535)");
    expect_load_error("[storage]\nhigh_water = 1.5\n",
                      "2: high_water: \"1.5\" is not a fraction in (0, 1]");
    expect_load_error("[storage]\nsync = sometimes\n",
                      "2: sync: \"sometimes\" is not full or none");
    expect_load_error("[storage]\ncompress = zstd\n", "2: compress: \"zstd\" is not gzip or none");
    expect_load_error("[ingest]\nallow_anonymous = maybe\n",
                      "2: allow_anonymous: \"maybe\" is not true or false");
    expect_load_error("[delivery]\nurl = ftp://x\n",
                      "2: url: \"ftp://x\" is not an http:// or https:// URL");
    expect_load_error("[delivery]\nconcurrency = 0\n",
                      "2: concurrency: \"0\" is not a number from 1 to 64");
    expect_load_error("[nope]\nx = 1\n", "2: x: unknown section [nope]");
    expect_load_error("[ingest]\nthis line has no equals sign\n",
                      "2: syntax error (expected [section] or key = value)");
    expect_load_error("[ingest]\npaths = relative\n",
                      "2: paths: \"relative\" must start with / and hold no ? or #");
    /* The first error is reported, not a later one. */
    expect_load_error("[ingest]\nfoo = 1\nbar = 2\n", "2: foo: unknown key in [ingest]");
}

static void test_missing_file(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, "/nonexistent/eddy.conf", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "/nonexistent/eddy.conf: cannot open"));
    config_free(&c);
}

static void test_long_lines_and_repeated_lists(void **state)
{
    (void)state;
    /* A token list longer than inih's default 200-byte line. */
    char text[2048] = "[ingest]\ntokens = ";
    for (int i = 0; i < 12; i++) {
        char t[64];
        snprintf(t, sizeof(t), "%stoken-%02d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", i ? "," : "",
                 i);
        strcat(text, t);
    }
    strcat(text, "\ntokens = extra\nwrite_keys = a\nwrite_keys = b\n");
    const char *p = write_tmp(text);
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_int_equal(c.ntokens, 13);
    assert_string_equal(c.tokens[11], "token-11-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    assert_string_equal(c.tokens[12], "extra");
    assert_int_equal(c.nwrite_keys, 2);
    config_free(&c);
    unlink(p);
}

static void test_flags_override_file(void **state)
{
    (void)state;
    const char *p = write_tmp("[storage]\ndata_dir = /from/file\n[ingest]\ntokens = t\n");
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_string_equal(c.data_dir, "/from/file");
    assert_int_equal(config_set(&c, "storage", "data_dir", "/from/flag", err, sizeof(err)), 0);
    assert_string_equal(c.data_dir, "/from/flag");
    assert_int_equal(config_set(&c, "ingest", "listen", "nope", err, sizeof(err)), -1);
    assert_string_equal(err, "listen: \"nope\" is not HOST:PORT (port 1-65535)");
    config_free(&c);
    unlink(p);
}

static void test_validate(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    config_defaults(&c);
    /* Defaults have no tokens and no write keys: refused. */
    assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "allow_anonymous"));
    assert_int_equal(config_set(&c, "ingest", "allow_anonymous", "true", err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    assert_int_equal(config_set(&c, "ingest", "allow_anonymous", "false", err, sizeof(err)), 0);
    assert_int_equal(config_set(&c, "ingest", "write_keys", "k", err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    assert_int_equal(config_set(&c, "delivery", "backoff_min", "10m", err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "backoff_min"));
    assert_int_equal(config_set(&c, "delivery", "backoff_min", "1s", err, sizeof(err)), 0);
    assert_int_equal(config_set(&c, "admin", "listen", "127.0.0.1:8080", err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "[admin] listen"));
    config_free(&c);
}

static void test_split_hostport(void **state)
{
    (void)state;
    char host[64];
    uint16_t port;
    assert_int_equal(config_split_hostport("127.0.0.1:8080", host, sizeof(host), &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 8080);
    assert_int_equal(config_split_hostport("[::1]:1", host, sizeof(host), &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 1);
    assert_int_equal(config_split_hostport(":80", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_hostport("h:0", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_hostport("h:", host, sizeof(host), &port), -1);
    assert_int_equal(config_split_hostport("[::1]80", host, sizeof(host), &port), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_load_every_key),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_long_lines_and_repeated_lists),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_split_hostport),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
