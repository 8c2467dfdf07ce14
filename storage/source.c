/*
 * source.c - RudderStack sources: a source is the write key a batch is
 * forwarded with, and is named everywhere by a fingerprint of that key (the
 * first 8 hex digits of its SHA-256, OpenSSL's libcrypto), so no output ever
 * shows a key.
 */
#include "queue_internal.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void queue_fingerprint(const char *key, size_t len, char fp[QUEUE_FP_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!EVP_Digest(key ? key : "", key ? len : 0, md, &mdlen, EVP_sha256(), NULL) || mdlen < 4) {
        snprintf(fp, QUEUE_FP_SIZE, "????????");
        return;
    }
    snprintf(fp, QUEUE_FP_SIZE, "%02x%02x%02x%02x", md[0], md[1], md[2], md[3]);
}

/* ---- pause flags ------------------------------------------------------- */

/* meta "q.paused": the fingerprints of the paused sources, 8 bytes each,
 * concatenated (absent: none paused, as in stores made before pausing
 * existed). */
#define QI_META_PAUSED "q.paused"
#define FP_LEN (QUEUE_FP_SIZE - 1)

static bool valid_fp(const char *fp)
{
    if (!fp || strlen(fp) != FP_LEN)
        return false;
    for (size_t i = 0; i < FP_LEN; i++)
        if (!((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'a' && fp[i] <= 'f')))
            return false;
    return true;
}

int queue_set_paused(queue_t *q, const char *fp, bool paused, bool *changed)
{
    if (changed)
        *changed = false;
    if (!valid_fp(fp))
        return qi_error(QUEUE_ERROR, "'%s' is not a source fingerprint (8 hex digits)",
                        fp ? fp : "");
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    MDB_val k = {strlen(QI_META_PAUSED), (void *)QI_META_PAUSED}, v;
    char list[QUEUE_PAUSED_MAX * FP_LEN];
    size_t len = 0;
    int rc = mdb_get(txn, q->meta, &k, &v);
    if (rc == 0) {
        len = v.mv_size - v.mv_size % FP_LEN;
        if (len > sizeof(list))
            len = sizeof(list);
        memcpy(list, v.mv_data, len);
    } else if (rc != MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "read pause flags");
    }
    size_t at = len;
    for (size_t i = 0; i < len; i += FP_LEN)
        if (!memcmp(list + i, fp, FP_LEN))
            at = i;
    bool is = at < len;
    if (is == paused) {
        mdb_txn_abort(txn);
        return QUEUE_OK;
    }
    if (paused) {
        if (len + FP_LEN > sizeof(list)) {
            mdb_txn_abort(txn);
            return qi_error(QUEUE_ERROR, "more than %d paused sources", QUEUE_PAUSED_MAX);
        }
        memcpy(list + len, fp, FP_LEN);
        len += FP_LEN;
    } else {
        memmove(list + at, list + at + FP_LEN, len - at - FP_LEN);
        len -= FP_LEN;
    }
    v.mv_size = len;
    v.mv_data = list;
    rc = len ? mdb_put(txn, q->meta, &k, &v, 0) : mdb_del(txn, q->meta, &k, NULL);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "write pause flags");
    }
    st = qi_txn_commit(txn, "commit pause flags");
    if (st == QUEUE_OK && changed)
        *changed = true;
    return st;
}

int queue_paused(queue_t *q, char (*fps)[QUEUE_FP_SIZE], size_t max, size_t *n)
{
    *n = 0;
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_val k = {strlen(QI_META_PAUSED), (void *)QI_META_PAUSED}, v;
    int rc = mdb_get(txn, q->meta, &k, &v);
    if (rc == 0) {
        const char *p = v.mv_data;
        for (size_t i = 0; i + FP_LEN <= v.mv_size && *n < max; i += FP_LEN) {
            memcpy(fps[*n], p + i, FP_LEN);
            fps[(*n)++][FP_LEN] = 0;
        }
    }
    mdb_txn_abort(txn);
    return rc == 0 || rc == MDB_NOTFOUND ? QUEUE_OK : qi_lmdb_error(rc, "read pause flags");
}

/* ---- per-source counters ----------------------------------------------- */

/* meta "q.src.<fp>": batches, events and body bytes pending for one source
 * (three u64, big-endian), moved in the same transaction as the records;
 * "q.src.-" counts the records stored without a key, which go to the
 * default source (meta "q.default_source", set by eddyd). The counters are
 * kept only once meta "q.src_counted" exists: eddyd builds them by one scan
 * when it opens a store made before they existed (queue_sources_prepare),
 * and every process keeps them from then on. */
