/*
 * auth.h - who may post to ingest: Bearer tokens (Braze Custom HTTP) and
 * RudderStack write keys (?writeKey=K or Basic auth with K as the user),
 * and which write key a batch is forwarded with. Secrets are compared in
 * constant time.
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

/* The credentials of a config ([ingest] tokens, write_keys,
 * allow_anonymous), copied: immutable once made, so a reload builds a new
 * set and swaps it in whole (no request ever sees half of each). */
struct auth_creds;

/* Copies the credentials of cfg. NULL when out of memory. */
struct auth_creds *auth_creds_new(const struct config *cfg);
void auth_creds_free(struct auth_creds *cr);

/* The credentials one request carried (NULL when absent). */
struct auth_request {
    const char *authorization; /* the Authorization header */
    const char *write_key;     /* the writeKey query parameter */
};

/* Decides a request. On AUTH_OK, key/key_len name the write key to store
 * with the batch (a view into the request or into keybuf; key_len 0 when
 * the request carried none: delivery then uses [delivery] write_key).
 *
 * The rule (DESIGN.md "Ingest HTTP"): a request is accepted when ANY
 * credential it carries is valid: a Bearer token in tokens, a write key
 * (?writeKey= or the Basic user) in write_keys. Like RudderStack's gateway,
 * an unknown Bearer does not spoil a valid write key. The batch is
 * forwarded with the request's write key when it carries one (the valid
 * one if it carries two, else ?writeKey= before the Basic user), even when
 * a token admitted it. With allow_anonymous, a request carrying no
 * credential passes, and so does one whose credentials are of a kind not
 * configured (an unknown write key with no write_keys: stored and
 * forwarded, RudderStack judges it; a Bearer with no tokens: ignored); a
 * credential of a configured kind that does not match is still refused.
 * A write key longer than QUEUE_KEY_MAX cannot be stored: refused. */
int auth_check(const struct auth_creds *cr, const struct auth_request *r, const char **key,
               size_t *key_len, char *keybuf, size_t keybuf_len);

/* True when a and b are equal; the time taken depends only on the lengths'
 * maximum, not on where they first differ. */
bool auth_equal(const char *a, size_t alen, const char *b, size_t blen);

/* Decodes standard base64 (padding optional). Returns the decoded length or
 * -1 on bad input or when out is too small. */
long auth_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen);

#endif
