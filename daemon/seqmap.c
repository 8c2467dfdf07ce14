/*
 * seqmap.c - the sequence -> value hash map of seqmap.h.
 */
#include "seqmap.h"

#include <stdlib.h>

static size_t slot(const struct seqmap *m, uint64_t seq)
{
    /* Fibonacci hashing: consecutive sequences spread over the table. */
    return (size_t)((seq * 0x9E3779B97F4A7C15ull) >> 17) & (m->cap - 1);
}

static int grow(struct seqmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    uint64_t *keys = calloc(cap, sizeof(*keys));
    int64_t *vals = calloc(cap, sizeof(*vals));
    if (!keys || !vals) {
        free(keys);
        free(vals);
        return -1;
    }
    struct seqmap old = *m;
    m->keys = keys, m->vals = vals, m->cap = cap, m->n = 0;
    for (size_t i = 0; i < old.cap; i++)
        if (old.keys[i])
            seqmap_put(m, old.keys[i], old.vals[i]);
    free(old.keys);
    free(old.vals);
    return 0;
}

int seqmap_put(struct seqmap *m, uint64_t seq, int64_t v)
{
    if ((m->n + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    size_t i = slot(m, seq);
    while (m->keys[i] && m->keys[i] != seq)
        i = (i + 1) & (m->cap - 1);
    if (!m->keys[i])
        m->n++;
    m->keys[i] = seq;
    m->vals[i] = v;
    return 0;
}

bool seqmap_get(const struct seqmap *m, uint64_t seq, int64_t *v)
{
    if (!m->cap)
        return false;
    for (size_t i = slot(m, seq); m->keys[i]; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == seq) {
            *v = m->vals[i];
            return true;
        }
    return false;
}

void seqmap_del(struct seqmap *m, uint64_t seq)
{
    if (!m->cap)
        return;
    size_t i = slot(m, seq), mask = m->cap - 1;
    while (m->keys[i] && m->keys[i] != seq)
        i = (i + 1) & mask;
    if (!m->keys[i])
        return;
    /* Backward shift: pull later members of the run into the hole, so
     * lookups never need tombstones. */
    for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = slot(m, m->keys[j]);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->n--;
}

void seqmap_free(struct seqmap *m)
{
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->n = 0;
}
