/*
 * compress.c - deflate for stored records: libdeflate to compress, ISA-L's
 * igzip to inflate.
 *
 * Why libdeflate: bytes on disk are whole LMDB pages per record, and a
 * 95 KB Currents body needs deflate at about zlib 9's ratio to fit 7 pages;
 * igzip tops out at level 3 (0.31 of the raw bytes, 8 pages). libdeflate's
 * level 8 gets there several times faster than zlib 9 (figures in README
 * "Compressed storage"), but at ~9x igzip level 1's CPU, which
 * compress_gzip_fast keeps for [storage] compress_level = fast. igzip
 * inflates (the fastest here, and libisal is linked for CRC32 anyway).
 * Both sides are one-shot calls: a body is in memory whole at ingest and
 * when read back.
 */
#include "compress.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

/* igzip counts in 32 bits; max_body is at most 1 GiB, far below. */
#define COMPRESS_MAX ((size_t)UINT32_MAX / 2)

/* What a thread that compresses keeps, freed by the key's destructor: a
 * libdeflate compressor (not thread-safe, ~1 MB to set up; made on first
 * use) and igzip's level 1 buffer, without which isal_deflate_stateless
 * falls back to a small internal one and takes ~10-15% longer on a 94 KB
 * body (figures in README "Long outages"). */
struct scratch {
    struct libdeflate_compressor *ld;
    unsigned char lvl1[ISAL_DEF_LVL1_DEFAULT]; /* 276 KiB */
};

static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static bool key_ok;

static void free_scratch(void *p)
{
    struct scratch *s = p;
    if (s->ld)
        libdeflate_free_compressor(s->ld);
    free(s);
}

static void make_key(void)
{
    key_ok = pthread_key_create(&key, free_scratch) == 0;
}

static struct scratch *scratch(void)
{
    pthread_once(&key_once, make_key);
    if (!key_ok)
        return NULL;
    struct scratch *s = pthread_getspecific(key);
    if (!s && (s = malloc(sizeof(*s))) != NULL) {
        s->ld = NULL;
        if (pthread_setspecific(key, s) != 0) {
            free(s);
            s = NULL;
        }
    }
    return s;
}

/* Gives the caller the n bytes compressed into buf (0: no gain, buf is
 * freed), shrunk to what they use (most of buf is not). */
static int hand_over(unsigned char *buf, size_t n, unsigned char **out, size_t *outlen)
{
    if (n == 0) {
        free(buf);
        return COMPRESS_NO_GAIN;
    }
    unsigned char *fit = realloc(buf, n);
    if (fit)
        buf = fit;
    *out = buf;
    *outlen = n;
    return COMPRESS_OK;
}

int compress_gzip(const unsigned char *raw, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len == 0 || len > COMPRESS_MAX)
        return COMPRESS_NO_GAIN;
    struct scratch *s = scratch();
    if (s && !s->ld)
        s->ld = libdeflate_alloc_compressor(COMPRESS_LEVEL);
    /* Room for len - 1 bytes only: a result that does not fit is no gain. */
    unsigned char *buf = s && s->ld ? malloc(len) : NULL;
    if (!buf)
        return COMPRESS_NOMEM;
    return hand_over(buf, libdeflate_gzip_compress(s->ld, raw, len, buf, len - 1), out, outlen);
}

int compress_gzip_fast(const unsigned char *raw, size_t len, unsigned char **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (len == 0 || len > COMPRESS_MAX)
        return COMPRESS_NO_GAIN;
    struct scratch *s = scratch();
    unsigned char *buf = s ? malloc(len) : NULL;
    if (!buf)
        return COMPRESS_NOMEM;
    struct isal_zstream zs;
    isal_deflate_stateless_init(&zs);
    zs.level = 1;
    zs.level_buf = s->lvl1;
    zs.level_buf_size = sizeof(s->lvl1);
    zs.gzip_flag = IGZIP_GZIP;
    zs.end_of_stream = 1;
    zs.flush = NO_FLUSH;
    zs.next_in = (uint8_t *)raw;
    zs.avail_in = (uint32_t)len;
    zs.next_out = buf;
    zs.avail_out = (uint32_t)len;
    /* STATELESS_OVERFLOW (no gain) is the only failure expected; storing
     * the body raw is right whatever the reason. */
    bool ok = isal_deflate_stateless(&zs) == COMP_OK && zs.avail_in == 0 && zs.total_out < len;
    return hand_over(buf, ok ? zs.total_out : 0, out, outlen);
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
