/*
 * store.c - the LMDB environment behind a queue_t: open/close, format
 * version, transactions (with MDB_MAP_RESIZED adoption), meta counters and
 * blobs, stats, the status JSON, hot backup and the stale-reader check; the
 * one-daemon-per-data-dir lock and the check that the open files are still
 * the ones at the data dir's paths.
 *
 * Durability is decided here: with sync_full the environment is opened with
 * LMDB's default flags only (fdatasync plus an O_DSYNC meta write per
 * commit), and open refuses to go on if any of NOSYNC, WRITEMAP, MAPASYNC or
 * NOMETASYNC ended up set.
 */
#include "queue_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------ */

static _Thread_local char last_error[512];

const char *queue_last_error(void)
{
    return last_error;
}

int qi_error(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof(last_error), fmt, ap);
    va_end(ap);
    return status;
}

int qi_lmdb_error(int rc, const char *what)
{
    int st = QUEUE_ERROR;
    if (rc == MDB_MAP_FULL || rc == ENOSPC || rc == EDQUOT)
        st = QUEUE_FULL;
    else if (rc == EIO || rc == MDB_PANIC)
        st = QUEUE_IO; /* not retryable: the caller must stop writing */
    else if (rc == MDB_NOTFOUND)
        st = QUEUE_NOT_FOUND;
    else if (rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
        st = QUEUE_CORRUPT;
    return qi_error(st, "%s: %s", what, mdb_strerror(rc));
}

/* ---- transactions, keys, counters -------------------------------------- */

int qi_txn_begin(queue_t *q, bool rdonly, MDB_txn **txn)
{
    int rc = mdb_txn_begin(q->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
    if (rc == MDB_MAP_RESIZED) {
        /* Another process (eddyd vs the CLI) grew the map: adopt its size.
         * No txn of ours is open here since none outlives a call. */
        rc = mdb_env_set_mapsize(q->env, 0);
        if (rc == 0)
            rc = mdb_txn_begin(q->env, NULL, rdonly ? MDB_RDONLY : 0, txn);
    }
    if (rc != 0) {
        *txn = NULL;
        return qi_lmdb_error(rc, "begin transaction");
    }
    return QUEUE_OK;
}

int qi_txn_commit(MDB_txn *txn, const char *what)
{
    int rc = mdb_txn_commit(txn);
    if (rc == 0)
        return QUEUE_OK;
    int st = qi_lmdb_error(rc, what);
    /* Any system error at commit is a failed write or sync of the data
     * file: not retryable (the kernel may have dropped the dirty pages). */
    if (st == QUEUE_ERROR && rc > 0)
        st = QUEUE_IO;
    last_error[sizeof(last_error) - 1] = '\0';
    return st;
}

unsigned char *qi_val_copy(const MDB_val *v)
{
    unsigned char *c = malloc(v->mv_size ? v->mv_size : 1);
    if (!c) {
        qi_error(QUEUE_ERROR, "out of memory");
        return NULL;
    }
    memcpy(c, v->mv_data, v->mv_size);
    return c;
}

void qi_key_put(unsigned char k[8], uint64_t id)
{
    for (int i = 7; i >= 0; i--) {
        k[i] = (unsigned char)id;
        id >>= 8;
    }
}

uint64_t qi_key_get(const MDB_val *k)
{
    if (k->mv_size != 8)
        return 0;
    const unsigned char *p = k->mv_data;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}

int qi_counter_get(queue_t *q, MDB_txn *txn, const char *name, uint64_t *v)
{
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, q->meta, &k, &d);
    *v = 0;
    if (rc == MDB_NOTFOUND)
        return QUEUE_OK;
    if (rc != 0)
        return qi_lmdb_error(rc, name);
    if (d.mv_size != 8)
        return qi_error(QUEUE_CORRUPT, "meta %s: bad size %zu", name, d.mv_size);
    *v = qi_key_get(&d); /* big-endian, as qi_key_put wrote it */
    return QUEUE_OK;
}

int qi_counter_put(queue_t *q, MDB_txn *txn, const char *name, uint64_t v)
{
    unsigned char buf[8];
    qi_key_put(buf, v);
    MDB_val k = {strlen(name), (void *)name}, d = {8, buf};
    int rc = mdb_put(txn, q->meta, &k, &d, 0);
    return rc ? qi_lmdb_error(rc, name) : QUEUE_OK;
}

int qi_counter_add(queue_t *q, MDB_txn *txn, const char *name, int64_t delta)
{
    if (delta == 0)
        return QUEUE_OK;
    uint64_t v;
    int st = qi_counter_get(q, txn, name, &v);
    if (st)
        return st;
    if (delta < 0 && (uint64_t)(-delta) > v)
        v = 0; /* a corrupt record's header can make the counter drift */
    else
        v += (uint64_t)delta;
    return qi_counter_put(q, txn, name, v);
}

int qi_counter_next(queue_t *q, MDB_txn *txn, const char *name, uint64_t *id)
{
    uint64_t v;
    int st = qi_counter_get(q, txn, name, &v);
    if (st)
        return st;
    if (v == 0)
        v = 1;
    *id = v;
    return qi_counter_put(q, txn, name, v + 1);
}

/* ---- daemon lock, identity --------------------------------------------- */

/* The pid written in an open lock file (0 when unreadable). */
static long read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? pid : 0;
}

