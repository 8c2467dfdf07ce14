/*
 * jsonfmt.h - showing a stored Currents body without changing what it says.
 *
 * jansson would rewrite numbers (0.1 -> 0.10000000000000001, 1 -> 1.0 with
 * JSON_DECODE_INT_AS_REAL), refuse integers beyond int64 and fold duplicate
 * keys, which is exactly what an operator inspecting a rejected batch must
 * not be shown. So bodies are re-indented with yajl's parser feeding yajl's
 * generator (the streaming pair storage/batch.c already validates with):
 * numbers keep their text, keys keep their order and duplicates.
 */
#ifndef EDDY_JSONFMT_H
#define EDDY_JSONFMT_H

#include <stdbool.h>
#include <stddef.h>

/* Pretty-prints the JSON text in[0..len) with two-space indentation into a
 * malloc'd buffer (*out, *outlen). Returns 0, or -1 when the text does not
 * parse (the caller shows the raw bytes instead). */
int jsonfmt_pretty(const unsigned char *in, size_t len, char **out, size_t *outlen);

/* True when in[0..len) is one JSON text that yajl accepts and every byte is
 * valid UTF-8, i.e. it can be embedded verbatim in an NDJSON line that any
 * JSON reader accepts (line breaks between tokens aside, see
 * jsonfmt_embed). */
bool jsonfmt_embeddable(const unsigned char *in, size_t len);

/* Writes in[0..len) to out with CR and LF bytes replaced by spaces. JSON
 * strings cannot hold raw CR/LF, so those bytes are whitespace between
 * tokens and the result says exactly the same thing on one line. */
void jsonfmt_embed(const unsigned char *in, size_t len, char *out);

/* Standard base64 (RFC 4648, with padding) of in[0..len) into a malloc'd
 * NUL-terminated string, or NULL when out of memory. */
char *jsonfmt_base64(const unsigned char *in, size_t len);

#endif
