/*
 * dead.c - reading the queue (queue_scan, queue_get) and the dead-letter
 * operations (replay, purge) applied by id or by filter.
 *
 * No read transaction outlives a call: scans read a chunk of records in a
 * short read txn, copy out the ones that pass the filter, end the txn, and
 * only then run the callback; they resume with MDB_SET_RANGE after the last
 * key seen. Replay and purge run in write transactions of at most `chunk`
 * records, so the CLI never holds LMDB's single writer lock (and stalls
 * ingest) for long; a record is moved dead -> pending inside one txn, so it
 * is always in exactly one place.
 */
#include "queue_internal.h"

#include <stdlib.h>
#include <string.h>

#define SCAN_CHUNK 256 /* records read per read transaction */
#define DEFAULT_APPLY_CHUNK 1000

static MDB_dbi db_of(queue_t *q, enum queue_db db)
{
    return db == QUEUE_DEAD ? q->dead : q->pending;
}

/* Reads up to SCAN_CHUNK records with id > after into out[] (copied, those
 * passing f only). *last gets the last id examined, *end whether the db is
 * exhausted. */
static int scan_chunk(queue_t *q, enum queue_db db, const struct queue_filter *f, uint64_t after,
                      size_t want, struct queue_entry *out, uint64_t *ids_out, size_t *n,
                      uint64_t *last, bool *end)
{
    *n = 0;
    *end = false;
    *last = after;
    if (after == UINT64_MAX) {
        *end = true;
        return QUEUE_OK;
    }
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, db_of(q, db), &c);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "open cursor");
    }
    unsigned char kb[8];
    qi_key_put(kb, after + 1);
    MDB_val k = {8, kb}, d;
    rc = mdb_cursor_get(c, &k, &d, MDB_SET_RANGE);
    size_t examined = 0;
    while (rc == 0 && examined < SCAN_CHUNK && *n < want) {
        uint64_t id = qi_key_get(&k);
        examined++;
        *last = id;
        MDB_val ad, *adp = NULL;
        if (db == QUEUE_PENDING) {
            MDB_val ak = k;
            if (mdb_get(txn, q->attempts, &ak, &ad) == 0)
                adp = &ad;
        }
        bool pass = true;
        if (f) {
            /* Filter on a view into the map; copy only what passes. */
            struct queue_entry view;
            if (db == QUEUE_PENDING)
                qi_entry_pending(&view, id, &d, adp, false);
            else
                qi_entry_dead(&view, id, &d, false);
            pass = queue_filter_match(f, &view);
        }
        if (pass && ids_out) {
            ids_out[(*n)++] = id;
        } else if (pass) {
            st = db == QUEUE_PENDING ? qi_entry_pending(&out[*n], id, &d, adp, true)
                                     : qi_entry_dead(&out[*n], id, &d, true);
            if (st)
                break;
            (*n)++;
        }
        rc = mdb_cursor_get(c, &k, &d, MDB_NEXT);
    }
    if (rc == MDB_NOTFOUND)
        *end = true;
    else if (st == QUEUE_OK && rc != 0)
        st = qi_lmdb_error(rc, "read");
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (st) {
        for (size_t i = 0; out && i < *n; i++)
            queue_entry_free(&out[i]);
        *n = 0;
    }
    return st;
}

int queue_scan(queue_t *q, enum queue_db db, const struct queue_filter *f, uint64_t after,
               size_t limit, queue_scan_fn fn, void *ctx)
{
    struct queue_entry *buf = calloc(SCAN_CHUNK, sizeof(*buf));
    if (!buf)
        return qi_error(QUEUE_ERROR, "out of memory");
    size_t given = 0;
    int ret = QUEUE_OK;
    for (;;) {
        size_t want = SCAN_CHUNK;
        if (limit && limit - given < want)
            want = limit - given;
        size_t n;
        uint64_t last;
        bool end;
        ret = scan_chunk(q, db, f, after, want, buf, NULL, &n, &last, &end);
        if (ret)
            break;
        size_t i = 0;
        for (; i < n && ret == 0; i++) {
            /* Inflated here, after the read transaction ended. */
            ret = queue_entry_inflate(&buf[i]);
            if (ret == QUEUE_OK)
                ret = fn(ctx, &buf[i]);
            queue_entry_free(&buf[i]);
            given++;
        }
        for (; i < n; i++)
            queue_entry_free(&buf[i]);
        if (ret || end || (limit && given >= limit))
            break;
        after = last;
    }
    free(buf);
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
    unsigned char *copy = malloc(d.mv_size ? d.mv_size : 1);
    if (!copy)
        return qi_error(QUEUE_ERROR, "out of memory");
    memcpy(copy, d.mv_data, d.mv_size);
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
            struct queue_attempts *z = calloc(1, sizeof(*z));
            unsigned char nk[8];
            qi_key_put(nk, seq);
            MDB_val nkey = {8, nk};
            st = z ? qi_write_attempts(q, txn, &nkey, z, dv.replays + 1)
                   : qi_error(QUEUE_ERROR, "out of memory");
            free(z);
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
        uint64_t after = 0;
        bool end = false;
        size_t ignored = 0;
        while (st == QUEUE_OK && !end && !stopped) {
            size_t np = 0;
            while (np < chunk && !end && st == QUEUE_OK) {
                size_t got;
                uint64_t last;
                size_t want = chunk - np < SCAN_CHUNK ? chunk - np : SCAN_CHUNK;
                st = scan_chunk(q, QUEUE_DEAD, f, after, want, NULL, pick + np, &got, &last, &end);
                np += got;
                after = last;
            }
            if (st || np == 0)
                break;
            st = apply_ids(q, op, pick, np, &moved, &ignored, &corrupt);
            if (st == QUEUE_OK && progress && progress(ctx, moved) && !end)
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
