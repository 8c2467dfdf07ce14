/*
 * config.c - eddyd's configuration: built-in defaults (DESIGN.md "Config"),
 * then the INI file read with inih, then command-line flags.
 *
 * One path for every key: each key is a row of keys[] (section,
 * name, type, bounds, how a reload applies it), and the file, the flags and
 * the program all set a key through set_key, so a key gets the same
 * checks wherever and however often it is given. Each key remembers where it
 * was set (file line or flag), so every message, the rules between keys
 * included, reads "FILE:LINE: key: what is wrong": a daemon that starts with
 * a half-understood config is worse than one that refuses to start.
 *
 * Reading the file: inih (Debian's build, whose options are run-time
 * globals) with comments at the start of a line and inline after
 * whitespace, both for ';' and '#' (set explicitly below rather than left to
 * the build's default, which strips only ';': "s3cret # rotate" must never
 * make "rotate" a credential). An indented line continues the key above it
 * (inih's multi-line values): it adds to a list and is refused for a key
 * that takes one value. A key given twice is refused.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../storage/queue.h"
#include "../storage/text.h"

#define CONFIG_LINE_MAX 8192       /* longest line accepted in a config file */
#define CONFIG_FILE_MAX (1u << 20) /* a config file is small; a big one is a mistake */
#define CONFIG_TOKEN_MAX 1024

enum key_type {
    T_STRING,     /* char[]: any text without control characters */
    T_LISTEN,     /* char[]: HOST:PORT */
    T_URL,        /* char[]: the RudderStack webhook URL */
    T_WRITE_KEY,  /* char[]: one write key (may be empty) */
    T_PATHS,      /* list of URL paths */
    T_TOKENS,     /* list of Bearer tokens */
    T_WRITE_KEYS, /* list of write keys */
    T_BOOL,
    T_SIZE,     /* uint64_t bytes in [lo, hi] */
    T_DURATION, /* uint64_t ms >= lo */
    T_UINT,     /* unsigned in [lo, hi] */
    T_FRACTION, /* double in (0, 1] */
    T_ENUM,     /* one of two choices, in a bool: true for the first */
    T_CHOICE,   /* one of several choices, in an int: its index in choices */
};

struct key {
    const char *section, *name;
    enum key_type type;
    size_t off;  /* the field (for lists: the char ** array) */
    size_t size; /* sizeof the field (for lists: offset of the count) */
    uint64_t lo, hi;
    const char *const *choices; /* T_ENUM: {true's, false's, NULL}; T_CHOICE: {..., NULL} */
    enum config_live live;
};

#define F(field) offsetof(struct config, field), sizeof(((struct config *)0)->field)
#define L(list, count) offsetof(struct config, list), offsetof(struct config, count)

static const char *const sync_choices[] = {"full", "none", NULL};
static const char *const compress_choices[] = {"gzip", "none", NULL};
/* The order of enum config_level. */
static const char *const level_choices[] = {"auto", "small", "fast", NULL};
static const char *const encoding_choices[] = {"gzip", "identity", NULL};

/* CONFIG_LIVE_DELIVERY: what delivery_reconfigure takes while delivery
 * runs. [delivery] write_key names the source of keyless batches and
 * concurrency sizes the connections: both need a restart. */
