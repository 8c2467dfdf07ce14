/*
 * test_record.c - the on-disk record format: round trip, the types cut, and
 * every kind of damage (flipped bytes, truncation, bad magic, newer version)
 * detected without reading out of bounds; records written by an eddy from
 * before compression (a byte fixture) still read, and so do gzip records
 * from before the types list was compressed (version 2); gzip records and
 * version 3 ones round trip, and every damage to one is caught by the CRC
 * or on inflate.
 */
#include "../helpers.h"

#include <zlib.h>

#include "../../../storage/compress.h"
#include "../../../storage/record.h"

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
    assert_int_equal(d.version, RECORD_VERSION_RAW);
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
    assert_ptr_equal(d.stored, d.body);
    assert_int_equal(d.stored_len, d.body_len);
    unsigned char *mem;
    assert_int_equal(record_inflate(&d, &mem), RECORD_OK); /* raw: nothing to do */
    assert_null(mem);
    free(b);
}

/* A record exactly as eddy wrote it before records could be compressed
 * (flags SPLIT|REPLAYED, key "key-1", types "t.A\nt.B", the body above),
 * produced by that version's record_encode. Old stores hold these. */
static const unsigned char old_format[] = {
    0x45, 0x44, 0x52, 0x31, 0x01, 0x06, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00,
    0x7b, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x33, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x24, 0x45, 0x45, 0x6e, 0xd1, 0x0d, 0xb0, 0xb2,
    0x6b, 0x65, 0x79, 0x2d, 0x31, 0x74, 0x2e, 0x41, 0x0a, 0x74, 0x2e, 0x42, 0x7b, 0x22, 0x65, 0x76,
    0x65, 0x6e, 0x74, 0x73, 0x22, 0x3a, 0x5b, 0x7b, 0x22, 0x69, 0x64, 0x22, 0x3a, 0x22, 0x61, 0x22,
    0x2c, 0x22, 0x6e, 0x22, 0x3a, 0x31, 0x39, 0x2e, 0x39, 0x39, 0x7d, 0x2c, 0x7b, 0x22, 0x69, 0x64,
    0x22, 0x3a, 0x22, 0x62, 0x22, 0x2c, 0x22, 0x6e, 0x22, 0x3a, 0x2d, 0x30, 0x7d, 0x5d, 0x7d};

static void test_reads_todays_format(void **state)
{
    (void)state;
    unsigned char *b = malloc(sizeof old_format); /* exact size: ASan sees overreads */
    memcpy(b, old_format, sizeof old_format);
    struct record d;
    assert_int_equal(record_decode(b, sizeof old_format, &d), RECORD_OK);
    assert_int_equal(d.version, 1);
    assert_int_equal(d.flags, RECORD_F_SPLIT | RECORD_F_REPLAYED);
    assert_int_equal(d.event_count, 2);
    assert_int_equal(d.received_ms, 1767225600123);
    assert_int_equal(d.origin_seq, 42);
    assert_int_equal(d.write_key_len, 5);
    assert_memory_equal(d.write_key, "key-1", 5);
    assert_int_equal(d.types_len, 7);
    assert_memory_equal(d.types, "t.A\nt.B", 7);
    assert_int_equal(d.body_len, sizeof(body) - 1);
    assert_memory_equal(d.body, body, sizeof(body) - 1);
    /* And a raw record is still written byte for byte as before, so an
     * older eddy reads a store written with compress = none. */
    struct record r = sample();
    r.flags = RECORD_F_SPLIT | RECORD_F_REPLAYED;
    size_t len;
    unsigned char *again = encode(&r, &len);
    assert_int_equal(len, sizeof old_format);
    assert_memory_equal(again, old_format, len);
    free(again);
    free(b);
}

/* A body that compresses: 60 events. */
static unsigned char *big_body(size_t *len)
{
    char *b = malloc(8192);
    size_t n = (size_t)sprintf(b, "{\"events\":[");
    for (int i = 0; i < 60; i++)
        n += (size_t)sprintf(b + n,
                             "%s{\"id\":\"ev-%d\",\"event_type\":\"users.messages.email.Send\"}",
                             i ? "," : "", i);
    n += (size_t)sprintf(b + n, "]}");
    *len = n;
    return (unsigned char *)b;
}

