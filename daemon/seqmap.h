/*
 * seqmap.h - a small hash map from pending sequence to a 64-bit value, for
 * what the delivery worker keeps per batch in memory only: the monotonic
 * time a failed batch may be retried, the bisection a split half belongs to.
 * Open addressing with linear probing and backward-shift deletion; not
 * thread-safe (the sender thread owns its maps).
 */
#ifndef EDDY_SEQMAP_H
#define EDDY_SEQMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct seqmap {
    uint64_t *keys; /* 0 = empty slot (sequences start at 1) */
    int64_t *vals;
    size_t cap, n; /* cap is a power of two */
};

/* Sets seq -> v (seq != 0). Returns 0, or -1 when out of memory. */
int seqmap_put(struct seqmap *m, uint64_t seq, int64_t v);
/* True and *v when seq is in the map. */
bool seqmap_get(const struct seqmap *m, uint64_t seq, int64_t *v);
void seqmap_del(struct seqmap *m, uint64_t seq);
void seqmap_free(struct seqmap *m);

#endif