/* Takes the daemon lock of q->dir and writes our pid into it. An OFD lock
 * (not flock, not a classic POSIX lock): it belongs to this open file
 * only, so nothing else in the process can drop it by closing another
 * descriptor of the same file, and F_OFD_GETLK from any other descriptor
 * sees it. */
static int lock_daemon(queue_t *q, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/" QUEUE_DAEMON_LOCK, q->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open the lock file %s: %s", path, strerror(errno));
        return qi_error(QUEUE_ERROR, "%s", err);
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
        int e = errno;
        long pid = read_pid(fd);
        close(fd);
        if (e == EAGAIN || e == EACCES) {
            char who[48] = "another process";
            if (pid)
                snprintf(who, sizeof(who), "eddyd pid %ld", pid);
            snprintf(err, errlen,
                     "data dir %s is in use by %s (lock %s): one eddyd per data dir; "
                     "stop that one first or give this one another data_dir",
                     q->dir, who, path);
            return qi_error(QUEUE_LOCKED, "%s", err);
        }
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
        return qi_error(QUEUE_ERROR, "%s", err);
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (pwrite(fd, buf, (size_t)n, 0) != n || ftruncate(fd, n) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        close(fd);
        return qi_error(QUEUE_ERROR, "%s", err);
    }
    q->lock_fd = fd;
    return QUEUE_OK;
}

int queue_daemon_pid(const char *dir, long *pid)
{
    *pid = 0;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/" QUEUE_DAEMON_LOCK, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) /* never locked here: no eddyd has run on this dir */
        return errno == ENOENT ? QUEUE_OK : qi_error(QUEUE_ERROR, "%s: %s", path, strerror(errno));
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int st = QUEUE_OK;
    if (fcntl(fd, F_OFD_GETLK, &fl) != 0)
        st = qi_error(QUEUE_ERROR, "%s: %s", path, strerror(errno));
    else if (fl.l_type != F_UNLCK) /* l_pid is -1 for OFD locks: the file says who */
        *pid = read_pid(fd) ?: -1;
    close(fd);
    return st;
}

int queue_check_identity(queue_t *q, char *err, size_t errlen)
{
    /* data.mdb and the daemon lock are open here: compare the open file with
     * the path (an unlinked file also shows as st_nlink == 0, should the
     * path be unreadable). LMDB keeps lock.mdb's descriptor to itself, so
     * that one is compared with what it was at open. */
    struct {
        const char *name;
        int fd;
        dev_t dev;
        ino_t ino;
    } files[3] = {{"data.mdb", -1, 0, 0},
                  {"lock.mdb", -1, q->lockmdb_dev, q->lockmdb_ino},
                  {QUEUE_DAEMON_LOCK, q->lock_fd, 0, 0}};
    mdb_filehandle_t dfd;
    if (mdb_env_get_fd(q->env, &dfd) == 0)
        files[0].fd = dfd;
    for (size_t i = 0; i < 3; i++) {
        struct stat st;
        bool unlinked = false;
        if (files[i].fd >= 0 && fstat(files[i].fd, &st) == 0) {
            files[i].dev = st.st_dev;
            files[i].ino = st.st_ino;
            unlinked = st.st_nlink == 0;
        }
        if (!files[i].ino)
            continue; /* nothing known to compare (no daemon lock taken) */
        char path[PATH_MAX + 16];
        snprintf(path, sizeof(path), "%s/%s", q->dir, files[i].name);
        const char *why = NULL;
        if (stat(path, &st) != 0)
            why = errno == ENOENT || errno == ENOTDIR || unlinked ? "was deleted" : NULL;
        else if (st.st_dev != files[i].dev || st.st_ino != files[i].ino)
            why = "was replaced by another file";
        if (why) {
            snprintf(err, errlen, "%s %s", path, why);
            return qi_error(QUEUE_LOST, "%s", err);
        }
    }
    return QUEUE_OK;
}