static unsigned char *encode_gzip(size_t *len, unsigned char **raw, size_t *raw_len)
{
    *raw = big_body(raw_len);
    unsigned char *z;
    size_t zlen;
    assert_int_equal(compress_gzip(*raw, *raw_len, &z, &zlen), COMPRESS_OK);
    assert_true(zlen < *raw_len / 4);
    struct record r = sample();
    r.flags |= RECORD_F_GZIP;
    r.body = *raw;
    r.body_len = *raw_len;
    r.stored = z;
    r.stored_len = zlen;
    unsigned char *b = encode(&r, len);
    assert_int_equal(*len, RECORD_HEADER_SIZE + 5 + 7 + zlen);
    free(z);
    return b;
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    unsigned char *raw, *mem;
    size_t raw_len, len;
    unsigned char *b = encode_gzip(&len, &raw, &raw_len);
    assert_int_equal(b[4], 2);
    struct record d;
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.flags, RECORD_F_SPLIT | RECORD_F_GZIP);
    assert_null(d.body); /* not inflated by decoding */
    assert_int_equal(d.body_len, raw_len);
    assert_ptr_equal(d.stored, b + RECORD_HEADER_SIZE + 5 + 7);
    assert_int_equal(record_inflate(&d, &mem), RECORD_OK);
    assert_ptr_equal(d.body, mem);
    assert_memory_equal(d.body, raw, raw_len);
    /* What is stored is standard gzip: zlib reads it too. */
    unsigned char *z = malloc(raw_len);
    z_stream zs = {0};
    assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK);
    zs.next_in = (unsigned char *)d.stored;
    zs.avail_in = (uInt)d.stored_len;
    zs.next_out = z;
    zs.avail_out = (uInt)raw_len;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    assert_int_equal(zs.total_out, raw_len);
    assert_memory_equal(z, raw, raw_len);
    inflateEnd(&zs);
    /* Re-encoding the decoded record gives the same bytes. */
    size_t n = record_size(&d);
    assert_int_equal(n, len);
    unsigned char *again = malloc(n);
    record_encode(&d, again);
    assert_memory_equal(again, b, n);
    free(again);
    free(z);
    free(mem);
    free(raw);
    free(b);
}

/* Every flipped bit of a gzip record is caught: by the CRCs when decoding,
 * or (should one slip by) when inflating. */
static void test_gzip_every_flip_detected(void **state)
{
    (void)state;
    unsigned char *raw, *mem;
    size_t raw_len, len;
    unsigned char *b = encode_gzip(&len, &raw, &raw_len);
    struct record d;
    for (size_t i = 0; i < len; i++) {
        b[i] ^= 0x10;
        int rc = record_decode(b, len, &d);
        if (rc == RECORD_OK) {
            rc = record_inflate(&d, &mem);
            free(mem);
        }
        assert_int_not_equal(rc, RECORD_OK);
        b[i] ^= 0x10;
    }
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(record_decode(b, n, &d), RECORD_OK);
    free(raw);
    free(b);
}

/* Lengths that lie behind valid CRCs (a writer bug, not a flipped bit):
 * inflating checks the raw length exactly, and an absurd one is refused
 * before anything is allocated. */
static void fix_header_crc(unsigned char *b, size_t klen_types)
{
    uint32_t c = record_crc32(0, b, 44);
    c = record_crc32(c, b + RECORD_HEADER_SIZE, klen_types);
    for (int i = 0; i < 4; i++)
        b[44 + i] = (unsigned char)(c >> (8 * i));
}

static void test_gzip_lying_lengths(void **state)
{
    (void)state;
    unsigned char *raw, *mem;
    size_t raw_len, len;
    unsigned char *b = encode_gzip(&len, &raw, &raw_len);
    struct record d;
    const uint64_t lies[] = {raw_len - 1, raw_len + 1, 0, 1ull << 40, UINT64_MAX};
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        for (int k = 0; k < 8; k++)
            b[32 + k] = (unsigned char)(lies[i] >> (8 * k));
        fix_header_crc(b, 12);
        int rc = record_decode(b, len, &d);
        if (rc == RECORD_OK) {
            rc = record_inflate(&d, &mem);
            free(mem);
            assert_int_equal(rc, RECORD_BAD_GZIP);
        }
        assert_int_not_equal(rc, RECORD_OK);
    }
    /* A version 1 record claiming gzip, and a version 2 one without it. */
    for (int k = 0; k < 8; k++)
        b[32 + k] = (unsigned char)((uint64_t)raw_len >> (8 * k));
    b[4] = 1;
    fix_header_crc(b, 12);
    assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
    b[4] = 2;
    b[5] &= (unsigned char)~RECORD_F_GZIP;
    fix_header_crc(b, 12);
    assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
    free(raw);
    free(b);
}