static const struct key keys[] = {
    {"ingest", "listen", T_LISTEN, F(listen), 0, 0, NULL, CONFIG_RESTART},
    {"ingest", "paths", T_PATHS, L(paths, npaths), 0, 0, NULL, CONFIG_RESTART},
    {"ingest", "tokens", T_TOKENS, L(tokens, ntokens), 0, 0, NULL, CONFIG_LIVE_AUTH},
    {"ingest", "write_keys", T_WRITE_KEYS, L(write_keys, nwrite_keys), 0, 0, NULL,
     CONFIG_LIVE_AUTH},
    {"ingest", "allow_anonymous", T_BOOL, F(allow_anonymous), 0, 0, NULL, CONFIG_LIVE_AUTH},
    {"ingest", "max_body", T_SIZE, F(max_body), 1024, 1ull << 30, NULL, CONFIG_RESTART},
    {"admin", "listen", T_LISTEN, F(admin_listen), 0, 0, NULL, CONFIG_RESTART},
    {"storage", "data_dir", T_STRING, F(data_dir), 0, 0, NULL, CONFIG_RESTART},
    {"storage", "max_size", T_SIZE, F(max_size), 256 << 10, 1ull << 46, NULL, CONFIG_RESTART},
    {"storage", "high_water", T_FRACTION, F(high_water), 0, 0, NULL, CONFIG_RESTART},
    {"storage", "sync", T_ENUM, F(sync_full), 0, 0, sync_choices, CONFIG_RESTART},
    {"storage", "compress", T_ENUM, F(compress), 0, 0, compress_choices, CONFIG_RESTART},
    {"storage", "compress_level", T_CHOICE, F(compress_level), 0, 0, level_choices, CONFIG_RESTART},
    {"delivery", "url", T_URL, F(url), 0, 0, NULL, CONFIG_LIVE_DELIVERY},
    {"delivery", "write_key", T_WRITE_KEY, F(write_key), 0, 0, NULL, CONFIG_RESTART},
    {"delivery", "concurrency", T_UINT, F(concurrency), 1, 64, NULL, CONFIG_RESTART},
    {"delivery", "timeout", T_DURATION, F(timeout_ms), 1, 0, NULL, CONFIG_LIVE_DELIVERY},
    {"delivery", "max_attempts", T_UINT, F(max_attempts), 1, 1000000, NULL, CONFIG_LIVE_DELIVERY},
    {"delivery", "retry_window", T_DURATION, F(retry_window_ms), 0, 0, NULL, CONFIG_LIVE_DELIVERY},
    {"delivery", "backoff_min", T_DURATION, F(backoff_min_ms), 1, 0, NULL, CONFIG_LIVE_DELIVERY},
    {"delivery", "backoff_max", T_DURATION, F(backoff_max_ms), 1, 0, NULL, CONFIG_LIVE_DELIVERY},
    {"delivery", "max_batch_bytes", T_SIZE, F(max_batch_bytes), 1024, 1ull << 30, NULL,
     CONFIG_LIVE_DELIVERY},
    {"delivery", "require_external_user_id", T_BOOL, F(require_external_user_id), 0, 0, NULL,
     CONFIG_LIVE_DELIVERY},
    {"delivery", "retry_after_max", T_DURATION, F(retry_after_max_ms), 1000, 0, NULL,
     CONFIG_LIVE_DELIVERY},
    {"delivery", "content_encoding", T_ENUM, F(content_gzip), 0, 0, encoding_choices,
     CONFIG_RESTART},
};
#define CONFIG_NKEYS (sizeof(keys) / sizeof(keys[0]))
_Static_assert(CONFIG_NKEYS <= CONFIG_KEYS_MAX, "raise CONFIG_KEYS_MAX");

