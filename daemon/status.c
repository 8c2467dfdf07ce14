/*
 * status.c - the status object and the meta blobs behind it (see status.h).
 *
 * The object, compact and in this order:
 *   pending   storage's totals, oldest_age_s from the head of the queue
 *   dead      storage's totals
 *   delivery  meta "delivery" without its per-source list, else the
 *             state of an eddyd that never recorded one ("ok")
 *   storage   pages in use, map size, file size
 *   eddyd     running and pid from the daemon lock, then meta "eddyd"
 *   sources   storage's per-source counts and pause flags, joined with
 *             each source's entry in meta "delivery"; the sources eddyd
 *             knows with nothing pending are listed too
 * A blob that is absent or not a JSON object counts as never written: a
 * stale or damaged record costs a field, never the whole status.
 */
#include "status.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOB_DELIVERY "delivery"
#define BLOB_EDDYD "eddyd"

/* Stores o (consumed) as meta blob name. NULL, or why not. */
static const char *put_blob(queue_t *q, const char *name, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s)
        return "out of memory";
    int st = queue_meta_put(q, name, s, strlen(s));
    free(s);
    return st == QUEUE_OK ? NULL : queue_last_error();
}

/* Meta blob name as a JSON object in *out, or NULL when absent or not an
 * object. (It may change between the two reads: the length check then
 * refuses the copy.) QUEUE_OK, or the storage status when it cannot be read. */
static int get_blob(queue_t *q, const char *name, json_t **out)
{
    *out = NULL;
    size_t len = 0, again = 0;
    int st = queue_meta_get(q, name, NULL, 0, &len);
    if (st != QUEUE_OK || len == 0)
        return st == QUEUE_NOT_FOUND ? QUEUE_OK : st;
    char *buf = malloc(len);
    if (!buf)
        return QUEUE_OK; /* as if absent: the rest of the status is still worth giving */
    st = queue_meta_get(q, name, buf, len, &again);
    json_t *o = st == QUEUE_OK && again == len ? json_loadb(buf, len, 0, NULL) : NULL;
    free(buf);
    if (o && !json_is_object(o)) {
        json_decref(o);
        o = NULL;
    }
    *out = o;
    return st;
}

const char *status_put_delivery(queue_t *q, const struct status_delivery *d)
{
    json_t *srcs = json_array();
    for (size_t i = 0; srcs && i < d->nsources; i++) {
        const struct status_source *s = &d->sources[i];
        char since[32];
        time_t t = (time_t)(s->since_ms / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
        json_array_append_new(srcs, json_pack("{s:s,s:s,s:s,s:i,s:s,s:I}", "source", s->fp, "state",
                                              s->state, "since", since, "last_status",
                                              s->last_status, "last_error", s->last_error,
                                              "probing", (json_int_t)s->probing));
    }
    json_t *o = srcs ? json_pack("{s:s,s:i,s:s,s:I,s:o}", "state", d->state, "last_status",
                                 d->last_status, "last_error", d->last_error, "updated_ms",
                                 (json_int_t)d->updated_ms, "sources", srcs)
                     : NULL;
    return put_blob(q, BLOB_DELIVERY, o);
}

const char *status_put_eddyd(queue_t *q, int64_t now_ms, const char *error, const char *reason)
{
    json_t *ingest = error ? json_pack("{s:b,s:s,s:s}", "accepting", 0, "error", error, "reason",
                                       reason ? reason : "")
                           : json_pack("{s:b}", "accepting", 1);
    return put_blob(q, BLOB_EDDYD,
                    json_pack("{s:I,s:o?}", "updated_ms", (json_int_t)now_ms, "ingest", ingest));
}

void status_probing(queue_t *q, uint64_t *seqs, size_t cap, size_t *n)
{
    *n = 0;
    json_t *o;
    get_blob(q, BLOB_DELIVERY, &o); /* unreadable: none marked */
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(o, "sources"), i, s)
    {
        json_int_t seq = json_integer_value(json_object_get(s, "probing"));
        if (seq > 0 && *n < cap)
            seqs[(*n)++] = (uint64_t)seq;
    }
    json_decref(o);
}

/* ---- the status object ---------------------------------------------------- */

/* The entry of source fp in the delivery blob's list, or NULL. */
static json_t *blob_source(json_t *list, const char *fp)
{
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s)
    {
        const char *name = json_string_value(json_object_get(s, "source"));
        if (name && !strcmp(name, fp))
            return s;
    }
    return NULL;
}

static const char *str_or(json_t *o, const char *name, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, name));
    return s ? s : dflt;
}

static json_int_t int_of(json_t *o, const char *name)
{
    return json_integer_value(json_object_get(o, name)); /* 0 when absent or not an integer */
}

/* One entry of "sources": storage's counts for s, the delivery worker's
 * view of it from e (may be NULL). */