/* A gzip record exactly as eddy wrote it before the types list could be
 * compressed (version 2: igzip body, flags GZIP|REPLAYED, key "key-1",
 * types "t.A\nt.B", three events), produced by that version's encoder. */
static const char v2_body[] = "{\"events\":[{\"id\":\"a\",\"event_type\":\"t.A\"},{\"id\":\"b\","
                              "\"event_type\":\"t.A\"},{\"id\":\"c\",\"event_type\":\"t.B\"}]}";
static const unsigned char v2_format[] = {
    0x45, 0x44, 0x52, 0x31, 0x02, 0x0c, 0x05, 0x00, 0x07, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00,
    0x00, 0x7b, 0xa8, 0xda, 0x76, 0x9b, 0x01, 0x00, 0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x66, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f, 0xb0, 0xf4, 0xce, 0xee,
    0xf3, 0x36, 0x4d, 0x6b, 0x65, 0x79, 0x2d, 0x31, 0x74, 0x2e, 0x41, 0x0a, 0x74, 0x2e, 0x42,
    0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xab, 0x56, 0x4a, 0x2d, 0x4b,
    0xcd, 0x2b, 0x29, 0x56, 0xb2, 0x8a, 0xae, 0x56, 0xca, 0x4c, 0x51, 0xb2, 0x52, 0x4a, 0x54,
    0xd2, 0x81, 0x88, 0xc5, 0x97, 0x54, 0x16, 0xa4, 0x2a, 0x59, 0x29, 0x95, 0xe8, 0x39, 0x2a,
    0xd5, 0xea, 0x40, 0x65, 0x93, 0xf0, 0xca, 0x26, 0x63, 0xca, 0x3a, 0x29, 0xd5, 0xc6, 0xd6,
    0x02, 0x00, 0xde, 0xf6, 0x19, 0xf2, 0x66, 0x00, 0x00, 0x00};

static void test_reads_version_2(void **state)
{
    (void)state;
    unsigned char *b = malloc(sizeof v2_format);
    memcpy(b, v2_format, sizeof v2_format);
    struct record d;
    assert_int_equal(record_decode(b, sizeof v2_format, &d), RECORD_OK);
    assert_int_equal(d.version, 2);
    assert_int_equal(d.flags, RECORD_F_GZIP | RECORD_F_REPLAYED);
    assert_int_equal(d.event_count, 3);
    assert_int_equal(d.types_len, 7);
    assert_memory_equal(d.types, "t.A\nt.B", 7);
    char *tmem;
    assert_int_equal(record_unpack_types(&d, &tmem), RECORD_OK); /* raw list: nothing to do */
    assert_null(tmem);
    unsigned char *mem;
    assert_int_equal(record_inflate(&d, &mem), RECORD_OK);
    assert_int_equal(d.body_len, sizeof(v2_body) - 1);
    assert_memory_equal(d.body, v2_body, d.body_len);
    /* Replaying it re-encodes it as it was (the list stays raw). */
    size_t len;
    unsigned char *again = encode(&d, &len);
    assert_int_equal(len, sizeof v2_format);
    assert_memory_equal(again, v2_format, len);
    free(again);
    free(mem);
    free(b);
}

/* Version 3: gzip body and the types list deflated with the dictionary. */
static const char v3_types[] = "users.messages.email.Send\nusers.messages.email.Open\n"
                               "users.behaviors.CustomEvent\nsomething.unknown.Zz\n"
                               "users.messages.pushnotification.IosForeground";

static unsigned char *encode_v3(size_t *len, unsigned char **raw, size_t *raw_len, size_t *tzlen)
{
    *raw = big_body(raw_len);
    unsigned char *z, *tz;
    size_t zlen;
    assert_int_equal(compress_gzip(*raw, *raw_len, &z, &zlen), COMPRESS_OK);
    assert_int_equal(record_pack_types(v3_types, sizeof(v3_types) - 1, &tz, tzlen), COMPRESS_OK);
    struct record r = sample();
    r.flags |= RECORD_F_GZIP | RECORD_F_TYPES_Z;
    r.types = v3_types;
    r.types_len = sizeof(v3_types) - 1;
    r.types_z = tz;
    r.types_zlen = *tzlen;
    r.body = *raw;
    r.body_len = *raw_len;
    r.stored = z;
    r.stored_len = zlen;
    unsigned char *b = encode(&r, len);
    assert_int_equal(*len, RECORD_HEADER_SIZE + 5 + *tzlen + zlen);
    free(z);
    free(tz);
    return b;
}

