/*
 * record.h - the on-disk record: one stored Currents batch.
 *
 * A record is a fixed 48-byte header, then the write key, the distinct event
 * types ('\n'-separated), then the body: the request body exactly as
 * received (decompressed), stored raw or as one gzip member. Integers are
 * little-endian. Two CRC32s (zlib's crc32(), the gzip polynomial) guard it:
 * one over the stored body bytes and one over the header, key and types, so
 * any flipped byte is detected before a body is used; a gzip body also
 * carries gzip's own CRC32 and length of the raw bytes, checked on inflate.
 *
 * Version 1 (every record eddy wrote before compression, and every raw
 * record since: old stores read back unchanged, no migration) stores the
 * body raw. Version 2 is the same layout with RECORD_F_GZIP set: the body
 * field holds a gzip member, "body length" is the length of the RAW body
 * (what it inflates to, exactly), and the stored length is what is left of
 * the value after the header, key and types. An older eddy refuses a
 * version 2 record as "written by a newer eddy" instead of misreading it.
 *
 *   off size field
 *     0    4 magic "EDR1"
 *     4    1 format version (RECORD_VERSION)
 *     5    1 flags (RECORD_F_*)
 *     6    2 write key length
 *     8    4 types length
 *    12    4 event count
 *    16    8 received time, Unix milliseconds
 *    24    8 origin sequence (the pending id this record came from, 0 if new)
 *    32    8 body length (raw: as received, whatever the encoding)
 *    40    4 CRC32 of the body as stored
 *    44    4 CRC32 of bytes 0..43, the key and the types
 */
#ifndef EDDY_RECORD_H
#define EDDY_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define RECORD_VERSION 2     /* the newest format this code reads */
#define RECORD_VERSION_RAW 1 /* what a raw record is written as */
#define RECORD_HEADER_SIZE 48
#define RECORD_KEY_MAX 1024   /* longer write keys are refused by ingest */
#define RECORD_TYPES_MAX 4096 /* longer type lists are cut, RECORD_F_TYPES_CUT set */

enum record_flags {
    RECORD_F_TYPES_CUT = 1, /* types list incomplete: filters must scan the body */
    RECORD_F_SPLIT = 2,     /* a half made by bisection or size splitting */
    RECORD_F_REPLAYED = 4,  /* came back from the dead-letter queue */
    RECORD_F_GZIP = 8,      /* the body is stored as one gzip member (version 2) */
};

enum record_status {
    RECORD_OK = 0,
    RECORD_TRUNCATED = -1, /* shorter than its header says */
    RECORD_BAD_MAGIC = -2,
    RECORD_BAD_VERSION = -3, /* written by a newer eddy */
    RECORD_BAD_CRC = -4,
    RECORD_BAD_GZIP = -5, /* a gzip body that does not inflate to its raw length and CRC */
    RECORD_NOMEM = -6,    /* record_inflate: no memory for the raw body (not damage) */
};

/* A decoded record. Pointers are views into the buffer given to
 * record_decode (or, for record_encode, the caller's data).
 * body/body_len are always the RAW body; for a gzip record record_decode
 * leaves body NULL (body_len is still the raw length) until record_inflate.
 * stored/stored_len are the body bytes as stored: the gzip member of a
 * RECORD_F_GZIP record (given to record_encode with the flag set), the same
 * as body for a raw one. */
struct record {
    uint8_t version;
    uint8_t flags;
    uint32_t event_count;
    int64_t received_ms;
    uint64_t origin_seq;
    const char *write_key;
    size_t write_key_len;
    const char *types;
    size_t types_len;
    const unsigned char *body;
    size_t body_len;
    const unsigned char *stored;
    size_t stored_len;
};

/* Bytes record_encode will write for r (types_len is capped at
 * RECORD_TYPES_MAX). */
size_t record_size(const struct record *r);

/* Writes r into out, which holds record_size(r) bytes; computes both CRCs.
 * Cuts the types list at RECORD_TYPES_MAX on a '\n' and sets
 * RECORD_F_TYPES_CUT. With RECORD_F_GZIP in r->flags the body written is
 * r->stored (a gzip member of the r->body_len raw bytes) and the record is
 * version 2; otherwise r->body, version 1 (r->version is not used). Returns
 * the bytes written. */
size_t record_encode(const struct record *r, unsigned char *out);

/* Decodes buf into *r (views into buf) and checks magic, version, lengths and
 * both CRCs. Returns RECORD_OK or a negative record_status; never reads past
 * len. A gzip body is not inflated (r->body stays NULL). */
int record_decode(const void *buf, size_t len, struct record *r);

/* Makes r->body the raw body: for a gzip record, inflates r->stored into a
 * malloc'd buffer (*mem, the caller frees it) that must come out exactly
 * r->body_len bytes with gzip's CRC right, else RECORD_BAD_GZIP; for a raw
 * record (or one already inflated) does nothing and sets *mem NULL. */
int record_inflate(struct record *r, unsigned char **mem);

/* CRC32 of n bytes at p continuing from crc (0 to start): the value of
 * zlib's crc32(crc, p, n), computed with ISA-L. */
uint32_t record_crc32(uint32_t crc, const void *p, size_t n);

/* Human text for a record_status. */
const char *record_strerror(int status);

#endif
