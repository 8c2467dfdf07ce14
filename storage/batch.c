/*
 * batch.c - the Currents request body {"events":[...]}: validation, event
 * spans, joins and type lists.
 *
 * batch_validate runs yajl (streaming, no DOM, no recursion) with string
 * validation off and the raw-number callback on, so it is exactly as lenient
 * as RudderStack's gateway: invalid UTF-8, \u0000, lone surrogate escapes and
 * numbers of any size pass; trailing garbage, a BOM, NaN and Infinity do not.
 * Depth is only a counter here, so 100,000 nested arrays cost no stack.
 * It first tries the simdjson fast path (batch_fast.h), which answers only
 * for bodies simdjson accepts in full, where the two parsers agree; every
 * other body and every error message come from yajl (batch_validate_yajl).
 *
 * batch_scan is a bounds-checked byte scanner over a body batch_validate
 * already accepted: it finds event boundaries so bisection halves keep every
 * event's bytes (re-encoding would rewrite 19.99 or -0). It never reads past
 * len even on garbage; on garbage it simply answers BATCH_INVALID_SHAPE.
 * Escaped key names and type strings are decoded with yajl, never by hand.
 *
 * Measured (thread CPU time, the 20 corpus bodies, 2-core dev VM, -O2):
 * yajl alone ~250 MB/s, batch_validate with the fast path ~920 MB/s;
 * build/bench/bench_storage prints batch_validate's rate on every run.
 */
#include "batch.h"
#include "batch_fast.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#include "text.h"

/* ---- distinct type list ------------------------------------------------ */

/* Distinct strings in order of first appearance, '\n'-joined in buf, with a
 * small open-addressing hash so 10,000 distinct types stay linear. */
struct typeset {
    char *buf;
    size_t len, cap;
    size_t *off, *slen; /* per distinct type: offset in buf, length */
    size_t n, ncap;
    size_t *table; /* index+1 into off/slen, 0 = empty; size tcap (power of 2) */
    size_t tcap;
    bool nomem;
};

/* Eight bytes a step (a byte at a time was a tenth of validation). */
/* Room for this many types (and 32 bytes each) from the start: a 100-event
 * batch has up to 100, and growing by doubling from less cost reallocs and
 * rehashes on every body. */
#define TYPESET_FIRST 128

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (;;) {
        uint64_t w = 0;
        memcpy(&w, s, n < 8 ? n : 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
        if (n <= 8)
            return h;
        s += 8;
        n -= 8;
    }
}

static void typeset_free(struct typeset *t)
{
    free(t->buf);
    free(t->off);
    free(t->slen);
    free(t->table);
    memset(t, 0, sizeof(*t));
}

static bool typeset_grow_table(struct typeset *t)
{
    size_t ncap = t->tcap ? t->tcap * 2 : TYPESET_FIRST * 2;
    size_t *nt = calloc(ncap, sizeof(*nt));
    if (!nt)
        return false;
    for (size_t i = 0; i < t->n; i++) {
        size_t h = hash_bytes(t->buf + t->off[i], t->slen[i]) & (ncap - 1);
        while (nt[h])
            h = (h + 1) & (ncap - 1);
        nt[h] = i + 1;
    }
    free(t->table);
    t->table = nt;
    t->tcap = ncap;
    return true;
}

