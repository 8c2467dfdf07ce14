/*
 * fuzz_record.c - libFuzzer harness for record_decode, the one function that
 * reads bytes back from LMDB (and so from a disk that may have been damaged).
 *
 * Each input is decoded twice: as it is, and after its two CRCs were
 * recomputed the way the format in record.h describes, so that the fuzzer also
 * reaches the paths behind the checksums (length fields that lie, types and
 * keys of any length). Properties: no read outside the buffer (ASan), every
 * view of a decoded record lies inside it and the lengths add up, a record
 * that decodes re-encodes to the same bytes, and a gzip record (version 2,
 * RECORD_F_GZIP) inflates to exactly its raw length or is refused, never
 * writing past what it claims; so does the packed types list of a version 3
 * record (RECORD_F_TYPES_Z).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "fuzz_util.h"
#include "compress.h"
#include "record.h"

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static void put_le32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Recomputes the body CRC (offset 40) and the header CRC (offset 44) of buf
 * in place when its length fields fit inside len. Returns 1 when it did. */
static int fix_crcs(unsigned char *buf, size_t len)
{
    if (len < RECORD_HEADER_SIZE)
        return 0;
    uint64_t klen = get_le(buf + 6, 2), tlen = get_le(buf + 8, 4), blen = get_le(buf + 32, 8);
    uint64_t room = len - RECORD_HEADER_SIZE;
    if (klen > room || tlen > room - klen)
        return 0;
    if (buf[5] & RECORD_F_GZIP)
        blen = room - klen - tlen; /* the stored gzip bytes: what is left */
    else if (blen > room - klen - tlen)
        return 0;
    const unsigned char *key = buf + RECORD_HEADER_SIZE, *types = key + klen, *body = types + tlen;
    put_le32(buf + 40, (uint32_t)crc32(crc32(0, Z_NULL, 0), body, (uInt)blen));
    uLong c = crc32(crc32(0, Z_NULL, 0), buf, 44);
    c = crc32(c, key, (uInt)klen);
    c = crc32(c, types, (uInt)tlen);
    put_le32(buf + 44, (uint32_t)c);
    return 1;
}

/* Whether fix_crcs reproduces what record_encode writes; if the format's
 * CRC layout ever changes the fixed-up pass is skipped rather than lying. */
static int crc_layout_known = -1;

static void learn_crc_layout(void)
{
    static const unsigned char body[] = "{\"events\":[{\"id\":\"a\"}]}";
    struct record r = {.version = RECORD_VERSION,
                       .event_count = 1,
                       .received_ms = 1,
                       .write_key = "k",
                       .write_key_len = 1,
                       .types = "t",
                       .types_len = 1,
                       .body = body,
                       .body_len = sizeof body - 1};
    size_t n = record_size(&r);
    unsigned char *a = malloc(n), *b = malloc(n);
    FUZZ_CHECK(a && b, "oom");
    record_encode(&r, a);
    memcpy(b, a, n);
    memset(b + 40, 0, 8);
    crc_layout_known = fix_crcs(b, n) && memcmp(a, b, n) == 0;
    if (!crc_layout_known)
        fprintf(stderr, "fuzz_record: CRC layout differs from record.h; fixed-up pass off\n");
    free(a);
    free(b);
}

static void check_decoded(const unsigned char *buf, size_t len, const struct record *r)
{
    const unsigned char *end = buf + len;
    FUZZ_CHECK(r->version == buf[4], "version");
    /* An absent key may be NULL; a present one must lie inside buf. */
    FUZZ_CHECK(r->write_key_len == 0 ||
                   ((const unsigned char *)r->write_key >= buf &&
                    (const unsigned char *)r->write_key + r->write_key_len <= end),
               "write key outside the buffer");
    bool gz = r->flags & RECORD_F_GZIP, tz = r->flags & RECORD_F_TYPES_Z;
    FUZZ_CHECK(r->version == (tz   ? 3
                              : gz ? 2
                                   : 1) &&
                   (gz || !tz),
               "version %d with flags %d", r->version, r->flags);
    /* The types field as stored: the list itself, or (version 3) packed. */
    const unsigned char *tf = tz ? r->types_z : (const unsigned char *)r->types;
    size_t tflen = tz ? r->types_zlen : r->types_len;
    FUZZ_CHECK(tf >= buf && tf + tflen <= end, "types outside the buffer");
    FUZZ_CHECK(r->stored >= buf && r->stored + r->stored_len <= end, "body outside the buffer");
    FUZZ_CHECK(RECORD_HEADER_SIZE + r->write_key_len + tflen + r->stored_len == len,
               "lengths do not add up to the buffer");
    if (tz) {
        FUZZ_CHECK(r->types == NULL && r->types_len <= RECORD_TYPES_MAX, "packed types view");
        struct record t = *r;
        char *mem;
        int rc = record_unpack_types(&t, &mem);
        FUZZ_CHECK(rc == RECORD_OK || rc == RECORD_BAD_TYPES || rc == RECORD_NOMEM,
                   "unpack status %d", rc);
        /* mem holds types_len + 1 bytes: ASan catches a longer write. */
        FUZZ_CHECK(rc != RECORD_OK || (t.types == mem && mem[t.types_len] == '\0'),
                   "unpacked types not in their buffer");
        free(mem);
    }
    if (gz) {
        FUZZ_CHECK(r->body == NULL, "gzip body inflated by decoding");
        struct record z = *r;
        unsigned char *mem;
        int rc = record_inflate(&z, &mem);
        FUZZ_CHECK(rc == RECORD_OK || rc == RECORD_BAD_GZIP || rc == RECORD_NOMEM,
                   "inflate status %d", rc);
        /* mem holds exactly body_len bytes: ASan catches a longer write. */
        FUZZ_CHECK(rc != RECORD_OK || (z.body == mem && (mem || z.body_len == 0)),
                   "inflated body not in its buffer");
        free(mem);
    } else {
        FUZZ_CHECK(r->body == r->stored && r->body_len == r->stored_len, "raw body view");
    }

    if (r->types_len > RECORD_TYPES_MAX)
        return;
    /* Canonical form: encoding the decoded record gives the same bytes. */
    size_t n = record_size(r);
    FUZZ_CHECK(n <= len, "record_size %zu > buffer %zu", n, len);
    unsigned char *again = malloc(n);
    FUZZ_CHECK(again != NULL, "oom");
    FUZZ_CHECK(record_encode(r, again) == n, "encode size");
    FUZZ_CHECK(memcmp(again, buf, n) == 0, "re-encoding changed the record");
    free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (crc_layout_known < 0)
        learn_crc_layout();

    /* A private copy, exactly sized, so ASan sees any read past the end. */
    unsigned char *buf = malloc(size ? size : 1);
    FUZZ_CHECK(buf != NULL, "oom");
    memcpy(buf, data, size);

    struct record r;
    int rc = record_decode(buf, size, &r);
    FUZZ_CHECK(rc <= 0 && rc >= RECORD_BAD_TYPES, "unknown status %d", rc);
    FUZZ_CHECK(record_strerror(rc) != NULL, "no text for %d", rc);
    if (rc == RECORD_OK)
        check_decoded(buf, size, &r);

    if (crc_layout_known && size >= RECORD_HEADER_SIZE && size >= 4 &&
        memcmp(buf, "EDR1", 4) == 0 && fix_crcs(buf, size)) {
        rc = record_decode(buf, size, &r);
        if (rc == RECORD_OK)
            check_decoded(buf, size, &r);
    }
    free(buf);
    return 0;
}