/* Command-line flags: each sets one key. */
static const struct {
    const char *flag, *section, *name;
} config_flags[] = {
    {"data-dir", "storage", "data_dir"},    {"listen", "ingest", "listen"},
    {"admin-listen", "admin", "listen"},    {"forward-url", "delivery", "url"},
    {"write-key", "delivery", "write_key"},
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int key_index(const char *section, const char *name)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void *key_field(const struct config *c, const struct key *k)
{
    return (char *)c + k->off;
}

static char ***list_field(const struct config *c, const struct key *k, size_t **n)
{
    *n = (size_t *)((char *)c + k->size);
    return (char ***)((char *)c + k->off);
}

static bool is_list(const struct key *k)
{
    return k->type == T_PATHS || k->type == T_TOKENS || k->type == T_WRITE_KEYS;
}

static bool is_secret(const struct key *k)
{
    return k->type == T_TOKENS || k->type == T_WRITE_KEYS || k->type == T_WRITE_KEY;
}

static void list_clear(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

static int list_push(char ***list, size_t *n, const char *s, size_t len)
{
    char **grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (!grown)
        return -1;
    *list = grown;
    if (!(grown[*n] = strndup(s, len)))
        return -1;
    (*n)++;
    return 0;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
    list_push(&c->paths, &c->npaths, "/v1/webhook", 11);
    list_push(&c->paths, &c->npaths, "/currents", 9);
    c->allow_anonymous = false;
    c->max_body = 32ull << 20;
    snprintf(c->admin_listen, sizeof(c->admin_listen), "127.0.0.1:8081");
    snprintf(c->data_dir, sizeof(c->data_dir), "%s", QUEUE_DEFAULT_DIR);
    c->max_size = 8ull << 30;
    c->high_water = 0.95;
    c->sync_full = true;
    c->compress = true;
    c->compress_level = CONFIG_LEVEL_AUTO;
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:8090/v1/webhook");
    c->concurrency = 4;
    c->timeout_ms = 30000;
    c->max_attempts = 10;
    c->retry_window_ms = 72ull * 3600 * 1000;
    c->backoff_min_ms = 1000;
    c->backoff_max_ms = 5 * 60 * 1000;
    c->max_batch_bytes = 1ull << 20;
    c->require_external_user_id = false;
    c->retry_after_max_ms = 3600 * 1000;
    c->content_gzip = true;
    snprintf(c->source, sizeof(c->source), "built-in defaults");
}

void config_free(struct config *c)
{
    list_clear(&c->paths, &c->npaths);
    list_clear(&c->tokens, &c->ntokens);
    list_clear(&c->write_keys, &c->nwrite_keys);
}

/* ---- values -------------------------------------------------------------- */

/* The decimal number s starts with; *end is what follows it. */
static int leading_number(const char *s, unsigned long long *v, char **end)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    *v = strtoull(s, end, 10);
    return errno ? -1 : 0;
}

/* Duration units, largest first: config_format_duration uses the largest
 * that divides the value, so what it prints parses back the same. */
static const struct {
    uint64_t ms;
    const char *unit;
} duration_units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
#define DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

int config_parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (leading_number(s, &v, &end) != 0)
        return -1;
    unsigned shift = 0;
    switch (toupper((unsigned char)*end)) {
    case 'K':
        shift = 10;
        break;
    case 'M':
        shift = 20;
        break;
    case 'G':
        shift = 30;
        break;
    case 'T':
        shift = 40;
        break;
    case 'B':
    case '\0':
        break;
    default:
        return -1;
    }
    if (shift) {
        end++;
        if (*end == 'i' || *end == 'I')
            end++;
        if (*end == 'B' || *end == 'b')
            end++;
    } else if (*end == 'B' || *end == 'b') {
        end++;
    }
    if (*end)
        return -1;
    if (shift && v > (UINT64_MAX >> shift))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

int config_parse_duration(const char *s, uint64_t *out_ms)
{
    char *end;
    unsigned long long v;
    if (leading_number(s, &v, &end) != 0)
        return -1;
    uint64_t mul = *end == '\0' && v == 0 ? 1 : 0; /* "0" needs no unit */
    for (size_t i = 0; i < DURATION_UNITS && !mul; i++)
        if (strcmp(end, duration_units[i].unit) == 0)
            mul = duration_units[i].ms;
    if (!mul)
        return -1;
    if (v > UINT64_MAX / mul)
        return -1;
    *out_ms = (uint64_t)v * mul;
    return 0;
}

void config_format_size(uint64_t v, char *buf, size_t buflen)
{
    static const char units[] = "KMGT";
    int u = -1;
    while (u < 3 && v && v % 1024 == 0)
        v /= 1024, u++;
    if (u < 0)
        snprintf(buf, buflen, "%llu", (unsigned long long)v);
    else
        snprintf(buf, buflen, "%llu%c", (unsigned long long)v, units[u]);
}

void config_format_duration(uint64_t ms, char *buf, size_t buflen)
{
    for (size_t i = 0; i < DURATION_UNITS && ms; i++)
        if (ms % duration_units[i].ms == 0) {
            snprintf(buf, buflen, "%llu%s", (unsigned long long)(ms / duration_units[i].ms),
                     duration_units[i].unit);
            return;
        }
    snprintf(buf, buflen, "0");
}

static int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = {"true", "yes", "on", "1"}, *no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int config_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hl;
    if (*s == '[') { /* [v6addr]:port */
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return -1;
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return -1;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    unsigned p;
    if (parse_uint(colon + 1, 1, 65535, &p) != 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static bool has_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (isspace((unsigned char)s[i]))
            return true;
    return false;
}

static bool has_control(const char *s, size_t len)
{
    return text_scrub(NULL, s, len, 0) > 0;
}

/* A write key, wherever given. Never echoes the key: it is a secret. */
static int check_write_key(const char *name, const char *k, size_t len, char *err, size_t errlen)
{
    if (memchr(k, ':', len))
        return fail(err, errlen, "%s: a write key cannot hold ':'", name);
    if (has_space(k, len) || has_control(k, len))
        return fail(err, errlen, "%s: a write key cannot hold whitespace or control characters",
                    name);
    if (len > QUEUE_KEY_MAX)
        return fail(err, errlen, "%s: a write key is over %d bytes", name, QUEUE_KEY_MAX);
    return 0;
}

/* One entry of a list key. Entries are comma-separated; a space inside one
 * is a mistake (two entries without a comma, or a comment eddy must not
 * guess at), so it is refused rather than read either way. */
static int check_item(const struct key *k, size_t nth, const char *s, size_t len, char *err,
                      size_t errlen)
{
    bool secret = is_secret(k);
    if (has_space(s, len) || has_control(s, len)) {
        if (secret)
            return fail(err, errlen,
                        "%s: entry %zu holds whitespace or a control character; "
                        "separate entries with commas",
                        k->name, nth);
        return fail(err, errlen, "%s: \"%.*s\" holds whitespace; separate entries with commas",
                    k->name, (int)len, s);
    }
    if (k->type == T_PATHS && (s[0] != '/' || memchr(s, '?', len) || memchr(s, '#', len)))
        return fail(err, errlen, "%s: \"%.*s\" must start with / and hold no ? or #", k->name,
                    (int)len, s);
    if (k->type == T_TOKENS && len > CONFIG_TOKEN_MAX)
        return fail(err, errlen, "%s: a token is over %d bytes", k->name, CONFIG_TOKEN_MAX);
    if (k->type == T_WRITE_KEYS)
        return check_write_key(k->name, s, len, err, errlen);
    return 0;
}

/* Adds the comma-separated entries of value to the list of key k. */
static int list_add(struct config *c, const struct key *k, const char *value, char *err,
                    size_t errlen)
{
    size_t *n;
    char ***list = list_field(c, k, &n);
    const char *p = value;
    while (*p) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        const char *s = p, *e = end;
        while (s < e && isspace((unsigned char)*s))
            s++;
        while (e > s && isspace((unsigned char)e[-1]))
            e--;
        if (e > s) {
            if (check_item(k, *n + 1, s, (size_t)(e - s), err, errlen) != 0)
                return -1;
            if (list_push(list, n, s, (size_t)(e - s)) != 0)
                return fail(err, errlen, "%s: out of memory", k->name);
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

/* The URL eddy posts batches to; it appends ?writeKey=K itself. Parsed with
 * libcurl's own URL parser, so what passes here is what libcurl will use.
 * Credentials in it would be logged and sent to whatever the URL names; a
 * fragment would swallow the writeKey eddy appends. The value is echoed only
 * when it cannot hold a password. */
static int check_url(const char *name, const char *value, char *err, size_t errlen)
{
    const char *shown = strchr(value, '@') ? "(not shown: it holds '@')" : value;
    if (strncasecmp(value, "http://", 7) != 0 && strncasecmp(value, "https://", 8) != 0)
        return fail(err, errlen, "%s: \"%s\" is not an http:// or https:// URL", name, shown);
    CURLU *u = curl_url();
    if (!u)
        return fail(err, errlen, "%s: out of memory", name);
    int rc = 0;
    char *part = NULL;
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, value, 0);
    if (uc != CURLUE_OK) {
        rc =
            fail(err, errlen, "%s: %s is not a usable URL: %s", name, shown, curl_url_strerror(uc));
    } else if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK ||
               curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK) {
        rc = fail(err, errlen,
                  "%s: holds a user name or password; RudderStack takes the write key "
                  "eddy appends, and credentials here would be logged: remove them",
                  name);
    } else if (curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
        rc = fail(err, errlen,
                  "%s: \"%s\" holds a #fragment, which would swallow the ?writeKey= eddy "
                  "appends: remove it",
                  name, value);
    } else if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK) {
        rc = fail(err, errlen, "%s: give the URL without a query (no writeKey)", name);
    } else if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK || !part || !*part) {
        rc = fail(err, errlen, "%s: \"%s\" names no host", name, value);
    }
    curl_free(part);
    curl_url_cleanup(u);
    return rc;
}