/* Adds s (control bytes shown as '?', so '\n' can separate entries). */
static void typeset_add(struct typeset *t, const char *s, size_t n)
{
    if (t->nomem || n == 0) /* "" is no type: batch_event cannot tell it from absent */
        return;
    char small[256];
    char *clean = n <= sizeof(small) ? small : malloc(n);
    if (!clean) {
        t->nomem = true;
        return;
    }
    text_scrub(clean, s, n, '?');
    if ((t->n + 1) * 2 > t->tcap && !typeset_grow_table(t))
        goto nomem;
    size_t h = hash_bytes(clean, n) & (t->tcap - 1);
    while (t->table[h]) {
        size_t i = t->table[h] - 1;
        if (t->slen[i] == n && memcmp(t->buf + t->off[i], clean, n) == 0)
            goto done;
        h = (h + 1) & (t->tcap - 1);
    }
    if (t->n == t->ncap) {
        size_t nc = t->ncap ? t->ncap * 2 : TYPESET_FIRST;
        size_t *o = realloc(t->off, nc * sizeof(*o));
        if (!o)
            goto nomem;
        t->off = o;
        size_t *l = realloc(t->slen, nc * sizeof(*l));
        if (!l)
            goto nomem;
        t->slen = l;
        t->ncap = nc;
    }
    size_t need = t->len + (t->n ? 1 : 0) + n + 1;
    if (need > t->cap) {
        size_t nc = t->cap ? t->cap : TYPESET_FIRST * 32;
        while (nc < need)
            nc *= 2;
        char *nb = realloc(t->buf, nc);
        if (!nb)
            goto nomem;
        t->buf = nb;
        t->cap = nc;
    }
    if (t->n)
        t->buf[t->len++] = '\n';
    t->off[t->n] = t->len;
    t->slen[t->n] = n;
    memcpy(t->buf + t->len, clean, n);
    t->len += n;
    t->buf[t->len] = '\0';
    t->table[h] = ++t->n;
done:
    if (clean != small)
        free(clean);
    return;
nomem:
    t->nomem = true;
    goto done;
}

/* Hands the list to the caller ("" when empty). */
static int typeset_take(struct typeset *t, char **types, size_t *types_len)
{
    if (t->nomem)
        return BATCH_NOMEM;
    if (!t->buf) {
        t->buf = malloc(1);
        if (!t->buf)
            return BATCH_NOMEM;
        t->buf[0] = '\0';
    }
    *types = t->buf;
    *types_len = t->len;
    t->buf = NULL;
    return BATCH_OK;
}

/* ---- validation (yajl callbacks) --------------------------------------- */

struct vstate {
    size_t depth;     /* open containers */
    int top;          /* -1 nothing yet, 1 object, 0 something else */
    bool key_events;  /* the pending depth-1 key is "events" */
    bool have_events; /* an "events" member was seen */
    bool events_array;
    bool in_events;    /* the counted events array is open */
    bool in_event_obj; /* an object directly inside it is open */
    bool key_type;     /* the pending key of that object is "event_type" */
    /* That event's "event_type" so far: the last member wins, as in
     * batch_scan and JavaScript, so it is added when the event closes. */
    char *type;
    size_t type_len, type_cap;
    bool has_type;
    uint32_t count;
    struct typeset types;
};

static bool key_is(const unsigned char *k, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(k, lit, l) == 0;
}

static void event_type_set(struct vstate *s, const unsigned char *str, size_t len, bool is_string)
{
    s->has_type = false;
    if (!is_string)
        return;
    if (len > s->type_cap) {
        char *t = realloc(s->type, len);
        if (!t) {
            s->types.nomem = true;
            return;
        }
        s->type = t;
        s->type_cap = len;
    }
    if (len)
        memcpy(s->type, str, len);
    s->type_len = len;
    s->has_type = true;
}

/* Called at the start of every value, before a container raises depth. */
static void value_start(struct vstate *s, int kind /* 0 scalar, 1 map, 2 array */,
                        const unsigned char *str, size_t len, bool is_string)
{
    if (s->depth == 0) {
        s->top = kind == 1 ? 1 : 0;
    } else if (s->depth == 1) {
        if (s->key_events) {
            /* The last "events" wins: forget an earlier one. */
            s->have_events = true;
            s->events_array = kind == 2;
            s->count = 0;
            typeset_free(&s->types);
            s->key_events = false;
        }
    } else if (s->depth == 2 && s->in_events) {
        s->count++;
    } else if (s->depth == 3 && s->in_event_obj) {
        if (s->key_type)
            event_type_set(s, str, len, is_string);
        s->key_type = false;
    }
}

