/*
 * test_config.c - daemon/config.c: defaults, sizes and durations, the INI
 * loader's "FILE:LINE: key: what is wrong" messages (repeated keys,
 * continuation lines, inline comments, URLs), flags over the file, the rules
 * between keys with the line at fault, what the system is asked, and the
 * differences a reload reports.
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

#include "../../../daemon/config.h"

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
    assert_int_equal(c.compress_level, CONFIG_LEVEL_AUTO);
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
    assert_int_equal(c.retry_after_max_ms, 3600000);
    assert_true(c.content_gzip);
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
                              "paths = /a, /b,/c\n"
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
                              "compress_level = fast\n"
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
                              "require_external_user_id = true\n"
                              "retry_after_max = 10m\n"
                              "content_encoding = identity\n");
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
    assert_int_equal(c.compress_level, CONFIG_LEVEL_FAST);
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
    assert_int_equal(c.retry_after_max_ms, 600000);
    assert_false(c.content_gzip);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    /* every key remembers its line */
    char where[600], want[600];
    config_where(&c, "delivery", "write_key", where, sizeof(where));
    snprintf(want, sizeof(want), "%s:20", p);
    assert_string_equal(where, want);
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
    expect_load_error("[storage]\ncompress_level = 9\n",
                      "2: compress_level: \"9\" is not auto, small or fast");
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
    expect_load_error("[delivery]\nretry_after_max = 1h\ncontent_encoding = br\n",
                      "3: content_encoding: \"br\" is not gzip or identity");
    /* The first error is reported, not a later one. */
    expect_load_error("[ingest]\nfoo = 1\nbar = 2\n", "2: foo: unknown key in [ingest]");
}

/* Issue 11 item 6: an inline comment never becomes a credential, and an
 * entry with inner whitespace is refused rather than guessed at. */
static void test_comments_and_whitespace(void **state)
{
    (void)state;
    const char *p = write_tmp("[ingest]\n"
                              "write_keys = s3cret # rotate quarterly\n"
                              "tokens = t1, t2 ; the old one goes in May\n"
                              "  # an indented comment is a comment\n"
                              "[delivery]\n"
                              "write_key = wk #default source\n"
                              "max_batch_bytes = 512K # smaller\n");
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_int_equal(c.nwrite_keys, 1);
    assert_string_equal(c.write_keys[0], "s3cret");
    assert_int_equal(c.ntokens, 2);
    assert_string_equal(c.tokens[1], "t2");
    assert_string_equal(c.write_key, "wk");
    assert_int_equal(c.max_batch_bytes, 512 * 1024);
    config_free(&c);
    unlink(p);
    /* a '#' not after whitespace is part of the value, and refused where
     * a value cannot hold it */
    expect_load_error("[ingest]\nwrite_keys = a, b c\n",
                      "2: write_keys: entry 2 holds whitespace or a control character; separate "
                      "entries with commas");
    expect_load_error("[ingest]\ntokens = x y\n",
                      "2: tokens: entry 1 holds whitespace or a control character; separate "
                      "entries with commas");
    expect_load_error("[ingest]\npaths = /a /b\n",
                      "2: paths: \"/a /b\" holds whitespace; separate entries with commas");
    expect_load_error("[delivery]\nwrite_key = a b\n",
                      "2: write_key: a write key cannot hold whitespace or control characters");
}

/* Issue 11 item 10: a key given twice stops startup, a list key's second
 * line included; an indented line continues a list with the same checks. */
static void test_repeated_and_continued(void **state)
{
    (void)state;
    expect_load_error("[ingest]\nwrite_keys = good\nwrite_keys = bad:key\n",
                      "3: write_keys: given twice (first at line 2)");
    expect_load_error("[ingest]\ntokens = a\n[storage]\nmax_size = 1G\nmax_size = 2G\n",
                      "5: max_size: given twice (first at line 4)");
    expect_load_error("[ingest]\nlisten = 127.0.0.1:1\n[ingest]\nlisten = 127.0.0.1:2\n",
                      "4: listen: given twice (first at line 2)");
    expect_load_error("[ingest]\nwrite_keys = good,\n  other:bad\n",
                      "3: write_keys: a write key cannot hold ':'");
    expect_load_error("[storage]\nmax_size = 1G\n  2G\n",
                      "3: max_size: takes one value; an indented line continues the key above it");
    /* the same name in two sections is two keys */
    const char *p = write_tmp("[ingest]\nlisten = 127.0.0.1:1\nwrite_keys = a,\n   b, c\n"
                              "\td\n[admin]\nlisten = 127.0.0.1:2\n");
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_int_equal(c.nwrite_keys, 4);
    assert_string_equal(c.write_keys[3], "d");
    assert_string_equal(c.admin_listen, "127.0.0.1:2");
    config_free(&c);
    unlink(p);
}