static int copy_value(char *dst, size_t cap, const char *name, const char *value, char *err,
                      size_t errlen)
{
    size_t n = strlen(value);
    if (n >= cap)
        return fail(err, errlen, "%s: longer than %zu bytes", name, cap - 1);
    memcpy(dst, value, n + 1);
    return 0;
}

/* The one path every key takes. With append, value continues the key
 * (an indented line, or --write-key adding to write_keys). */
/* T_ENUM keeps whether the first choice was named, T_CHOICE the index. */
static int set_choice(void *f, const struct key *k, const char *value, char *err, size_t errlen)
{
    char list[128] = "";
    for (int i = 0; k->choices[i]; i++) {
        if (strcmp(value, k->choices[i]) == 0) {
            if (k->type == T_ENUM)
                *(bool *)f = i == 0;
            else
                *(int *)f = i;
            return 0;
        }
        size_t used = strlen(list);
        snprintf(list + used, sizeof(list) - used, "%s%s",
                 !i                  ? ""
                 : k->choices[i + 1] ? ", "
                                     : " or ",
                 k->choices[i]);
    }
    return fail(err, errlen, "%s: \"%s\" is not %s", k->name, value, list);
}

static int set_key(struct config *c, const struct key *k, const char *value, bool append, char *err,
                   size_t errlen)
{
    void *f = key_field(c, k);
    const char *name = k->name;
    if (!value)
        return fail(err, errlen, "%s: needs a value", name);
    if (is_list(k)) {
        if (!append) {
            size_t *n;
            char ***list = list_field(c, k, &n);
            list_clear(list, n);
        }
        return list_add(c, k, value, err, errlen);
    }
    if (append)
        return fail(err, errlen, "%s: takes one value; an indented line continues the key above it",
                    name);
    uint64_t v;
    switch (k->type) {
    case T_STRING:
        if (!*value)
            return fail(err, errlen, "%s: must not be empty", name);
        if (has_control(value, strlen(value)))
            return fail(err, errlen, "%s: holds a control character", name);
        return copy_value(f, k->size, name, value, err, errlen);
    case T_LISTEN: {
        char host[128];
        uint16_t port;
        if (config_split_hostport(value, host, sizeof(host), &port) != 0 ||
            has_space(value, strlen(value)))
            return fail(err, errlen, "%s: \"%s\" is not HOST:PORT (port 1-65535)", name, value);
        return copy_value(f, k->size, name, value, err, errlen);
    }
    case T_URL:
        if (check_url(name, value, err, errlen) != 0)
            return -1;
        return copy_value(f, k->size, name, value, err, errlen);
    case T_WRITE_KEY:
        if (check_write_key(name, value, strlen(value), err, errlen) != 0)
            return -1;
        return copy_value(f, k->size, name, value, err, errlen);
    case T_BOOL:
        if (parse_bool(value, f) != 0)
            return fail(err, errlen, "%s: \"%s\" is not true or false", name, value);
        return 0;
    case T_SIZE:
        if (config_parse_size(value, &v) != 0)
            return fail(err, errlen, "%s: \"%s\" is not a size (like 512K, 32M, 8G)", name, value);
        if (v < k->lo || v > k->hi) {
            char lo[32], hi[32];
            config_format_size(k->lo, lo, sizeof(lo));
            config_format_size(k->hi, hi, sizeof(hi));
            return fail(err, errlen, "%s: %s is out of range (%s to %s)", name, value, lo, hi);
        }
        *(uint64_t *)f = v;
        return 0;
    case T_DURATION:
        if (config_parse_duration(value, &v) != 0)
            return fail(err, errlen, "%s: \"%s\" is not a duration (a number and ms, s, m, h or d)",
                        name, value);
        if (v < k->lo) {
            char lo[32];
            config_format_duration(k->lo, lo, sizeof(lo));
            return fail(err, errlen, "%s: must be at least %s", name, lo);
        }
        *(uint64_t *)f = v;
        return 0;
    case T_UINT:
        if (parse_uint(value, (unsigned)k->lo, (unsigned)k->hi, f) != 0)
            return fail(err, errlen, "%s: \"%s\" is not a number from %llu to %llu", name, value,
                        (unsigned long long)k->lo, (unsigned long long)k->hi);
        return 0;
    case T_FRACTION: {
        char *end;
        errno = 0;
        double d = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(d) || d <= 0 || d > 1)
            return fail(err, errlen, "%s: \"%s\" is not a fraction in (0, 1]", name, value);
        *(double *)f = d;
        return 0;
    }
    case T_ENUM:
    case T_CHOICE:
        return set_choice(f, k, value, err, errlen);
    default:
        return fail(err, errlen, "%s: unhandled type", name);
    }
}