static void container_open(struct vstate *s, int kind)
{
    bool opening_events = s->depth == 1 && s->key_events && kind == 2;
    value_start(s, kind, NULL, 0, false); /* consumes key_events */
    if (s->depth == 2 && s->in_events && kind == 1)
        s->in_event_obj = true;
    s->depth++;
    if (opening_events)
        s->in_events = true;
}

static void container_close(struct vstate *s)
{
    if (s->depth > 0)
        s->depth--;
    if (s->depth == 1)
        s->in_events = false;
    if (s->depth == 2 && s->in_event_obj) {
        if (s->has_type)
            typeset_add(&s->types, s->type, s->type_len);
        s->has_type = false;
        s->in_event_obj = false;
    }
}

static int cb_null(void *ctx)
{
    value_start(ctx, 0, NULL, 0, false);
    return 1;
}

static int cb_boolean(void *ctx, int b)
{
    (void)b;
    value_start(ctx, 0, NULL, 0, false);
    return 1;
}

static int cb_number(void *ctx, const char *n, size_t len)
{
    (void)n, (void)len;
    value_start(ctx, 0, NULL, 0, false);
    return 1;
}

static int cb_string(void *ctx, const unsigned char *str, size_t len)
{
    struct vstate *s = ctx;
    value_start(s, 0, str, len, true);
    return s->types.nomem ? 0 : 1;
}

static int cb_start_map(void *ctx)
{
    container_open(ctx, 1);
    return 1;
}

static int cb_map_key(void *ctx, const unsigned char *key, size_t len)
{
    struct vstate *s = ctx;
    if (s->depth == 1)
        s->key_events = key_is(key, len, "events");
    else if (s->depth == 3 && s->in_event_obj)
        s->key_type = key_is(key, len, "event_type");
    return 1;
}

static int cb_end(void *ctx)
{
    container_close(ctx);
    return 1;
}

static int cb_start_array(void *ctx)
{
    container_open(ctx, 2);
    return 1;
}

static const yajl_callbacks validate_callbacks = {
    .yajl_null = cb_null,
    .yajl_boolean = cb_boolean,
    .yajl_number = cb_number, /* raw text: no overflow errors for 2^64 or 1e309 */
    .yajl_string = cb_string,
    .yajl_start_map = cb_start_map,
    .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end,
    .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end,
};

/* What yajl's lexer skips between tokens: JSON's four plus \v and \f, so
 * the scanner below indexes every body the validator accepted. */
static bool is_ws(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool all_whitespace(const unsigned char *b, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_ws(b[i]))
            return false;
    return true;
}

static yajl_handle new_parser(const yajl_callbacks *cb, void *ctx)
{
    yajl_handle h = yajl_alloc(cb, NULL, ctx);
    if (h)
        yajl_config(h, yajl_dont_validate_strings, 1);
    return h;
}

