/*
 * test_record.c - the on-disk record format: round trip, the types cut, and
 * every kind of damage (flipped bytes, truncation, bad magic, newer version)
 * detected without reading out of bounds.
 */
#include "storage_helpers.h"

#include <zlib.h>

#include "../../storage/record.h"

static unsigned char *encode(const struct record *r, size_t *len)
{
    *len = record_size(r);
    unsigned char *b = malloc(*len);
    assert_int_equal(record_encode(r, b), *len);
    return b;
}

static const char body[] = "{\"events\":[{\"id\":\"a\",\"n\":19.99},{\"id\":\"b\",\"n\":-0}]}";

static struct record sample(void)
{
    struct record r = {.version = RECORD_VERSION,
                       .flags = RECORD_F_SPLIT,
                       .event_count = 2,
                       .received_ms = 1767225600123,
                       .origin_seq = 42,
                       .write_key = "key-1",
                       .write_key_len = 5,
                       .types = "t.A\nt.B",
                       .types_len = 7,
                       .body = (const unsigned char *)body,
                       .body_len = sizeof(body) - 1};
    return r;
}

static void test_round_trip(void **state)
{
    (void)state;
    struct record r = sample(), d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    assert_int_equal(len, RECORD_HEADER_SIZE + 5 + 7 + sizeof(body) - 1);
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    assert_int_equal(d.version, RECORD_VERSION);
    assert_int_equal(d.flags, RECORD_F_SPLIT);
    assert_int_equal(d.event_count, 2);
    assert_int_equal(d.received_ms, 1767225600123);
    assert_int_equal(d.origin_seq, 42);
    assert_int_equal(d.write_key_len, 5);
    assert_memory_equal(d.write_key, "key-1", 5);
    assert_int_equal(d.types_len, 7);
    assert_memory_equal(d.types, "t.A\nt.B", 7);
    assert_int_equal(d.body_len, sizeof(body) - 1);
    assert_memory_equal(d.body, body, sizeof(body) - 1);
    /* Views point into the buffer, nothing was copied. */
    assert_ptr_equal(d.body, b + len - d.body_len);
    free(b);
}

static void test_empty_key_types_body(void **state)
{
    (void)state;
    struct record r = {.version = RECORD_VERSION}, d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    assert_int_equal(len, RECORD_HEADER_SIZE);
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    assert_int_equal(d.write_key_len, 0);
    assert_null(d.write_key);
    assert_int_equal(d.types_len, 0);
    assert_int_equal(d.body_len, 0);
    free(b);
}

static void test_every_flipped_byte_detected(void **state)
{
    (void)state;
    struct record r = sample(), d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            b[i] ^= (unsigned char)(1 << bit);
            assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
            b[i] ^= (unsigned char)(1 << bit);
        }
    }
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    free(b);
}

static void test_every_truncation_detected(void **state)
{
    (void)state;
    struct record r = sample(), d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    for (size_t n = 0; n < len; n++) {
        /* An exact-size heap copy so ASan catches any read past n. */
        unsigned char *cut = malloc(n ? n : 1);
        memcpy(cut, b, n);
        int rc = record_decode(cut, n, &d);
        assert_int_not_equal(rc, RECORD_OK);
        if (n >= 4)
            assert_true(rc == RECORD_TRUNCATED || rc == RECORD_BAD_CRC);
        free(cut);
    }
    free(b);
}

static void test_trailing_bytes_rejected(void **state)
{
    (void)state;
    struct record r = sample(), d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    unsigned char *longer = calloc(1, len + 3);
    memcpy(longer, b, len);
    assert_int_not_equal(record_decode(longer, len + 3, &d), RECORD_OK);
    free(longer);
    free(b);
}

static void test_bad_magic_and_version(void **state)
{
    (void)state;
    struct record r = sample(), d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    b[0] = 'X';
    assert_int_equal(record_decode(b, len, &d), RECORD_BAD_MAGIC);
    b[0] = 'E';
    b[4] = RECORD_VERSION + 1;
    assert_int_equal(record_decode(b, len, &d), RECORD_BAD_VERSION);
    assert_non_null(strstr(record_strerror(RECORD_BAD_VERSION), "newer"));
    free(b);
}

