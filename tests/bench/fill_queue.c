/*
 * fill_queue.c - benchmark helper: builds a backlog in an eddy data dir fast,
 * straight through the storage API (queue_append_group), as ingest would
 * store it: each body validated and summarised, stored byte for byte.
 *
 *   fill_queue DATA_DIR COUNT WRITE_KEY[,WRITE_KEY...] BODY_FILE...
 *
 * Appends COUNT batches, cycling over the body files, 100 per transaction;
 * with several write keys (sources), batch i gets key i modulo their number,
 * so the sources' batches are interleaved as many tenants' would be.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../storage/batch.h"
#include "../../storage/queue.h"

struct body {
    unsigned char *data;
    size_t len;
    struct batch_summary sum;
};

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
    if (argc < 5) {
        fprintf(stderr, "usage: fill_queue DATA_DIR COUNT WRITE_KEY[,WRITE_KEY...] BODY_FILE...\n");
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
    }
    free(bodies);
    return 0;
}
