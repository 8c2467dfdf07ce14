/*
 * dead.c - where a batch dies and what becomes of it: burial of a pending
 * record into the dead-letter queue (queue_bury), the dead-letter value,
 * and replay and purge (queue_dead_apply) by id or by filter.
 *
 * A record is moved pending -> dead and dead -> pending inside one txn, so
 * it is always in exactly one place. Replay and purge run in write
 * transactions of at most `chunk` records, so the CLI never holds LMDB's
 * single writer lock (and stalls ingest) for long; by filter, each chunk's
 * ids are picked first in a short read txn (read.c's qi_scan_next).
 *
 * dead value (little-endian, every length bounds-checked on decode):
 *   0 4 magic "EDD1", 4 4 CRC32 of bytes 8..end of attempts,
 *   8 8 dead_ms, 16 8 pending seq, 24 4 replays, 28 2 reason_len, 30 2 zero,
 *   32 4 attempts_len, 36 reason, attempts value (entry.c), then the record
 *   (record.h)
 */
#include "queue_internal.h"
#include "le.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"

#define DEFAULT_APPLY_CHUNK 1000

/* ---- the dead-letter value ---------------------------------------------- */

size_t qi_dead_size(const struct qi_dead *d)
{
    return QI_DEAD_HEADER_SIZE + d->reason_len + d->attempts_len + d->record_len;
}

void qi_dead_encode(const struct qi_dead *d, unsigned char *out)
{
    memset(out, 0, QI_DEAD_HEADER_SIZE);
    memcpy(out, "EDD1", 4);
    le_put(out + 8, (uint64_t)d->dead_ms, 8);
    le_put(out + 16, d->pending_seq, 8);
    le_put(out + 24, d->replays, 4);
    le_put(out + 28, d->reason_len, 2);
    le_put(out + 32, d->attempts_len, 4);
    size_t k = QI_DEAD_HEADER_SIZE;
    if (d->reason_len)
        memcpy(out + k, d->reason, d->reason_len);
    k += d->reason_len;
    if (d->attempts_len)
        memcpy(out + k, d->attempts, d->attempts_len);
    k += d->attempts_len;
    le_put(out + 4, record_crc32(0, out + 8, k - 8), 4);
    if (d->record_len)
        memcpy(out + k, d->record, d->record_len);
}

bool qi_dead_decode(const void *buf, size_t len, struct qi_dead *d)
{
    const unsigned char *p = buf;
    memset(d, 0, sizeof(*d));
    if (len < QI_DEAD_HEADER_SIZE || memcmp(p, "EDD1", 4) != 0)
        return false;
    size_t rl = (size_t)le_get(p + 28, 2);
    size_t al = (size_t)le_get(p + 32, 4);
    size_t room = len - QI_DEAD_HEADER_SIZE;
    if (rl > room || al > room - rl)
        return false;
    size_t k = QI_DEAD_HEADER_SIZE + rl + al;
    if ((uint32_t)le_get(p + 4, 4) != record_crc32(0, p + 8, k - 8))
        return false;
    d->dead_ms = (int64_t)le_get(p + 8, 8);
    d->pending_seq = le_get(p + 16, 8);
    d->replays = (uint32_t)le_get(p + 24, 4);
    d->reason = (const char *)p + QI_DEAD_HEADER_SIZE;
    d->reason_len = rl;
    d->attempts = p + QI_DEAD_HEADER_SIZE + rl;
    d->attempts_len = al;
    d->record = p + k;
    d->record_len = len - k;
    return true;
}

/* ---- burial ------------------------------------------------------------- */

