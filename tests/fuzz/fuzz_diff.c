/*
 * fuzz_diff.c - differential harness: batch_validate against yajl alone
 * (batch_validate_yajl), and eddy's validator against jansson's DOM parser.
 *
 * batch_validate's simdjson fast path must change nothing: on every input
 * (raw NUL bytes included) it returns what batch_validate_yajl returns, with
 * the same event count, type list and error message.
 *
 * eddy must never be stricter than needed: whatever jansson (flags
 * JSON_ALLOW_NUL, so "\u0000" inside strings is fine) parses as an object
 * whose "events" member is an array, batch_validate must accept, with the same
 * event count (BATCH_EMPTY for an empty array). Duplicate keys: jansson keeps
 * the last value of a repeated key, the rule batch.c documents for "events".
 * The other direction is not a property: eddy deliberately accepts what
 * jansson refuses (invalid UTF-8 and lone surrogates in strings, integers
 * beyond 64 bits, nesting deeper than jansson's 2048).
 *
 * Inputs holding a raw NUL byte are left out: no JSON text contains one, yet
 * jansson 2.14 takes `[1<NUL>]` as [1] (tests/fuzz/regress/diff/); eddy, like
 * RudderStack's gateway, refuses it.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "fuzz_util.h"

/* batch_validate and yajl alone agree on everything they report. */
static void same_as_yajl(const uint8_t *data, size_t size)
{
    struct batch_summary a = {0}, b = {0};
    char ea[256] = "", eb[256] = "";
    int ra = batch_validate(data, size, &a, ea, sizeof ea);
    int rb = batch_validate_yajl(data, size, &b, eb, sizeof eb);
    FUZZ_CHECK(ra == rb && strcmp(ea, eb) == 0, "batch_validate rc %d (%s); yajl rc %d (%s)", ra,
               ea, rb, eb);
    if (ra == BATCH_OK)
        FUZZ_CHECK(a.events == b.events && a.types_len == b.types_len &&
                       memcmp(a.types, b.types, a.types_len) == 0,
                   "batch_validate %u events, types \"%s\"; yajl %u events, types \"%s\"", a.events,
                   a.types, b.events, b.types);
    free(a.types);
    free(b.types);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    same_as_yajl(data, size);
    if (memchr(data, '\0', size))
        return 0;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, size, JSON_ALLOW_NUL, &jerr);
    struct batch_summary s = {0};
    char err[256] = "";
    int rc = batch_validate(data, size, &s, err, sizeof err);

    if (root && json_is_object(root) && json_is_array(json_object_get(root, "events"))) {
        size_t want = json_array_size(json_object_get(root, "events"));
        if (want == 0)
            FUZZ_CHECK(rc == BATCH_EMPTY, "jansson: empty events array; eddy rc %d (%s)", rc, err);
        else
            FUZZ_CHECK(rc == BATCH_OK && s.events == want,
                       "jansson: %zu events; eddy rc %d, %u events (%s)", want, rc, s.events, err);
    }
    json_decref(root);
    free(s.types);
    return 0;
}