/* Issue 11 item 7: credentials or a fragment in [delivery] url are refused
 * and never echoed; libcurl's parser judges the rest. */
static void test_url(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    config_defaults(&c);
    static const char *bad[] = {
        "http://",         "http://h:99999/x",      "http://bad host/x",
        "http://h/x#frag", "http://h/x?writeKey=k", "ftp://h/x",
        "http://u@h/x",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(config_set(&c, "delivery", "url", bad[i], err, sizeof(err)), -1);
        assert_true(strncmp(err, "url: ", 5) == 0);
    }
    assert_int_equal(config_set(&c, "delivery", "url", "https://u:hunter2@h/x", err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "user name or password"));
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(config_set(&c, "delivery", "url", "http://h:1@/x", err, sizeof(err)), -1);
    assert_null(strstr(err, "h:1@"));
    assert_int_equal(config_set(&c, "delivery", "url", "http://h/x#f", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "fragment"));
    assert_int_equal(
        config_set(&c, "delivery", "url", "https://[::1]:8443/v1/webhook", err, sizeof(err)), 0);
    assert_string_equal(c.url, "https://[::1]:8443/v1/webhook");
    config_free(&c);
}

static void test_not_a_file(void **state)
{
    (void)state;
    struct config c;
    char err[512];
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, "/tmp", err, sizeof(err)), -1);
    assert_string_equal(err, "/tmp: not a regular file (give the config file, not a directory)");
    config_free(&c);
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

static void test_long_lines(void **state)
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
    strcat(text, ",\n  extra\nwrite_keys = a, b\n[delivery]\nwrite_key = a\n");
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
    assert_int_equal(config_apply_flag(&c, "listen", "nope", err, sizeof(err)), -1);
    assert_string_equal(err, "--listen: listen: \"nope\" is not HOST:PORT (port 1-65535)");
    assert_int_equal(config_apply_flag(&c, "listen", "127.0.0.1:1", err, sizeof(err)), 0);
    assert_int_equal(config_apply_flag(&c, "listen", "127.0.0.1:2", err, sizeof(err)), -1);
    assert_string_equal(err, "--listen: given twice");
    assert_int_equal(config_apply_flag(&c, "bogus", "x", err, sizeof(err)), -1);
    char where[64];
    config_where(&c, "ingest", "listen", where, sizeof(where));
    assert_string_equal(where, "--listen");
    config_free(&c);
    unlink(p);
}

/* Issue 11 item 10: --write-key is never dropped, however long the list. */
static void test_write_key_flag(void **state)
{
    (void)state;
    struct config c;
    char err[512], keys[512] = "";
    for (int i = 1; i <= 20; i++)
        snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%skey-%02d", i > 1 ? "," : "",
                 i);
    config_defaults(&c);
    assert_int_equal(config_set(&c, "ingest", "write_keys", keys, err, sizeof(err)), 0);
    assert_int_equal(c.nwrite_keys, 20);
    assert_int_equal(config_apply_flag(&c, "write-key", "flag-key", err, sizeof(err)), 0);
    assert_int_equal(c.nwrite_keys, 21);
    assert_string_equal(c.write_keys[20], "flag-key");
    assert_string_equal(c.write_key, "flag-key");
    /* a key already listed is not listed twice */
    config_free(&c);
    config_defaults(&c);
    assert_int_equal(config_set(&c, "ingest", "write_keys", "a,b", err, sizeof(err)), 0);
    assert_int_equal(config_apply_flag(&c, "write-key", "b", err, sizeof(err)), 0);
    assert_int_equal(c.nwrite_keys, 2);
    assert_int_equal(config_apply_flag(&c, "write-key", "x:y", err, sizeof(err)), -1);
    config_free(&c);
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
    assert_string_equal(err, "built-in defaults: listen: 127.0.0.1:8080 is also [ingest] listen "
                             "(default)");
    config_free(&c);
}

/* Issue 10 item 3 and issue 11 item 10: the rules between keys stop
 * startup at the line of the key at fault. */
