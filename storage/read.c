/*
 * read.c - the readers of the queue: the ready scan delivery chooses
 * batches with (queue_ready_scan, queue_ready_ids), the filtered scan of
 * pending or dead (queue_scan, and the chunk reader qi_scan_next that
 * replay and purge by filter pick their ids with) and the copy of one
 * record (queue_get, queue_get_stored). Nothing here writes.
 *
 * No read transaction outlives a call: a scan reads a chunk of records in a
 * short read txn, copies out the ones that pass the filter, ends the txn,
 * and only then runs the callback (and inflates gzip bodies); it resumes
 * with MDB_SET_RANGE after the last key seen.
 */
#include "queue_internal.h"

#include <stdlib.h>
#include <string.h>

static MDB_dbi db_of(queue_t *q, enum queue_db db)
{
    return db == QUEUE_DEAD ? q->dead : q->pending;
}

int queue_ready_scan(queue_t *q, uint64_t after, size_t examine, queue_ready_fn fn, void *ctx,
                     uint64_t *seqs, size_t max, size_t *n, uint64_t *last, bool *end)
{
    *n = 0;
    *last = 0;
    *end = true;
    if (max == 0 || after == UINT64_MAX)
        return QUEUE_OK;
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, q->pending, &c);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "pending cursor");
    }
    unsigned char kb[8];
    qi_key_put(kb, after + 1);
    MDB_val k = {8, kb}, d;
    size_t looked = 0;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    while (rc == 0 && *n < max && (examine == 0 || looked < examine)) {
        MDB_val ak = k, ad;
        int arc = mdb_get(txn, q->attempts, &ak, &ad);
        if (arc != 0 && arc != MDB_NOTFOUND) {
            st = qi_lmdb_error(arc, "read attempts");
            break;
        }
        struct queue_attempts a;
        if (arc != 0 || !qi_attempts_decode(ad.mv_data, ad.mv_size, &a, NULL))
            a.next_try_ms = 0;
        const char *key = NULL;
        size_t keylen = 0;
        qi_record_key(d.mv_data, d.mv_size, &key, &keylen);
        uint64_t seq = qi_key_get(&k);
        enum queue_ready_choice choice = fn(ctx, seq, key, keylen, a.next_try_ms);
        if (choice == QUEUE_READY_STOP)
            break;
        looked++;
        *last = seq;
        if (choice == QUEUE_READY_TAKE)
            seqs[(*n)++] = seq;
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    if (st == QUEUE_OK && rc != 0 && rc != MDB_NOTFOUND)
        st = qi_lmdb_error(rc, "read pending");
    *end = rc == MDB_NOTFOUND;
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (st)
        *n = 0;
    return st;
}

/* queue_ready_ids: every record whose next-try time came. */
static enum queue_ready_choice ready_by_time(void *ctx, uint64_t seq, const char *key,
                                             size_t keylen, int64_t next_try_ms)
{
    (void)seq, (void)key, (void)keylen;
    return next_try_ms <= *(const int64_t *)ctx ? QUEUE_READY_TAKE : QUEUE_READY_SKIP;
}

int queue_ready_ids(queue_t *q, uint64_t after, int64_t now, uint64_t *seqs, size_t max, size_t *n)
{
    uint64_t last;
    bool end;
    return queue_ready_scan(q, after, 0, ready_by_time, &now, seqs, max, n, &last, &end);
}

