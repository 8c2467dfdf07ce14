/*
 * fill_queue.c - benchmark helper: builds a backlog in an eddy data dir fast,
 * straight through the storage API (queue_append_group), as ingest would
 * store it: each body validated and summarised, stored byte for byte, or
 * with --gzip compressed as ingest compresses it with [storage] compress =
 * gzip (compress_gzip, the type list packed: a version 3 record).
 *
 *   fill_queue [--gzip GZ_DIR] DATA_DIR COUNT WRITE_KEY[,WRITE_KEY...] BODY_FILE...
 *
 * Appends COUNT batches, cycling over the body files, 100 per transaction;
 * with several write keys (sources), batch i gets key i modulo their number,
 * so the sources' batches are interleaved as many tenants' would be. Each
 * body is compressed once (the bytes are the same for every copy); with
 * --gzip, GZ_DIR/<body file name>.gz gets the gzip member stored, for a
 * peer posting exactly those bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../storage/batch.h"
#include "../../storage/compress.h"
#include "../../storage/queue.h"
#include "../../storage/record.h"

struct body {
    unsigned char *data;
    size_t len;
    struct batch_summary sum;
    unsigned char *z, *tz; /* --gzip: the stored member and packed types */
    size_t zlen, tzlen;
};

/* Compresses b as ingest does and writes its member to gz_dir. */
static int compress_body(struct body *b, const char *path, const char *gz_dir)
{
    if (compress_gzip(b->data, b->len, &b->z, &b->zlen) != COMPRESS_OK)
        return -1;
    if (record_pack_types(b->sum.types, b->sum.types_len, &b->tz, &b->tzlen) != COMPRESS_OK)
        b->tz = NULL;
    const char *base = strrchr(path, '/');
    char out[4096];
    snprintf(out, sizeof out, "%s/%s.gz", gz_dir, base ? base + 1 : path);
    FILE *f = fopen(out, "wb");
    int rc = f && fwrite(b->z, 1, b->zlen, f) == b->zlen ? 0 : -1;
    if (f && fclose(f) != 0)
        rc = -1;
    return rc;
}

static int read_file(const char *path, struct body *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b->data = malloc(n > 0 ? (size_t)n : 1);
    b->len = b->data ? fread(b->data, 1, (size_t)n, f) : 0;
    fclose(f);
    return b->data && b->len == (size_t)n ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *gz_dir = NULL;
    if (argc > 2 && strcmp(argv[1], "--gzip") == 0) {
        gz_dir = argv[2];
        argv += 2;
        argc -= 2;
    }
    if (argc < 5) {
        fprintf(stderr, "usage: fill_queue [--gzip GZ_DIR] DATA_DIR COUNT "
                        "WRITE_KEY[,WRITE_KEY...] BODY_FILE...\n");
        return 2;
    }
    long count = atol(argv[2]);
    char *keys[64];
    int nkeys = 0;
    for (char *save = NULL, *k = strtok_r(argv[3], ",", &save); k && nkeys < 64;
         k = strtok_r(NULL, ",", &save))
        keys[nkeys++] = k;
    if (nkeys == 0) {
        fprintf(stderr, "fill_queue: no write key\n");
        return 2;
    }
    int nbodies = argc - 4;
    struct body *bodies = calloc((size_t)nbodies, sizeof(*bodies));
    char err[512];
    for (int i = 0; i < nbodies; i++) {
        if (!bodies || read_file(argv[4 + i], &bodies[i]) != 0) {
            fprintf(stderr, "fill_queue: cannot read %s\n", argv[4 + i]);
            return 1;
        }
        if (batch_validate(bodies[i].data, bodies[i].len, &bodies[i].sum, err, sizeof(err)) !=
            BATCH_OK) {
            fprintf(stderr, "fill_queue: %s: %s\n", argv[4 + i], err);
            return 1;
        }
        if (gz_dir && compress_body(&bodies[i], argv[4 + i], gz_dir) != 0) {
            fprintf(stderr, "fill_queue: %s: cannot compress it into %s\n", argv[4 + i], gz_dir);
            return 1;
        }
    }
    struct queue_options o = {
        .dir = argv[1], .map_size = 8ULL << 30, .sync_full = true, .create = true};
    queue_t *q;
    if (queue_open(&q, &o, err, sizeof(err)) != QUEUE_OK) {
        fprintf(stderr, "fill_queue: %s\n", err);
        return 1;
    }
    struct queue_batch group[100];
    struct timespec ts;
    for (long done = 0; done < count;) {
        size_t n = 0;
        clock_gettime(CLOCK_REALTIME, &ts);
        for (; n < 100 && done < count; n++, done++) {
            const struct body *b = &bodies[done % nbodies];
            const char *key = keys[done % nkeys];
            group[n] = (struct queue_batch){
                .body = b->data,
                .body_len = b->len,
                .zbody = b->z,
                .zbody_len = b->zlen,
                .ztypes = b->tz,
                .ztypes_len = b->tzlen,
                .write_key = key,
                .write_key_len = strlen(key),
                .types = b->sum.types,
                .types_len = b->sum.types_len,
                .event_count = b->sum.events,
                .received_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
            };
        }
        if (queue_append_group(q, group, n) != QUEUE_OK) {
            fprintf(stderr, "fill_queue: append: %s\n", queue_last_error());
            queue_close(q);
            return 1;
        }
    }
    queue_close(q);
    for (int i = 0; i < nbodies; i++) {
        free(bodies[i].data);
        free(bodies[i].sum.types);
        free(bodies[i].z);
        free(bodies[i].tz);
    }
    free(bodies);
    return 0;
}
