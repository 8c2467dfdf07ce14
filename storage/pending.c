/*
 * pending.c - the writes of a batch's life in pending: group append
 * (ingest), acks, failed attempts with their history, and the atomic split
 * of a record into two halves (bisection). Where a batch dies (burial) and
 * comes back (replay) is dead.c; reading is read.c.
 *
 * Every write function is one transaction: a failed put or commit aborts it
 * all, so a group append stores all of its batches or none, and a record is
 * always in exactly one place. Counters in meta move in the same txn.
 */
#include "queue_internal.h"

#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "compress.h"

/* Puts one encoded record under seq (MDB_APPEND|MDB_RESERVE: record_encode
 * writes straight into LMDB's page, no extra copy). */
static int put_record(queue_t *q, MDB_txn *txn, const struct record *r, uint64_t seq)
{
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb}, d = {record_size(r), NULL};
    int rc = mdb_put(txn, q->pending, &k, &d, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return qi_lmdb_error(rc, "append to pending");
    record_encode(r, d.mv_data);
    char name[QI_SRC_NAME_SIZE];
    qi_src_name(r->write_key, r->write_key_len, name);
    return qi_src_count(q, txn, name, 1, r->event_count, (int64_t)r->body_len);
}

int qi_append_record(queue_t *q, MDB_txn *txn, const struct record *r, uint64_t *seq)
{
    int st = qi_counter_next(q, txn, QI_META_NEXT_SEQ, seq);
    return st ? st : put_record(q, txn, r, *seq);
}

int queue_append_group(queue_t *q, struct queue_batch *b, size_t n)
{
    if (n == 0)
        return QUEUE_OK;
    for (size_t i = 0; i < n; i++)
        if (b[i].write_key_len > RECORD_KEY_MAX)
            return qi_error(QUEUE_ERROR, "write key longer than %d bytes", RECORD_KEY_MAX);
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    /* The sequence counter is read and written once per group, not per
     * batch: meta stays at a couple of page touches per commit. */
    uint64_t next;
    st = qi_counter_get(q, txn, QI_META_NEXT_SEQ, &next);
    if (next == 0)
        next = 1;
    uint64_t events = 0, bytes = 0;
    for (size_t i = 0; i < n && st == QUEUE_OK; i++) {
        struct record r = {
            .version = RECORD_VERSION,
            .event_count = b[i].event_count,
            .received_ms = b[i].received_ms,
            .write_key = b[i].write_key,
            .write_key_len = b[i].write_key ? b[i].write_key_len : 0,
            .types = b[i].types,
            .types_len = b[i].types ? b[i].types_len : 0,
            .body = b[i].body,
            .body_len = b[i].body_len,
        };
        if (b[i].zbody) {
            r.flags = RECORD_F_GZIP;
            r.stored = b[i].zbody;
            r.stored_len = b[i].zbody_len;
            if (b[i].ztypes) {
                r.flags |= RECORD_F_TYPES_Z;
                r.types_z = b[i].ztypes;
                r.types_zlen = b[i].ztypes_len;
            }
        }
        b[i].seq = next++;
        st = put_record(q, txn, &r, b[i].seq);
        events += b[i].event_count;
        bytes += b[i].body_len;
    }
    if (st == QUEUE_OK)
        st = qi_counter_put(q, txn, QI_META_NEXT_SEQ, next);
    if (st == QUEUE_OK)
        st = qi_counter_add(q, txn, QI_META_PENDING_EVENTS, (int64_t)events);
    if (st == QUEUE_OK)
        st = qi_counter_add(q, txn, QI_META_PENDING_BYTES, (int64_t)bytes);
    if (st) {
        mdb_txn_abort(txn);
        for (size_t i = 0; i < n; i++)
            b[i].seq = 0;
        return st;
    }
    st = qi_txn_commit(txn, "commit appended batches");
    if (st)
        for (size_t i = 0; i < n; i++)
            b[i].seq = 0;
    return st;
}

/* Counter changes gathered over a transaction, written to meta once. */
struct deltas {
    int64_t events, bytes;
};

static int apply_deltas(queue_t *q, MDB_txn *txn, const struct deltas *d)
{
    int st = qi_counter_add(q, txn, QI_META_PENDING_EVENTS, d->events);
    return st ? st : qi_counter_add(q, txn, QI_META_PENDING_BYTES, d->bytes);
}

/* Deletes pending[seq] and attempts[seq] (nothing when absent), adding
 * the counter changes to *d. */