/* Frees q, dropping the daemon lock last (after the environment closed, so
 * the next eddyd never opens it while this one still writes). */
static void free_queue(queue_t *q)
{
    if (q->lock_fd >= 0)
        close(q->lock_fd);
    free(q);
}

/* Remembers which lock.mdb was opened (queue_check_identity). */
static void note_identity(queue_t *q)
{
    struct stat st;
    char path[PATH_MAX + 16];
    queue_file_path(q->dir, QUEUE_FILE_LOCK, path, sizeof(path));
    if (stat(path, &st) == 0) {
        q->lockmdb_dev = st.st_dev;
        q->lockmdb_ino = st.st_ino;
    }
}

/* ---- open / close ------------------------------------------------------ */

static int mkdir_p(const char *dir, mode_t mode)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path))
        return ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, mode) != 0 && errno != EEXIST)
            return errno;
        *p = '/';
    }
    if (mkdir(path, mode) != 0 && errno != EEXIST)
        return errno;
    return 0;
}

static int open_dbs(queue_t *q, bool create, char *err, size_t errlen)
{
    MDB_txn *txn;
    int st = qi_txn_begin(q, !create, &txn);
    if (st) {
        snprintf(err, errlen, "%s", queue_last_error());
        return st;
    }
    unsigned fl = create ? MDB_CREATE : 0;
    struct {
        const char *name;
        MDB_dbi *dbi;
    } dbs[] = {{"meta", &q->meta},
               {"pending", &q->pending},
               {"attempts", &q->attempts},
               {"dead", &q->dead}};
    int rc = 0;
    for (size_t i = 0; i < sizeof(dbs) / sizeof(dbs[0]); i++) {
        rc = mdb_dbi_open(txn, dbs[i].name, fl, dbs[i].dbi);
        if (rc == MDB_NOTFOUND) {
            mdb_txn_abort(txn);
            snprintf(err, errlen, "not an eddy data dir: no \"%s\" database in the LMDB file",
                     dbs[i].name);
            return qi_error(QUEUE_NOT_STORE, "%s", err);
        }
        if (rc) {
            mdb_txn_abort(txn);
            st = qi_lmdb_error(rc, "open database");
            snprintf(err, errlen, "%s %s", queue_last_error(), dbs[i].name);
            return st;
        }
    }
    uint64_t version;
    st = qi_counter_get(q, txn, QI_META_VERSION, &version);
    if (st == QUEUE_OK && version > QI_FORMAT_VERSION) {
        mdb_txn_abort(txn);
        snprintf(err, errlen,
                 "data dir format version %llu is newer than this eddy supports (%d): "
                 "upgrade eddy",
                 (unsigned long long)version, QI_FORMAT_VERSION);
        return qi_error(QUEUE_VERSION, "%s", err);
    }
    if (st == QUEUE_OK && version == 0) {
        if (!create) {
            mdb_txn_abort(txn);
            snprintf(err, errlen, "not an eddy data dir: no format version in meta");
            return qi_error(QUEUE_NOT_STORE, "%s", err);
        }
        st = qi_counter_put(q, txn, QI_META_VERSION, QI_FORMAT_VERSION);
        if (st == QUEUE_OK)
            st = qi_counter_put(q, txn, QI_META_NEXT_SEQ, 1);
        if (st == QUEUE_OK)
            st = qi_counter_put(q, txn, QI_META_NEXT_DEAD, 1);
    }
    if (st) {
        mdb_txn_abort(txn);
        snprintf(err, errlen, "%s", queue_last_error());
        return st;
    }
    st = create ? qi_txn_commit(txn, "create databases") : (mdb_txn_commit(txn), QUEUE_OK);
    if (st)
        snprintf(err, errlen, "%s", queue_last_error());
    return st;
}

