/*
 * filter.c - queue_filter_match: narrows scans of pending and dead records
 * by event type glob, time range, last HTTP status, reason substring and
 * event id.
 *
 * A corrupt record always passes: an operator listing or purging must see
 * it, and its fields cannot be trusted to filter on. Type filters use the
 * stored type list and scan the body only when that list was cut
 * (RECORD_F_TYPES_CUT). Event ids are compared once decoded, so an id sent
 * as "a\u002fb" is found as a/b.
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

static bool type_matches(const char *glob, const struct record *r)
{
    if (list_matches(glob, r->types, r->types_len))
        return true;
    if (!(r->flags & RECORD_F_TYPES_CUT))
        return false;
    struct batch_event *ev;
    size_t n;
    if (batch_scan(r->body, r->body_len, &ev, &n) != BATCH_OK)
        return false;
    char *types;
    size_t tlen;
    bool m = false;
    if (batch_types(r->body, ev, n, &types, &tlen) == BATCH_OK) {
        m = list_matches(glob, types, tlen);
        free(types);
    }
    free(ev);
    return m;
}

static bool id_matches(const char *id, const struct record *r)
{
    struct batch_event *ev;
    size_t n;
    if (batch_scan(r->body, r->body_len, &ev, &n) != BATCH_OK)
        return false;
    size_t idlen = strlen(id);
    bool m = false;
    for (size_t i = 0; i < n && !m; i++)
        m = ev[i].id_len && batch_string_equals(r->body + ev[i].id_off, ev[i].id_len, id, idlen);
    free(ev);
    return m;
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
    if (f->event_id && *f->event_id && !id_matches(f->event_id, &e->rec))
        return false;
    return true;
}
