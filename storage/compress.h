/*
 * compress.h - gzip for stored bodies: one gzip member per body, written
 * with libdeflate at COMPRESS_LEVEL (or igzip level 1 where speed matters
 * more than disk) and inflated with ISA-L's igzip, whose output is checked
 * against the raw length and gzip's CRC32 of the raw bytes.
 */
#ifndef EDDY_COMPRESS_H
#define EDDY_COMPRESS_H

#include <stddef.h>

/* libdeflate's level: the lowest that stores tests/fixtures/corpus in
 * under 0.30 bytes on disk per raw byte (7 LMDB pages a record, some 6;
 * figures in README "Long outages"). */
#define COMPRESS_LEVEL 8

enum compress_status {
    COMPRESS_OK = 0,
    COMPRESS_NO_GAIN = 1, /* would not come out smaller: store the body raw */
    COMPRESS_NOMEM = -1,
    COMPRESS_CORRUPT = -2, /* not one gzip member of exactly raw_len bytes */
};

/* Compresses raw[0..len) into one gzip member in a malloc'd *out (*outlen
 * bytes; free it). COMPRESS_NO_GAIN (nothing allocated) when the member
 * would not be smaller than len. Thread-safe: each thread keeps its own
 * compressor, freed when the thread ends. */
int compress_gzip(const unsigned char *raw, size_t len, unsigned char **out, size_t *outlen);

/* The same with ISA-L's igzip at level 1 ([storage] compress_level =
 * fast): ~9x less CPU than compress_gzip, ~17% more pages on disk. */
int compress_gzip_fast(const unsigned char *raw, size_t len, unsigned char **out, size_t *outlen);

/* Inflates the gzip member z[0..zlen) into out, which holds raw_len bytes:
 * COMPRESS_OK only when it is exactly one member, inflates to exactly raw_len
 * bytes and its CRC32 matches. Never writes past out + raw_len. */
int compress_gunzip(const unsigned char *z, size_t zlen, unsigned char *out, size_t raw_len);

#endif
