/*
 * test_auth.c - daemon/auth.c: Bearer tokens, write keys from ?writeKey= and
 * Basic auth, anonymous mode, which key is stored with a batch, and the
 * constant-time comparison and base64 decoder underneath.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../../daemon/auth.h"
#include "../../../storage/record.h"

static struct config cfg;

static int setup(void **state)
{
    (void)state;
    char err[256];
    config_defaults(&cfg);
    assert_int_equal(config_set(&cfg, "ingest", "tokens", "tok-A, tok-B", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "ingest", "write_keys", "key-1, key-2", err, sizeof(err)), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    config_free(&cfg);
    return 0;
}

/* Runs auth_check; returns the result and copies the stored key to out. */
static int check(const char *authz, const char *wk, char *out, size_t outlen)
{
    struct auth_request r = {.authorization = authz, .write_key = wk};
    const char *key;
    size_t klen;
    char buf[RECORD_KEY_MAX + 64];
    struct auth_creds *cr = auth_creds_new(&cfg);
    assert_non_null(cr);
    int rc = auth_check(cr, &r, &key, &klen, buf, sizeof(buf));
    out[0] = '\0';
    if (rc == AUTH_OK && klen) {
        assert_true(klen < outlen);
        memcpy(out, key, klen);
        out[klen] = '\0';
    }
    auth_creds_free(cr);
    return rc;
}

static void test_equal(void **state)
{
    (void)state;
    assert_true(auth_equal("abc", 3, "abc", 3));
    assert_false(auth_equal("abc", 3, "abd", 3));
    assert_false(auth_equal("abc", 3, "abcabc", 6)); /* a repeat is not equal */
    assert_false(auth_equal("abc", 3, "ab", 2));
    assert_false(auth_equal("", 0, "a", 1));
    assert_true(auth_equal("", 0, "", 0));
}

static void test_base64(void **state)
{
    (void)state;
    unsigned char out[64];
    assert_int_equal(auth_base64_decode("a2V5LTE6", 8, out, sizeof(out)), 6);
    assert_memory_equal(out, "key-1:", 6);
    assert_int_equal(auth_base64_decode("a2V5LTE", 7, out, sizeof(out)), 5); /* no padding */
    assert_memory_equal(out, "key-1", 5);
    assert_int_equal(auth_base64_decode("a2V5LTE=", 8, out, sizeof(out)), 5);
    assert_int_equal(auth_base64_decode("a2V*LTE=", 8, out, sizeof(out)), -1);
    assert_int_equal(auth_base64_decode("a", 1, out, sizeof(out)), -1);
    assert_int_equal(auth_base64_decode("a2V5LTE6", 8, out, 3), -1); /* too small */
}

