/*
 * compress_ratio.c - the micro-measurement behind [storage] compress: over
 * the bodies named on the command line (the corpus bodies under
 * tests/fixtures/corpus), for eddy's compress_gzip (libdeflate level
 * COMPRESS_LEVEL) and compress_gzip_fast (igzip level 1, with the level
 * buffer eddy keeps per thread) beside other libdeflate levels, ISA-L igzip
 * levels 1-3 (each with ISA-L's default level buffer) and
 * zlib levels 1, 6 and 9: stored size, LMDB pages per raw byte and compress
 * speed; then inflate speed, and the time record_pack_types takes a record.
 *   build/bench/compress_ratio tests/fixtures/corpus/batch-*
 * Pages: a record is a 48-byte header, the write key (5 bytes, "bench" as
 * tests/bench/disk.sh posts), the types list and the stored body; a value
 * over a leaf page's room takes ceil((16 + size) / 4096) overflow pages.
 * Two page columns: with the types list packed (record version 3, what
 * eddyd writes) and raw (version 2).
 */
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "../../storage/batch.h"
#include "../../storage/compress.h"
#include "../../storage/record.h"

#define MAXF 256
#define CAP ((1 << 22) + 1024)

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t pages(size_t types, size_t stored)
{
    return (16 + RECORD_HEADER_SIZE + 5 + types + stored + 4095) / 4096;
}

enum kind { EDDY, EDDY_FAST, LIBDEFLATE, IGZIP, ZLIB };

