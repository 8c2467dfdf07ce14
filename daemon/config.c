/*
 * config.c - eddyd's configuration: built-in defaults (DESIGN.md "Config"),
 * then the INI file read with inih, then command-line flags, all through
 * config_set so a key means the same thing wherever it is given.
 *
 * Every failure names where it came from ("FILE:LINE: key: what is wrong")
 * because a daemon that starts with a half-understood config is worse than
 * one that refuses to start.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_LINE_MAX 8192 /* longest line accepted in a config file */

static int config_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int config_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void config_list_clear(char **list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free(list[i]);
    *n = 0;
}

/* Appends the comma- or space-separated items of value to list. */
static int config_list_add(char **list, size_t *n, const char *key, const char *value, char *err,
                           size_t errlen)
{
    const char *p = value;
    while (*p) {
        while (*p == ',' || isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && !isspace((unsigned char)*p))
            p++;
        if (*n >= CONFIG_LIST_MAX)
            return config_fail(err, errlen, "%s: more than %d entries", key, CONFIG_LIST_MAX);
        list[*n] = strndup(start, (size_t)(p - start));
        if (!list[*n])
            return config_fail(err, errlen, "%s: out of memory", key);
        (*n)++;
    }
    return 0;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen, sizeof(c->listen), "127.0.0.1:8080");
    c->paths[c->npaths++] = strdup("/v1/webhook");
    c->paths[c->npaths++] = strdup("/currents");
    c->allow_anonymous = false;
    c->max_body = 32ull << 20;
    snprintf(c->admin_listen, sizeof(c->admin_listen), "127.0.0.1:8081");
    snprintf(c->data_dir, sizeof(c->data_dir), "./var/eddy");
    c->max_size = 8ull << 30;
    c->high_water = 0.95;
    c->sync_full = true;
    c->compress = true;
    snprintf(c->url, sizeof(c->url), "http://127.0.0.1:8090/v1/webhook");
    c->concurrency = 4;
    c->timeout_ms = 30000;
    c->max_attempts = 10;
    c->retry_window_ms = 72ull * 3600 * 1000;
    c->backoff_min_ms = 1000;
    c->backoff_max_ms = 5 * 60 * 1000;
    c->max_batch_bytes = 1ull << 20;
    c->require_external_user_id = false;
    snprintf(c->source, sizeof(c->source), "built-in defaults");
}

void config_free(struct config *c)
{
    config_list_clear(c->paths, &c->npaths);
    config_list_clear(c->tokens, &c->ntokens);
    config_list_clear(c->write_keys, &c->nwrite_keys);
}

int config_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
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
    if (!s || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno)
        return -1;
    uint64_t mul;
    if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "m") == 0)
        mul = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        mul = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        mul = 24 * 3600 * 1000;
    else if (*end == '\0' && v == 0)
        mul = 1; /* "0" needs no unit */
    else
        return -1;
    if (v > UINT64_MAX / mul)
        return -1;
    *out_ms = (uint64_t)v * mul;
    return 0;
}

static int config_parse_bool(const char *s, bool *out)
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

static int config_parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
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
    if (config_parse_uint(colon + 1, 1, 65535, &p) != 0)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int config_copy(char *dst, size_t cap, const char *key, const char *value, char *err,
                       size_t errlen)
{
    size_t n = strlen(value);
    if (n >= cap)
        return config_fail(err, errlen, "%s: longer than %zu bytes", key, cap - 1);
    memcpy(dst, value, n + 1);
    return 0;
}

static int config_set_listen(char *dst, size_t cap, const char *key, const char *value, char *err,
                             size_t errlen)
{
    char host[128];
    uint16_t port;
    if (config_split_hostport(value, host, sizeof(host), &port) != 0)
        return config_fail(err, errlen, "%s: \"%s\" is not HOST:PORT (port 1-65535)", key, value);
    return config_copy(dst, cap, key, value, err, errlen);
}