static void test_v3_round_trip(void **state)
{
    (void)state;
    unsigned char *raw, *mem;
    size_t raw_len, len, tzlen;
    unsigned char *b = encode_v3(&len, &raw, &raw_len, &tzlen);
    /* The four known names cost a few bytes each; the unknown one is
     * spelled out. */
    assert_true(tzlen < 60);
    assert_int_equal(b[4], 3);
    struct record d;
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    assert_int_equal(d.version, 3);
    assert_int_equal(d.flags, RECORD_F_SPLIT | RECORD_F_GZIP | RECORD_F_TYPES_Z);
    assert_null(d.types); /* not inflated by decoding */
    assert_int_equal(d.types_len, sizeof(v3_types) - 1);
    assert_ptr_equal(d.types_z, b + RECORD_HEADER_SIZE + 5);
    assert_int_equal(d.types_zlen, tzlen);
    /* Re-encoding the decoded record (replay) copies the packed list. */
    size_t n;
    unsigned char *again = encode(&d, &n);
    assert_int_equal(n, len);
    assert_memory_equal(again, b, n);
    free(again);
    char *tmem, *tmem2;
    assert_int_equal(record_unpack_types(&d, &tmem), RECORD_OK);
    assert_ptr_equal(d.types, tmem);
    assert_string_equal(d.types, v3_types);
    assert_int_equal(record_unpack_types(&d, &tmem2), RECORD_OK); /* once is enough */
    assert_null(tmem2);
    assert_int_equal(record_inflate(&d, &mem), RECORD_OK);
    assert_memory_equal(d.body, raw, raw_len);
    free(tmem);
    free(mem);
    free(raw);
    free(b);
}

/* Every flipped byte and truncation of a version 3 record is caught, and a
 * packed list whose length lies behind a valid CRC does not unpack. */
static void test_v3_damage_detected(void **state)
{
    (void)state;
    unsigned char *raw;
    size_t raw_len, len, tzlen;
    unsigned char *b = encode_v3(&len, &raw, &raw_len, &tzlen);
    struct record d;
    for (size_t i = 0; i < len; i++) {
        b[i] ^= 0x10;
        assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
        b[i] ^= 0x10;
    }
    for (size_t n = 0; n < len; n++)
        assert_int_not_equal(record_decode(b, n, &d), RECORD_OK);
    const size_t kt = 5 + tzlen;
    const uint16_t lies[] = {sizeof(v3_types) - 2, sizeof(v3_types), 1, RECORD_TYPES_MAX};
    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        b[RECORD_HEADER_SIZE + 5] = (unsigned char)lies[i];
        b[RECORD_HEADER_SIZE + 6] = (unsigned char)(lies[i] >> 8);
        fix_header_crc(b, kt);
        assert_int_equal(record_decode(b, len, &d), RECORD_OK);
        char *tmem;
        assert_int_equal(record_unpack_types(&d, &tmem), RECORD_BAD_TYPES);
        assert_null(tmem);
    }
    /* Longer than any list is refused outright. */
    b[RECORD_HEADER_SIZE + 5] = (unsigned char)(RECORD_TYPES_MAX + 1);
    b[RECORD_HEADER_SIZE + 6] = (unsigned char)((RECORD_TYPES_MAX + 1) >> 8);
    fix_header_crc(b, kt);
    assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
    b[RECORD_HEADER_SIZE + 5] = (unsigned char)(sizeof(v3_types) - 1);
    b[RECORD_HEADER_SIZE + 6] = 0;
    fix_header_crc(b, kt);
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    /* Version and flags must agree: 3 without TYPES_Z, TYPES_Z without
     * GZIP, and 2 with TYPES_Z are all refused. */
    b[5] &= (unsigned char)~RECORD_F_TYPES_Z;
    fix_header_crc(b, kt);
    assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
    b[5] = (unsigned char)((b[5] | RECORD_F_TYPES_Z) & ~RECORD_F_GZIP);
    fix_header_crc(b, kt);
    assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
    b[5] |= RECORD_F_GZIP;
    b[4] = 2;
    fix_header_crc(b, kt);
    assert_int_not_equal(record_decode(b, len, &d), RECORD_OK);
    free(raw);
    free(b);
}

/* A list over RECORD_TYPES_MAX is packed cut on a name boundary and the
 * record says so; a list too short to gain is left raw. */
