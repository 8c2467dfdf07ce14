/*
 * helpers.h - the one shared setup of the unit tests (tests/unit/<module>/):
 * a temp data dir per test (th_setup/th_teardown), opening a queue, reading
 * fixtures, building and appending batches. Header-only so each test_*.c
 * stays one self-contained binary.
 */
#ifndef EDDY_TEST_HELPERS_H
#define EDDY_TEST_HELPERS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../storage/batch.h"
#include "../../storage/compress.h"
#include "../../storage/queue.h"

static inline int th_rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    return remove(p);
}

static inline void th_rmrf(const char *dir)
{
    nftw(dir, th_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh temp dir path (the dir itself is created). Caller frees. */
static inline char *th_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    char *p;
    if (asprintf(&p, "%s/eddy-unit.XXXXXX", base && *base ? base : "/tmp") < 0)
        return NULL;
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

/* cmocka setup/teardown: *state is a fresh temp dir, removed after. */
static inline int th_setup(void **state)
{
    *state = th_tmpdir();
    return *state ? 0 : -1;
}

static inline int th_teardown(void **state)
{
    th_rmrf(*state);
    free(*state);
    return 0;
}

static inline queue_t *th_open(const char *dir, uint64_t map_size, bool sync_full)
{
    struct queue_options o = {
        .dir = dir, .map_size = map_size, .sync_full = sync_full, .create = true};
    queue_t *q = NULL;
    char err[256];
    int rc = queue_open(&q, &o, err, sizeof(err));
    if (rc != QUEUE_OK)
        fprintf(stderr, "queue_open %s: %s\n", dir, err);
    assert_int_equal(rc, QUEUE_OK);
    return q;
}

static inline unsigned char *th_read_file(const char *path, size_t *len)
{
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

/* A Currents-like body of n events; event i has id "ev-<tag>-<i>" and type
 * users.messages.email.Send or users.behaviors.CustomEvent (odd i), padded
 * to about pad bytes each. Caller frees. */
static inline char *th_body(const char *tag, size_t n, size_t pad, size_t *len)
{
    size_t cap = 64 + n * (pad + 256);
    char *b = malloc(cap);
    size_t k = (size_t)sprintf(b, "{\"events\":[");
    for (size_t i = 0; i < n; i++) {
        k += (size_t)sprintf(b + k,
                             "%s{\"id\":\"ev-%s-%zu\",\"event_type\":\"%s\",\"time\":%zu,"
                             "\"properties\":{\"price\":19.99,\"neg\":-0,\"pad\":\"",
                             i ? "," : "", tag, i,
                             i % 2 ? "users.behaviors.CustomEvent" : "users.messages.email.Send",
                             1767225600 + i);
        for (size_t j = 0; j < pad; j++)
            b[k++] = (char)('a' + (i + j) % 26);
        k += (size_t)sprintf(b + k, "\"}}");
    }
    k += (size_t)sprintf(b + k, "]}");
    *len = k;
    return b;
}

/* Appends one body under write key key (NULL: none) through batch_validate
 * + queue_append_group, stored gzip-compressed with its types list packed
 * when gzip is set (as eddyd's ingest does); returns the sequence. */
static inline uint64_t th_append_as(queue_t *q, const char *key, const char *body, size_t len,
                                    int64_t received_ms, bool gzip)
{
    struct batch_summary s;
    char err[256];
    assert_int_equal(batch_validate((const unsigned char *)body, len, &s, err, sizeof(err)),
                     BATCH_OK);
    struct queue_batch b = {.body = (const unsigned char *)body,
                            .body_len = len,
                            .write_key = key,
                            .write_key_len = key ? strlen(key) : 0,
                            .types = s.types,
                            .types_len = s.types_len,
                            .event_count = s.events,
                            .received_ms = received_ms};
    unsigned char *z = NULL, *tz = NULL;
    if (gzip) {
        assert_int_equal(compress_gzip(b.body, len, &z, &b.zbody_len), COMPRESS_OK);
        b.zbody = z;
        if (record_pack_types(s.types, s.types_len, &tz, &b.ztypes_len) == COMPRESS_OK)
            b.ztypes = tz;
    }
    assert_int_equal(queue_append_group(q, &b, 1), QUEUE_OK);
    free(z);
    free(tz);
    free(s.types);
    assert_true(b.seq > 0);
    return b.seq;
}

static inline uint64_t th_append_z(queue_t *q, const char *body, size_t len, int64_t received_ms,
                                   bool gzip)
{
    return th_append_as(q, "wk", body, len, received_ms, gzip);
}

static inline uint64_t th_append(queue_t *q, const char *body, size_t len, int64_t received_ms)
{
    return th_append_z(q, body, len, received_ms, false);
}

/* The ready pending records copied out, as the delivery worker reads them:
 * queue_ready_ids, then queue_get of each (one gone meanwhile is left out).
 * Returns a queue status; no assertions, so forked children can use it. */
static inline int th_ready(queue_t *q, uint64_t after, int64_t now, struct queue_entry *out,
                           size_t max, size_t *n)
{
    uint64_t seqs[64];
    size_t ns = 0;
    *n = 0;
    if (max > sizeof(seqs) / sizeof(seqs[0]))
        return QUEUE_ERROR; /* a test asking for more must not silently get fewer */
    int st = queue_ready_ids(q, after, now, seqs, max, &ns);
    for (size_t i = 0; st == QUEUE_OK && i < ns; i++) {
        st = queue_get(q, QUEUE_PENDING, seqs[i], &out[*n]);
        if (st == QUEUE_OK)
            (*n)++;
        else if (st == QUEUE_NOT_FOUND)
            st = QUEUE_OK;
    }
    return st;
}

#endif
