/*
 * gzip.c - Content-Encoding: gzip request bodies, inflated with zlib.
 *
 * inflateInit2 with 15 + 32 detects gzip or zlib headers by itself. The
 * output grows by doubling but never beyond cap + 1 bytes: producing one
 * byte more than cap proves the body is too large without inflating the
 * rest of a decompression bomb.
 */
#include "gzip.h"

#include <stdlib.h>
#include <zlib.h>

int gzip_inflate(const unsigned char *in, size_t inlen, size_t cap, unsigned char **out,
                 size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    z_stream zs = {0};
    if (inflateInit2(&zs, 15 + 32) != Z_OK)
        return GZIP_NOMEM;
    size_t size = inlen * 4 + 4096, used = 0;
    if (size > cap + 1)
        size = cap + 1;
    unsigned char *buf = malloc(size);
    int rc = GZIP_OK;
    if (!buf) {
        rc = GZIP_NOMEM;
        goto done;
    }
    zs.next_in = (unsigned char *)in;
    size_t left_in = inlen;
    for (;;) {
        if (used == size) {
            if (size > cap) { /* cap + 1 bytes produced: too large */
                rc = GZIP_TOO_LARGE;
                goto done;
            }
            size_t nsize = size * 2 > cap + 1 ? cap + 1 : size * 2;
            unsigned char *nbuf = realloc(buf, nsize);
            if (!nbuf) {
                rc = GZIP_NOMEM;
                goto done;
            }
            buf = nbuf;
            size = nsize;
        }
        /* zlib counts in uInt: feed at most 1 GiB at a time. */
        uInt in_chunk = left_in > (1u << 30) ? (1u << 30) : (uInt)left_in;
        size_t room = size - used;
        uInt out_chunk = room > (1u << 30) ? (1u << 30) : (uInt)room;
        zs.avail_in = in_chunk;
        zs.next_out = buf + used;
        zs.avail_out = out_chunk;
        int z = inflate(&zs, Z_NO_FLUSH);
        left_in -= in_chunk - zs.avail_in;
        used += out_chunk - zs.avail_out;
        if (z == Z_STREAM_END) {
            if (left_in == 0)
                break;
            /* Another gzip member follows (RFC 1952 allows several). */
            if (inflateReset(&zs) != Z_OK) {
                rc = GZIP_CORRUPT;
                goto done;
            }
            continue;
        }
        if (z == Z_BUF_ERROR && left_in == 0 && zs.avail_out > 0) {
            rc = GZIP_CORRUPT; /* truncated stream */
            goto done;
        }
        if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = z == Z_MEM_ERROR ? GZIP_NOMEM : GZIP_CORRUPT;
            goto done;
        }
        if (used > cap) {
            rc = GZIP_TOO_LARGE;
            goto done;
        }
    }
    if (used > cap)
        rc = GZIP_TOO_LARGE;
done:
    inflateEnd(&zs);
    if (rc != GZIP_OK || used == 0) {
        free(buf);
        return rc;
    }
    *out = buf;
    *outlen = used;
    return GZIP_OK;
}
