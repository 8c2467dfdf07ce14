/*
 * batch_fast.h - the fast path of batch_validate: simdjson (C++, SIMD) reads
 * the body and reports what batch_validate's summary needs. It decides
 * nothing on its own: only a body simdjson accepts in full is summarised
 * here; everything else (and simdjson refuses more than eddy must: invalid
 * UTF-8, lone surrogate escapes, integers beyond 64 bits, \v and \f as
 * whitespace, nesting beyond 1,024) goes to the yajl path in batch.c, which
 * stays the authority on what is accepted and on every error message.
 */
#ifndef EDDY_BATCH_FAST_H
#define EDDY_BATCH_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called for each element of the counted "events" array that is an object
 * whose last "event_type" member is a string: s is that string decoded
 * (n bytes, not terminated). Returns false to stop (out of memory). */
typedef bool (*batch_fast_type_fn)(void *ctx, const char *s, size_t n);

/* True when simdjson parsed body[0..len) as exactly one JSON text whose top
 * value is an object whose last "events" member is an array: *events gets
 * its element count and type_fn has seen every event type in order. False
 * means "not decided here" (not JSON to simdjson, another shape, a body over
 * BATCH_FAST_MAX, out of memory, type_fn stopped). Thread-safe: one parser
 * per thread, kept between calls unless the body was over 256 KiB. */
bool batch_fast_scan(const unsigned char *body, size_t len, uint32_t *events,
                     batch_fast_type_fn type_fn, void *ctx);

/* Larger bodies take the streaming path, in constant memory: simdjson's
 * parser needs up to ~13 bytes per body byte while it works. */
#define BATCH_FAST_MAX ((size_t)1 << 20)

#ifdef __cplusplus
}
#endif

#endif