static int delete_pending(queue_t *q, MDB_txn *txn, uint64_t seq, struct deltas *d)
{
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, q->pending, &k, &v);
    if (rc == MDB_NOTFOUND)
        return QUEUE_OK;
    if (rc)
        return qi_lmdb_error(rc, "read pending");
    uint32_t ev = 0;
    uint64_t blen = 0;
    const char *key = NULL;
    size_t keylen = 0;
    if (qi_record_peek(v.mv_data, v.mv_size, &ev, &blen)) {
        d->events -= (int64_t)ev;
        d->bytes -= (int64_t)blen;
        char name[QI_SRC_NAME_SIZE];
        qi_record_key(v.mv_data, v.mv_size, &key, &keylen);
        qi_src_name(key, keylen, name);
        int st = qi_src_count(q, txn, name, -1, -(int64_t)ev, -(int64_t)blen);
        if (st)
            return st;
    }
    rc = mdb_del(txn, q->pending, &k, NULL);
    if (rc)
        return qi_lmdb_error(rc, "delete pending");
    rc = mdb_del(txn, q->attempts, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return qi_lmdb_error(rc, "delete attempts");
    return QUEUE_OK;
}

int queue_ack(queue_t *q, const uint64_t *seqs, size_t n)
{
    if (n == 0)
        return QUEUE_OK;
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    struct deltas d = {0, 0};
    for (size_t i = 0; i < n && st == QUEUE_OK; i++) {
        st = delete_pending(q, txn, seqs[i], &d);
    }
    if (st == QUEUE_OK)
        st = apply_deltas(q, txn, &d);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    return qi_txn_commit(txn, "commit ack");
}

int qi_pending_delete(queue_t *q, MDB_txn *txn, uint64_t seq)
{
    struct deltas d = {0, 0};
    int st = delete_pending(q, txn, seq, &d);
    return st ? st : apply_deltas(q, txn, &d);
}

int qi_attempts_read(queue_t *q, MDB_txn *txn, uint64_t seq, struct queue_attempts *a,
                     uint32_t *replays)
{
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val ak = {8, kb}, ad;
    int rc = mdb_get(txn, q->attempts, &ak, &ad);
    memset(a, 0, sizeof(*a));
    *replays = 0;
    if (rc == MDB_NOTFOUND)
        return QUEUE_OK;
    if (rc)
        return qi_lmdb_error(rc, "read attempts");
    if (!qi_attempts_decode(ad.mv_data, ad.mv_size, a, replays))
        memset(a, 0, sizeof(*a)); /* damaged history: start over */
    return QUEUE_OK;
}

int qi_attempts_write(queue_t *q, MDB_txn *txn, uint64_t seq, const struct queue_attempts *a,
                      uint32_t replays)
{
    static const struct queue_attempts none;
    if (!a)
        a = &none;
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val ak = {8, kb}, ad = {qi_attempts_size(a), NULL};
    int rc = mdb_put(txn, q->attempts, &ak, &ad, MDB_RESERVE);
    if (rc)
        return qi_lmdb_error(rc, "write attempts");
    qi_attempts_encode(a, replays, ad.mv_data);
    return QUEUE_OK;
}

int queue_fail(queue_t *q, uint64_t seq, const struct queue_attempt *a, int64_t next_try_ms)
{
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb}, d;
    int rc = mdb_get(txn, q->pending, &k, &d);
    if (rc) {
        mdb_txn_abort(txn);
        if (rc == MDB_NOTFOUND)
            return qi_error(QUEUE_NOT_FOUND, "pending %llu: no such record",
                            (unsigned long long)seq);
        return qi_lmdb_error(rc, "read pending");
    }
    struct queue_attempts *h = malloc(sizeof(*h));
    if (!h) {
        mdb_txn_abort(txn);
        return qi_error(QUEUE_ERROR, "out of memory");
    }
    uint32_t replays;
    st = qi_attempts_read(q, txn, seq, h, &replays);
    if (st == QUEUE_OK) {
        qi_attempts_add(h, a);
        h->next_try_ms = next_try_ms;
        st = qi_attempts_write(q, txn, seq, h, replays);
    }
    free(h);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    return qi_txn_commit(txn, "commit failed attempt");
}

int qi_pending_begin(queue_t *q, uint64_t seq, MDB_txn **txn, unsigned char **copy, size_t *len)
{
    int st = qi_txn_begin(q, false, txn);
    if (st)
        return st;
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb}, d;
    int rc = mdb_get(*txn, q->pending, &k, &d);
    if (rc) {
        mdb_txn_abort(*txn);
        if (rc == MDB_NOTFOUND)
            return qi_error(QUEUE_NOT_FOUND, "pending %llu: no such record",
                            (unsigned long long)seq);
        return qi_lmdb_error(rc, "read pending");
    }
    *copy = qi_val_copy(&d);
    if (!*copy) {
        mdb_txn_abort(*txn);
        return QUEUE_ERROR;
    }
    *len = d.mv_size;
    return QUEUE_OK;
}

/* The two halves of a split, built before its transaction writes. */
struct split_halves {
    size_t cnt[2], blen[2], tlen[2], zlen[2];
    unsigned char *body[2], *zbody[2]; /* zbody: gzip members when the whole was gzip */
    char *types[2];
};

static void split_free(struct split_halves *h)
{
    for (int i = 0; i < 2; i++) {
        free(h->body[i]);
        free(h->zbody[i]);
        free(h->types[i]);
    }
}

