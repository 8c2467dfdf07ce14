/*
 * auth.h - who may post to ingest: Bearer tokens (Braze Custom HTTP) and
 * RudderStack write keys (?writeKey=K or Basic auth with K as the user).
 * Secrets are compared in constant time.
 */
#ifndef EDDY_AUTH_H
#define EDDY_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

enum auth_result {
    AUTH_OK = 0,
    AUTH_DENIED = -1, /* missing or unknown credentials: 401 */
};

/* The credentials one request carried (NULL when absent). */
struct auth_request {
    const char *authorization; /* the Authorization header */
    const char *write_key;     /* the writeKey query parameter */
};

/* Decides a request. On AUTH_OK, key/key_len name the write key to store
 * with the batch (a view into the request or the config; key_len 0 when
 * there is none, e.g. for a Bearer token or an anonymous post).
 *
 * Rules: the Authorization header, when present, decides; otherwise the
 * writeKey parameter; otherwise the request is anonymous. A Bearer token
 * must be one of cfg->tokens; a write key one of cfg->write_keys. With
 * allow_anonymous, an absent credential passes, and so does an unknown write
 * key when no write_keys are configured (it is stored and forwarded, so
 * RudderStack judges it). Keys longer than RECORD_KEY_MAX are refused. */
int auth_check(const struct config *cfg, const struct auth_request *r, const char **key,
               size_t *key_len, char *keybuf, size_t keybuf_len);

/* True when a and b are equal; the time taken depends only on the lengths'
 * maximum, not on where they first differ. */
bool auth_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Decodes standard base64 (padding optional). Returns the decoded length or
 * -1 on bad input or when out is too small. */
long auth_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen);

#endif
