/*
 * le.h - the little-endian integers of eddy's stored values: the record
 * header (record.h), attempts and dead-letter headers (entry.c) are all
 * written and read with these two, so every format agrees on byte order
 * whatever the host's. (LMDB keys are big-endian so that they sort: see
 * qi_key_put.)
 */
#ifndef EDDY_LE_H
#define EDDY_LE_H

#include <stdint.h>

/* Writes the low n bytes (1..8) of v at p, least significant first. */
static inline void le_put(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Reads n bytes (1..8) at p as a little-endian integer. */
static inline uint64_t le_get(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

#endif