static void test_huge_length_fields_no_overflow(void **state)
{
    (void)state;
    struct record r = sample(), d;
    size_t len;
    unsigned char *b = encode(&r, &len);
    memset(b + 32, 0xff, 8); /* body length 2^64-1 */
    assert_int_equal(record_decode(b, len, &d), RECORD_TRUNCATED);
    memset(b + 8, 0xff, 4); /* types length 2^32-1 */
    assert_int_equal(record_decode(b, len, &d), RECORD_TRUNCATED);
    free(b);
}

static void test_types_cut_on_newline(void **state)
{
    (void)state;
    /* 300 types of 20 bytes each: far over RECORD_TYPES_MAX. */
    size_t n = 300, tl = 0;
    char *types = malloc(n * 21);
    for (size_t i = 0; i < n; i++)
        tl += (size_t)sprintf(types + tl, "%susers.type.%08zu", i ? "\n" : "", i);
    struct record r = sample(), d;
    r.flags = 0;
    r.types = types;
    r.types_len = tl;
    size_t len;
    unsigned char *b = encode(&r, &len);
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    assert_true(d.flags & RECORD_F_TYPES_CUT);
    assert_true(d.types_len <= RECORD_TYPES_MAX);
    assert_true(d.types_len > RECORD_TYPES_MAX - 21);
    /* Cut on a boundary: a prefix of the list that ends with a whole name. */
    assert_memory_equal(d.types, types, d.types_len);
    assert_int_equal(types[d.types_len], '\n');
    assert_memory_equal(d.body, body, sizeof(body) - 1);
    free(b);
    free(types);
}

static void test_random_garbage_never_ok(void **state)
{
    (void)state;
    srand(7);
    struct record d;
    for (int i = 0; i < 2000; i++) {
        size_t n = (size_t)(rand() % 200);
        unsigned char *g = malloc(n ? n : 1);
        for (size_t j = 0; j < n; j++)
            g[j] = (unsigned char)rand();
        if (n >= 4 && i % 2)
            memcpy(g, "EDR1", 4); /* get past the magic check half the time */
        if (n >= 5 && i % 4 == 1)
            g[4] = RECORD_VERSION;
        assert_int_not_equal(record_decode(g, n, &d), RECORD_OK);
        free(g);
    }
}

/* record_crc32 (ISA-L) must give zlib's crc32 exactly: records written by
 * either read back with the other. Every length 0..300 (the folding loops'
 * tails), a few large ones, unaligned starts, and continuation. */
static void test_crc32_is_zlibs(void **state)
{
    (void)state;
    enum { N = 200000 };
    unsigned char *b = malloc(N + 8);
    srand(11);
    for (size_t i = 0; i < N + 8; i++)
        b[i] = (unsigned char)rand();
    for (size_t n = 0; n <= 300; n++)
        for (size_t off = 0; off < 3; off++)
            assert_int_equal(record_crc32(0, b + off, n), (uint32_t)crc32_z(0, b + off, n));
    const size_t big[] = {4095, 4096, 65537, 96 * 1024 + 5, N};
    for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
        uint32_t want = (uint32_t)crc32_z(0, b + 1, big[i]);
        assert_int_equal(record_crc32(0, b + 1, big[i]), want);
        size_t half = big[i] / 3;
        assert_int_equal(record_crc32(record_crc32(0, b + 1, half), b + 1 + half, big[i] - half),
                         want);
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_key_types_body),
        cmocka_unit_test(test_every_flipped_byte_detected),
        cmocka_unit_test(test_every_truncation_detected),
        cmocka_unit_test(test_trailing_bytes_rejected),
        cmocka_unit_test(test_bad_magic_and_version),
        cmocka_unit_test(test_huge_length_fields_no_overflow),
        cmocka_unit_test(test_types_cut_on_newline),
        cmocka_unit_test(test_random_garbage_never_ok),
        cmocka_unit_test(test_crc32_is_zlibs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