int batch_validate_yajl(const unsigned char *body, size_t len, struct batch_summary *summary,
                        char *err, size_t errlen)
{
    if (summary)
        memset(summary, 0, sizeof(*summary));
    if (err && errlen)
        err[0] = '\0';
    /* An empty (or blank) body is Braze's no-op, not JSON. */
    if (len == 0 || all_whitespace(body, len))
        return BATCH_EMPTY;

    struct vstate s;
    memset(&s, 0, sizeof(s));
    s.top = -1;
    yajl_handle h = new_parser(&validate_callbacks, &s);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return BATCH_NOMEM;
    }
    yajl_status st = yajl_parse(h, body, len);
    bool at_end = false; /* the error came at the end: the text is cut short */
    if (st == yajl_status_ok) {
        st = yajl_complete_parse(h);
        at_end = true;
    }
    int rc;
    if (st != yajl_status_ok) {
        if (s.types.nomem) {
            rc = BATCH_NOMEM;
            snprintf(err, errlen, "out of memory");
        } else {
            size_t at = at_end ? len : yajl_get_bytes_consumed(h);
            unsigned char *msg = yajl_get_error(h, 0, body, len);
            char clean[160] = "parse error";
            if (msg) {
                snprintf(clean, sizeof(clean), "%s", (const char *)msg);
                clean[strcspn(clean, "\n")] = '\0';
                yajl_free_error(h, msg);
            }
            rc = BATCH_INVALID_JSON;
            snprintf(err, errlen, "invalid JSON near byte %zu: %s", at, clean);
        }
    } else if (s.top != 1) {
        rc = BATCH_INVALID_SHAPE;
        snprintf(err, errlen, "the body is not a JSON object");
    } else if (!s.have_events) {
        rc = BATCH_INVALID_SHAPE;
        snprintf(err, errlen, "the body has no \"events\" member");
    } else if (!s.events_array) {
        rc = BATCH_INVALID_SHAPE;
        snprintf(err, errlen, "\"events\" is not an array");
    } else if (s.count == 0) {
        rc = BATCH_EMPTY;
    } else if (summary) {
        summary->events = s.count;
        rc = typeset_take(&s.types, &summary->types, &summary->types_len);
        if (rc != BATCH_OK)
            snprintf(err, errlen, "out of memory");
    } else {
        rc = BATCH_OK;
    }
    yajl_free(h);
    typeset_free(&s.types);
    free(s.type);
    return rc;
}

static bool fast_type(void *ctx, const char *s, size_t n)
{
    struct typeset *t = ctx;
    typeset_add(t, s, n);
    return !t->nomem;
}

int batch_validate(const unsigned char *body, size_t len, struct batch_summary *summary, char *err,
                   size_t errlen)
{
    /* The fast path answers only BATCH_OK; every other outcome, and its
     * message, comes from yajl. */
    struct typeset t;
    memset(&t, 0, sizeof(t));
    uint32_t events = 0;
    if (len && batch_fast_scan(body, len, &events, fast_type, &t) && events > 0) {
        if (err && errlen)
            err[0] = '\0';
        if (!summary) {
            typeset_free(&t);
            return BATCH_OK;
        }
        summary->events = events;
        if (typeset_take(&t, &summary->types, &summary->types_len) == BATCH_OK) {
            typeset_free(&t);
            return BATCH_OK;
        }
    }
    typeset_free(&t);
    return batch_validate_yajl(body, len, summary, err, errlen);
}

/* ---- decoding one escaped JSON string with yajl ------------------------ */

struct strdec {
    char *out;
    size_t len;
};

static int cb_dec_string(void *ctx, const unsigned char *str, size_t len)
{
    struct strdec *d = ctx;
    d->out = malloc(len + 1);
    if (!d->out)
        return 0;
    memcpy(d->out, str, len);
    d->out[len] = '\0';
    d->len = len;
    return 1;
}

static const yajl_callbacks decode_callbacks = {
    .yajl_string = cb_dec_string,
};

/* Decodes the contents of a JSON string (between the quotes) into a malloc'd
 * buffer. Returns false when out of memory or when raw is not a string. */
static bool decode_string(const unsigned char *raw, size_t len, char **out, size_t *outlen)
{
    unsigned char *q = malloc(len + 2);
    if (!q)
        return false;
    q[0] = '"';
    memcpy(q + 1, raw, len);
    q[len + 1] = '"';
    struct strdec d = {0};
    yajl_handle h = new_parser(&decode_callbacks, &d);
    bool ok = false;
    if (h) {
        ok = yajl_parse(h, q, len + 2) == yajl_status_ok &&
             yajl_complete_parse(h) == yajl_status_ok && d.out;
        yajl_free(h);
    }
    free(q);
    if (!ok) {
        free(d.out);
        return false;
    }
    *out = d.out;
    *outlen = d.len;
    return true;
}

/* True when the raw (escaped) key equals lit once decoded. */
static bool raw_key_is(const unsigned char *raw, size_t len, const char *lit)
{
    if (!memchr(raw, '\\', len))
        return key_is(raw, len, lit);
    char *dec;
    size_t dlen;
    if (!decode_string(raw, len, &dec, &dlen))
        return false;
    bool eq = key_is((const unsigned char *)dec, dlen, lit);
    free(dec);
    return eq;
}

