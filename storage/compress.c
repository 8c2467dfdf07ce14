/*
 * compress.c - gzip members for stored bodies, with ISA-L's igzip.
 *
 * Why igzip rather than zlib: on the Currents corpus (tests/bench/compress,
 * figures in README) igzip level 1 compresses several times faster than
 * zlib level 1 at a similar ratio and inflates faster too, and libisal is
 * already linked for CRC32. Both sides are one-shot (stateless) calls: a
 * body is in memory whole at ingest and when read back.
 */
#include "compress.h"

#include <isa-l/igzip_lib.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* igzip counts in 32 bits; max_body is at most 1 GiB, far below. */
#define COMPRESS_MAX ((size_t)UINT32_MAX / 2)

int compress_gzip(const unsigned char *raw, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len == 0 || len > COMPRESS_MAX)
        return COMPRESS_NO_GAIN;
    /* Room for len bytes only: a member that does not fit is no gain. */
    unsigned char *buf = malloc(len);
    if (!buf)
        return COMPRESS_NOMEM;
    struct isal_zstream zs;
    isal_deflate_stateless_init(&zs);
    zs.level = 1;
    zs.gzip_flag = IGZIP_GZIP;
    zs.end_of_stream = 1;
    zs.flush = NO_FLUSH;
    zs.next_in = (uint8_t *)raw;
    zs.avail_in = (uint32_t)len;
    zs.next_out = buf;
    zs.avail_out = (uint32_t)len;
    int rc = isal_deflate_stateless(&zs);
    /* STATELESS_OVERFLOW (no gain) is the only failure expected; storing
     * the body raw is right whatever the reason. */
    if (rc != COMP_OK || zs.avail_in != 0 || zs.total_out >= len) {
        free(buf);
        return COMPRESS_NO_GAIN;
    }
    /* Give back what the member did not use (usually most of buf). */
    unsigned char *fit = realloc(buf, zs.total_out);
    if (fit)
        buf = fit;
    *out = buf;
    *outlen = zs.total_out;
    return COMPRESS_OK;
}

int compress_gunzip(const unsigned char *z, size_t zlen, unsigned char *out, size_t raw_len)
{
    if (zlen > COMPRESS_MAX || raw_len > COMPRESS_MAX)
        return COMPRESS_CORRUPT;
    struct inflate_state st;
    isal_inflate_init(&st);
    st.crc_flag = ISAL_GZIP; /* parse the gzip header, verify the trailer's CRC32 */
    st.next_in = (uint8_t *)z;
    st.avail_in = (uint32_t)zlen;
    st.next_out = out;
    st.avail_out = (uint32_t)raw_len;
    int rc = isal_inflate_stateless(&st);
    /* Exactly one member, every input byte used, exactly raw_len out. */
    if (rc != ISAL_DECOMP_OK || st.avail_in != 0 || st.total_out != raw_len)
        return COMPRESS_CORRUPT;
    return COMPRESS_OK;
}