static void test_pack_types_cut_and_no_gain(void **state)
{
    (void)state;
    char *types = malloc(RECORD_TYPES_MAX * 2);
    size_t tl = 0;
    for (int i = 0; tl < RECORD_TYPES_MAX + 100; i++)
        tl += (size_t)sprintf(types + tl, "%susers.messages.email.Send%d", i ? "\n" : "", i);
    unsigned char *tz, *raw, *z;
    size_t tzlen, raw_len, zlen;
    assert_int_equal(record_pack_types(types, tl, &tz, &tzlen), COMPRESS_OK);
    raw = big_body(&raw_len);
    assert_int_equal(compress_gzip(raw, raw_len, &z, &zlen), COMPRESS_OK);
    struct record r = sample(), d;
    r.flags = RECORD_F_GZIP | RECORD_F_TYPES_Z;
    r.types = types;
    r.types_len = tl;
    r.types_z = tz;
    r.types_zlen = tzlen;
    r.body_len = raw_len;
    r.stored = z;
    r.stored_len = zlen;
    size_t len;
    unsigned char *b = encode(&r, &len);
    assert_int_equal(record_decode(b, len, &d), RECORD_OK);
    assert_true(d.flags & RECORD_F_TYPES_CUT);
    char *tmem;
    assert_int_equal(record_unpack_types(&d, &tmem), RECORD_OK);
    assert_true(d.types_len <= RECORD_TYPES_MAX && d.types_len > RECORD_TYPES_MAX - 40);
    assert_memory_equal(d.types, types, d.types_len);
    assert_int_equal(types[d.types_len], '\n');
    unsigned char *none = (unsigned char *)"x";
    size_t nlen = 9;
    assert_int_equal(record_pack_types("t.A", 3, &none, &nlen), COMPRESS_NO_GAIN);
    assert_null(none);
    assert_int_equal(nlen, 0);
    free(tmem);
    free(b);
    free(z);
    free(raw);
    free(tz);
    free(types);
}

static void test_incompressible_is_no_gain(void **state)
{
    (void)state;
    unsigned char r[256], *z = (unsigned char *)"x";
    size_t zlen = 7;
    srand(3);
    for (size_t i = 0; i < sizeof r; i++)
        r[i] = (unsigned char)rand();
    assert_int_equal(compress_gzip(r, sizeof r, &z, &zlen), COMPRESS_NO_GAIN);
    assert_null(z);
    assert_int_equal(zlen, 0);
    assert_int_equal(compress_gzip(r, 0, &z, &zlen), COMPRESS_NO_GAIN);
    assert_int_equal(compress_gzip_fast(r, sizeof r, &z, &zlen), COMPRESS_NO_GAIN);
    assert_null(z);
    assert_int_equal(compress_gzip_fast(r, 0, &z, &zlen), COMPRESS_NO_GAIN);
    /* gunzip never writes past raw_len, whatever the member holds. */
    unsigned char *raw;
    size_t raw_len;
    raw = big_body(&raw_len);
    assert_int_equal(compress_gzip(raw, raw_len, &z, &zlen), COMPRESS_OK);
    unsigned char *out = malloc(raw_len - 1);
    assert_int_equal(compress_gunzip(z, zlen, out, raw_len - 1), COMPRESS_CORRUPT);
    free(out);
    out = malloc(raw_len);
    assert_int_equal(compress_gunzip(z, zlen, out, raw_len), COMPRESS_OK);
    assert_memory_equal(out, raw, raw_len);
    free(z);
    /* compress_level = fast: igzip's member, a little larger, inflates the same. */
    size_t small = zlen;
    assert_int_equal(compress_gzip_fast(raw, raw_len, &z, &zlen), COMPRESS_OK);
    assert_true(zlen >= small);
    memset(out, 0, raw_len);
    assert_int_equal(compress_gunzip(z, zlen, out, raw_len), COMPRESS_OK);
    assert_memory_equal(out, raw, raw_len);
    free(out);
    free(z);
    free(raw);
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
        cmocka_unit_test(test_reads_todays_format),
        cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_gzip_every_flip_detected),
        cmocka_unit_test(test_gzip_lying_lengths),
        cmocka_unit_test(test_reads_version_2),
        cmocka_unit_test(test_v3_round_trip),
        cmocka_unit_test(test_v3_damage_detected),
        cmocka_unit_test(test_pack_types_cut_and_no_gain),
        cmocka_unit_test(test_incompressible_is_no_gain),
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