static int unknown_key(const char *section, const char *name, char *err, size_t errlen)
{
    if (!*section)
        return fail(err, errlen, "%s: key outside of any [section]", name);
    for (size_t i = 0; i < CONFIG_NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0)
            return fail(err, errlen, "%s: unknown key in [%s]", name, section);
    return fail(err, errlen, "%s: unknown section [%s]", name, section);
}

int config_set(struct config *c, const char *section, const char *key, const char *value, char *err,
               size_t errlen)
{
    int i = key_index(section, key);
    if (i < 0)
        return unknown_key(section, key, err, errlen);
    return set_key(c, &keys[i], value, false, err, errlen);
}

int config_apply_flag(struct config *c, const char *flag, const char *value, char *err,
                      size_t errlen)
{
    for (size_t f = 0; f < sizeof(config_flags) / sizeof(config_flags[0]); f++) {
        if (strcmp(config_flags[f].flag, flag) != 0)
            continue;
        int i = key_index(config_flags[f].section, config_flags[f].name);
        const struct key *k = &keys[i];
        char why[512];
        if (c->flag[i] && strcmp(c->flag[i], config_flags[f].flag) == 0)
            return fail(err, errlen, "--%s: given twice", flag);
        if (set_key(c, k, value, false, why, sizeof(why)) != 0)
            return fail(err, errlen, "--%s: %s", flag, why);
        c->flag[i] = config_flags[f].flag;
        c->line[i] = 0;
        if (strcmp(flag, "write-key") == 0 && *value) {
            /* also accepted from Braze, once */
            int w = key_index("ingest", "write_keys");
            bool present = false;
            for (size_t j = 0; j < c->nwrite_keys; j++)
                present |= strcmp(c->write_keys[j], value) == 0;
            if (!present && set_key(c, &keys[w], value, true, why, sizeof(why)) != 0)
                return fail(err, errlen, "--%s: %s", flag, why);
        }
        return 0;
    }
    return fail(err, errlen, "--%s: unknown flag", flag);
}

/* ---- the file ------------------------------------------------------------ */

/* inih state. ini_parse_stream reads through read_line, which knows
 * the line number and the raw line, so the handler can tell a continuation
 * line from a key given twice. The first error wins. */
struct loader {
    struct config *c;
    const char *buf, *pos, *end; /* the file, read in full */
    const char *raw;             /* the line inih is handling */
    unsigned lineno;
    int prev_key; /* the key an indented line would continue, or -1 */
    char msg[512];
    bool failed;
};

