/*
 * batch.h - the Currents request body: {"events":[...]}.
 *
 * batch_validate checks the body with yajl (a streaming parser, no DOM) and is
 * never stricter than RudderStack's gateway: \u0000, lone surrogate escapes,
 * invalid UTF-8 inside strings, numbers of any size and duplicate keys are
 * accepted. A BOM, NaN/Infinity, trailing garbage or a body that is not an
 * object with an "events" array is refused. When "events" appears twice the
 * last one counts, as in the JavaScript transform RudderStack runs.
 *
 * batch_scan indexes a validated body: the byte span of each event in the
 * counted "events" array, and the raw (still escaped) bytes of each event's
 * "id" and "event_type" strings. Events keep their bytes exactly, so halves
 * built with batch_join re-encode nothing (jansson would rewrite 19.99 and -0).
 */
#ifndef EDDY_BATCH_H
#define EDDY_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum batch_status {
    BATCH_OK = 0,
    BATCH_EMPTY = 1,          /* empty body or "events":[]: a no-op */
    BATCH_INVALID_JSON = -1,  /* not JSON (or not exactly one JSON text) */
    BATCH_INVALID_SHAPE = -2, /* JSON, but not an object with an "events" array */
    BATCH_NOMEM = -3,
};

/* What ingest needs to store a body. */
struct batch_summary {
    uint32_t events; /* elements of the "events" array (any JSON value) */
    char *types;     /* distinct event_type strings, '\n'-separated, in order of
                        first appearance; control bytes replaced by '?';
                        malloc'd (free it), "" when there are none */
    size_t types_len;
};

/* Validates body. Returns BATCH_OK (summary filled, caller frees
 * summary->types), BATCH_EMPTY, or a negative batch_status with a one-line
 * reason in err (which names the byte offset for JSON errors). */
int batch_validate(const unsigned char *body, size_t len, struct batch_summary *summary, char *err,
                   size_t errlen);

/* batch_validate without its fast path (simdjson, batch_fast.h): yajl alone,
 * the authority on every answer. batch_validate gives exactly its answer;
 * tests compare the two. */
int batch_validate_yajl(const unsigned char *body, size_t len, struct batch_summary *summary,
                        char *err, size_t errlen);

/* One event inside a body. Offsets are from the start of the body; a length
 * of 0 means the field is absent or not a string. */
struct batch_event {
    size_t off, len;           /* the event's JSON value */
    size_t id_off, id_len;     /* contents of "id" between the quotes */
    size_t type_off, type_len; /* contents of "event_type" between the quotes */
};

/* Indexes a body that batch_validate accepted. *events is malloc'd (free it);
 * *n is the event count. Returns BATCH_OK, BATCH_INVALID_SHAPE if the body is
 * not a validated batch, or BATCH_NOMEM. */
int batch_scan(const unsigned char *body, size_t len, struct batch_event **events, size_t *n);

/* Builds {"events":[e0,e1,...]} from events[0..n) of body into a malloc'd
 * buffer (*out, *out_len). Returns BATCH_OK or BATCH_NOMEM. */
int batch_join(const unsigned char *body, const struct batch_event *events, size_t n,
               unsigned char **out, size_t *out_len);

/* The distinct event types of events[0..n), in the format of
 * batch_summary.types (malloc'd). Returns BATCH_OK or BATCH_NOMEM. */
int batch_types(const unsigned char *body, const struct batch_event *events, size_t n, char **types,
                size_t *types_len);

/* True when raw, the contents of a JSON string between the quotes as
 * batch_scan reports them (still escaped), equals the len bytes of s once
 * decoded ("a\u002fb" equals "a/b"). */
bool batch_string_equals(const unsigned char *raw, size_t raw_len, const char *s, size_t len);

#endif
