/*
 * entry.c - the binary values next to records: the attempts value, and
 * copying a stored value out into a queue_entry (the dead-letter value it
 * reads is dead.c's).
 *
 * The format is little-endian with bounds checks on every length, so a
 * damaged value decodes to an error instead of a crash. The attempts value
 * also carries the replay count of a record that came back from the
 * dead-letter queue, so the count survives if it dies again.
 *
 * attempts value (v1):
 *   0 1 version, 1 3 zero, 4 4 counted, 8 4 network, 12 4 dropped,
 *   16 8 first_failed_ms, 24 8 last_failed_ms, 32 8 next_try_ms,
 *   40 4 last_status, 44 4 nhistory, 48 4 replays, 52 4 uncounted (zero
 *   in values written before it existed),
 *   56 then nhistory x {8 at_ms, 4 status, 2 answer_len, answer bytes}
 */
#include "queue_internal.h"
#include "le.h"

#include <stdlib.h>
#include <string.h>

#define ATTEMPTS_VERSION 1
#define ATTEMPTS_HEADER 56
#define ATTEMPT_HEADER 14
#define HISTORY_FIRST 8 /* kept forever; the rest is a window of the latest */

bool qi_record_peek(const void *val, size_t len, uint32_t *events, uint64_t *body_len)
{
    const unsigned char *p = val;
    if (len < RECORD_HEADER_SIZE || memcmp(p, "EDR1", 4) != 0)
        return false;
    *events = (uint32_t)le_get(p + 12, 4);
    *body_len = le_get(p + 32, 8); /* raw length: a gzip body's is larger than len */
    return (p[5] & RECORD_F_GZIP) || *body_len <= len;
}

bool qi_record_key(const void *val, size_t len, const char **key, size_t *keylen)
{
    const unsigned char *p = val;
    *key = NULL;
    *keylen = 0;
    if (len < RECORD_HEADER_SIZE || memcmp(p, "EDR1", 4) != 0)
        return false;
    size_t n = (size_t)le_get(p + 6, 2);
    if (n > len - RECORD_HEADER_SIZE)
        return false;
    *key = n ? (const char *)p + RECORD_HEADER_SIZE : NULL;
    *keylen = n;
    return true;
}

bool qi_record_received(const void *val, size_t len, int64_t *ms)
{
    const unsigned char *p = val;
    if (len < RECORD_HEADER_SIZE || memcmp(p, "EDR1", 4) != 0)
        return false;
    *ms = (int64_t)le_get(p + 16, 8);
    return true;
}

/* ---- attempts ---------------------------------------------------------- */

size_t qi_attempts_size(const struct queue_attempts *a)
{
    size_t n = ATTEMPTS_HEADER;
    for (uint32_t i = 0; i < a->nhistory && i < QUEUE_HISTORY_MAX; i++)
        n += ATTEMPT_HEADER + (a->history[i].answer_len > QUEUE_ANSWER_MAX
                                   ? QUEUE_ANSWER_MAX
                                   : a->history[i].answer_len);
    return n;
}

size_t qi_attempts_encode(const struct queue_attempts *a, uint32_t replays, unsigned char *out)
{
    memset(out, 0, ATTEMPTS_HEADER);
    uint32_t nh = a->nhistory > QUEUE_HISTORY_MAX ? QUEUE_HISTORY_MAX : a->nhistory;
    out[0] = ATTEMPTS_VERSION;
    le_put(out + 4, a->counted, 4);
    le_put(out + 8, a->network, 4);
    le_put(out + 12, a->dropped, 4);
    le_put(out + 16, (uint64_t)a->first_failed_ms, 8);
    le_put(out + 24, (uint64_t)a->last_failed_ms, 8);
    le_put(out + 32, (uint64_t)a->next_try_ms, 8);
    le_put(out + 40, (uint32_t)a->last_status, 4);
    le_put(out + 44, nh, 4);
    le_put(out + 48, replays, 4);
    le_put(out + 52, a->uncounted, 4);
    size_t k = ATTEMPTS_HEADER;
    for (uint32_t i = 0; i < nh; i++) {
        const struct queue_attempt *h = &a->history[i];
        uint16_t al = h->answer_len > QUEUE_ANSWER_MAX ? QUEUE_ANSWER_MAX : h->answer_len;
        le_put(out + k, (uint64_t)h->at_ms, 8);
        le_put(out + k + 8, (uint32_t)h->status, 4);
        le_put(out + k + 12, al, 2);
        memcpy(out + k + ATTEMPT_HEADER, h->answer, al);
        k += ATTEMPT_HEADER + al;
    }
    return k;
}

