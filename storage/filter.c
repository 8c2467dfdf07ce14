/*
 * filter.c - queue_filter_match: narrows scans of pending and dead records
 * by event type glob, time range, last HTTP status, reason substring, event
 * id and source.
 *
 * A corrupt record always passes: an operator listing or purging must see
 * it, and its fields cannot be trusted to filter on. Type filters use the
 * stored type list and scan the body only when that list was cut
 * (RECORD_F_TYPES_CUT). Event ids are compared once decoded, so an id sent
 * as "a\u002fb" is found as a/b. Scans filter on views into the map, where a
 * gzip body is still compressed: it is inflated here only when the filter
 * must look into it, and one that does not inflate passes (it is corrupt).
 */
#include "queue_internal.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"

/* fnmatch over a '\n'-separated list; true when any entry matches. */
static bool list_matches(const char *glob, const char *list, size_t len)
{
    char small[256];
    size_t i = 0;
    while (i < len) {
        const char *nl = memchr(list + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (list + i)) : len - i;
        char *name = n < sizeof(small) ? small : malloc(n + 1);
        if (!name)
            return false;
        memcpy(name, list + i, n);
        name[n] = '\0';
        bool m = fnmatch(glob, name, 0) == 0;
        if (name != small)
            free(name);
        if (m)
            return true;
        i += n + 1;
    }
    return false;
}

/* The raw body of r, inflated into *mem (caller frees) when r is a gzip
 * view; NULL when it does not inflate (*bad set) or memory ran out. */
static const unsigned char *raw_body(const struct record *r, unsigned char **mem, bool *bad)
{
    *mem = NULL;
    *bad = false;
    if (r->body || r->body_len == 0)
        return r->body;
    struct record copy = *r;
    int rs = record_inflate(&copy, mem);
    *bad = rs == RECORD_BAD_GZIP;
    return rs == RECORD_OK ? copy.body : NULL;
}

/* What a filter asks of the events of a body. */
typedef bool (*events_fn)(const unsigned char *body, const struct batch_event *ev, size_t n,
                          const char *arg);

/* Scans the events of r's body and asks fn about them. A body that does
 * not inflate matches (it is corrupt); one that does not scan does not. */
static bool events_match(const struct record *r, events_fn fn, const char *arg)
{
    unsigned char *mem;
    bool bad;
    const unsigned char *body = raw_body(r, &mem, &bad);
    struct batch_event *ev;
    size_t n;
    bool m = bad;
    if (!bad && batch_scan(body, r->body_len, &ev, &n) == BATCH_OK) {
        m = fn(body, ev, n, arg);
        free(ev);
    }
    free(mem);
    return m;
}

static bool any_type(const unsigned char *body, const struct batch_event *ev, size_t n,
                     const char *glob)
{
    char *types;
    size_t tlen;
    if (batch_types(body, ev, n, &types, &tlen) != BATCH_OK)
        return false;
    bool m = list_matches(glob, types, tlen);
    free(types);
    return m;
}

static bool any_id(const unsigned char *body, const struct batch_event *ev, size_t n,
                   const char *id)
{
    size_t idlen = strlen(id);
    for (size_t i = 0; i < n; i++)
        if (ev[i].id_len && batch_string_equals(body + ev[i].id_off, ev[i].id_len, id, idlen))
            return true;
    return false;
}

static bool type_matches(const char *glob, const struct record *r)
{
    if (list_matches(glob, r->types, r->types_len))
        return true;
    /* The stored list is whole unless it was cut: only then the body. */
    return (r->flags & RECORD_F_TYPES_CUT) && events_match(r, any_type, glob);
}

bool queue_filter_match(const struct queue_filter *f, const struct queue_entry *e)
{
    if (!f || e->status != RECORD_OK)
        return true;
    /* Dead letters are filtered on when they died, pending ones on when
     * they were received. */
    int64_t t = e->dead_ms ? e->dead_ms : e->rec.received_ms;
    if (f->since_ms && t < f->since_ms)
        return false;
    if (f->until_ms && t >= f->until_ms)
        return false;
    if (f->status && e->attempts.last_status != f->status)
        return false;
    if (f->reason && *f->reason && !strstr(e->reason, f->reason))
        return false;
    if (f->type_glob && *f->type_glob && !type_matches(f->type_glob, &e->rec))
        return false;
    if (f->event_id && *f->event_id && !events_match(&e->rec, any_id, f->event_id))
        return false;
    if (f->source && *f->source) {
        char fp[QUEUE_FP_SIZE];
        queue_source_of(e->rec.write_key, e->rec.write_key_len, f->default_source, fp);
        if (strcmp(fp, f->source) != 0)
            return false;
    }
    return true;
}