static void test_bearer(void **state)
{
    (void)state;
    char key[64];
    assert_int_equal(check("Bearer tok-A", NULL, key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, ""); /* tokens store no write key */
    assert_int_equal(check("bearer  tok-B ", NULL, key, sizeof(key)), AUTH_OK);
    assert_int_equal(check("Bearer tok-C", NULL, key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(check("Bearer tok-", NULL, key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(check("Bearer ", NULL, key, sizeof(key)), AUTH_DENIED);
    /* A write key is not a token. */
    assert_int_equal(check("Bearer key-1", NULL, key, sizeof(key)), AUTH_DENIED);
}

static void test_write_key(void **state)
{
    (void)state;
    char key[64];
    assert_int_equal(check(NULL, "key-2", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "key-2");
    assert_int_equal(check(NULL, "key-3", key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(check(NULL, "", key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(check(NULL, "tok-A", key, sizeof(key)), AUTH_DENIED);
    /* Basic auth: the user is the key, the password is ignored. */
    assert_int_equal(check("Basic a2V5LTE6", NULL, key, sizeof(key)), AUTH_OK); /* key-1: */
    assert_string_equal(key, "key-1");
    assert_int_equal(check("Basic a2V5LTE6c2VjcmV0", NULL, key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "key-1"); /* key-1:secret */
    assert_int_equal(check("Basic a2V5LTM6", NULL, key, sizeof(key)), AUTH_DENIED); /* key-3: */
    assert_int_equal(check("Basic !!!", NULL, key, sizeof(key)), AUTH_DENIED);
    /* An unknown scheme falls back to the query key. */
    assert_int_equal(check("Digest x", "key-1", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "key-1");
}

/* Issue 10: any valid credential admits the request, and the request's own
 * write key is the one forwarded, whatever admitted it. */
static void test_any_valid_credential(void **state)
{
    (void)state;
    char key[64];
    /* A valid token with ?writeKey=K2: forwarded with K2, not the default. */
    assert_int_equal(check("Bearer tok-A", "key-2", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "key-2");
    /* ...even a key eddy does not list: the sender named that source. */
    assert_int_equal(check("Bearer tok-A", "other", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "other");
    /* An unknown Bearer does not spoil a valid write key (RudderStack's
     * gateway ignores Authorization when a write key is given). */
    assert_int_equal(check("Bearer nope", "key-1", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "key-1");
    /* Nothing valid: refused. */
    assert_int_equal(check("Bearer nope", "key-9", key, sizeof(key)), AUTH_DENIED);
    /* Basic and ?writeKey= both carried: the valid one is forwarded. */
    assert_int_equal(check("Basic a2V5LTE6", "key-9", key, sizeof(key)), AUTH_OK); /* key-1: */
    assert_string_equal(key, "key-1");
    assert_int_equal(check("Basic a2V5LTM6", "key-2", key, sizeof(key)), AUTH_OK); /* key-3: */
    assert_string_equal(key, "key-2");
    /* A malformed Basic header proves nothing, and a good key still admits. */
    assert_int_equal(check("Basic !!!", "key-2", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "key-2");
    /* A token with a key too long to store: refused, never sent elsewhere. */
    static char long_key[RECORD_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    assert_int_equal(check("Bearer tok-A", long_key, key, sizeof(key)), AUTH_DENIED);
}

static void test_anonymous(void **state)
{
    (void)state;
    char key[64], err[256];
    assert_int_equal(check(NULL, NULL, key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(config_set(&cfg, "ingest", "allow_anonymous", "true", err, sizeof(err)), 0);
    assert_int_equal(check(NULL, NULL, key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "");
    /* Configured lists still apply to presented credentials. */
    assert_int_equal(check(NULL, "key-9", key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(check("Bearer nope", NULL, key, sizeof(key)), AUTH_DENIED);
    /* With no write_keys configured, any write key passes and is stored. */
    assert_int_equal(config_set(&cfg, "ingest", "write_keys", "", err, sizeof(err)), 0);
    assert_int_equal(check(NULL, "rs-key", key, sizeof(key)), AUTH_OK);
    assert_string_equal(key, "rs-key");
    assert_int_equal(config_set(&cfg, "ingest", "write_keys", "key-1,key-2", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "ingest", "allow_anonymous", "false", err, sizeof(err)), 0);
}

static void test_key_too_long(void **state)
{
    (void)state;
    char err[256], key[64];
    static char long_key[RECORD_KEY_MAX + 2];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = '\0';
    assert_int_equal(config_set(&cfg, "ingest", "allow_anonymous", "true", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "ingest", "write_keys", "", err, sizeof(err)), 0);
    assert_int_equal(check(NULL, long_key, key, sizeof(key)), AUTH_DENIED);
    assert_int_equal(config_set(&cfg, "ingest", "write_keys", "key-1,key-2", err, sizeof(err)), 0);
    assert_int_equal(config_set(&cfg, "ingest", "allow_anonymous", "false", err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_write_key),
        cmocka_unit_test(test_any_valid_credential),
        cmocka_unit_test(test_anonymous),
        cmocka_unit_test(test_key_too_long),
    };
    return cmocka_run_group_tests_name("auth", tests, setup, teardown);
}
