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
 * Version 3 (what ingest writes with compression on) is version 2 with the
 * types list compressed too, RECORD_F_TYPES_Z set: the types field holds
 * the list's length (2 bytes) then a raw deflate stream of the list, and
 * "types length" is that field's length. Left raw, the ~2 KB list beside a
 * 95 KB body that deflates to 27 KB is the difference between 7 and 8 LMDB
 * pages; deflated it is ~500 bytes, and a filter on types still reads only
 * the record's first page and inflates half a KB.
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

#define RECORD_VERSION 3     /* the newest format this code reads */
#define RECORD_VERSION_RAW 1 /* what a raw record is written as */
#define RECORD_HEADER_SIZE 48
#define RECORD_KEY_MAX 1024   /* longer write keys are refused by ingest */
#define RECORD_TYPES_MAX 4096 /* longer type lists are cut, RECORD_F_TYPES_CUT set */

enum record_flags {
    RECORD_F_TYPES_CUT = 1, /* types list incomplete: filters must scan the body */
    RECORD_F_SPLIT = 2,     /* a half made by bisection or size splitting */
    RECORD_F_REPLAYED = 4,  /* came back from the dead-letter queue */
    RECORD_F_GZIP = 8,      /* the body is stored as one gzip member (version 2) */
    RECORD_F_TYPES_Z = 16,  /* and the types list deflated (version 3) */
};

enum record_status {
    RECORD_OK = 0,
    RECORD_TRUNCATED = -1, /* shorter than its header says */
    RECORD_BAD_MAGIC = -2,
    RECORD_BAD_VERSION = -3, /* written by a newer eddy */
    RECORD_BAD_CRC = -4,
    RECORD_BAD_GZIP = -5,  /* a gzip body that does not inflate to its raw length and CRC */
    RECORD_NOMEM = -6,     /* no memory for the raw body or types (not damage) */
    RECORD_BAD_TYPES = -7, /* a deflated types list that does not inflate to its length */
};

/* A decoded record. Pointers are views into the buffer given to
 * record_decode (or, for record_encode, the caller's data).
 * body/body_len are always the RAW body; for a gzip record record_decode
 * leaves body NULL (body_len is still the raw length) until record_inflate.
 * stored/stored_len are the body bytes as stored: the gzip member of a
 * RECORD_F_GZIP record (given to record_encode with the flag set), the same
 * as body for a raw one. types_z/types_zlen are the types field as stored
 * of a RECORD_F_TYPES_Z record (from record_pack_types); record_decode leaves
 * types NULL (types_len is the list's length) until record_unpack_types. */
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
    const unsigned char *types_z;
    size_t types_zlen;
};

/* Bytes record_encode will write for r (types_len is capped at
 * RECORD_TYPES_MAX; a RECORD_F_TYPES_Z record's types field is types_zlen). */
size_t record_size(const struct record *r);

/* Writes r into out, which holds record_size(r) bytes; computes both CRCs.
 * Cuts the types list at RECORD_TYPES_MAX on a '\n' and sets
 * RECORD_F_TYPES_CUT. With RECORD_F_GZIP in r->flags the body written is
 * r->stored (a gzip member of the r->body_len raw bytes) and the record is
 * version 2; otherwise r->body, version 1 (r->version is not used). With
 * RECORD_F_TYPES_Z as well, the types field written is r->types_z and the
 * record is version 3 (RECORD_F_TYPES_CUT is set when r->types_len, the
 * length of the list before packing, is over RECORD_TYPES_MAX). Returns the
 * bytes written. */
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

/* Packs a types list for a RECORD_F_TYPES_Z record: cut at
 * RECORD_TYPES_MAX as record_encode cuts, then deflated, into a malloc'd
 * *out of *outlen bytes (free it). COMPRESS_OK, or COMPRESS_NO_GAIN or
 * COMPRESS_NOMEM (nothing allocated; store the list raw). Costs ~70 us for a
 * 2 KB list (unpacking ~9 us): done on the ingest threads, with the body. */
int record_pack_types(const char *types, size_t len, unsigned char **out, size_t *outlen);

/* Makes r->types the types list: for a RECORD_F_TYPES_Z record, inflates
 * r->types_z into a malloc'd, NUL-terminated buffer (*mem, the caller frees
 * it), else RECORD_BAD_TYPES (or RECORD_NOMEM); for any other record (or
 * one already unpacked) does nothing and sets *mem NULL. */
int record_unpack_types(struct record *r, char **mem);

/* CRC32 of n bytes at p continuing from crc (0 to start): the value of
 * zlib's crc32(crc, p, n), computed with ISA-L. */
uint32_t record_crc32(uint32_t crc, const void *p, size_t n);

/* Human text for a record_status. */
const char *record_strerror(int status);

#endif
