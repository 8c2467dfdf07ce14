/*
 * qtool.c - a test helper that reads and trims the pending queue through the
 * storage API, so end-to-end tests check what eddyd really stored without
 * depending on the eddy CLI.
 *
 *   qtool dump DIR OUTDIR   writes OUTDIR/<seq>.body for each pending record
 *                           and prints "seq events key_or_- body_len" lines
 *   qtool ack DIR N         deletes the N oldest pending records
 *   qtool count DIR         prints the number of pending records
 *   qtool stored DIR        prints "seq gzip|raw stored_len body_len" for each
 *                           pending record: how its body is stored
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../storage/queue.h"

struct dump_ctx {
    const char *outdir;
    int failed;
};

static int dump_one(void *arg, const struct queue_entry *e)
{
    struct dump_ctx *d = arg;
    if (e->status != RECORD_OK) {
        fprintf(stderr, "qtool: record %llu is corrupt: %s\n", (unsigned long long)e->id,
                record_strerror(e->status));
        d->failed = 1;
        return 0;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/%llu.body", d->outdir, (unsigned long long)e->id);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(e->rec.body, 1, e->rec.body_len, f) != e->rec.body_len || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    printf("%llu %u %.*s %zu\n", (unsigned long long)e->id, e->rec.event_count,
           e->rec.write_key_len ? (int)e->rec.write_key_len : 1,
           e->rec.write_key_len ? e->rec.write_key : "-", e->rec.body_len);
    return 0;
}

struct ack_ctx {
    uint64_t *ids;
    size_t n;
};

static int collect(void *arg, const struct queue_entry *e)
{
    struct ack_ctx *a = arg;
    a->ids[a->n++] = e->id;
    return 0;
}

static int count_one(void *arg, const struct queue_entry *e)
{
    (void)e;
    (*(size_t *)arg)++;
    return 0;
}

static int stored_one(void *arg, const struct queue_entry *e)
{
    (void)arg;
    printf("%llu %s %zu %zu\n", (unsigned long long)e->id,
           (e->rec.flags & RECORD_F_GZIP) ? "gzip" : "raw", e->rec.stored_len, e->rec.body_len);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: qtool dump DIR OUTDIR | ack DIR N | count DIR | stored DIR\n");
        return 2;
    }
    struct queue_options o = {.dir = argv[2], .map_size = 0, .sync_full = true, .create = false};
    queue_t *q;
    char err[512];
    if (queue_open(&q, &o, err, sizeof(err)) != QUEUE_OK) {
        fprintf(stderr, "qtool: %s\n", err);
        return 1;
    }
    int rc = 0;
    if (strcmp(argv[1], "dump") == 0 && argc == 4) {
        struct dump_ctx d = {.outdir = argv[3]};
        rc = queue_scan(q, QUEUE_PENDING, NULL, 0, 0, dump_one, &d) != QUEUE_OK || d.failed;
    } else if (strcmp(argv[1], "ack") == 0 && argc == 4) {
        size_t n = strtoull(argv[3], NULL, 10);
        struct ack_ctx a = {.ids = calloc(n ? n : 1, sizeof(uint64_t))};
        rc = !a.ids || queue_scan(q, QUEUE_PENDING, NULL, 0, n, collect, &a) != QUEUE_OK ||
             queue_ack(q, a.ids, a.n) != QUEUE_OK;
        if (!rc)
            printf("%zu\n", a.n);
        free(a.ids);
    } else if (strcmp(argv[1], "stored") == 0) {
        rc = queue_scan(q, QUEUE_PENDING, NULL, 0, 0, stored_one, NULL) != QUEUE_OK;
    } else if (strcmp(argv[1], "count") == 0) {
        size_t n = 0;
        rc = queue_scan(q, QUEUE_PENDING, NULL, 0, 0, count_one, &n) != QUEUE_OK;
        if (!rc)
            printf("%zu\n", n);
    } else {
        fprintf(stderr, "qtool: unknown command\n");
        rc = 2;
    }
    if (rc == 1)
        fprintf(stderr, "qtool: %s\n", queue_last_error());
    queue_close(q);
    return rc;
}