bool batch_string_equals(const unsigned char *raw, size_t raw_len, const char *s, size_t len)
{
    if (!memchr(raw, '\\', raw_len))
        return raw_len == len && memcmp(raw, s, len) == 0;
    char *dec;
    size_t dlen;
    if (!decode_string(raw, raw_len, &dec, &dlen))
        return false;
    bool eq = dlen == len && memcmp(dec, s, len) == 0;
    free(dec);
    return eq;
}

/* ---- scanning a validated body ----------------------------------------- */

static size_t skip_ws(const unsigned char *b, size_t i, size_t n)
{
    while (i < n && is_ws(b[i]))
        i++;
    return i;
}

/* b[i] is '"'; *end gets the index after the closing quote. */
static bool skip_string(const unsigned char *b, size_t i, size_t n, size_t *end)
{
    size_t j = i + 1;
    while (j < n) {
        if (b[j] == '\\')
            j += 2;
        else if (b[j] == '"') {
            *end = j + 1;
            return true;
        } else
            j++;
    }
    return false;
}

/* Skips one value starting at b[i], without recursion. */
static bool skip_value(const unsigned char *b, size_t i, size_t n, size_t *end)
{
    if (i >= n)
        return false;
    unsigned char c = b[i];
    if (c == '"')
        return skip_string(b, i, n, end);
    if (c == '{' || c == '[') {
        size_t depth = 0, j = i;
        while (j < n) {
            c = b[j];
            if (c == '"') {
                if (!skip_string(b, j, n, &j))
                    return false;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    *end = j + 1;
                    return true;
                }
            }
            j++;
        }
        return false;
    }
    size_t j = i;
    while (j < n && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ':' && !is_ws(b[j]))
        j++;
    if (j == i)
        return false;
    *end = j;
    return true;
}

/* Walks the members of the object at b[i] ('{'). For each member calls fn
 * with the raw key span and the value span. Returns false on garbage. */
typedef void (*member_fn)(void *ctx, size_t koff, size_t klen, size_t voff, size_t vlen);

static bool walk_object(const unsigned char *b, size_t i, size_t n, member_fn fn, void *ctx)
{
    if (i >= n || b[i] != '{')
        return false;
    size_t j = skip_ws(b, i + 1, n);
    if (j < n && b[j] == '}')
        return true;
    for (;;) {
        size_t kend, vend;
        if (j >= n || b[j] != '"' || !skip_string(b, j, n, &kend))
            return false;
        size_t koff = j + 1, klen = kend - 1 - koff;
        j = skip_ws(b, kend, n);
        if (j >= n || b[j] != ':')
            return false;
        j = skip_ws(b, j + 1, n);
        if (!skip_value(b, j, n, &vend))
            return false;
        fn(ctx, koff, klen, j, vend - j);
        j = skip_ws(b, vend, n);
        if (j >= n)
            return false;
        if (b[j] == '}')
            return true;
        if (b[j] != ',')
            return false;
        j = skip_ws(b, j + 1, n);
    }
}

struct top_ctx {
    const unsigned char *b;
    size_t voff, vlen;
    bool found;
};

static void top_member(void *ctx, size_t koff, size_t klen, size_t voff, size_t vlen)
{
    struct top_ctx *t = ctx;
    if (raw_key_is(t->b + koff, klen, "events")) {
        t->found = true; /* the last one wins */
        t->voff = voff;
        t->vlen = vlen;
    }
}

struct event_ctx {
    const unsigned char *b;
    struct batch_event *ev;
};

