/*
 * compact.c - what `eddy compact` needs from storage beyond queue_backup's
 * compacting copy: checking that a copy holds exactly what the original
 * holds, swapping the two data dirs in one rename, and removing a store.
 *
 * LMDB's data file never shrinks: pages freed by a drained backlog are
 * reused but stay in the file. mdb_env_copy2(MDB_CP_COMPACT) writes only
 * the live pages; the check below walks every database of both stores in
 * key order and compares each key and value byte for byte (every record,
 * attempt history, dead letter and counter), so the copy replaces the
 * original only when nothing was lost or changed.
 */
#include "queue_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Compares one database of a and b; *done counts entries for progress. */
static int compare_db(MDB_txn *ta, MDB_dbi da, MDB_txn *tb, MDB_dbi db, const char *name,
                      queue_progress_fn progress, void *ctx, uint64_t *done)
{
    MDB_cursor *ca, *cb;
    int rc = mdb_cursor_open(ta, da, &ca);
    if (rc)
        return qi_lmdb_error(rc, "compact check: cursor");
    rc = mdb_cursor_open(tb, db, &cb);
    if (rc) {
        mdb_cursor_close(ca);
        return qi_lmdb_error(rc, "compact check: cursor");
    }
    int st = QUEUE_OK;
    MDB_val ka, va, kb, vb;
    for (;;) {
        int ra = mdb_cursor_get(ca, &ka, &va, MDB_NEXT);
        int rb = mdb_cursor_get(cb, &kb, &vb, MDB_NEXT);
        if (ra == MDB_NOTFOUND && rb == MDB_NOTFOUND)
            break;
        if (ra || rb) {
            st = ra && ra != MDB_NOTFOUND   ? qi_lmdb_error(ra, "compact check: read original")
                 : rb && rb != MDB_NOTFOUND ? qi_lmdb_error(rb, "compact check: read copy")
                                            : qi_error(QUEUE_CORRUPT,
                                                       "compact check: %s: the copy holds %s "
                                                       "entries than the original",
                                                       name, ra ? "more" : "fewer");
            break;
        }
        if (ka.mv_size != kb.mv_size || memcmp(ka.mv_data, kb.mv_data, ka.mv_size) != 0 ||
            va.mv_size != vb.mv_size || memcmp(va.mv_data, vb.mv_data, va.mv_size) != 0) {
            st = qi_error(QUEUE_CORRUPT, "compact check: %s entry %llu differs in the copy", name,
                          (unsigned long long)qi_key_get(&ka));
            break;
        }
        (*done)++;
        if (progress && *done % 4096 == 0 && progress(ctx, *done) != 0) {
            st = qi_error(QUEUE_STOPPED, "compact check: interrupted");
            break;
        }
    }
    mdb_cursor_close(ca);
    mdb_cursor_close(cb);
    return st;
}

int queue_compact_check(queue_t *orig, queue_t *copy, queue_progress_fn progress, void *ctx,
                        uint64_t *checked)
{
    *checked = 0;
    MDB_txn *ta, *tb;
    int st = qi_txn_begin(orig, true, &ta);
    if (st)
        return st;
    st = qi_txn_begin(copy, true, &tb);
    if (st) {
        mdb_txn_abort(ta);
        return st;
    }
    const struct {
        MDB_dbi a, b;
        const char *name;
    } dbs[] = {{orig->pending, copy->pending, "pending"},
               {orig->attempts, copy->attempts, "attempts"},
               {orig->dead, copy->dead, "dead"},
               {orig->meta, copy->meta, "meta"}};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0] && st == QUEUE_OK; i++)
        st = compare_db(ta, dbs[i].a, tb, dbs[i].b, dbs[i].name, progress, ctx, checked);
    mdb_txn_abort(tb);
    mdb_txn_abort(ta);
    return st;
}

int queue_entries(queue_t *q, uint64_t *n)
{
    *n = 0;
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_dbi dbs[] = {q->pending, q->attempts, q->dead, q->meta};
    for (size_t i = 0; i < sizeof dbs / sizeof dbs[0]; i++) {
        MDB_stat ms;
        int rc = mdb_stat(txn, dbs[i], &ms);
        if (rc) {
            mdb_txn_abort(txn);
            return qi_lmdb_error(rc, "stat");
        }
        *n += ms.ms_entries;
    }
    mdb_txn_abort(txn);
    return QUEUE_OK;
}

int queue_swap_dirs(const char *a, const char *b)
{
    /* One rename that exchanges both paths: at every instant each path is a
     * complete store, whatever happens to the process. */
    if (renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0)
        return qi_error(QUEUE_ERROR, "exchange %s and %s: %s", a, b, strerror(errno));
    return QUEUE_OK;
}

int queue_remove_store(const char *dir)
{
    const char *files[] = {"data.mdb", "lock.mdb", QUEUE_DAEMON_LOCK};
    char path[4096];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        if (unlink(path) != 0 && errno != ENOENT)
            return qi_error(QUEUE_ERROR, "remove %s: %s", path, strerror(errno));
    }
    if (rmdir(dir) != 0)
        return qi_error(QUEUE_ERROR, "remove %s: %s", dir, strerror(errno));
    return QUEUE_OK;
}