static int config_set_size(uint64_t *dst, uint64_t lo, uint64_t hi, const char *key,
                           const char *value, char *err, size_t errlen)
{
    uint64_t v;
    if (config_parse_size(value, &v) != 0)
        return config_fail(err, errlen, "%s: \"%s\" is not a size (like 512K, 32M, 8G)", key,
                           value);
    if (v < lo || v > hi)
        return config_fail(err, errlen, "%s: %s is out of range (%llu to %llu bytes)", key, value,
                           (unsigned long long)lo, (unsigned long long)hi);
    *dst = v;
    return 0;
}

static int config_set_duration(uint64_t *dst, uint64_t lo, const char *key, const char *value,
                               char *err, size_t errlen)
{
    uint64_t v;
    if (config_parse_duration(value, &v) != 0)
        return config_fail(err, errlen,
                           "%s: \"%s\" is not a duration (a number and ms, s, m, h or d)", key,
                           value);
    if (v < lo)
        return config_fail(err, errlen, "%s: must be at least %llums", key, (unsigned long long)lo);
    *dst = v;
    return 0;
}

static int config_set_boolean(bool *dst, const char *key, const char *value, char *err,
                              size_t errlen)
{
    if (config_parse_bool(value, dst) != 0)
        return config_fail(err, errlen, "%s: \"%s\" is not true or false", key, value);
    return 0;
}

static int config_set_ingest(struct config *c, const char *key, const char *value, char *err,
                             size_t errlen)
{
    if (strcmp(key, "listen") == 0)
        return config_set_listen(c->listen, sizeof(c->listen), key, value, err, errlen);
    if (strcmp(key, "paths") == 0) {
        config_list_clear(c->paths, &c->npaths);
        if (config_list_add(c->paths, &c->npaths, key, value, err, errlen) != 0)
            return -1;
        for (size_t i = 0; i < c->npaths; i++)
            if (c->paths[i][0] != '/' || strpbrk(c->paths[i], "?#"))
                return config_fail(err, errlen, "%s: \"%s\" must start with / and hold no ? or #",
                                   key, c->paths[i]);
        return 0;
    }
    if (strcmp(key, "tokens") == 0) {
        config_list_clear(c->tokens, &c->ntokens);
        return config_list_add(c->tokens, &c->ntokens, key, value, err, errlen);
    }
    if (strcmp(key, "write_keys") == 0) {
        config_list_clear(c->write_keys, &c->nwrite_keys);
        if (config_list_add(c->write_keys, &c->nwrite_keys, key, value, err, errlen) != 0)
            return -1;
        for (size_t i = 0; i < c->nwrite_keys; i++)
            if (strchr(c->write_keys[i], ':'))
                return config_fail(err, errlen, "%s: a write key cannot hold ':'", key);
        return 0;
    }
    if (strcmp(key, "allow_anonymous") == 0)
        return config_set_boolean(&c->allow_anonymous, key, value, err, errlen);
    if (strcmp(key, "max_body") == 0)
        return config_set_size(&c->max_body, 1024, 1ull << 30, key, value, err, errlen);
    return config_fail(err, errlen, "%s: unknown key in [ingest]", key);
}

static int config_set_storage(struct config *c, const char *key, const char *value, char *err,
                              size_t errlen)
{
    if (strcmp(key, "data_dir") == 0) {
        if (!*value)
            return config_fail(err, errlen, "%s: must not be empty", key);
        return config_copy(c->data_dir, sizeof(c->data_dir), key, value, err, errlen);
    }
    if (strcmp(key, "max_size") == 0)
        return config_set_size(&c->max_size, 256 << 10, 1ull << 46, key, value, err, errlen);
    if (strcmp(key, "high_water") == 0) {
        char *end;
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v) || v <= 0 || v > 1)
            return config_fail(err, errlen, "%s: \"%s\" is not a fraction in (0, 1]", key, value);
        c->high_water = v;
        return 0;
    }
    if (strcmp(key, "sync") == 0) {
        if (strcmp(value, "full") == 0)
            c->sync_full = true;
        else if (strcmp(value, "none") == 0)
            c->sync_full = false;
        else
            return config_fail(err, errlen, "%s: \"%s\" is not full or none", key, value);
        return 0;
    }
    if (strcmp(key, "compress") == 0) {
        if (strcmp(value, "gzip") == 0)
            c->compress = true;
        else if (strcmp(value, "none") == 0)
            c->compress = false;
        else
            return config_fail(err, errlen, "%s: \"%s\" is not gzip or none", key, value);
        return 0;
    }
    return config_fail(err, errlen, "%s: unknown key in [storage]", key);
}

