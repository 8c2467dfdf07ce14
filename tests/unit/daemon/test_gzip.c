/*
 * test_gzip.c - daemon/gzip.c: inflating request bodies with a cap (gzip
 * and zlib headers, concatenated members, the exact cap boundary, bombs,
 * corrupt and truncated input).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "../../../daemon/gzip.h"

/* Compresses in with a gzip (gz = 1) or zlib header into a malloc'd buffer. */
static unsigned char *deflate_buf(const unsigned char *in, size_t len, int gz, size_t *outlen)
{
    z_stream zs = {0};
    assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, gz ? 15 + 16 : 15, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    size_t cap = deflateBound(&zs, len) + 64;
    unsigned char *out = malloc(cap);
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *outlen = cap - zs.avail_out;
    deflateEnd(&zs);
    return out;
}

static unsigned char *pattern(size_t n)
{
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)("{\"events\":[]} "[i % 14] ^ (i / 14 % 3));
    return b;
}

static void test_roundtrip_gzip_and_zlib(void **state)
{
    (void)state;
    size_t n = 300000, zlen, outlen;
    unsigned char *plain = pattern(n), *out;
    for (int gz = 0; gz < 2; gz++) {
        unsigned char *z = deflate_buf(plain, n, gz, &zlen);
        assert_int_equal(gzip_inflate(z, zlen, n, &out, &outlen), GZIP_OK);
        assert_int_equal(outlen, n);
        assert_memory_equal(out, plain, n);
        free(out);
        free(z);
    }
    free(plain);
}

static void test_cap_boundary(void **state)
{
    (void)state;
    size_t n = 100000, zlen, outlen;
    unsigned char *plain = pattern(n), *out;
    unsigned char *z = deflate_buf(plain, n, 1, &zlen);
    assert_int_equal(gzip_inflate(z, zlen, n, &out, &outlen), GZIP_OK); /* exactly the cap */
    free(out);
    assert_int_equal(gzip_inflate(z, zlen, n - 1, &out, &outlen), GZIP_TOO_LARGE);
    assert_null(out);
    assert_int_equal(outlen, 0);
    free(z);
    free(plain);
}

static void test_bomb_stops_at_cap(void **state)
{
    (void)state;
    size_t n = 64u << 20, zlen, outlen; /* 64 MiB of zeros is ~64 KB of gzip */
    unsigned char *zeros = calloc(1, n), *out;
    unsigned char *z = deflate_buf(zeros, n, 1, &zlen);
    free(zeros);
    assert_true(zlen < n / 100);
    assert_int_equal(gzip_inflate(z, zlen, 1u << 20, &out, &outlen), GZIP_TOO_LARGE);
    assert_null(out);
    free(z);
}

static void test_concatenated_members(void **state)
{
    (void)state;
    size_t la, lb;
    unsigned char *a = deflate_buf((const unsigned char *)"{\"events\":", 10, 1, &la);
    unsigned char *b = deflate_buf((const unsigned char *)"[1,2]}", 6, 1, &lb);
    unsigned char *both = malloc(la + lb), *out;
    memcpy(both, a, la);
    memcpy(both + la, b, lb);
    size_t outlen;
    assert_int_equal(gzip_inflate(both, la + lb, 1000, &out, &outlen), GZIP_OK);
    assert_int_equal(outlen, 16);
    assert_memory_equal(out, "{\"events\":[1,2]}", 16);
    free(out);
    free(a);
    free(b);
    free(both);
}

static void test_corrupt_and_truncated(void **state)
{
    (void)state;
    size_t n = 50000, zlen, outlen;
    unsigned char *plain = pattern(n), *out;
    unsigned char *z = deflate_buf(plain, n, 1, &zlen);
    /* truncated: the trailer (CRC, length) and part of the data missing */
    assert_int_equal(gzip_inflate(z, zlen / 2, n, &out, &outlen), GZIP_CORRUPT);
    assert_int_equal(gzip_inflate(z, zlen - 4, n, &out, &outlen), GZIP_CORRUPT);
    /* a flipped byte in the trailer's CRC */
    z[zlen - 6] ^= 0xff;
    assert_int_equal(gzip_inflate(z, zlen, n, &out, &outlen), GZIP_CORRUPT);
    /* not compressed at all */
    assert_int_equal(gzip_inflate(plain, n, n, &out, &outlen), GZIP_CORRUPT);
    /* garbage after a complete member */
    z[zlen - 6] ^= 0xff;
    unsigned char *tail = malloc(zlen + 3);
    memcpy(tail, z, zlen);
    memcpy(tail + zlen, "xyz", 3);
    assert_int_equal(gzip_inflate(tail, zlen + 3, n, &out, &outlen), GZIP_CORRUPT);
    free(tail);
    free(z);
    free(plain);
}

static void test_empty_member(void **state)
{
    (void)state;
    size_t zlen, outlen;
    unsigned char *z = deflate_buf((const unsigned char *)"", 0, 1, &zlen), *out;
    assert_int_equal(gzip_inflate(z, zlen, 100, &out, &outlen), GZIP_OK);
    assert_int_equal(outlen, 0);
    assert_null(out);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_gzip_and_zlib), cmocka_unit_test(test_cap_boundary),
        cmocka_unit_test(test_bomb_stops_at_cap),       cmocka_unit_test(test_concatenated_members),
        cmocka_unit_test(test_corrupt_and_truncated),   cmocka_unit_test(test_empty_member),
    };
    return cmocka_run_group_tests_name("gzip", tests, NULL, NULL);
}