static json_t *source_json(const struct queue_source *s, json_t *e, int64_t now_ms)
{
    int64_t age =
        s->batches && s->oldest_ms && now_ms > s->oldest_ms ? (now_ms - s->oldest_ms) / 1000 : 0;
    return json_pack("{s:s,s:s,s:s,s:{s:I,s:I,s:I},s:I,s:s,s:I}", "source", s->fp, "state",
                     s->paused ? "paused" : str_or(e, "state", "ok"), "since",
                     str_or(e, "since", ""), "pending", "batches", (json_int_t)s->batches, "events",
                     (json_int_t)s->events, "oldest_age_s", (json_int_t)age, "last_status",
                     int_of(e, "last_status"), "last_error", str_or(e, "last_error", ""), "probing",
                     int_of(e, "probing"));
}

/* "sources": every source storage counts, then those only the delivery
 * worker knows (nothing pending). NULL when out of memory. */
static json_t *sources_json(const struct queue_source *list, size_t n, json_t *known,
                            int64_t now_ms)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(
                a, source_json(&list[i], blob_source(known, list[i].fp), now_ms)) != 0)
            goto oom;
    size_t i;
    json_t *e;
    json_array_foreach(known, i, e)
    {
        const char *fp = json_string_value(json_object_get(e, "source"));
        /* not a fingerprint, or listed already (by storage or earlier here) */
        bool skip = !fp || strlen(fp) != QUEUE_FP_SIZE - 1;
        for (size_t k = 0; k < json_array_size(a) && !skip; k++)
            skip = !strcmp(str_or(json_array_get(a, k), "source", ""), fp);
        if (skip)
            continue;
        struct queue_source none = {0};
        snprintf(none.fp, sizeof(none.fp), "%s", fp);
        if (json_array_append_new(a, source_json(&none, e, now_ms)) != 0)
            goto oom;
    }
    return a;
oom:
    json_decref(a);
    return NULL;
}

/* "eddyd": running and pid from the daemon lock, then the fields of its
 * record (or "updated_ms":0 when it never wrote one). */
static json_t *eddyd_json(long pid, json_t *record)
{
    json_t *o = json_pack("{s:b,s:I}", "running", pid != 0, "pid", (json_int_t)pid);
    if (o && record)
        json_object_update_missing(o, record);
    else if (o)
        json_object_set_new(o, "updated_ms", json_integer(0));
    return o;
}

/* The object from what storage answered and the two blobs (consumed). */
static json_t *build(const struct queue_stats *s, const struct queue_source *list, size_t n,
                     long pid, json_t *delivery, json_t *eddyd, int64_t now_ms)
{
    json_t *known = json_incref(json_object_get(delivery, "sources"));
    if (delivery)
        json_object_del(delivery, "sources");
    else
        delivery = json_pack("{s:s,s:i,s:s}", "state", "ok", "last_status", 0, "last_error", "");
    int64_t age = s->pending_batches && s->pending_oldest_ms && now_ms > s->pending_oldest_ms
                      ? (now_ms - s->pending_oldest_ms) / 1000
                      : 0;
    /* "o" steals every part, even when packing fails (out of memory) */
    json_t *o = json_pack(
        "{s:{s:I,s:I,s:I,s:I},s:{s:I,s:I},s:o,s:{s:I,s:I,s:I},s:o,s:o}", "pending", "batches",
        (json_int_t)s->pending_batches, "events", (json_int_t)s->pending_events, "bytes",
        (json_int_t)s->pending_bytes, "oldest_age_s", (json_int_t)age, "dead", "batches",
        (json_int_t)s->dead_batches, "events", (json_int_t)s->dead_events, "delivery", delivery,
        "storage", "used_bytes", (json_int_t)s->used_bytes, "max_bytes", (json_int_t)s->max_bytes,
        "file_bytes", (json_int_t)s->file_bytes, "eddyd", eddyd_json(pid, eddyd), "sources",
        sources_json(list, n, known, now_ms));
    json_decref(known);
    json_decref(eddyd);
    return o;
}

int status_json(queue_t *q, int64_t now_ms, char **json, char *err, size_t errlen)
{
    *json = NULL;
    struct queue_stats s;
    struct queue_source *list = NULL;
    size_t n = 0;
    long pid = 0;
    json_t *delivery = NULL, *eddyd = NULL;
    if (queue_stats(q, &s) != QUEUE_OK || queue_daemon_of(q, &pid) != QUEUE_OK ||
        get_blob(q, BLOB_DELIVERY, &delivery) != QUEUE_OK ||
        get_blob(q, BLOB_EDDYD, &eddyd) != QUEUE_OK || queue_sources(q, &list, &n) != QUEUE_OK) {
        snprintf(err, errlen, "%s", queue_last_error());
        json_decref(delivery);
        json_decref(eddyd);
        return -1;
    }
    json_t *o = build(&s, list, n, pid, delivery, eddyd, now_ms);
    free(list);
    *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!*json) {
        snprintf(err, errlen, "status: out of memory");
        return -1;
    }
    return 0;
}