#define QI_SRC_PREFIX "q.src."
#define QI_META_SRC_COUNTED "q.src_counted"
#define QI_META_DEFAULT_SOURCE "q.default_source"
#define SRC_NAME_MAX 24

void qi_src_name(const char *key, size_t keylen, char name[QI_SRC_NAME_SIZE])
{
    if (!key || keylen == 0) {
        snprintf(name, QI_SRC_NAME_SIZE, "-");
        return;
    }
    queue_fingerprint(key, keylen, name);
}

static int get_counters(queue_t *q, MDB_txn *txn, const char *name, uint64_t v[3])
{
    char k[SRC_NAME_MAX];
    snprintf(k, sizeof(k), QI_SRC_PREFIX "%s", name);
    MDB_val mk = {strlen(k), k}, mv;
    v[0] = v[1] = v[2] = 0;
    int rc = mdb_get(txn, q->meta, &mk, &mv);
    if (rc == MDB_NOTFOUND)
        return QUEUE_OK;
    if (rc)
        return qi_lmdb_error(rc, "read source counters");
    if (mv.mv_size == 24) {
        for (int i = 0; i < 3; i++) {
            MDB_val part = {8, (unsigned char *)mv.mv_data + 8 * i};
            v[i] = qi_key_get(&part);
        }
    }
    return QUEUE_OK;
}

static int put_counters(queue_t *q, MDB_txn *txn, const char *name, const uint64_t v[3])
{
    char k[SRC_NAME_MAX];
    snprintf(k, sizeof(k), QI_SRC_PREFIX "%s", name);
    MDB_val mk = {strlen(k), k};
    int rc;
    if (v[0] == 0) {
        rc = mdb_del(txn, q->meta, &mk, NULL);
        return rc == 0 || rc == MDB_NOTFOUND ? QUEUE_OK : qi_lmdb_error(rc, "source counters");
    }
    unsigned char buf[24];
    for (int i = 0; i < 3; i++)
        qi_key_put(buf + 8 * i, v[i]);
    MDB_val mv = {24, buf};
    rc = mdb_put(txn, q->meta, &mk, &mv, 0);
    return rc ? qi_lmdb_error(rc, "write source counters") : QUEUE_OK;
}

static bool counters_kept(queue_t *q, MDB_txn *txn)
{
    MDB_val k = {strlen(QI_META_SRC_COUNTED), (void *)QI_META_SRC_COUNTED}, v;
    return mdb_get(txn, q->meta, &k, &v) == 0;
}

static uint64_t add_clamped(uint64_t v, int64_t d)
{
    if (d < 0 && (uint64_t)(-d) > v)
        return 0;
    return v + (uint64_t)d;
}

int qi_src_count(queue_t *q, MDB_txn *txn, const char *name, int64_t batches, int64_t events,
                 int64_t bytes)
{
    if (!counters_kept(q, txn))
        return QUEUE_OK;
    uint64_t v[3];
    int st = get_counters(q, txn, name, v);
    if (st)
        return st;
    v[0] = add_clamped(v[0], batches);
    v[1] = add_clamped(v[1], events);
    v[2] = add_clamped(v[2], bytes);
    return put_counters(q, txn, name, v);
}

/* Deletes every "q.src." counter in txn. */
static int clear_counters(queue_t *q, MDB_txn *txn)
{
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, q->meta, &c);
    if (rc)
        return qi_lmdb_error(rc, "meta cursor");
    MDB_val k = {strlen(QI_SRC_PREFIX), (void *)QI_SRC_PREFIX}, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > strlen(QI_SRC_PREFIX) &&
           !memcmp(k.mv_data, QI_SRC_PREFIX, strlen(QI_SRC_PREFIX))) {
        rc = mdb_cursor_del(c, 0);
        if (rc == 0)
            rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    }
    mdb_cursor_close(c);
    return rc == 0 || rc == MDB_NOTFOUND || rc == EINVAL
               ? QUEUE_OK
               : qi_lmdb_error(rc, "clear source counters");
}