int queue_bury(queue_t *q, uint64_t seq, const char *reason, uint64_t *dead_id)
{
    MDB_txn *txn;
    unsigned char *rec;
    size_t rec_len;
    int st = qi_pending_begin(q, seq, &txn, &rec, &rec_len);
    if (st)
        return st;
    struct queue_attempts *a = malloc(sizeof(*a));
    unsigned char *ab = NULL;
    if (!a) {
        st = qi_error(QUEUE_ERROR, "out of memory");
        goto out;
    }
    uint32_t replays;
    st = qi_attempts_read(q, txn, seq, a, &replays);
    if (st)
        goto out;
    ab = malloc(qi_attempts_size(a));
    if (!ab) {
        st = qi_error(QUEUE_ERROR, "out of memory");
        goto out;
    }
    size_t reason_len = reason ? strlen(reason) : 0;
    if (reason_len > 255)
        reason_len = 255; /* queue_entry.reason holds 255 bytes */
    struct qi_dead dv = {
        .dead_ms = clock_wall_ms(),
        .pending_seq = seq,
        .replays = replays,
        .reason = reason,
        .reason_len = reason_len,
        .attempts = ab,
        .attempts_len = qi_attempts_encode(a, 0, ab),
        .record = rec,
        .record_len = rec_len,
    };
    uint64_t id;
    st = qi_counter_next(q, txn, QI_META_NEXT_DEAD, &id);
    if (st)
        goto out;
    unsigned char dk[8];
    qi_key_put(dk, id);
    MDB_val dkey = {8, dk}, dval = {qi_dead_size(&dv), NULL};
    int rc = mdb_put(txn, q->dead, &dkey, &dval, MDB_APPEND | MDB_RESERVE);
    if (rc) {
        st = qi_lmdb_error(rc, "append to dead");
        goto out;
    }
    qi_dead_encode(&dv, dval.mv_data);
    st = qi_pending_delete(q, txn, seq);
    uint32_t ev;
    uint64_t blen;
    if (st == QUEUE_OK && qi_record_peek(rec, rec_len, &ev, &blen))
        st = qi_counter_add(q, txn, QI_META_DEAD_EVENTS, ev);
    if (st == QUEUE_OK && dead_id)
        *dead_id = id;
out:
    free(rec);
    free(a);
    free(ab);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    return qi_txn_commit(txn, "commit bury");
}

/* ---- replay and purge --------------------------------------------------- */

/* Replays or purges dead[id] inside txn. QUEUE_NOT_FOUND when absent,
 * QUEUE_CORRUPT (left in place) when a replay meets a damaged record. */
static int apply_one(queue_t *q, MDB_txn *txn, enum queue_dead_op op, uint64_t id)
{
    unsigned char kb[8];
    qi_key_put(kb, id);
    MDB_val k = {8, kb}, d;
    int rc = mdb_get(txn, q->dead, &k, &d);
    if (rc == MDB_NOTFOUND)
        return QUEUE_NOT_FOUND;
    if (rc)
        return qi_lmdb_error(rc, "read dead letter");
    unsigned char *copy = qi_val_copy(&d);
    if (!copy)
        return QUEUE_ERROR;
    size_t len = d.mv_size;
    struct qi_dead dv;
    bool dok = qi_dead_decode(copy, len, &dv);
    uint32_t ev = 0;
    uint64_t blen = 0;
    bool peek = dok && qi_record_peek(dv.record, dv.record_len, &ev, &blen);
    int st = QUEUE_OK;
    if (op == QUEUE_REPLAY) {
        struct record r;
        int rs = dok ? record_decode(dv.record, dv.record_len, &r) : RECORD_BAD_CRC;
        if (rs != RECORD_OK) {
            free(copy);
            return qi_error(QUEUE_CORRUPT, "dead letter %llu: %s, not replayed",
                            (unsigned long long)id, record_strerror(rs));
        }
        r.flags |= RECORD_F_REPLAYED;
        r.origin_seq = dv.pending_seq;
        uint64_t seq;
        st = qi_append_record(q, txn, &r, &seq);
        if (st == QUEUE_OK) {
            /* A fresh history, and the replay count it carries back to the
             * dead-letter queue if it dies again. */
            st = qi_attempts_write(q, txn, seq, NULL, dv.replays + 1);
        }
        if (st == QUEUE_OK)
            st = qi_counter_add(q, txn, QI_META_PENDING_EVENTS, (int64_t)r.event_count);
        if (st == QUEUE_OK)
            st = qi_counter_add(q, txn, QI_META_PENDING_BYTES, (int64_t)r.body_len);
    }
    free(copy);
    if (st)
        return st;
    rc = mdb_del(txn, q->dead, &k, NULL);
    if (rc)
        return qi_lmdb_error(rc, "delete dead letter");
    if (peek)
        st = qi_counter_add(q, txn, QI_META_DEAD_EVENTS, -(int64_t)ev);
    return st;
}

