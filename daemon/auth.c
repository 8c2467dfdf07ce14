/*
 * auth.c - ingest authentication: Bearer tokens and write keys.
 *
 * Every configured secret is compared against the presented one, always
 * all of them and always over the full length, so the time an answer takes
 * says nothing about how close a guess was.
 */
#include "auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../storage/queue.h"

bool auth_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen > blen ? alen : blen;
    unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = alen ? (unsigned char)a[i % alen] : 0;
        unsigned char y = blen ? (unsigned char)b[i % blen] : 0;
        diff |= (unsigned char)(x ^ y);
    }
    return diff == 0;
}

/* True when s matches any entry of list, checking every entry. */
static bool in_list(char *const *list, size_t n, const char *s, size_t len)
{
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= auth_equal(list[i], strlen(list[i]), s, len);
    return found;
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

long auth_base64_decode(const char *in, size_t inlen, unsigned char *out, size_t outlen)
{
    while (inlen && in[inlen - 1] == '=')
        inlen--;
    if (inlen % 4 == 1)
        return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < inlen; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= outlen)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

struct auth_creds {
    char **tokens, **write_keys;
    size_t ntokens, nwrite_keys;
    bool allow_anonymous;
};

static char **copy_list(char *const *list, size_t n, bool *ok)
{
    char **out = calloc(n ? n : 1, sizeof(*out));
    *ok = out != NULL;
    for (size_t i = 0; *ok && i < n; i++)
        *ok = (out[i] = strdup(list[i])) != NULL;
    return out;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

struct auth_creds *auth_creds_new(const struct config *cfg)
{
    struct auth_creds *cr = calloc(1, sizeof(*cr));
    if (!cr)
        return NULL;
    bool ok1, ok2;
    cr->tokens = copy_list(cfg->tokens, cfg->ntokens, &ok1);
    cr->ntokens = cfg->ntokens;
    cr->write_keys = copy_list(cfg->write_keys, cfg->nwrite_keys, &ok2);
    cr->nwrite_keys = cfg->nwrite_keys;
    cr->allow_anonymous = cfg->allow_anonymous;
    if (!ok1 || !ok2) {
        auth_creds_free(cr);
        return NULL;
    }
    return cr;
}

void auth_creds_free(struct auth_creds *cr)
{
    if (!cr)
        return;
    free_list(cr->tokens, cr->ntokens);
    free_list(cr->write_keys, cr->nwrite_keys);
    free(cr);
}

/* One credential a request carried, and what the configured lists say. */
struct cred {
    const char *s;
    size_t len;
    bool present; /* carried (non-empty) */
    bool valid;   /* in its list (or admitted as an unconfigured kind) */
    bool refused; /* of a configured kind, and not in the list */
};

static const char *trim(const char *s, size_t *len)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    *len = n;
    return s;
}

static void judge_key(const struct auth_creds *cr, struct cred *k)
{
    if (!k->present)
        return;
    if (k->len > QUEUE_KEY_MAX) { /* cannot be stored, so cannot be forwarded */
        k->refused = true;
        return;
    }
    k->valid = in_list(cr->write_keys, cr->nwrite_keys, k->s, k->len) ||
               (cr->allow_anonymous && cr->nwrite_keys == 0);
    k->refused = !k->valid;
}

int auth_check(const struct auth_creds *cr, const struct auth_request *r, const char **key,
               size_t *key_len, char *keybuf, size_t keybuf_len)
{
    *key = NULL;
    *key_len = 0;
    struct cred bearer = {0}, basic = {0}, query = {0};
    bool malformed = false; /* a Basic header that decodes to nothing usable */
    if (r->authorization) {
        size_t hlen;
        const char *h = trim(r->authorization, &hlen);
        if (hlen >= 7 && strncasecmp(h, "Bearer ", 7) == 0) {
            bearer.s = trim(h + 7, &bearer.len);
            bearer.present = true;
        } else if (hlen >= 6 && strncasecmp(h, "Basic ", 6) == 0) {
            size_t blen;
            const char *b = trim(h + 6, &blen);
            long n = auth_base64_decode(b, blen, (unsigned char *)keybuf, keybuf_len);
            const char *colon = n < 0 ? NULL : memchr(keybuf, ':', (size_t)n);
            size_t ulen = n < 0 ? 0 : colon ? (size_t)(colon - keybuf) : (size_t)n;
            if (n < 0 || memchr(keybuf, '\0', ulen))
                malformed = true;
            else
                basic = (struct cred){.s = keybuf, .len = ulen, .present = ulen > 0};
        }
        /* Any other scheme proves nothing and refuses nothing. */
    }
    if (r->write_key && *r->write_key)
        query = (struct cred){.s = r->write_key, .len = strlen(r->write_key), .present = true};

    if (bearer.present) {
        bearer.valid = bearer.len && in_list(cr->tokens, cr->ntokens, bearer.s, bearer.len);
        /* With no tokens configured, anonymous mode ignores a Bearer. */
        bearer.refused = !bearer.valid && !(cr->allow_anonymous && cr->ntokens == 0);
    }
    judge_key(cr, &basic);
    judge_key(cr, &query);

    bool accepted = bearer.valid || basic.valid || query.valid;
    if (!accepted)
        accepted = cr->allow_anonymous && !bearer.refused && !basic.refused && !query.refused &&
                   !malformed;
    if (!accepted)
        return AUTH_DENIED;
    /* The write key the batch goes with: the valid one, else the one the
     * request names, ?writeKey= first. One too long to store refuses the
     * request rather than sending the batch to another source. */
    const struct cred *fwd = query.valid     ? &query
                             : basic.valid   ? &basic
                             : query.present ? &query
                             : basic.present ? &basic
                                             : NULL;
    if (fwd && fwd->len > QUEUE_KEY_MAX)
        return AUTH_DENIED;
    if (fwd) {
        *key = fwd->s;
        *key_len = fwd->len;
    }
    return AUTH_OK;
}
