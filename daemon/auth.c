/*
 * auth.c - ingest authentication: Bearer tokens and write keys.
 *
 * Every configured secret is compared against the presented one, always
 * all of them and always over the full length, so the time an answer takes
 * says nothing about how close a guess was.
 */
#include "auth.h"

#include <string.h>
#include <strings.h>

#include "../storage/record.h"

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
static bool auth_in_list(char *const *list, size_t n, const char *s, size_t len)
{
    bool found = false;
    for (size_t i = 0; i < n; i++)
        found |= auth_equal(list[i], strlen(list[i]), s, len);
    return found;
}

static int auth_b64_value(unsigned char c)
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
        int v = auth_b64_value((unsigned char)in[i]);
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

/* Judges a write key (from ?writeKey= or Basic auth). */
static int auth_write_key(const struct config *cfg, const char *k, size_t len, const char **key,
                          size_t *key_len)
{
    if (len == 0 || len > RECORD_KEY_MAX)
        return cfg->allow_anonymous && len == 0 ? AUTH_OK : AUTH_DENIED;
    if (auth_in_list(cfg->write_keys, cfg->nwrite_keys, k, len) ||
        (cfg->allow_anonymous && cfg->nwrite_keys == 0)) {
        *key = k;
        *key_len = len;
        return AUTH_OK;
    }
    return AUTH_DENIED;
}

int auth_check(const struct config *cfg, const struct auth_request *r, const char **key,
               size_t *key_len, char *keybuf, size_t keybuf_len)
{
    *key = NULL;
    *key_len = 0;
    const char *h = r->authorization;
    if (h) {
        while (*h == ' ' || *h == '\t')
            h++;
        if (strncasecmp(h, "Bearer ", 7) == 0) {
            const char *t = h + 7;
            while (*t == ' ')
                t++;
            size_t len = strlen(t);
            while (len && (t[len - 1] == ' ' || t[len - 1] == '\t'))
                len--;
            if (len && auth_in_list(cfg->tokens, cfg->ntokens, t, len))
                return AUTH_OK;
            /* With no tokens configured, anonymous mode ignores a Bearer. */
            return cfg->allow_anonymous && cfg->ntokens == 0 ? AUTH_OK : AUTH_DENIED;
        }
        if (strncasecmp(h, "Basic ", 6) == 0) {
            const char *b = h + 6;
            while (*b == ' ')
                b++;
            size_t blen = strlen(b);
            while (blen && (b[blen - 1] == ' ' || b[blen - 1] == '\t'))
                blen--;
            long n = auth_base64_decode(b, blen, (unsigned char *)keybuf, keybuf_len);
            if (n < 0)
                return AUTH_DENIED;
            const char *colon = memchr(keybuf, ':', (size_t)n);
            size_t ulen = colon ? (size_t)(colon - keybuf) : (size_t)n;
            if (memchr(keybuf, '\0', ulen))
                return AUTH_DENIED;
            return auth_write_key(cfg, keybuf, ulen, key, key_len);
        }
        /* An unknown scheme proves nothing; fall through to writeKey. */
    }
    if (r->write_key)
        return auth_write_key(cfg, r->write_key, strlen(r->write_key), key, key_len);
    return cfg->allow_anonymous ? AUTH_OK : AUTH_DENIED;
}