bool qi_attempts_decode(const void *buf, size_t len, struct queue_attempts *a, uint32_t *replays)
{
    const unsigned char *p = buf;
    memset(a, 0, sizeof(*a));
    if (replays)
        *replays = 0;
    if (len < ATTEMPTS_HEADER || p[0] != ATTEMPTS_VERSION)
        return false;
    uint32_t nh = (uint32_t)le_get(p + 44, 4);
    if (nh > QUEUE_HISTORY_MAX)
        return false;
    a->counted = (uint32_t)le_get(p + 4, 4);
    a->network = (uint32_t)le_get(p + 8, 4);
    a->dropped = (uint32_t)le_get(p + 12, 4);
    a->first_failed_ms = (int64_t)le_get(p + 16, 8);
    a->last_failed_ms = (int64_t)le_get(p + 24, 8);
    a->next_try_ms = (int64_t)le_get(p + 32, 8);
    a->last_status = (int32_t)le_get(p + 40, 4);
    a->uncounted = (uint32_t)le_get(p + 52, 4);
    if (replays)
        *replays = (uint32_t)le_get(p + 48, 4);
    size_t k = ATTEMPTS_HEADER;
    for (uint32_t i = 0; i < nh; i++) {
        if (len - k < ATTEMPT_HEADER)
            return false;
        struct queue_attempt *h = &a->history[i];
        h->at_ms = (int64_t)le_get(p + k, 8);
        h->status = (int32_t)le_get(p + k + 8, 4);
        h->answer_len = (uint16_t)le_get(p + k + 12, 2);
        if (h->answer_len > QUEUE_ANSWER_MAX || len - k - ATTEMPT_HEADER < h->answer_len)
            return false;
        memcpy(h->answer, p + k + ATTEMPT_HEADER, h->answer_len);
        k += ATTEMPT_HEADER + h->answer_len;
    }
    a->nhistory = nh;
    return true;
}

void qi_attempts_add(struct queue_attempts *a, const struct queue_attempt *at)
{
    if (at->status == 0)
        a->network++;
    else if (at->uncounted)
        a->uncounted++;
    else
        a->counted++;
    if (a->first_failed_ms == 0)
        a->first_failed_ms = at->at_ms;
    a->last_failed_ms = at->at_ms;
    a->last_status = at->status;
    if (a->nhistory == QUEUE_HISTORY_MAX) {
        /* Keep the first attempts (what went wrong first) and slide the
         * window of the latest ones. */
        memmove(&a->history[HISTORY_FIRST], &a->history[HISTORY_FIRST + 1],
                (QUEUE_HISTORY_MAX - HISTORY_FIRST - 1) * sizeof(a->history[0]));
        a->nhistory--;
        a->dropped++;
    }
    struct queue_attempt *h = &a->history[a->nhistory++];
    *h = *at;
    if (h->answer_len > QUEUE_ANSWER_MAX)
        h->answer_len = QUEUE_ANSWER_MAX;
}

/* ---- entries ----------------------------------------------------------- */

void queue_entry_free(struct queue_entry *e)
{
    if (!e)
        return;
    free(e->mem);
    free(e->raw);
    free(e->types);
    e->mem = NULL;
    e->raw = NULL;
    e->types = NULL;
}