static int config_set_delivery(struct config *c, const char *key, const char *value, char *err,
                               size_t errlen)
{
    if (strcmp(key, "url") == 0) {
        if (strncmp(value, "http://", 7) != 0 && strncmp(value, "https://", 8) != 0)
            return config_fail(err, errlen, "%s: \"%s\" is not an http:// or https:// URL", key,
                               value);
        if (strchr(value, '?'))
            return config_fail(err, errlen, "%s: give the URL without a query (no writeKey)", key);
        return config_copy(c->url, sizeof(c->url), key, value, err, errlen);
    }
    if (strcmp(key, "write_key") == 0) {
        if (strchr(value, ':'))
            return config_fail(err, errlen, "%s: a write key cannot hold ':'", key);
        return config_copy(c->write_key, sizeof(c->write_key), key, value, err, errlen);
    }
    if (strcmp(key, "concurrency") == 0) {
        if (config_parse_uint(value, 1, 64, &c->concurrency) != 0)
            return config_fail(err, errlen, "%s: \"%s\" is not a number from 1 to 64", key, value);
        return 0;
    }
    if (strcmp(key, "timeout") == 0)
        return config_set_duration(&c->timeout_ms, 1, key, value, err, errlen);
    if (strcmp(key, "max_attempts") == 0) {
        if (config_parse_uint(value, 1, 1000000, &c->max_attempts) != 0)
            return config_fail(err, errlen, "%s: \"%s\" is not a number from 1 to 1000000", key,
                               value);
        return 0;
    }
    if (strcmp(key, "retry_window") == 0)
        return config_set_duration(&c->retry_window_ms, 0, key, value, err, errlen);
    if (strcmp(key, "backoff_min") == 0)
        return config_set_duration(&c->backoff_min_ms, 1, key, value, err, errlen);
    if (strcmp(key, "backoff_max") == 0)
        return config_set_duration(&c->backoff_max_ms, 1, key, value, err, errlen);
    if (strcmp(key, "max_batch_bytes") == 0)
        return config_set_size(&c->max_batch_bytes, 1024, 1ull << 30, key, value, err, errlen);
    if (strcmp(key, "require_external_user_id") == 0)
        return config_set_boolean(&c->require_external_user_id, key, value, err, errlen);
    return config_fail(err, errlen, "%s: unknown key in [delivery]", key);
}

int config_set(struct config *c, const char *section, const char *key, const char *value, char *err,
               size_t errlen)
{
    if (!value)
        return config_fail(err, errlen, "%s: needs a value", key);
    if (strcmp(section, "ingest") == 0)
        return config_set_ingest(c, key, value, err, errlen);
    if (strcmp(section, "admin") == 0) {
        if (strcmp(key, "listen") == 0)
            return config_set_listen(c->admin_listen, sizeof(c->admin_listen), key, value, err,
                                     errlen);
        return config_fail(err, errlen, "%s: unknown key in [admin]", key);
    }
    if (strcmp(section, "storage") == 0)
        return config_set_storage(c, key, value, err, errlen);
    if (strcmp(section, "delivery") == 0)
        return config_set_delivery(c, key, value, err, errlen);
    if (!*section)
        return config_fail(err, errlen, "%s: key outside of any [section]", key);
    return config_fail(err, errlen, "%s: unknown section [%s]", key, section);
}

/* inih state: the first error wins, as ini_parse reports its line. */
struct config_load {
    struct config *c;
    char msg[512];
    bool failed;
    unsigned lists_seen; /* bit per list key already given in this file */
};