int qi_scan_next(queue_t *q, struct qi_scan *s)
{
    s->n = 0;
    if (s->after == UINT64_MAX)
        s->end = true;
    if (s->end)
        return QUEUE_OK;
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db_of(q, s->db), &c);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "open cursor");
    }
    unsigned char kb[8];
    qi_key_put(kb, s->after + 1);
    MDB_val k = {8, kb}, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    size_t examined = 0;
    while (rc == 0 && examined < QI_SCAN_CHUNK && s->n < s->want) {
        uint64_t id = qi_key_get(&k);
        examined++;
        s->after = id;
        MDB_val ad, *adp = NULL;
        if (s->db == QUEUE_PENDING) {
            MDB_val ak = k;
            if (mdb_get(txn, q->attempts, &ak, &ad) == 0)
                adp = &ad;
        }
        bool pass = true;
        if (s->f) {
            /* Filter on a view into the map; copy only what passes. */
            struct queue_entry view;
            if (s->db == QUEUE_PENDING)
                qi_entry_pending(&view, id, &d, adp, false);
            else
                qi_entry_dead(&view, id, &d, false);
            pass = queue_filter_match(s->f, &view);
            queue_entry_free(&view); /* a view owns only its inflated types */
        }
        if (pass && s->ids) {
            s->ids[s->n++] = id;
        } else if (pass) {
            struct queue_entry *e = &s->entries[s->n];
            st = s->db == QUEUE_PENDING ? qi_entry_pending(e, id, &d, adp, true)
                                        : qi_entry_dead(e, id, &d, true);
            if (st)
                break;
            s->n++;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        s->end = true;
    else if (st == QUEUE_OK && rc != 0)
        st = qi_lmdb_error(rc, "read");
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (st) {
        for (size_t i = 0; s->entries && i < s->n; i++)
            queue_entry_free(&s->entries[i]);
        s->n = 0;
    }
    return st;
}

int queue_scan(queue_t *q, enum queue_db db, const struct queue_filter *f, uint64_t after,
               size_t limit, queue_scan_fn fn, void *ctx)
{
    struct qi_scan s = {.db = db, .f = f, .after = after};
    s.entries = calloc(QI_SCAN_CHUNK, sizeof(*s.entries));
    if (!s.entries)
        return qi_error(QUEUE_ERROR, "out of memory");
    size_t given = 0;
    int ret = QUEUE_OK;
    for (;;) {
        s.want = QI_SCAN_CHUNK;
        if (limit && limit - given < s.want)
            s.want = limit - given;
        ret = qi_scan_next(q, &s);
        if (ret)
            break;
        size_t i = 0;
        for (; i < s.n && ret == 0; i++) {
            /* Inflated here, after the read transaction ended. */
            ret = queue_entry_inflate(&s.entries[i]);
            if (ret == QUEUE_OK)
                ret = fn(ctx, &s.entries[i]);
            queue_entry_free(&s.entries[i]);
            given++;
        }
        for (; i < s.n; i++)
            queue_entry_free(&s.entries[i]);
        if (ret || s.end || (limit && given >= limit))
            break;
    }
    free(s.entries);
    return ret;
}

static int get_entry(queue_t *q, enum queue_db db, uint64_t id, struct queue_entry *e, bool inflate)
{
    memset(e, 0, sizeof(*e));
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    unsigned char kb[8];
    qi_key_put(kb, id);
    MDB_val k = {8, kb}, d;
    int rc = mdb_get(txn, db_of(q, db), &k, &d);
    if (rc == 0) {
        if (db == QUEUE_PENDING) {
            MDB_val ak = k, ad;
            int arc = mdb_get(txn, q->attempts, &ak, &ad);
            st = qi_entry_pending(e, id, &d, arc == 0 ? &ad : NULL, true);
        } else {
            st = qi_entry_dead(e, id, &d, true);
        }
    }
    mdb_txn_abort(txn);
    if (rc == 0 && st == QUEUE_OK && inflate)
        st = queue_entry_inflate(e);
    if (rc == MDB_NOTFOUND)
        return qi_error(QUEUE_NOT_FOUND, "%s %llu: no such record",
                        db == QUEUE_DEAD ? "dead letter" : "pending", (unsigned long long)id);
    if (rc)
        return qi_lmdb_error(rc, "read");
    return st;
}

int queue_get(queue_t *q, enum queue_db db, uint64_t id, struct queue_entry *e)
{
    return get_entry(q, db, id, e, true);
}

int queue_get_stored(queue_t *q, enum queue_db db, uint64_t id, struct queue_entry *e)
{
    return get_entry(q, db, id, e, false);
}
