/*
 * queue_internal.h - what the storage sources share behind queue.h: the
 * queue struct, transaction helpers, key and counter encoding and error
 * reporting (store.c), then what each file offers the others, a section
 * per file: pending writes, reading, the attempts and dead-letter values.
 * Nothing outside storage/ includes this.
 */
#ifndef EDDY_QUEUE_INTERNAL_H
#define EDDY_QUEUE_INTERNAL_H

#include <limits.h>
#include <lmdb.h>
#include <stdarg.h>
#include <sys/types.h>

#include "queue.h"

struct queue {
    MDB_env *env;
    MDB_dbi pending, attempts, dead, meta;
    bool sync_full;
    char dir[PATH_MAX];
    int lock_fd;       /* the daemon lock (queue_options.lock), else -1 */
    dev_t lockmdb_dev; /* lock.mdb as opened (queue_check_identity) */
    ino_t lockmdb_ino;
};

/* Reserved meta names. */
#define QI_META_VERSION "q.version"
#define QI_META_NEXT_SEQ "q.next_seq"
#define QI_META_NEXT_DEAD "q.next_dead"
#define QI_META_PENDING_EVENTS "q.pending_events"
#define QI_META_PENDING_BYTES "q.pending_bytes"
#define QI_META_DEAD_EVENTS "q.dead_events"
#define QI_FORMAT_VERSION 1

/* Sets the thread's queue_last_error message; returns status. */
int qi_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Maps an LMDB/errno code to a queue status and records "what: strerror". */
int qi_lmdb_error(int rc, const char *what);

/* Begins a transaction, adopting a map size grown by another process
 * (MDB_MAP_RESIZED). Returns QUEUE_OK or a status (message set). */
int qi_txn_begin(queue_t *q, bool rdonly, MDB_txn **txn);
/* Commits; maps MAP_FULL/ENOSPC to QUEUE_FULL and I/O errors to QUEUE_IO. */
int qi_txn_commit(MDB_txn *txn, const char *what);

void qi_key_put(unsigned char k[8], uint64_t id);
uint64_t qi_key_get(const MDB_val *k); /* 0 when not an 8-byte key */

/* u64 counters in meta (0 when absent). */
int qi_counter_get(queue_t *q, MDB_txn *txn, const char *name, uint64_t *v);
int qi_counter_put(queue_t *q, MDB_txn *txn, const char *name, uint64_t v);
/* Adds delta (may be negative) to a counter, clamping at 0. */
int qi_counter_add(queue_t *q, MDB_txn *txn, const char *name, int64_t delta);
/* Takes the next id from counter name (starting at 1) and advances it. */
int qi_counter_next(queue_t *q, MDB_txn *txn, const char *name, uint64_t *id);

/* An owned copy of an LMDB value (values are only valid until the txn's
 * next write); NULL when memory ran out (message set). */
unsigned char *qi_val_copy(const MDB_val *v);

/* ---- pending (pending.c), shared with burial and replay (dead.c) ---- */

/* Appends record r to pending under the next sequence (MDB_APPEND). */
int qi_append_record(queue_t *q, MDB_txn *txn, const struct record *r, uint64_t *seq);
/* Begins a write transaction and copies pending[seq] out of it. On success
 * the caller owns *txn and *copy; on failure neither is left. */
int qi_pending_begin(queue_t *q, uint64_t seq, MDB_txn **txn, unsigned char **copy, size_t *len);
/* Deletes pending[seq] and attempts[seq] (nothing when absent) and moves
 * the counters with them. */
int qi_pending_delete(queue_t *q, MDB_txn *txn, uint64_t seq);
/* Reads attempts[seq] into *a (zero when absent or damaged) and its replay
 * count. */
int qi_attempts_read(queue_t *q, MDB_txn *txn, uint64_t seq, struct queue_attempts *a,
                     uint32_t *replays);
/* Writes attempts[seq] = (a, replays); a NULL is an empty history (a
 * replayed record's, which only carries its replay count). */