static char *read_line(char *str, int num, void *stream)
{
    struct loader *ld = stream;
    if (ld->pos >= ld->end)
        return NULL;
    const char *nl = memchr(ld->pos, '\n', (size_t)(ld->end - ld->pos));
    size_t len = nl ? (size_t)(nl - ld->pos) + 1 : (size_t)(ld->end - ld->pos);
    if (len > (size_t)num - 1) /* cannot happen: lines were measured before */
        len = (size_t)num - 1;
    memcpy(str, ld->pos, len);
    str[len] = '\0';
    ld->raw = ld->pos;
    ld->pos += len;
    ld->lineno++;
    const char *s = ld->raw;
    while (s < ld->pos && isspace((unsigned char)*s))
        s++;
    if (s < ld->pos && *s == '[') /* inih forgets the previous key at a section */
        ld->prev_key = -1;
    return str;
}

static int on_ini_entry(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    struct config *c = ld->c;
    if (ld->failed)
        return 0;
    int i = key_index(section, name);
    bool cont = ld->prev_key >= 0 && ld->prev_key == i && isspace((unsigned char)ld->raw[0]);
    int rc;
    if (i < 0) {
        rc = unknown_key(section, name, ld->msg, sizeof(ld->msg));
    } else if (!cont && c->line[i]) {
        rc = fail(ld->msg, sizeof(ld->msg), "%s: given twice (first at line %u)", name, c->line[i]);
    } else {
        rc = set_key(c, &keys[i], value, cont, ld->msg, sizeof(ld->msg));
        if (!cont)
            c->line[i] = ld->lineno;
    }
    ld->prev_key = i;
    if (rc != 0) {
        ld->failed = true;
        return 0;
    }
    return 1;
}