/* Applies op to ids[0..n) in one write txn. *moved counts applied records;
 * *missing and *corrupt count skipped ones. */
static int apply_ids(queue_t *q, enum queue_dead_op op, const uint64_t *ids, size_t n,
                     uint64_t *moved, size_t *missing, size_t *corrupt)
{
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    uint64_t m = 0;
    size_t mi = 0, co = 0;
    for (size_t i = 0; i < n && st == QUEUE_OK; i++) {
        st = apply_one(q, txn, op, ids[i]);
        if (st == QUEUE_NOT_FOUND) {
            mi++;
            st = QUEUE_OK;
        } else if (st == QUEUE_CORRUPT) {
            co++;
            st = QUEUE_OK;
        } else if (st == QUEUE_OK) {
            m++;
        }
    }
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    st = qi_txn_commit(txn, op == QUEUE_REPLAY ? "commit replay" : "commit purge");
    if (st == QUEUE_OK) {
        *moved += m;
        *missing += mi;
        *corrupt += co;
    }
    return st;
}

int queue_dead_apply(queue_t *q, enum queue_dead_op op, const uint64_t *ids, size_t n,
                     const struct queue_filter *f, size_t chunk, queue_progress_fn progress,
                     void *ctx, uint64_t *done)
{
    if (chunk == 0)
        chunk = DEFAULT_APPLY_CHUNK;
    uint64_t moved = 0;
    size_t missing = 0, corrupt = 0;
    int st = QUEUE_OK;
    bool stopped = false;
    if (ids) {
        for (size_t i = 0; i < n && st == QUEUE_OK && !stopped; i += chunk) {
            size_t m = n - i < chunk ? n - i : chunk;
            st = apply_ids(q, op, ids + i, m, &moved, &missing, &corrupt);
            if (st == QUEUE_OK && progress && progress(ctx, moved) && i + m < n)
                stopped = true;
        }
    } else {
        /* Pick the next chunk of matching ids in a short read txn, then
         * apply them by id in a write txn (ids that vanished in between
         * are skipped: someone else purged or replayed them). */
        uint64_t *pick = malloc(chunk * sizeof(*pick));
        if (!pick)
            return qi_error(QUEUE_ERROR, "out of memory");
        struct qi_scan s = {.db = QUEUE_DEAD, .f = f};
        size_t ignored = 0;
        while (st == QUEUE_OK && !s.end && !stopped) {
            size_t np = 0;
            while (np < chunk && !s.end && st == QUEUE_OK) {
                s.ids = pick + np;
                s.want = chunk - np < QI_SCAN_CHUNK ? chunk - np : QI_SCAN_CHUNK;
                st = qi_scan_next(q, &s);
                np += s.n;
            }
            if (st || np == 0)
                break;
            st = apply_ids(q, op, pick, np, &moved, &ignored, &corrupt);
            if (st == QUEUE_OK && progress && progress(ctx, moved) && !s.end)
                stopped = true;
        }
        free(pick);
    }
    if (done)
        *done = moved;
    if (st)
        return st;
    if (stopped)
        return qi_error(QUEUE_STOPPED, "stopped after %llu records", (unsigned long long)moved);
    if (missing)
        return qi_error(QUEUE_NOT_FOUND, "%zu of the listed dead letters do not exist", missing);
    if (corrupt)
        return qi_error(QUEUE_CORRUPT, "%zu dead letters are corrupt and were not replayed",
                        corrupt);
    return QUEUE_OK;
}
