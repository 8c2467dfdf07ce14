/*
 * fuzz_split.c - libFuzzer harness for the event-boundary splitter that
 * delivery uses to bisect a batch RudderStack refused (400/413) and to cut
 * batches above max_batch_bytes: batch_scan, batch_join and batch_types.
 *
 * On every body batch_validate accepts, the events are cut at a point taken
 * from the input, each half is joined and checked: it validates, holds the
 * expected count, and its events are the original events byte for byte, in
 * order (so the halves together carry exactly the original events, and ids
 * and types point at the same bytes). Types of the halves merge to the types
 * of the whole. Then the first half is bisected down to single events, as
 * repeated 400s would.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fuzz_util.h"

/* Joins events[from..to) of body, checks the result, returns its types. */
static char *check_half(const unsigned char *body, const struct batch_event *ev, size_t from,
                        size_t to)
{
    size_t k = to - from;
    unsigned char *half = NULL;
    size_t half_len = 0;
    int rc = batch_join(body, ev + from, k, &half, &half_len);
    FUZZ_CHECK(rc == BATCH_OK, "join [%zu,%zu): %d", from, to, rc);

    struct batch_summary s = {0};
    char err[256];
    rc = batch_validate(half, half_len, &s, err, sizeof err);
    FUZZ_CHECK(rc == BATCH_OK && s.events == k, "half [%zu,%zu): rc %d, %u events (%s)", from, to,
               rc, s.events, rc < 0 ? err : "");

    struct batch_event *hev = NULL;
    size_t hn = 0;
    rc = batch_scan(half, half_len, &hev, &hn);
    FUZZ_CHECK(rc == BATCH_OK && hn == k, "half scan: rc %d, %zu events", rc, hn);
    for (size_t i = 0; i < k; i++) {
        const struct batch_event *o = &ev[from + i], *h = &hev[i];
        FUZZ_CHECK(h->len == o->len && memcmp(half + h->off, body + o->off, o->len) == 0,
                   "event %zu differs in its half", from + i);
        /* Offsets are only meaningful when the field is there (len > 0). */
        FUZZ_CHECK(h->id_len == o->id_len &&
                       (!o->id_len || h->id_off - h->off == o->id_off - o->off),
                   "id of event %zu moved", from + i);
        FUZZ_CHECK(h->type_len == o->type_len &&
                       (!o->type_len || h->type_off - h->off == o->type_off - o->off),
                   "type of event %zu moved", from + i);
    }

    char *types = NULL;
    size_t types_len = 0;
    rc = batch_types(body, ev + from, k, &types, &types_len);
    FUZZ_CHECK(rc == BATCH_OK, "types: %d", rc);
    FUZZ_CHECK(types_len == s.types_len && memcmp(types, s.types, types_len) == 0,
               "types of a half differ from its summary");
    free(s.types);
    free(hev);
    free(half);
    return types;
}

/* Types of the whole, by merging the halves' lists: a's, then b's not in a. */
static int types_merge_equal(const char *a, const char *b, const char *whole)
{
    size_t cap = strlen(a) + strlen(b) + 2;
    char *m = malloc(cap);
    FUZZ_CHECK(m != NULL, "oom");
    strcpy(m, a);
    size_t mlen = strlen(a);
    const char *p = b;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        int seen = 0;
        for (const char *q = a; *q && !seen;) {
            const char *qn = strchr(q, '\n');
            size_t ql = qn ? (size_t)(qn - q) : strlen(q);
            seen = ql == l && memcmp(q, p, l) == 0;
            q = qn ? qn + 1 : q + ql;
        }
        if (!seen) {
            if (mlen)
                m[mlen++] = '\n';
            memcpy(m + mlen, p, l);
            mlen += l;
        }
        p = nl ? nl + 1 : p + l;
    }
    m[mlen] = '\0';
    int eq = strcmp(m, whole) == 0;
    free(m);
    return eq;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch_summary s = {0};
    char err[256];
    if (batch_validate(data, size, &s, err, sizeof err) != BATCH_OK) {
        free(s.types);
        return 0;
    }
    struct batch_event *ev = NULL;
    size_t n = 0;
    int rc = batch_scan(data, size, &ev, &n);
    FUZZ_CHECK(rc == BATCH_OK && n == s.events, "scan: rc %d, %zu of %u events", rc, n, s.events);

    /* The cut point comes from the input so the fuzzer explores them all. */
    size_t cut = n >= 2 ? 1 + (data[size / 2] % (n - 1)) : n;
    char *ta = check_half(data, ev, 0, cut);
    if (cut < n) {
        char *tb = check_half(data, ev, cut, n);
        FUZZ_CHECK(types_merge_equal(ta, tb, s.types), "halves' types do not merge to the whole");
        free(tb);
    }
    free(ta);

    /* Bisection of the first half down to single events, bounded. */
    for (size_t lo = 0, hi = cut, steps = 0; hi - lo > 1 && steps < 16; steps++) {
        size_t mid = lo + (hi - lo) / 2;
        free(check_half(data, ev, lo, mid));
        free(check_half(data, ev, mid, hi));
        lo = mid;
    }
    free(ev);
    free(s.types);
    return 0;
}