static size_t gzip_one(enum kind k, int level, const unsigned char *in, size_t len,
                       unsigned char *out)
{
    static struct libdeflate_compressor *ld[13];
    static unsigned char lvlbuf[ISAL_DEF_LVL3_DEFAULT];
    if (k == EDDY || k == EDDY_FAST) {
        unsigned char *z;
        size_t zl;
        if ((k == EDDY ? compress_gzip : compress_gzip_fast)(in, len, &z, &zl) != COMPRESS_OK)
            return len;
        free(z);
        return zl;
    }
    if (k == LIBDEFLATE) {
        if (!ld[level])
            ld[level] = libdeflate_alloc_compressor(level);
        return libdeflate_gzip_compress(ld[level], in, len, out, CAP);
    }
    if (k == IGZIP) {
        static const size_t lb[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
                                    ISAL_DEF_LVL3_DEFAULT};
        struct isal_zstream zs;
        isal_deflate_stateless_init(&zs);
        zs.level = (uint32_t)level;
        zs.level_buf = lvlbuf;
        zs.level_buf_size = (uint32_t)lb[level];
        zs.gzip_flag = IGZIP_GZIP;
        zs.end_of_stream = 1;
        zs.next_in = (uint8_t *)in;
        zs.avail_in = (uint32_t)len;
        zs.next_out = out;
        zs.avail_out = CAP;
        return isal_deflate_stateless(&zs) == COMP_OK ? zs.total_out : len;
    }
    z_stream zs = {0};
    if (deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return len;
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = CAP;
    size_t n = deflate(&zs, Z_FINISH) == Z_STREAM_END ? zs.total_out : len;
    deflateEnd(&zs);
    return n;
}

int main(int argc, char **argv)
{
    unsigned char *b[MAXF];
    size_t l[MAXF], traw[MAXF], tpacked[MAXF], n = 0, raw = 0;
    char *types[MAXF];
    size_t types_len[MAXF];
    for (int i = 1; i < argc && n < MAXF; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        b[n] = malloc(1 << 22);
        l[n] = fread(b[n], 1, 1 << 22, f);
        fclose(f);
        struct batch_summary s;
        char err[256];
        if (batch_validate(b[n], l[n], &s, err, sizeof err) != BATCH_OK) {
            fprintf(stderr, "%s: not a batch, skipped\n", argv[i]);
            free(b[n]);
            continue;
        }
        unsigned char *tz;
        traw[n] = s.types_len < RECORD_TYPES_MAX ? s.types_len : RECORD_TYPES_MAX;
        tpacked[n] = traw[n];
        if (record_pack_types(s.types, s.types_len, &tz, &tpacked[n]) == COMPRESS_OK)
            free(tz);
        types[n] = s.types;
        types_len[n] = s.types_len;
        raw += l[n++];
    }
    if (n == 0 || raw == 0) {
        fprintf(stderr, "usage: compress_ratio BODY...\n");
        return 2;
    }
    const int reps = 5;
    unsigned char *out = malloc(CAP), *back = malloc(1 << 22);
    size_t tp = 0, tr = 0;
    for (size_t i = 0; i < n; i++) {
        tp += tpacked[i];
        tr += traw[i];
    }
    printf("%zu bodies, %zu raw bytes, %d rounds; types list per record: %zu bytes packed, "
           "%zu raw\n",
           n, raw, reps, tp / n, tr / n);
    printf("%-24s %8s %14s %14s %8s\n", "compressor", "stored", "pages packed", "pages raw",
           "MB/s");
    static const struct {
        const char *name;
        enum kind k;
        int level;
    } cs[] = {
        {"eddy (libdeflate 8)", EDDY, 0},
        {"eddy fast (igzip 1)", EDDY_FAST, 0},
        {"libdeflate 6", LIBDEFLATE, 6},
        {"libdeflate 7", LIBDEFLATE, 7},
        {"libdeflate 9", LIBDEFLATE, 9},
        {"igzip 1", IGZIP, 1},
        {"igzip 2", IGZIP, 2},
        {"igzip 3", IGZIP, 3},
        {"zlib 1", ZLIB, 1},
        {"zlib 6", ZLIB, 6},
        {"zlib 9", ZLIB, 9},
    };
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        size_t stored = 0, pp = 0, pr = 0;
        double t0 = now_s();
        for (int r = 0; r < reps; r++)
            for (size_t i = 0; i < n; i++) {
                size_t zl = gzip_one(cs[c].k, cs[c].level, b[i], l[i], out);
                if (r == 0) {
                    stored += zl;
                    pp += pages(tpacked[i], zl);
                    pr += pages(traw[i], zl);
                }
            }
        double dt = now_s() - t0;
        printf("%-24s %8.3f %8zu %.3f %8zu %.3f %8.0f\n", cs[c].name, (double)stored / (double)raw,
               pp, (double)pp * 4096 / (double)raw, pr, (double)pr * 4096 / (double)raw,
               (double)raw * reps / dt / 1e6);
    }
    /* Inflate speed of eddy's members, igzip (what eddy uses) against zlib. */
    unsigned char *z[MAXF];
    size_t zl[MAXF];
    for (size_t i = 0; i < n; i++)
        if (compress_gzip(b[i], l[i], &z[i], &zl[i]) != COMPRESS_OK)
            return 1;
    double t0 = now_s();
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i++)
            if (compress_gunzip(z[i], zl[i], back, l[i]) != COMPRESS_OK)
                return 1;
    printf("inflate igzip (eddy)   %.0f MB/s of raw\n", (double)raw * reps / (now_s() - t0) / 1e6);
    t0 = now_s();
    for (int r = 0; r < reps; r++)
        for (size_t i = 0; i < n; i++) {
            z_stream is = {0};
            inflateInit2(&is, 31);
            is.next_in = z[i];
            is.avail_in = (uInt)zl[i];
            is.next_out = back;
            is.avail_out = (uInt)l[i];
            inflate(&is, Z_FINISH);
            inflateEnd(&is);
        }
    printf("inflate zlib           %.0f MB/s of raw\n", (double)raw * reps / (now_s() - t0) / 1e6);
    /* What packing a record's types list costs (on every compressed body). */
    const int pack_reps = 200;
    t0 = now_s();
    for (int r = 0; r < pack_reps; r++)
        for (size_t i = 0; i < n; i++) {
            unsigned char *tz;
            size_t tzl;
            if (types[i] && record_pack_types(types[i], types_len[i], &tz, &tzl) == COMPRESS_OK)
                free(tz);
        }
    printf("types list packing     %.1f us a record\n",
           (now_s() - t0) * 1e6 / (pack_reps * (double)n));
    return 0;
}