static int config_ini_handler(void *user, const char *section, const char *name, const char *value)
{
    struct config_load *ld = user;
    if (ld->failed)
        return 0;
    /* A list key given twice (or continued on an indented line) adds to
     * itself instead of replacing what the file said before. */
    static const char *lists[] = {"paths", "tokens", "write_keys"};
    int rc;
    for (unsigned i = 0; i < 3; i++) {
        if (strcmp(section, "ingest") != 0 || strcmp(name, lists[i]) != 0)
            continue;
        if (ld->lists_seen & (1u << i)) {
            char **list = i == 0 ? ld->c->paths : i == 1 ? ld->c->tokens : ld->c->write_keys;
            size_t *n = i == 0 ? &ld->c->npaths : i == 1 ? &ld->c->ntokens : &ld->c->nwrite_keys;
            size_t before = *n;
            rc = config_list_add(list, n, name, value, ld->msg, sizeof(ld->msg));
            if (rc == 0 && i == 0)
                for (size_t j = before; j < *n; j++)
                    if (list[j][0] != '/')
                        rc = config_fail(ld->msg, sizeof(ld->msg), "%s: \"%s\" must start with /",
                                         name, list[j]);
            goto done;
        }
        ld->lists_seen |= 1u << i;
    }
    rc = config_set(ld->c, section, name, value, ld->msg, sizeof(ld->msg));
done:
    if (rc != 0) {
        ld->failed = true;
        return 0;
    }
    return 1;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return config_fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    /* inih cuts long lines silently; refuse them instead of misreading. */
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned lineno = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (n > CONFIG_LINE_MAX - 3) {
            free(line);
            fclose(f);
            return config_fail(err, errlen, "%s:%u: line longer than %d bytes", path, lineno,
                               CONFIG_LINE_MAX - 3);
        }
    }
    free(line);
    rewind(f);
    ini_use_stack = false;
    ini_allow_realloc = true;
    ini_max_line = CONFIG_LINE_MAX;
    ini_stop_on_first_error = true;

    struct config_load ld = {.c = c};
    int rc = ini_parse_file(f, config_ini_handler, &ld);
    fclose(f);
    if (rc != 0) {
        if (rc < 0)
            return config_fail(err, errlen, "%s: cannot read (out of memory)", path);
        if (ld.failed)
            return config_fail(err, errlen, "%s:%d: %s", path, rc, ld.msg);
        return config_fail(err, errlen, "%s:%d: syntax error (expected [section] or key = value)",
                           path, rc);
    }
    snprintf(c->source, sizeof(c->source), "%s", path);
    return 0;
}

int config_validate(const struct config *c, char *err, size_t errlen)
{
    const char *src = c->source;
    if (c->ntokens == 0 && c->nwrite_keys == 0 && !c->allow_anonymous)
        return config_fail(err, errlen,
                           "%s: [ingest] tokens, write_keys: none configured; set at least one, "
                           "or allow_anonymous = true to accept unauthenticated posts",
                           src);
    if (c->npaths == 0)
        return config_fail(err, errlen, "%s: [ingest] paths: at least one path is needed", src);
    if (c->backoff_min_ms > c->backoff_max_ms)
        return config_fail(err, errlen, "%s: [delivery] backoff_min: larger than backoff_max", src);
    if (strcmp(c->listen, c->admin_listen) == 0)
        return config_fail(err, errlen, "%s: [admin] listen: same address as [ingest] listen", src);
    if (c->max_body > c->max_size)
        return config_fail(err, errlen, "%s: [ingest] max_body: larger than [storage] max_size",
                           src);
    for (size_t i = 0; i < c->ntokens; i++)
        if (strlen(c->tokens[i]) > 1024)
            return config_fail(err, errlen, "%s: [ingest] tokens: a token is over 1024 bytes", src);
    for (size_t i = 0; i < c->nwrite_keys; i++)
        if (strlen(c->write_keys[i]) > 1024)
            return config_fail(err, errlen,
                               "%s: [ingest] write_keys: a write key is over 1024 bytes", src);
    return 0;
}