int queue_open(queue_t **qp, const struct queue_options *o, char *err, size_t errlen)
{
    *qp = NULL;
    if (!o || !o->dir || !*o->dir) {
        snprintf(err, errlen, "no data dir given");
        return qi_error(QUEUE_ERROR, "%s", err);
    }
    struct stat sb;
    if (o->create) {
        int e = mkdir_p(o->dir, 0700);
        if (e) {
            snprintf(err, errlen, "cannot create data dir %s: %s", o->dir, strerror(e));
            return qi_error(QUEUE_ERROR, "%s", err);
        }
    } else {
        if (stat(o->dir, &sb) != 0) {
            snprintf(err, errlen, "data dir %s: %s", o->dir, strerror(errno));
            return qi_error(errno == ENOENT ? QUEUE_NOT_STORE : QUEUE_ERROR, "%s", err);
        }
        if (!queue_store_exists(o->dir)) {
            snprintf(err, errlen,
                     "%s is not an eddy data dir (no data.mdb); check -d / data_dir or start "
                     "eddyd once to create it",
                     o->dir);
            return qi_error(QUEUE_NOT_STORE, "%s", err);
        }
    }
    if (stat(o->dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        snprintf(err, errlen, "data dir %s is not a directory", o->dir);
        return qi_error(QUEUE_ERROR, "%s", err);
    }

    queue_t *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return qi_error(QUEUE_ERROR, "%s", err);
    }
    q->sync_full = o->sync_full;
    q->lock_fd = -1;
    snprintf(q->dir, sizeof(q->dir), "%s", o->dir);
    if (o->lock) {
        int lst = lock_daemon(q, err, errlen);
        if (lst) {
            free(q);
            return lst;
        }
    }
    int rc = mdb_env_create(&q->env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(q->env, 4);
    if (rc == 0 && o->map_size)
        rc = mdb_env_set_mapsize(q->env, (size_t)o->map_size);
    unsigned flags = o->sync_full ? 0 : MDB_NOSYNC;
    if (rc == 0)
        rc = mdb_env_open(q->env, o->dir, flags, 0600);
    if (rc) {
        int st = qi_lmdb_error(rc, "open LMDB environment");
        snprintf(err, errlen, "%s: %s", o->dir, queue_last_error());
        if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH)
            st = QUEUE_NOT_STORE;
        if (q->env)
            mdb_env_close(q->env);
        free_queue(q);
        return st;
    }
    if (o->sync_full) {
        unsigned got = 0;
        mdb_env_get_flags(q->env, &got);
        if (got & (MDB_NOSYNC | MDB_WRITEMAP | MDB_MAPASYNC | MDB_NOMETASYNC)) {
            snprintf(err, errlen,
                     "refusing %s: LMDB flags 0x%x include NOSYNC/WRITEMAP/MAPASYNC/"
                     "NOMETASYNC, which break sync = full",
                     o->dir, got);
            mdb_env_close(q->env);
            free_queue(q);
            return qi_error(QUEUE_ERROR, "%s", err);
        }
    }
    int dead = 0;
    mdb_reader_check(q->env, &dead);
    int st = open_dbs(q, o->create, err, errlen);
    if (st) {
        mdb_env_close(q->env);
        free_queue(q);
        return st;
    }
    note_identity(q);
    *qp = q;
    return QUEUE_OK;
}

void queue_close(queue_t *q)
{
    if (!q)
        return;
    mdb_env_close(q->env);
    free_queue(q);
}

int queue_reader_check(queue_t *q, int *cleared)
{
    int dead = 0;
    int rc = mdb_reader_check(q->env, &dead);
    if (cleared)
        *cleared = dead;
    return rc ? qi_lmdb_error(rc, "reader check") : QUEUE_OK;
}

/* ---- meta blobs -------------------------------------------------------- */

int queue_meta_put(queue_t *q, const char *name, const void *val, size_t len)
{
    if (!name || !*name || strncmp(name, "q.", 2) == 0)
        return qi_error(QUEUE_ERROR, "meta name \"%s\" is reserved or empty", name ? name : "");
    MDB_txn *txn;
    int st = qi_txn_begin(q, false, &txn);
    if (st)
        return st;
    MDB_val k = {strlen(name), (void *)name}, d = {len, (void *)val};
    int rc = mdb_put(txn, q->meta, &k, &d, 0);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "meta put");
    }
    return qi_txn_commit(txn, "meta put commit");
}

int queue_meta_get(queue_t *q, const char *name, void *buf, size_t cap, size_t *len)
{
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_val k = {strlen(name), (void *)name}, d;
    int rc = mdb_get(txn, q->meta, &k, &d);
    if (rc == 0) {
        if (len)
            *len = d.mv_size;
        if (buf && cap)
            memcpy(buf, d.mv_data, d.mv_size < cap ? d.mv_size : cap);
    }
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return qi_error(QUEUE_NOT_FOUND, "meta %s: not found", name);
    return rc ? qi_lmdb_error(rc, "meta get") : QUEUE_OK;
}

/* ---- stats and status -------------------------------------------------- */

/* Pages on LMDB's freelist (database 0) and its records: each value is a
 * page-number list whose first word is its length, as mdb_stat -f reads it. */