int queue_sources_prepare(queue_t *q, const char *default_key, size_t len)
{
    char fp[QUEUE_FP_SIZE];
    queue_fingerprint(default_key, len, fp);
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    MDB_val dk = {strlen(QI_META_DEFAULT_SOURCE), (void *)QI_META_DEFAULT_SOURCE},
            dv = {FP_LEN, fp};
    int rc = mdb_put(txn, q->meta, &dk, &dv, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "write the default source");
    }
    if (counters_kept(q, txn))
        return qi_txn_commit(txn, "commit the default source");
    /* A store from before per-source counters: count what is pending once,
     * in this one transaction (a crash before its commit leaves none). */
    st = clear_counters(q, txn);
    MDB_val k = {strlen(QI_META_SRC_COUNTED), (void *)QI_META_SRC_COUNTED}, one = {1, "1"};
    rc = st ? 0 : mdb_put(txn, q->meta, &k, &one, 0);
    if (rc)
        st = qi_lmdb_error(rc, "mark source counters");
    MDB_cursor *c = NULL;
    if (st == QUEUE_OK && (rc = mdb_cursor_open(txn, q->pending, &c)) != 0)
        st = qi_lmdb_error(rc, "pending cursor");
    MDB_val pk, pv;
    rc = c ? mdb_cursor_get(c, &pk, &pv, MDB_FIRST) : MDB_NOTFOUND;
    while (st == QUEUE_OK && rc == 0) {
        uint32_t ev = 0;
        uint64_t blen = 0;
        char name[QI_SRC_NAME_SIZE];
        if (qi_record_peek(pv.mv_data, pv.mv_size, &ev, &blen)) {
            const char *key;
            size_t kl;
            qi_record_key(pv.mv_data, pv.mv_size, &key, &kl);
            qi_src_name(key, kl, name);
            st = qi_src_count(q, txn, name, 1, ev, (int64_t)blen);
        }
        if (st == QUEUE_OK)
            rc = mdb_cursor_get(c, &pk, &pv, MDB_NEXT);
    }
    if (c)
        mdb_cursor_close(c);
    if (st == QUEUE_OK && rc != 0 && rc != MDB_NOTFOUND)
        st = qi_lmdb_error(rc, "read pending");
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    return qi_txn_commit(txn, "commit source counters");
}

/* ---- listing ----------------------------------------------------------- */

/* queue_sources' list as it is built. */
struct listing {
    struct queue_source *v;
    size_t n, cap;
    char dflt[QUEUE_FP_SIZE]; /* the default source, "" when eddyd never said */
};

/* The source a counter name stands for: records stored without a key
 * ("-") belong to the default source. */
static const char *owner(const struct listing *l, const char *name)
{
    return strcmp(name, "-") ? name : (*l->dflt ? l->dflt : "-");
}

/* The entry for fp in *list, added when new. NULL when out of memory. */
static struct queue_source *list_entry(struct queue_source **list, size_t *n, size_t *cap,
                                       const char *fp)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i].fp, fp))
            return &(*list)[i];
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 8;
        struct queue_source *p = realloc(*list, c * sizeof(*p));
        if (!p)
            return NULL;
        *list = p;
        *cap = c;
    }
    struct queue_source *e = &(*list)[(*n)++];
    memset(e, 0, sizeof(*e));
    snprintf(e->fp, sizeof(e->fp), "%s", fp);
    return e;
}

static struct queue_source *listing_entry(struct listing *l, const char *fp)
{
    return list_entry(&l->v, &l->n, &l->cap, fp);
}

/* Adds the per-source counters in meta (none while they are not kept). */
static int add_counted(queue_t *q, MDB_txn *txn, struct listing *l)
{
    if (!counters_kept(q, txn))
        return QUEUE_OK;
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, q->meta, &c);
    MDB_val k = {strlen(QI_SRC_PREFIX), (void *)QI_SRC_PREFIX}, v;
    size_t plen = strlen(QI_SRC_PREFIX);
    int st = QUEUE_OK;
    rc = rc ? rc : mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && k.mv_size > plen && k.mv_size < plen + SRC_NAME_MAX &&
           !memcmp(k.mv_data, QI_SRC_PREFIX, plen)) {
        char name[SRC_NAME_MAX];
        memcpy(name, (char *)k.mv_data + plen, k.mv_size - plen);
        name[k.mv_size - plen] = 0;
        uint64_t cnt[3];
        st = get_counters(q, txn, name, cnt);
        if (st)
            break;
        struct queue_source *e = listing_entry(l, owner(l, name));
        if (!e) {
            st = qi_error(QUEUE_ERROR, "out of memory");
            break;
        }
        e->batches += cnt[0];
        e->events += cnt[1];
        e->bytes += cnt[2];
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (c)
        mdb_cursor_close(c);
    return st;
}