static void test_validate_lines(void **state)
{
    (void)state;
    struct config c;
    char err[512], want[800];
    const char *p = write_tmp("[ingest]\ntokens = t1\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:2: tokens: ", p);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_non_null(strstr(err, "set [delivery] write_key"));
    assert_int_equal(config_apply_flag(&c, "write-key", "wk", err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), 0);
    config_free(&c);

    p = write_tmp("[ingest]\nwrite_keys = k\n[delivery]\nbackoff_min = 10m\nbackoff_max = 1m\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "%s:4: backoff_min: 10m is larger than backoff_max (1m, line 5)",
             p);
    assert_string_equal(err, want);
    config_free(&c);

    /* the default side of a rule: the line of the key that was set */
    p = write_tmp("[ingest]\nwrite_keys = k\n[storage]\nmax_size = 16M\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, p, err, sizeof(err)), 0);
    assert_int_equal(config_validate(&c, err, sizeof(err)), -1);
    snprintf(want, sizeof(want),
             "%s:4: max_body: 32M is larger than [storage] max_size (16M, line 4)", p);
    assert_string_equal(err, want);
    config_free(&c);
    unlink(p);
}

static int warnings;
static char last_warning[1024];
static void count_warning(const char *msg)
{
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s", msg);
}

/* Issue 11 item 10: what a start would find, --check-config finds. */
static void test_check_system(void **state)
{
    (void)state;
    struct config c;
    char err[1024];
    static const char *bad[] = {"999.0.0.1:8080", "nowhere.invalid:8080", "192.0.2.1:8080"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config_defaults(&c);
        assert_int_equal(config_set(&c, "ingest", "listen", bad[i], err, sizeof(err)), 0);
        assert_int_equal(config_check_system(&c, err, sizeof(err), count_warning), -1);
        assert_non_null(strstr(err, ": listen: "));
        assert_null(strstr(err, "Success"));
        config_free(&c);
    }
    config_defaults(&c);
    warnings = 0;
    assert_int_equal(config_check_system(&c, err, sizeof(err), count_warning), 0);
    assert_int_equal(warnings, 0);
    assert_int_equal(config_set(&c, "admin", "listen", "0.0.0.0:8081", err, sizeof(err)), 0);
    assert_int_equal(config_check_system(&c, err, sizeof(err), count_warning), 0);
    assert_int_equal(warnings, 1);
    assert_non_null(strstr(last_warning, "is not loopback"));
    assert_int_equal(
        config_set(&c, "delivery", "url", "http://nowhere.invalid/v1", err, sizeof(err)), 0);
    if (!getenv("http_proxy") && !getenv("https_proxy")) {
        assert_int_equal(config_check_system(&c, err, sizeof(err), count_warning), -1);
        assert_non_null(strstr(err, "url: host \"nowhere.invalid\" does not resolve"));
    }
    config_free(&c);
}

static void note_change(void *arg, const char *section, const char *name, enum config_live live,
                        const char *old_text, const char *new_text)
{
    char *out = arg;
    snprintf(out + strlen(out), 1024 - strlen(out), "%s.%s/%d:%s>%s;", section, name, (int)live,
             old_text, new_text);
}

/* Issue 11 item 5: what a reload reports, secrets never shown. */
static void test_changes(void **state)
{
    (void)state;
    struct config a, b;
    char err[256], out[1024] = "";
    config_defaults(&a);
    config_defaults(&b);
    config_changes(&a, &b, note_change, out);
    assert_string_equal(out, "");
    assert_int_equal(config_set(&b, "ingest", "write_keys", "k", err, sizeof(err)), 0);
    assert_int_equal(config_set(&b, "ingest", "max_body", "1M", err, sizeof(err)), 0);
    assert_int_equal(config_set(&b, "delivery", "backoff_max", "90s", err, sizeof(err)), 0);
    config_changes(&a, &b, note_change, out);
    assert_string_equal(out, "ingest.write_keys/1:(secret)>(secret);ingest.max_body/0:32M>1M;"
                             "delivery.backoff_max/2:5m>90s;");
    config_free(&a);
    config_free(&b);
}

static void test_format(void **state)
{
    (void)state;
    char b[32];
    config_format_size(32ull << 20, b, sizeof(b));
    assert_string_equal(b, "32M");
    config_format_size(1536, b, sizeof(b));
    assert_string_equal(b, "1536");
    config_format_size(0, b, sizeof(b));
    assert_string_equal(b, "0");
    config_format_duration(90000, b, sizeof(b));
    assert_string_equal(b, "90s");
    config_format_duration(1500, b, sizeof(b));
    assert_string_equal(b, "1500ms");
    config_format_duration(0, b, sizeof(b));
    assert_string_equal(b, "0");
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
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_flags_override_file),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_validate_lines),
        cmocka_unit_test(test_comments_and_whitespace),
        cmocka_unit_test(test_repeated_and_continued),
        cmocka_unit_test(test_url),
        cmocka_unit_test(test_not_a_file),
        cmocka_unit_test(test_write_key_flag),
        cmocka_unit_test(test_check_system),
        cmocka_unit_test(test_changes),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_split_hostport),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