static uint64_t count_free_pages(MDB_txn *txn, uint64_t *entries)
{
    *entries = 0;
    MDB_cursor *c;
    if (mdb_cursor_open(txn, 0, &c) != 0)
        return 0;
    uint64_t pages = 0;
    MDB_val k, d;
    while (mdb_cursor_get(c, &k, &d, MDB_NEXT) == 0) {
        size_t n;
        (*entries)++;
        if (d.mv_size >= sizeof(n)) {
            memcpy(&n, d.mv_data, sizeof(n));
            pages += n;
        }
    }
    mdb_cursor_close(c);
    return pages;
}

int queue_stats(queue_t *q, struct queue_stats *s)
{
    memset(s, 0, sizeof(*s));
    MDB_txn *txn;
    int st = qi_txn_begin(q, true, &txn);
    if (st)
        return st;
    MDB_stat ps, ds;
    int rc = mdb_stat(txn, q->pending, &ps);
    if (rc == 0)
        rc = mdb_stat(txn, q->dead, &ds);
    if (rc) {
        mdb_txn_abort(txn);
        return qi_lmdb_error(rc, "stat");
    }
    s->pending_batches = ps.ms_entries;
    s->dead_batches = ds.ms_entries;
    st = qi_counter_get(q, txn, QI_META_PENDING_EVENTS, &s->pending_events);
    if (!st)
        st = qi_counter_get(q, txn, QI_META_PENDING_BYTES, &s->pending_bytes);
    if (!st)
        st = qi_counter_get(q, txn, QI_META_DEAD_EVENTS, &s->dead_events);
    if (!st)
        st = qi_counter_get(q, txn, QI_META_NEXT_SEQ, &s->next_seq);
    if (st) {
        mdb_txn_abort(txn);
        return st;
    }
    if (s->next_seq == 0)
        s->next_seq = 1;
    /* The head of pending: delivery order, so its age is the backlog's age
     * (a replayed record keeps its received time but sits at the tail). */
    MDB_cursor *c;
    if (mdb_cursor_open(txn, q->pending, &c) == 0) {
        MDB_val k, d;
        if (mdb_cursor_get(c, &k, &d, MDB_FIRST) == 0)
            qi_record_received(d.mv_data, d.mv_size, &s->pending_oldest_ms);
        mdb_cursor_close(c);
    }
    uint64_t free_pages = count_free_pages(txn, &s->freelist_entries);
    mdb_txn_abort(txn);
    s->free_pages = free_pages;
    mdb_filehandle_t fd;
    struct stat fst;
    if (mdb_env_get_fd(q->env, &fd) == 0 && fstat(fd, &fst) == 0)
        s->file_bytes = (uint64_t)fst.st_size;

    MDB_envinfo info;
    MDB_stat es;
    mdb_env_info(q->env, &info);
    mdb_env_stat(q->env, &es);
    /* The file's high-water mark minus the pages LMDB will reuse: after a
     * backlog drains the file stays large, but the space is free again. */
    uint64_t pages = (uint64_t)info.me_last_pgno + 1;
    s->used_bytes = (pages > free_pages ? pages - free_pages : 0) * es.ms_psize;
    s->max_bytes = info.me_mapsize;
    return QUEUE_OK;
}

int queue_daemon_of(queue_t *q, long *pid)
{
    *pid = 0;
    if (q->lock_fd >= 0) { /* eddyd itself: its lock, even if the path is gone */
        *pid = (long)getpid();
        return QUEUE_OK;
    }
    return queue_daemon_pid(q->dir, pid);
}

/* ---- backup ------------------------------------------------------------ */

int queue_backup(queue_t *q, const char *dest_dir)
{
    int e = mkdir_p(dest_dir, 0700);
    if (e)
        return qi_error(QUEUE_ERROR, "backup: cannot create %s: %s", dest_dir, strerror(e));
    DIR *d = opendir(dest_dir);
    if (!d)
        return qi_error(QUEUE_ERROR, "backup: %s: %s", dest_dir, strerror(errno));
    struct dirent *de;
    bool empty = true;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            empty = false;
    closedir(d);
    if (!empty)
        return qi_error(QUEUE_ERROR, "backup: %s is not empty", dest_dir);
    int rc = mdb_env_copy2(q->env, dest_dir, MDB_CP_COMPACT);
    if (rc)
        return qi_lmdb_error(rc, "backup copy");
    char path[PATH_MAX + 16];
    queue_file_path(dest_dir, QUEUE_FILE_DATA, path, sizeof(path));
    chmod(path, 0600);
    return QUEUE_OK;
}