/* The oldest batch of each source: the first of its records in pending
 * order, found by a walk from the head that stops when every source with
 * batches was seen (bounded; beyond the bound the age of the last record
 * looked at is a lower bound). */
static void find_oldest(queue_t *q, MDB_txn *txn, struct listing *l)
{
    size_t left = 0;
    for (size_t i = 0; i < l->n; i++)
        left += l->v[i].batches > 0;
    MDB_cursor *c = NULL;
    if (!left || mdb_cursor_open(txn, q->pending, &c) != 0)
        return;
    MDB_val pk, pv;
    size_t looked = 0;
    int64_t last_ms = 0;
    int rc = mdb_cursor_get(c, &pk, &pv, MDB_FIRST);
    while (rc == 0 && left && looked++ < QUEUE_SOURCES_EXAMINE) {
        const char *key;
        size_t kl;
        if (qi_record_key(pv.mv_data, pv.mv_size, &key, &kl)) {
            qi_record_received(pv.mv_data, pv.mv_size, &last_ms);
            char name[QI_SRC_NAME_SIZE];
            qi_src_name(key, kl, name);
            const char *fp = owner(l, name);
            for (size_t i = 0; i < l->n; i++)
                if (!strcmp(l->v[i].fp, fp) && l->v[i].batches && !l->v[i].oldest_ms) {
                    l->v[i].oldest_ms = last_ms;
                    left--;
                }
        }
        rc = mdb_cursor_get(c, &pk, &pv, MDB_NEXT);
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].batches && !l->v[i].oldest_ms)
            l->v[i].oldest_ms = last_ms;
    mdb_cursor_close(c);
}

int queue_sources(queue_t *q, struct queue_source **out, size_t *nout)
{
    *out = NULL;
    *nout = 0;
    char paused[QUEUE_PAUSED_MAX][QUEUE_FP_SIZE];
    size_t npaused = 0;
    int st = queue_paused(q, paused, QUEUE_PAUSED_MAX, &npaused);
    if (st)
        return st;
    MDB_txn *txn;
    st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    struct listing l = {0};
    MDB_val dk = {strlen(QI_META_DEFAULT_SOURCE), (void *)QI_META_DEFAULT_SOURCE}, dv;
    if (mdb_get(txn, q->meta, &dk, &dv) == 0 && dv.mv_size == FP_LEN) {
        memcpy(l.dflt, dv.mv_data, FP_LEN);
        l.dflt[FP_LEN] = 0;
    }
    st = add_counted(q, txn, &l);
    for (size_t i = 0; st == QUEUE_OK && i < npaused; i++) {
        struct queue_source *e = listing_entry(&l, paused[i]);
        if (!e)
            st = qi_error(QUEUE_ERROR, "out of memory");
        else
            e->paused = true;
    }
    if (st == QUEUE_OK)
        find_oldest(q, txn, &l);
    mdb_txn_abort(txn);
    if (st) {
        free(l.v);
        return st;
    }
    *out = l.v;
    *nout = l.n;
    return QUEUE_OK;
}

int queue_default_source(queue_t *q, char fp[QUEUE_FP_SIZE])
{
    fp[0] = 0;
    char buf[FP_LEN];
    size_t len = 0;
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_val dk = {strlen(QI_META_DEFAULT_SOURCE), (void *)QI_META_DEFAULT_SOURCE}, dv;
    int rc = mdb_get(txn, q->meta, &dk, &dv);
    if (rc == 0 && dv.mv_size == FP_LEN) {
        memcpy(buf, dv.mv_data, FP_LEN);
        len = FP_LEN;
    }
    mdb_txn_abort(txn);
    if (len) {
        memcpy(fp, buf, FP_LEN);
        fp[FP_LEN] = 0;
    }
    return rc == 0 || rc == MDB_NOTFOUND ? QUEUE_OK : qi_lmdb_error(rc, "read the default source");
}

void queue_source_of(const char *key, size_t keylen, const char *dflt, char fp[QUEUE_FP_SIZE])
{
    if (keylen == 0 || !key)
        snprintf(fp, QUEUE_FP_SIZE, "%s", dflt && *dflt ? dflt : "-");
    else
        queue_fingerprint(key, keylen, fp);
}
