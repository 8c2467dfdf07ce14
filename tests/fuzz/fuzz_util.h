/*
 * fuzz_util.h - small checks shared by the libFuzzer harnesses in this folder.
 *
 * A harness reports a broken property with FUZZ_CHECK, which prints the
 * condition and aborts: libFuzzer then saves the input as a crash artifact
 * and tests/fuzz/run.sh fails.
 */
#ifndef EDDY_FUZZ_UTIL_H
#define EDDY_FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property broken: %s: ", __FILE__, __LINE__, #cond);            \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* True when [off, off+len) lies inside a buffer of size total. */
static inline int fuzz_span_inside(size_t off, size_t len, size_t total)
{
    return off <= total && len <= total - off;
}

#endif