/* A copied-out gzip record gets its raw body; a body that does not inflate
 * marks the entry corrupt, as a failed CRC does. Running out of memory is
 * not damage: the read fails instead (and the entry is freed). */
int queue_entry_inflate(struct queue_entry *e)
{
    if (e->status != RECORD_OK)
        return QUEUE_OK;
    unsigned char *raw;
    int rs = record_inflate(&e->rec, &raw);
    if (rs == RECORD_NOMEM) {
        queue_entry_free(e);
        return qi_error(QUEUE_ERROR, "out of memory inflating record %llu",
                        (unsigned long long)e->id);
    }
    if (rs == RECORD_OK) {
        if (raw) /* NULL when the body was already raw or inflated */
            e->raw = raw;
    } else
        e->status = rs;
    return QUEUE_OK;
}

/* Decodes the record at b into e->rec; a deflated types list is inflated
 * at once (half a KB: every reader of an entry may look at its types), and
 * one that does not inflate marks the entry corrupt. */
static int decode_value(struct queue_entry *e, const void *b, size_t len)
{
    e->status = record_decode(b, len, &e->rec);
    if (e->status != RECORD_OK)
        return QUEUE_OK;
    char *types;
    int rs = record_unpack_types(&e->rec, &types);
    if (rs == RECORD_NOMEM) {
        queue_entry_free(e);
        e->status = rs; /* rec.types is not there: nothing may look at it */
        return qi_error(QUEUE_ERROR, "out of memory inflating the types of record %llu",
                        (unsigned long long)e->id);
    }
    if (rs != RECORD_OK)
        e->status = rs;
    e->types = types;
    return QUEUE_OK;
}

/* Points e at val, copying it into e->mem first when asked. */
static const unsigned char *value_bytes(struct queue_entry *e, const MDB_val *val, bool copy)
{
    if (!copy)
        return val->mv_data;
    e->mem = malloc(val->mv_size ? val->mv_size : 1);
    if (!e->mem)
        return NULL;
    memcpy(e->mem, val->mv_data, val->mv_size);
    return e->mem;
}

int qi_entry_pending(struct queue_entry *e, uint64_t id, const MDB_val *val,
                     const MDB_val *attempts, bool copy)
{
    memset(e, 0, sizeof(*e));
    e->id = id;
    const unsigned char *b = value_bytes(e, val, copy);
    if (!b)
        return qi_error(QUEUE_ERROR, "out of memory copying record %llu", (unsigned long long)id);
    int st = decode_value(e, b, val->mv_size);
    if (st)
        return st;
    if (attempts &&
        !qi_attempts_decode(attempts->mv_data, attempts->mv_size, &e->attempts, &e->replays)) {
        /* A damaged history must not hide the record: deliver it with
         * a fresh history rather than failing the read. */
        memset(&e->attempts, 0, sizeof(e->attempts));
    }
    return QUEUE_OK;
}

int qi_entry_dead(struct queue_entry *e, uint64_t id, const MDB_val *val, bool copy)
{
    memset(e, 0, sizeof(*e));
    e->id = id;
    const unsigned char *b = value_bytes(e, val, copy);
    if (!b)
        return qi_error(QUEUE_ERROR, "out of memory copying dead letter %llu",
                        (unsigned long long)id);
    struct qi_dead d;
    if (!qi_dead_decode(b, val->mv_size, &d)) {
        e->status = RECORD_BAD_CRC;
        return QUEUE_OK;
    }
    size_t rl = d.reason_len < sizeof(e->reason) - 1 ? d.reason_len : sizeof(e->reason) - 1;
    memcpy(e->reason, d.reason, rl);
    e->reason[rl] = '\0';
    e->replays = d.replays;
    e->dead_ms = d.dead_ms;
    if (d.attempts_len && !qi_attempts_decode(d.attempts, d.attempts_len, &e->attempts, NULL))
        memset(&e->attempts, 0, sizeof(e->attempts));
    return decode_value(e, d.record, d.record_len);
}