static void event_member(void *ctx, size_t koff, size_t klen, size_t voff, size_t vlen)
{
    struct event_ctx *e = ctx;
    bool str = vlen >= 2 && e->b[voff] == '"';
    if (raw_key_is(e->b + koff, klen, "id")) {
        e->ev->id_off = str ? voff + 1 : 0;
        e->ev->id_len = str ? vlen - 2 : 0;
    } else if (raw_key_is(e->b + koff, klen, "event_type")) {
        e->ev->type_off = str ? voff + 1 : 0;
        e->ev->type_len = str ? vlen - 2 : 0;
    }
}

int batch_scan(const unsigned char *body, size_t len, struct batch_event **events, size_t *n)
{
    *events = NULL;
    *n = 0;
    struct top_ctx top = {.b = body};
    size_t i = skip_ws(body, 0, len);
    if (!walk_object(body, i, len, top_member, &top) || !top.found || top.vlen < 2 ||
        body[top.voff] != '[')
        return BATCH_INVALID_SHAPE;

    size_t end = top.voff + top.vlen; /* one past ']' */
    struct batch_event *ev = NULL;
    size_t cnt = 0, cap = 0;
    size_t j = skip_ws(body, top.voff + 1, end);
    if (j < end && body[j] == ']')
        goto done;
    for (;;) {
        size_t vend;
        if (!skip_value(body, j, end, &vend))
            goto bad;
        if (cnt == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct batch_event *ne = realloc(ev, nc * sizeof(*ne));
            if (!ne) {
                free(ev);
                return BATCH_NOMEM;
            }
            ev = ne;
            cap = nc;
        }
        struct batch_event *e = &ev[cnt++];
        memset(e, 0, sizeof(*e));
        e->off = j;
        e->len = vend - j;
        if (body[j] == '{') {
            struct event_ctx ec = {body, e};
            if (!walk_object(body, j, vend, event_member, &ec))
                goto bad;
        }
        j = skip_ws(body, vend, end);
        if (j >= end)
            goto bad;
        if (body[j] == ']')
            break;
        if (body[j] != ',')
            goto bad;
        j = skip_ws(body, j + 1, end);
    }
done:
    *events = ev;
    *n = cnt;
    return BATCH_OK;
bad:
    free(ev);
    return BATCH_INVALID_SHAPE;
}

int batch_join(const unsigned char *body, const struct batch_event *events, size_t n,
               unsigned char **out, size_t *out_len)
{
    static const char head[] = "{\"events\":[";
    static const char tail[] = "]}";
    size_t total = sizeof(head) - 1 + sizeof(tail) - 1 + (n ? n - 1 : 0);
    for (size_t i = 0; i < n; i++)
        total += events[i].len;
    unsigned char *p = malloc(total ? total : 1);
    if (!p)
        return BATCH_NOMEM;
    size_t k = 0;
    memcpy(p, head, sizeof(head) - 1);
    k += sizeof(head) - 1;
    for (size_t i = 0; i < n; i++) {
        if (i)
            p[k++] = ',';
        memcpy(p + k, body + events[i].off, events[i].len);
        k += events[i].len;
    }
    memcpy(p + k, tail, sizeof(tail) - 1);
    k += sizeof(tail) - 1;
    *out = p;
    *out_len = k;
    return BATCH_OK;
}

int batch_types(const unsigned char *body, const struct batch_event *events, size_t n, char **types,
                size_t *types_len)
{
    struct typeset t;
    memset(&t, 0, sizeof(t));
    for (size_t i = 0; i < n && !t.nomem; i++) {
        const struct batch_event *e = &events[i];
        if (!e->type_len)
            continue; /* absent, not a string, or "" */
        const unsigned char *raw = body + e->type_off;
        if (!memchr(raw, '\\', e->type_len)) {
            typeset_add(&t, (const char *)raw, e->type_len);
        } else {
            char *dec;
            size_t dlen;
            if (!decode_string(raw, e->type_len, &dec, &dlen)) {
                t.nomem = true;
                break;
            }
            typeset_add(&t, dec, dlen);
            free(dec);
        }
    }
    int rc = typeset_take(&t, types, types_len);
    typeset_free(&t);
    return rc;
}
