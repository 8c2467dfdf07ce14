/*
 * pending.c - the pending side of the queue: group append (ingest), ready
 * reads, acks, failed attempts, burial into the dead-letter queue and the
 * atomic split of a record into two halves (bisection).
 *
 * Every write function is one transaction: a failed put or commit aborts it
 * all, so a group append stores all of its batches or none, and a record is
 * always in exactly one place. Counters in meta move in the same txn.
 */
#include "queue_internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "clock.h"
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

/* Counter changes gathered over a transaction, written to meta once. */
struct deltas {
    int64_t events, bytes;
};

static int apply_deltas(queue_t *q, MDB_txn *txn, const struct deltas *d)
{
    int st = qi_counter_add(q, txn, QI_META_PENDING_EVENTS, d->events);
    return st ? st : qi_counter_add(q, txn, QI_META_PENDING_BYTES, d->bytes);
}

/* Deletes pending[seq] and attempts[seq], adding the counter changes to
 * *d. *found tells whether the record was there. */
static int delete_pending(queue_t *q, MDB_txn *txn, uint64_t seq, bool *found, struct deltas *d)
{
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb}, v;
    int rc = mdb_get(txn, q->pending, &k, &v);
    *found = rc == 0;
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
        bool found;
        st = delete_pending(q, txn, seqs[i], &found, &d);
    }
    if (st == QUEUE_OK)
        st = apply_deltas(q, txn, &d);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    return qi_txn_commit(txn, "commit ack");
}

/* Reads attempts[seq] (zero when absent) and its replay count. */
static int read_attempts(queue_t *q, MDB_txn *txn, const MDB_val *k, struct queue_attempts *a,
                         uint32_t *replays)
{
    MDB_val ak = *k, ad;
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

int qi_write_attempts(queue_t *q, MDB_txn *txn, const MDB_val *k, const struct queue_attempts *a,
                      uint32_t replays)
{
    MDB_val ak = *k, ad = {qi_attempts_size(a), NULL};
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
    st = read_attempts(q, txn, &k, h, &replays);
    if (st == QUEUE_OK) {
        qi_attempts_add(h, a);
        h->next_try_ms = next_try_ms;
        st = qi_write_attempts(q, txn, &k, h, replays);
    }
    free(h);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    return qi_txn_commit(txn, "commit failed attempt");
}

/* Begins a write transaction and copies pending[seq] out of it (LMDB
 * values are only valid until the next write). On success the caller owns
 * *txn and *copy; on failure neither is left. */
static int begin_with_pending(queue_t *q, uint64_t seq, MDB_txn **txn, unsigned char **copy,
                              size_t *len)
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
    *copy = malloc(d.mv_size ? d.mv_size : 1);
    if (!*copy) {
        mdb_txn_abort(*txn);
        return qi_error(QUEUE_ERROR, "out of memory");
    }
    memcpy(*copy, d.mv_data, d.mv_size);
    *len = d.mv_size;
    return QUEUE_OK;
}

int queue_bury(queue_t *q, uint64_t seq, const char *reason, uint64_t *dead_id)
{
    MDB_txn *txn;
    unsigned char *rec;
    size_t rec_len;
    int st = begin_with_pending(q, seq, &txn, &rec, &rec_len);
    if (st)
        return st;
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb};
    struct queue_attempts *a = malloc(sizeof(*a));
    unsigned char *ab = NULL;
    if (!a) {
        st = qi_error(QUEUE_ERROR, "out of memory");
        goto out;
    }
    uint32_t replays;
    st = read_attempts(q, txn, &k, a, &replays);
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
    bool found;
    struct deltas dl = {0, 0};
    st = delete_pending(q, txn, seq, &found, &dl);
    if (st == QUEUE_OK)
        st = apply_deltas(q, txn, &dl);
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

/* In txn: replaces pending seq (record r, key k) by the halves h, under
 * new sequences in seqs; a replayed record's halves stay replayed. */
static int split_store(queue_t *q, MDB_txn *txn, const MDB_val *k, const struct record *r,
                       uint64_t seq, const struct split_halves *h, uint64_t seqs[2])
{
    struct queue_attempts *old = malloc(sizeof(*old));
    uint32_t replays = 0;
    if (!old)
        return qi_error(QUEUE_ERROR, "out of memory");
    int st = read_attempts(q, txn, k, old, &replays);
    free(old);
    if (st)
        return st;
    bool found;
    struct deltas dl = {0, 0};
    st = delete_pending(q, txn, seq, &found, &dl);
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
        if (st == QUEUE_OK && replays) {
            struct queue_attempts *z = calloc(1, sizeof(*z));
            unsigned char nk[8];
            qi_key_put(nk, seqs[i]);
            MDB_val nkey = {8, nk};
            st = z ? qi_write_attempts(q, txn, &nkey, z, replays)
                   : qi_error(QUEUE_ERROR, "out of memory");
            free(z);
        }
    }
    return st == QUEUE_OK ? apply_deltas(q, txn, &dl) : st;
}

int queue_split(queue_t *q, uint64_t seq, size_t first, uint64_t *a, uint64_t *b)
{
    MDB_txn *txn;
    unsigned char *copy;
    size_t copy_len;
    int st = begin_with_pending(q, seq, &txn, &copy, &copy_len);
    if (st)
        return st;
    unsigned char kb[8];
    qi_key_put(kb, seq);
    MDB_val k = {8, kb};
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
        st = split_store(q, txn, &k, &r, seq, &h, seqs);
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