int qi_attempts_write(queue_t *q, MDB_txn *txn, uint64_t seq, const struct queue_attempts *a,
                      uint32_t replays);

/* ---- reading (read.c) ---- */

#define QI_SCAN_CHUNK 256 /* records read per read transaction */

/* A scan of db in chunks: each qi_scan_next reads up to QI_SCAN_CHUNK
 * records with id > after in one short read txn and hands back the at most
 * `want` of them that pass f, copied into entries[] or, when ids is set,
 * only their ids. after moves to the last id examined; end is set once db
 * has no more. On error nothing is handed back. */
struct qi_scan {
    enum queue_db db;
    const struct queue_filter *f; /* NULL: every record */
    uint64_t after;
    size_t want;
    struct queue_entry *entries; /* out (caller frees each), or */
    uint64_t *ids;               /* out: ids only */
    size_t n;                    /* out: how many passed */
    bool end;                    /* out */
};
int qi_scan_next(queue_t *q, struct qi_scan *s);

/* ---- stored values and entries (entry.c) ---- */

/* Event count and body length from a stored record's header without CRC
 * checks (for the counters); false when the header is unusable. */
bool qi_record_peek(const void *val, size_t len, uint32_t *events, uint64_t *body_len);
/* The write key of a stored record, a view into val (NULL, 0 for none);
 * false when the header is unusable. */
bool qi_record_key(const void *val, size_t len, const char **key, size_t *keylen);
/* The received time (Unix ms) in a stored record's header, unchecked like
 * qi_record_peek. */
bool qi_record_received(const void *val, size_t len, int64_t *ms);

/* Attempts value: counters, capped history, and the replay count a replayed
 * record carries back to the dead-letter queue if it dies again. */
size_t qi_attempts_size(const struct queue_attempts *a);
size_t qi_attempts_encode(const struct queue_attempts *a, uint32_t replays, unsigned char *out);
bool qi_attempts_decode(const void *buf, size_t len, struct queue_attempts *a, uint32_t *replays);
/* Appends one attempt: history keeps the first 8 and the last 24. */
void qi_attempts_add(struct queue_attempts *a, const struct queue_attempt *at);

/* Fills e from a stored value. With copy, e->mem owns a copy and every view
 * points into it; without, views point into val (valid inside the txn only,
 * used to filter before copying). A gzip body is left as stored (rec.body
 * NULL) for queue_entry_inflate; filter.c inflates what it must look into.
 * attempts may be NULL (pending only). */
int qi_entry_pending(struct queue_entry *e, uint64_t id, const MDB_val *val,
                     const MDB_val *attempts, bool copy);
int qi_entry_dead(struct queue_entry *e, uint64_t id, const MDB_val *val, bool copy);

/* ---- sources (source.c) ---- */

/* Per-source counters. A record's counter name is its key's
 * fingerprint, or "-" for a record stored without a key. qi_src_count adds
 * to the counters of name inside txn (nothing while they are not kept). */
#define QI_SRC_NAME_SIZE QUEUE_FP_SIZE
void qi_src_name(const char *key, size_t keylen, char name[QI_SRC_NAME_SIZE]);
int qi_src_count(queue_t *q, MDB_txn *txn, const char *name, int64_t batches, int64_t events,
                 int64_t bytes);

/* ---- dead letters (dead.c) ---- */

/* Dead-letter value: header (CRC-guarded), reason, attempts, record. */
struct qi_dead {
    int64_t dead_ms;
    uint64_t pending_seq; /* the pending sequence it was buried from */
    uint32_t replays;
    const char *reason;
    size_t reason_len;
    const unsigned char *attempts;
    size_t attempts_len;
    const unsigned char *record;
    size_t record_len;
};
#define QI_DEAD_HEADER_SIZE 36
size_t qi_dead_size(const struct qi_dead *d);
void qi_dead_encode(const struct qi_dead *d, unsigned char *out);
bool qi_dead_decode(const void *buf, size_t len, struct qi_dead *d);

#endif
