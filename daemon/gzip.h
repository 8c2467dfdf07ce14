/*
 * gzip.h - inflating request bodies sent with Content-Encoding: gzip (or
 * zlib), with a cap on the inflated size so a small bomb cannot exhaust
 * memory.
 */
#ifndef EDDY_GZIP_H
#define EDDY_GZIP_H

#include <stddef.h>

enum gzip_status {
    GZIP_OK = 0,
    GZIP_CORRUPT = -1,   /* not gzip/zlib data, truncated, or a bad checksum */
    GZIP_TOO_LARGE = -2, /* inflates to more than cap bytes */
    GZIP_NOMEM = -3,
};

/* Inflates in[0..inlen) (gzip or zlib, detected from the header; several
 * concatenated gzip members are joined) into a malloc'd *out of *outlen
 * bytes (free it; *out is NULL when *outlen is 0). */
int gzip_inflate(const unsigned char *in, size_t inlen, size_t cap, unsigned char **out,
                 size_t *outlen);

#endif