/* Cuts the raw body of r (pending seq) before event `first` (0: the
 * middle) into h. Returns QUEUE_OK or a status with the message set. */
static int split_build(const struct record *r, uint64_t seq, size_t first, struct split_halves *h)
{
    struct batch_event *ev = NULL;
    size_t nev;
    int st = QUEUE_OK;
    int bs = batch_scan(r->body, r->body_len, &ev, &nev);
    if (bs != BATCH_OK) {
        st = qi_error(bs == BATCH_NOMEM ? QUEUE_ERROR : QUEUE_CORRUPT,
                      "pending %llu: the body is not a batch that can be split",
                      (unsigned long long)seq);
        goto out;
    }
    if (nev < 2 || first >= nev) {
        st = qi_error(QUEUE_ERROR, "pending %llu: cannot split %zu events at %zu",
                      (unsigned long long)seq, nev, first);
        goto out;
    }
    if (first == 0)
        first = nev / 2;
    h->cnt[0] = first;
    h->cnt[1] = nev - first;
    const struct batch_event *part[2] = {ev, ev + first};
    for (int i = 0; i < 2; i++) {
        if (batch_join(r->body, part[i], h->cnt[i], &h->body[i], &h->blen[i]) != BATCH_OK ||
            batch_types(r->body, part[i], h->cnt[i], &h->types[i], &h->tlen[i]) != BATCH_OK) {
            st = qi_error(QUEUE_ERROR, "out of memory");
            goto out;
        }
        /* The halves are stored the way the whole was. */
        if ((r->flags & RECORD_F_GZIP) &&
            compress_gzip(h->body[i], h->blen[i], &h->zbody[i], &h->zlen[i]) == COMPRESS_NOMEM) {
            st = qi_error(QUEUE_ERROR, "out of memory");
            goto out;
        }
    }
out:
    free(ev);
    return st;
}

/* In txn: replaces pending seq (record r) by the halves h, under new
 * sequences in seqs; a replayed record's halves stay replayed. */
static int split_store(queue_t *q, MDB_txn *txn, const struct record *r, uint64_t seq,
                       const struct split_halves *h, uint64_t seqs[2])
{
    struct queue_attempts *old = malloc(sizeof(*old));
    uint32_t replays = 0;
    if (!old)
        return qi_error(QUEUE_ERROR, "out of memory");
    int st = qi_attempts_read(q, txn, seq, old, &replays);
    free(old);
    if (st)
        return st;
    struct deltas dl = {0, 0};
    st = delete_pending(q, txn, seq, &dl);
    for (int i = 0; i < 2 && st == QUEUE_OK; i++) {
        struct record half = {
            .version = RECORD_VERSION,
            .flags = (uint8_t)((r->flags & RECORD_F_REPLAYED) | RECORD_F_SPLIT),
            .event_count = (uint32_t)h->cnt[i],
            .received_ms = r->received_ms,
            .origin_seq = seq,
            .write_key = r->write_key,
            .write_key_len = r->write_key_len,
            .types = h->types[i],
            .types_len = h->tlen[i],
            .body = h->body[i],
            .body_len = h->blen[i],
        };
        if (h->zbody[i]) {
            half.flags |= RECORD_F_GZIP;
            half.stored = h->zbody[i];
            half.stored_len = h->zlen[i];
        }
        st = qi_append_record(q, txn, &half, &seqs[i]);
        dl.events += (int64_t)h->cnt[i];
        dl.bytes += (int64_t)h->blen[i];
        if (st == QUEUE_OK && replays)
            st = qi_attempts_write(q, txn, seqs[i], NULL, replays);
    }
    return st == QUEUE_OK ? apply_deltas(q, txn, &dl) : st;
}

int queue_split(queue_t *q, uint64_t seq, size_t first, uint64_t *a, uint64_t *b)
{
    MDB_txn *txn;
    unsigned char *copy;
    size_t copy_len;
    int st = qi_pending_begin(q, seq, &txn, &copy, &copy_len);
    if (st)
        return st;
    unsigned char *raw = NULL;
    struct split_halves h = {0};
    uint64_t seqs[2];
    struct record r;
    int rs = record_decode(copy, copy_len, &r);
    if (rs == RECORD_OK)
        rs = record_inflate(&r, &raw);
    if (rs == RECORD_NOMEM)
        st = qi_error(QUEUE_ERROR, "out of memory");
    else if (rs != RECORD_OK)
        st = qi_error(QUEUE_CORRUPT, "pending %llu: %s", (unsigned long long)seq,
                      record_strerror(rs));
    else if ((st = split_build(&r, seq, first, &h)) == QUEUE_OK)
        st = split_store(q, txn, &r, seq, &h, seqs);
    free(copy);
    free(raw);
    split_free(&h);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    st = qi_txn_commit(txn, "commit split");
    if (st == QUEUE_OK) {
        if (a)
            *a = seqs[0];
        if (b)
            *b = seqs[1];
    }
    return st;
}