/* Reads a whole regular file of at most CONFIG_FILE_MAX bytes. */
static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno)), NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fileno(f), &st) != 0) {
        fail(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        fail(err, errlen, "%s: not a regular file (give the config file, not %s)", path,
             S_ISDIR(st.st_mode) ? "a directory" : "a device or pipe");
    } else if (st.st_size > CONFIG_FILE_MAX) {
        fail(err, errlen, "%s: larger than %u bytes; not a config file?", path, CONFIG_FILE_MAX);
    } else if (!(buf = malloc((size_t)st.st_size + 1))) {
        fail(err, errlen, "%s: out of memory", path);
    } else {
        *len = fread(buf, 1, (size_t)st.st_size + 1, f);
        if (ferror(f) || *len > (size_t)st.st_size) {
            fail(err, errlen, "%s: cannot read: %s", path,
                 ferror(f) ? strerror(errno) : "it grew while being read");
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    size_t len = 0;
    char *buf = read_file(path, &len, err, errlen);
    if (!buf)
        return -1;
    /* inih would cut a long line and end a line at a NUL without a word;
     * refuse both instead of misreading. */
    unsigned lineno = 1;
    for (const char *p = buf, *end = buf + len; p < end; lineno++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        int rc = 0;
        if (n > CONFIG_LINE_MAX - 3)
            rc = fail(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
                      CONFIG_LINE_MAX - 3);
        else if (memchr(p, '\0', n))
            rc = fail(err, errlen, "%s:%u: holds a NUL byte", path, lineno);
        if (rc) {
            free(buf);
            return -1;
        }
        p += n + 1;
    }
    ini_allow_multiline = true;
    ini_allow_bom = true;
    ini_start_comment_prefixes = ";#";
    ini_allow_inline_comments = true;
    ini_inline_comment_prefixes = ";#";
    ini_allow_no_value = false;
    ini_use_stack = false;
    ini_allow_realloc = false; /* one reader call per line: the line count stays right */
    ini_initial_alloc = CONFIG_LINE_MAX;
    ini_max_line = CONFIG_LINE_MAX;
    ini_stop_on_first_error = true;

    /* Every line number is this file's; none from an earlier file. */
    memset(c->line, 0, sizeof(c->line));
    struct loader ld = {.c = c, .buf = buf, .pos = buf, .end = buf + len, .prev_key = -1};
    int rc = ini_parse_stream(read_line, &ld, on_ini_entry, &ld);
    free(buf);
    if (rc != 0) {
        if (rc < 0)
            return fail(err, errlen, "%s: cannot read (out of memory)", path);
        if (ld.failed)
            return fail(err, errlen, "%s:%d: %s", path, rc, ld.msg);
        return fail(err, errlen, "%s:%d: syntax error (expected [section] or key = value)", path,
                    rc);
    }
    snprintf(c->source, sizeof(c->source), "%s", path);
    return 0;
}

/* ---- where, and the rules between keys ------------------------------------ */

static void where_index(const struct config *c, int i, char *buf, size_t buflen)
{
    if (c->line[i])
        snprintf(buf, buflen, "%s:%u", c->source, c->line[i]);
    else if (c->flag[i])
        snprintf(buf, buflen, "--%s", c->flag[i]);
    else
        snprintf(buf, buflen, "%s", c->source);
}

void config_where(const struct config *c, const char *section, const char *name, char *buf,
                  size_t buflen)
{
    int i = key_index(section, name);
    if (i < 0)
        snprintf(buf, buflen, "%s", c->source);
    else
        where_index(c, i, buf, buflen);
}

/* "line 5", "--flag" or "default": the other key of a rule, briefly. */
static void where_short(const struct config *c, int i, char *buf, size_t buflen)
{
    if (c->line[i])
        snprintf(buf, buflen, "line %u", c->line[i]);
    else if (c->flag[i])
        snprintf(buf, buflen, "--%s", c->flag[i]);
    else
        snprintf(buf, buflen, "default");
}

static bool is_set(const struct config *c, int i)
{
    return c->line[i] || c->flag[i];
}

/* Fails a rule between key a (named in the message) and key b, at a's
 * location, or b's when a kept its default. */
static int fail_rule(const struct config *c, const char *sa, const char *na, const char *sb,
                     const char *nb, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
static int fail_rule(const struct config *c, const char *sa, const char *na, const char *sb,
                     const char *nb, char *err, size_t errlen, const char *fmt, ...)
{
    int a = key_index(sa, na), b = key_index(sb, nb);
    char where[1100], what[512];
    where_index(c, is_set(c, a) || !is_set(c, b) ? a : b, where, sizeof(where));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return fail(err, errlen, "%s: %s: %s", where, na, what);
}

int config_validate(const struct config *c, char *err, size_t errlen)
{
    char other[64], x[32], y[32];
    if (c->ntokens == 0 && c->nwrite_keys == 0 && !c->allow_anonymous)
        return fail(err, errlen,
                    "%s: tokens, write_keys: none configured; set at least one in "
                    "[ingest], or allow_anonymous = true to accept unauthenticated posts",
                    c->source);
    if (c->ntokens && !c->write_key[0]) {
        where_short(c, key_index("delivery", "write_key"), other, sizeof(other));
        return fail_rule(
            c, "ingest", "tokens", "delivery", "write_key", err, errlen,
            "a Bearer-token post carries no write key and is forwarded with [delivery] "
            "write_key, which is empty (%s): set [delivery] write_key (or --write-key) to the "
            "write key of the RudderStack source those posts belong to",
            other);
    }
    if (c->npaths == 0)
        return fail_rule(c, "ingest", "paths", "ingest", "paths", err, errlen,
                         "at least one path is needed");
    if (c->backoff_min_ms > c->backoff_max_ms) {
        config_format_duration(c->backoff_min_ms, x, sizeof(x));
        config_format_duration(c->backoff_max_ms, y, sizeof(y));
        where_short(c, key_index("delivery", "backoff_max"), other, sizeof(other));
        return fail_rule(c, "delivery", "backoff_min", "delivery", "backoff_max", err, errlen,
                         "%s is larger than backoff_max (%s, %s)", x, y, other);
    }
    if (strcmp(c->listen, c->admin_listen) == 0) {
        where_short(c, key_index("ingest", "listen"), other, sizeof(other));
        return fail_rule(c, "admin", "listen", "ingest", "listen", err, errlen,
                         "%s is also [ingest] listen (%s)", c->admin_listen, other);
    }
    if (c->max_body > c->max_size) {
        config_format_size(c->max_body, x, sizeof(x));
        config_format_size(c->max_size, y, sizeof(y));
        where_short(c, key_index("storage", "max_size"), other, sizeof(other));
        return fail_rule(c, "ingest", "max_body", "storage", "max_size", err, errlen,
                         "%s is larger than [storage] max_size (%s, %s)", x, y, other);
    }
    return 0;
}

/* ---- what the system says -------------------------------------------------- */

static bool is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

/* The listen address of key (section, name) resolves to an address of this
 * host, as evhttp's bind would take it (the first getaddrinfo answer). */
static int check_listen(const struct config *c, const char *section, const char *name,
                        const char *value, bool *loopback, char *err, size_t errlen)
{
    char host[128], where[1100];
    uint16_t port;
    config_where(c, section, name, where, sizeof(where));
    if (config_split_hostport(value, host, sizeof(host), &port) != 0)
        return fail(err, errlen, "%s: %s: \"%s\" is not HOST:PORT", where, name, value);
    /* As libevent resolves it: a numeric address as it is, a name with
     * AI_ADDRCONFIG. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, NULL, &hints, &ai);
    if (gai == EAI_NONAME) {
        hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
        gai = getaddrinfo(host, NULL, &hints, &ai);
    }
    if (gai != 0)
        return fail(err, errlen, "%s: %s: cannot resolve \"%s\": %s", where, name, host,
                    gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
    *loopback = is_loopback(ai->ai_addr);
    int rc = 0;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) /* port 0: nothing in the way */
        rc = fail(err, errlen, "%s: %s: %s is not an address of this host: %s", where, name, host,
                  strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

/* True when libcurl would send to the URL's host through a proxy (it then
 * resolves nothing itself). */
static bool proxied(void)
{
    static const char *const vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                                       "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return true;
    }
    return false;
}

int config_check_system(const struct config *c, char *err, size_t errlen,
                        void (*warn)(const char *msg))
{
    bool lo;
    char msg[1600], where[1100];
    if (check_listen(c, "ingest", "listen", c->listen, &lo, err, errlen) != 0 ||
        check_listen(c, "admin", "listen", c->admin_listen, &lo, err, errlen) != 0)
        return -1;
    if (!lo && warn) {
        config_where(c, "admin", "listen", where, sizeof(where));
        snprintf(msg, sizeof(msg),
                 "%s: [admin] listen %s is not loopback: /metrics and /status answer anyone who "
                 "can reach it; keep it on 127.0.0.1 or a private network",
                 where, c->admin_listen);
        warn(msg);
    }
    if (proxied())
        return 0;
    CURLU *u = curl_url();
    char *host = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, c->url, 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_HOST, &host, 0);
    int rc = 0;
    if (host) {
        /* curl keeps the brackets of an IPv6 literal */
        size_t hl = strlen(host);
        if (hl > 2 && host[0] == '[' && host[hl - 1] == ']') {
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = '\0';
        }
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
        int gai = getaddrinfo(host, NULL, &hints, &ai);
        config_where(c, "delivery", "url", where, sizeof(where));
        if (gai == EAI_NONAME || gai == EAI_FAIL)
            rc = fail(err, errlen, "%s: url: host \"%s\" does not resolve: %s", where, host,
                      gai_strerror(gai));
        else if (gai != 0 && warn) {
            /* a resolver that does not answer now: delivery retries */
            snprintf(msg, sizeof(msg), "%s: url: cannot resolve \"%s\" now (%s); delivery retries",
                     where, host, gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
            warn(msg);
        }
        if (ai)
            freeaddrinfo(ai);
    }
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* ---- differences, for a reload ----------------------------------------------- */

static void key_text(const struct config *c, const struct key *k, char *buf, size_t buflen)
{
    const void *f = key_field(c, k);
    buf[0] = '\0';
    if (is_secret(k)) {
        snprintf(buf, buflen, "(secret)");
        return;
    }
    switch (k->type) {
    case T_PATHS: {
        size_t *n;
        char **list = *list_field(c, k, &n);
        size_t used = 0;
        for (size_t i = 0; i < *n && used < buflen; i++)
            used += (size_t)snprintf(buf + used, buflen - used, "%s%s", i ? ", " : "", list[i]);
        return;
    }
    case T_STRING:
    case T_LISTEN:
    case T_URL:
        snprintf(buf, buflen, "%s", (const char *)f);
        return;
    case T_BOOL:
        snprintf(buf, buflen, "%s", *(const bool *)f ? "true" : "false");
        return;
    case T_SIZE:
        config_format_size(*(const uint64_t *)f, buf, buflen);
        return;
    case T_DURATION:
        config_format_duration(*(const uint64_t *)f, buf, buflen);
        return;
    case T_UINT:
        snprintf(buf, buflen, "%u", *(const unsigned *)f);
        return;
    case T_FRACTION:
        snprintf(buf, buflen, "%g", *(const double *)f);
        return;
    case T_ENUM:
        snprintf(buf, buflen, "%s", k->choices[*(const bool *)f ? 0 : 1]);
        return;
    case T_CHOICE:
        snprintf(buf, buflen, "%s", k->choices[*(const int *)f]);
        return;
    default:
        return;
    }
}

static bool key_equal(const struct config *a, const struct config *b, const struct key *k)
{
    if (is_list(k)) {
        size_t *na, *nb;
        char **la = *list_field(a, k, &na), **lb = *list_field(b, k, &nb);
        if (*na != *nb)
            return false;
        for (size_t i = 0; i < *na; i++)
            if (strcmp(la[i], lb[i]) != 0)
                return false;
        return true;
    }
    const void *fa = key_field(a, k), *fb = key_field(b, k);
    switch (k->type) {
    case T_STRING:
    case T_LISTEN:
    case T_URL:
    case T_WRITE_KEY:
        return strcmp(fa, fb) == 0;
    case T_FRACTION:
        return *(const double *)fa == *(const double *)fb;
    default:
        return memcmp(fa, fb, k->size) == 0;
    }
}

void config_changes(const struct config *a, const struct config *b, config_change_fn fn, void *arg)
{
    for (size_t i = 0; i < CONFIG_NKEYS; i++) {
        const struct key *k = &keys[i];
        if (key_equal(a, b, k))
            continue;
        char ta[1100], tb[1100];
        key_text(a, k, ta, sizeof(ta));
        key_text(b, k, tb, sizeof(tb));
        fn(arg, k->section, k->name, k->live, ta, tb);
    }
}
