/*
 * compress_ratio.c - the micro-measurement behind [storage] compress:
 * over the bodies named on the command line (the corpus bodies under tests/fixtures/corpus),
 * stored size and LMDB pages per raw byte, compress and inflate speed, for
 * eddy's compress_gzip (ISA-L igzip level 1) beside zlib levels 1 and 6.
 *   build/bench/compress_ratio tests/fixtures/corpus/batch-*
 * Pages: a value over a leaf page's room takes ceil((16 + size) / 4096)
 * overflow pages; size = 48-byte header + key + types + stored body (64
 * bytes of key and types assumed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "../../storage/compress.h"

#define MAXF 256

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static size_t pages(size_t stored)
{
    return (16 + 48 + 64 + stored + 4095) / 4096;
}

static size_t zlib_gzip(int level, const unsigned char *in, size_t len, unsigned char *out,
                        size_t cap)
{
    z_stream zs = {0};
    if (deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    zs.next_in = (unsigned char *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    size_t n = deflate(&zs, Z_FINISH) == Z_STREAM_END ? zs.total_out : 0;
    deflateEnd(&zs);
    return n;
}

int main(int argc, char **argv)
{
    unsigned char *b[MAXF];
    size_t l[MAXF], n = 0, raw = 0;
    for (int i = 1; i < argc && n < MAXF; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f)
            continue;
        b[n] = malloc(1 << 22);
        l[n] = fread(b[n], 1, 1 << 22, f);
        fclose(f);
        raw += l[n++];
    }
    if (n == 0 || raw == 0) {
        fprintf(stderr, "usage: compress_ratio BODY...\n");
        return 2;
    }
    const int reps = 10;
    size_t cap = (1 << 22) + 1024;
    unsigned char *out = malloc(cap), *back = malloc(1 << 22);
    printf("%zu bodies, %zu raw bytes, %d rounds\n", n, raw, reps);
    for (int c = 0; c < 3; c++) {
        const char *name = c == 0   ? "igzip level 1 (eddy)"
                           : c == 1 ? "zlib level 1"
                                    : "zlib level 6";
        size_t stored = 0, pg = 0;
        double t0 = now_s();
        for (int r = 0; r < reps; r++)
            for (size_t i = 0; i < n; i++) {
                size_t zl;
                if (c == 0) {
                    unsigned char *z;
                    if (compress_gzip(b[i], l[i], &z, &zl) != COMPRESS_OK)
                        zl = l[i];
                    free(z);
                } else {
                    zl = zlib_gzip(c == 1 ? 1 : 6, b[i], l[i], out, cap);
                }
                if (r == 0) {
                    stored += zl;
                    pg += pages(zl);
                }
            }
        double dt = now_s() - t0;
        printf("%-22s stored/raw %.3f  pages*4096/raw %.3f  compress %.0f MB/s\n", name,
               (double)stored / (double)raw, (double)pg * 4096 / (double)raw,
               (double)raw * reps / dt / 1e6);
    }
    /* Inflate speed of one member per body, igzip (eddy) against zlib. */
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
    return 0;
}
