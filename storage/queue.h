/*
 * queue.h - eddy's durable queue on LMDB: the storage API.
 *
 * One LMDB environment per data dir with four databases:
 *   pending   u64 big-endian sequence -> record (record.h), put with MDB_APPEND
 *   attempts  same sequence           -> delivery failures of that record
 *   dead      u64 big-endian dead id  -> dead-letter header + record
 *   meta      name                    -> next_seq, next_dead, format version,
 *                                        counters, opaque blobs (queue_meta_*)
 * Sequences and dead ids come from counters in meta that never go back, so an
 * id is never reused, even after the queue drains and the store is reopened.
 *
 * Durability: default LMDB flags (fdatasync + O_DSYNC meta write per commit).
 * Every write function commits one transaction and returns 0 only after the
 * commit returned 0. No read transaction outlives a call: everything handed
 * back is copied out. Large scans and moves run in chunks of short
 * transactions so ingest in another thread or process is never stalled long.
 *
 * eddyd and the eddy CLI open the same environment at the same time; LMDB's
 * lock file serialises writers across processes. Thread-safe: one queue_t may
 * be shared by the threads of a process.
 */
#ifndef EDDY_QUEUE_H
#define EDDY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* For the decoded view of a record a queue_entry carries (struct record),
 * its flags (RECORD_F_*) and statuses (record_status, record_strerror):
 * part of this API. Its on-disk layout is storage's alone. */
#include "record.h"

typedef struct queue queue_t;

#define QUEUE_FP_SIZE 9 /* a source fingerprint: 8 hex digits and a NUL (see "sources") */

enum queue_status {
    QUEUE_OK = 0,
    QUEUE_ERROR = -1,     /* anything else; see queue_last_error */
    QUEUE_FULL = -2,      /* LMDB map full or disk full (ENOSPC): answer 503, retry later */
    QUEUE_IO = -3,        /* EIO or a failed sync: not retryable, the daemon must exit */
    QUEUE_NOT_FOUND = -4, /* no such id */
    QUEUE_CORRUPT = -5,   /* a stored record failed its checksum or structure check */
    QUEUE_VERSION = -6,   /* the data dir was written by a newer eddy */
    QUEUE_NOT_STORE = -7, /* the dir exists but is not an eddy store (open without create) */
    QUEUE_STOPPED = -8,   /* a callback asked to stop (queue_dead_apply) */
    QUEUE_LOCKED = -9,    /* another eddyd holds the data dir (queue_options.lock) */
    QUEUE_LOST = -10,     /* the open store is no longer the one at its path */
};

struct queue_options {
    const char *dir;   /* data dir; created 0700 when missing and create is set */
    uint64_t map_size; /* LMDB map size in bytes; 0 = keep the stored size (CLI) */
    bool sync_full;    /* true: default flags (durable). false: MDB_NOSYNC (unsafe, tests) */
    bool create;       /* create the dir and databases when missing */
    bool lock;         /* eddyd: hold the data dir's daemon lock (QUEUE_DAEMON_LOCK) for
                          as long as the store is open; QUEUE_LOCKED when another holds it */
};

/* The daemon lock: an fcntl open-file-description write lock on this file in
 * the data dir, which holds the owner's pid as text. The kernel drops the
 * lock when its owner exits, however it exits, so a stale file means
 * nothing: only the lock counts. The CLI never takes it. */
#define QUEUE_DAEMON_LOCK "eddyd.pid"

/* Opens (and with o->create, creates) the store. Sets maxdbs, opens all
 * databases once, runs mdb_reader_check, refuses a newer format version.
 * Returns QUEUE_OK or a negative status with an operator-readable message in
 * err. */
int queue_open(queue_t **q, const struct queue_options *o, char *err, size_t errlen);
void queue_close(queue_t *q);

/* Message for the last failure in this thread (names the LMDB or system error). */
const char *queue_last_error(void);

/* ---- ingest (pending.c) ------------------------------------------------ */

/* One batch to append. The body is stored byte for byte: raw, or as the
 * gzip member zbody of it when zbody is set (compressed by the caller, off
 * the commit path; see compress.h). */
struct queue_batch {
    const unsigned char *body;
    size_t body_len;
    const unsigned char *zbody; /* NULL: store body raw */
    size_t zbody_len;
    const char *write_key; /* may be NULL */
    size_t write_key_len;
    const char *types; /* distinct event types, '\n'-separated (batch_summary) */
    size_t types_len;
    const unsigned char *ztypes; /* NULL, or types packed by record_pack_types (with zbody) */
    size_t ztypes_len;
    uint32_t event_count;
    int64_t received_ms;
    uint64_t seq; /* out: the sequence assigned */
};

/* Appends n batches in ONE write transaction (group commit: one fsync). On
 * QUEUE_OK every b[i].seq is set and all are durable; on error none is stored
 * (QUEUE_FULL for map/disk full, QUEUE_IO for an I/O or sync failure). */
int queue_append_group(queue_t *q, struct queue_batch *b, size_t n);

/* ---- records as read back (entry.c) ------------------------------------ */

#define QUEUE_ANSWER_MAX 512 /* bytes of an HTTP answer kept per attempt */
#define QUEUE_HISTORY_MAX 32 /* attempts kept per record: the first 8 and the last 24 */

/* One delivery attempt that failed. */
struct queue_attempt {
    int64_t at_ms;
    int32_t status; /* HTTP status, or 0 when no HTTP answer came (network) */
    bool uncounted; /* an HTTP answer that does not count toward max_attempts
                       (an outage or a hold of the batch's source); not stored */
    uint16_t answer_len;
    char answer[QUEUE_ANSWER_MAX]; /* first bytes of the answer body, or the
                                      network error text */
};

/* The delivery history of one record. */
struct queue_attempts {
    uint32_t counted;   /* HTTP answers that count toward max_attempts */
    uint32_t network;   /* failures with no HTTP answer (never counted) */
    uint32_t uncounted; /* HTTP answers that did not count (source outage, hold) */
    uint32_t dropped;   /* attempts beyond QUEUE_HISTORY_MAX not kept in history */
    int64_t first_failed_ms, last_failed_ms, next_try_ms;
    int32_t last_status;
    uint32_t nhistory;
    struct queue_attempt history[QUEUE_HISTORY_MAX];
};

/* A record copied out of pending or dead. Owns its memory: queue_entry_free.
 * rec.body is always the raw body, byte for byte as received: a gzip record
 * is inflated on the way out (rec.stored keeps the gzip bytes), so nothing
 * above storage cares how a body is stored. */
struct queue_entry {
    uint64_t id;                    /* pending sequence or dead id */
    int status;                     /* RECORD_OK, or the record_status of a corrupt record */
    struct record rec;              /* views into owned memory (valid when status == RECORD_OK) */
    struct queue_attempts attempts; /* zero when the record never failed */
    /* dead letters only: */
    char reason[256];
    uint32_t replays; /* dead letters, and pending records that were replayed
                         (kept in their attempts value until they die again) */
    int64_t dead_ms;  /* when it was dead-lettered */
    void *mem;        /* owned copy of the stored value */
    void *raw;        /* owned inflated body of a gzip record (rec.body) */
    void *types;      /* owned inflated types list of a version 3 record (rec.types) */
};
void queue_entry_free(struct queue_entry *e);

/* Inflates e's body when queue_get_stored left it compressed (else does
 * nothing). A body that does not inflate sets e->status (RECORD_BAD_GZIP);
 * QUEUE_ERROR when memory ran out. */
int queue_entry_inflate(struct queue_entry *e);

/* ---- reading (read.c, filter.c) ---------------------------------------- */

/* Lists up to max pending sequences > after whose next-try time is <= now_ms
 * (records that never failed are always ready), in order, into seqs[]; *n is
 * the count. Reads keys and attempt times only: cheap enough to run under a
 * caller's lock, the bodies are fetched afterwards with queue_get. */
int queue_ready_ids(queue_t *q, uint64_t after, int64_t now_ms, uint64_t *seqs, size_t max,
                    size_t *n);

/* The scan behind queue_ready_ids, with the choice left to the caller: fn
 * gets each pending record > after, in order, with its write key (a view
 * valid only during the call; NULL for a record whose header is damaged) and
 * its stored next-try time (0 when it never failed), and answers
 * QUEUE_READY_TAKE, QUEUE_READY_SKIP or QUEUE_READY_STOP (the scan ends
 * before this record). Stops when max were taken or `examine` records were
 * looked at (0: no limit). *last gets the last sequence looked at (0: none)
 * and *end whether the scan reached the end of pending. fn runs inside a
 * read transaction: it must be quick and must not call the queue. */
enum queue_ready_choice { QUEUE_READY_SKIP = 0, QUEUE_READY_TAKE = 1, QUEUE_READY_STOP = 2 };
typedef enum queue_ready_choice (*queue_ready_fn)(void *ctx, uint64_t seq, const char *key,
                                                  size_t keylen, int64_t next_try_ms);
int queue_ready_scan(queue_t *q, uint64_t after, size_t examine, queue_ready_fn fn, void *ctx,
                     uint64_t *seqs, size_t max, size_t *n, uint64_t *last, bool *end);

enum queue_db { QUEUE_PENDING = 0, QUEUE_DEAD = 1 };

/* Narrows a scan. Zero/NULL fields do not filter. */
struct queue_filter {
    const char *type_glob;              /* fnmatch(3) on each event type: any match */
    int64_t since_ms;                   /* dead: dead-lettered at or after; pending: received */
    int64_t until_ms;                   /* dead: dead-lettered before; pending: received */
    int32_t status;                     /* last HTTP status */
    const char *reason;                 /* substring of the dead-letter reason */
    const char *event_id;               /* an event with this "id" is in the body */
    const char *source;                 /* the batch's source fingerprint (queue_source_of) */
    char default_source[QUEUE_FP_SIZE]; /* with source: the source of keyless records */
};

/* True when entry e passes filter f (NULL passes everything). */
bool queue_filter_match(const struct queue_filter *f, const struct queue_entry *e);

/* Calls fn for each record of db with id > after that passes f, in id order,
 * at most limit times (0 = no limit). Reads in chunks of short read
 * transactions; fn runs outside any transaction and gets an entry it must not
 * keep (it is freed after fn returns). fn returning non-zero stops the scan
 * and queue_scan returns that value. Corrupt records are passed with status
 * != RECORD_OK and never filtered out. */
typedef int (*queue_scan_fn)(void *ctx, const struct queue_entry *e);
int queue_scan(queue_t *q, enum queue_db db, const struct queue_filter *f, uint64_t after,
               size_t limit, queue_scan_fn fn, void *ctx);

/* Copies record id of db into *e. QUEUE_NOT_FOUND when absent. */
int queue_get(queue_t *q, enum queue_db db, uint64_t id, struct queue_entry *e);

/* queue_get without inflating: a gzip record comes back with rec.body NULL
 * and its member in rec.stored (delivery forwards it as it is). */
int queue_get_stored(queue_t *q, enum queue_db db, uint64_t id, struct queue_entry *e);

/* ---- a batch's outcomes in pending (pending.c) ------------------------- */

/* Deletes delivered records (pending + attempts) in one transaction. Ids
 * already gone are ignored (at-least-once: a replay of an ack is harmless). */
int queue_ack(queue_t *q, const uint64_t *seqs, size_t n);

/* Records a failed attempt of pending record seq: appends a to its history,
 * counts it (counted when a->status != 0 and not a->uncounted, else
 * uncounted or network), and sets its next-try time. */
int queue_fail(queue_t *q, uint64_t seq, const struct queue_attempt *a, int64_t next_try_ms);

/* Atomically replaces pending record seq by two new records holding the first
 * `first` events and the rest (batch_join; events keep their bytes; flag
 * RECORD_F_SPLIT; origin_seq = seq). The halves get new sequences (*a, *b).
 * QUEUE_ERROR if the record holds fewer than 2 events or first is out of
 * range. first == 0 means half of the events. */
int queue_split(queue_t *q, uint64_t seq, size_t first, uint64_t *a, uint64_t *b);

/* ---- dead letters: burial, replay, purge (dead.c) ---------------------- */

/* Moves pending record seq to dead with reason (and its attempt history) in
 * one transaction. *dead_id (may be NULL) gets the new dead id. */
int queue_bury(queue_t *q, uint64_t seq, const char *reason, uint64_t *dead_id);

enum queue_dead_op {
    QUEUE_REPLAY, /* dead -> pending under a new sequence, replay count + 1 */
    QUEUE_PURGE,  /* delete for good */
};

/* Applies op to the dead letters listed in ids[0..n) (when ids != NULL) or
 * to every dead letter passing f (when ids == NULL; f NULL = all), in
 * transactions of at most `chunk` records (0 = 1000). After each committed
 * chunk progress(ctx, done_so_far) is called; returning non-zero stops before
 * the next chunk (QUEUE_STOPPED). Every record is always in exactly one place.
 * *done (may be NULL) counts records moved. A listed id that is absent makes
 * the call return QUEUE_NOT_FOUND after the others were applied. */
typedef int (*queue_progress_fn)(void *ctx, uint64_t done);
int queue_dead_apply(queue_t *q, enum queue_dead_op op, const uint64_t *ids, size_t n,
                     const struct queue_filter *f, size_t chunk, queue_progress_fn progress,
                     void *ctx, uint64_t *done);

/* ---- sources (source.c) ------------------------------------------------ */

/* A source is the write key a batch is forwarded with; output names it by
 * its fingerprint: the first 8 hex digits of the key's SHA-256, never the
 * key itself. */
void queue_fingerprint(const char *key, size_t len, char fp[QUEUE_FP_SIZE]);

/* Pause flags of sources (`eddy pause` / `eddy resume`), kept in the store:
 * they hold across restarts and work with eddyd stopped, which reads them
 * every half second. *changed (may be NULL) tells whether the flag moved. */
#define QUEUE_PAUSED_MAX 256
int queue_set_paused(queue_t *q, const char *fp, bool paused, bool *changed);
/* The paused fingerprints, NUL-terminated, at most max. */
int queue_paused(queue_t *q, char (*fps)[QUEUE_FP_SIZE], size_t max, size_t *n);

/* Records stored without a write key are forwarded with [delivery]
 * write_key: eddyd tells the store that key's source at start, and on a
 * store made before per-source counters existed counts what is pending
 * once (one transaction). */
int queue_sources_prepare(queue_t *q, const char *default_key, size_t len);
/* The default source's fingerprint ("" when eddyd never ran on the store). */
int queue_default_source(queue_t *q, char fp[QUEUE_FP_SIZE]);
/* The source of a record's key: its fingerprint, or dflt for no key ("-"
 * when dflt is empty). */
void queue_source_of(const char *key, size_t keylen, const char *dflt, char fp[QUEUE_FP_SIZE]);

/* What is pending per source, and the paused ones (pending or not). */
#define QUEUE_SOURCES_EXAMINE 1000000 /* records the oldest-batch walk looks at, at most */
struct queue_source {
    char fp[QUEUE_FP_SIZE];
    uint64_t batches, events, bytes;
    int64_t oldest_ms; /* received time of its first pending batch, 0 when none */
    bool paused;
};
/* A malloc'd array in *list (free it), *n entries. */
int queue_sources(queue_t *q, struct queue_source **list, size_t *n);

/* ---- state ------------------------------------------------------------- */

struct queue_stats {
    uint64_t pending_batches, pending_events, pending_bytes;
    int64_t pending_oldest_ms; /* received time of the oldest pending record (the head
                                  of the queue), 0 if none */
    uint64_t dead_batches, dead_events;
    uint64_t used_bytes, max_bytes; /* LMDB pages in use (the file's pages minus
                                       LMDB's free list), map size */
    uint64_t file_bytes;            /* size of data.mdb: it never shrinks by itself
                                       (eddy compact rewrites it to what is in use) */
    uint64_t free_pages;            /* pages on LMDB's freelist, reused before the file grows */
    uint64_t freelist_entries;      /* records of the freelist: LMDB merges and rewrites
                                       them to find runs of pages for large values */
    uint64_t next_seq;
};
int queue_stats(queue_t *q, struct queue_stats *s);

/* Small named blobs in meta, opaque to storage (e.g. "delivery" and "eddyd",
 * which daemon/status.c writes and reads back for `eddy status`). Names
 * starting with "q." are reserved. */
int queue_meta_put(queue_t *q, const char *name, const void *val, size_t len);
/* Copies up to cap bytes into buf; *len gets the stored length. QUEUE_NOT_FOUND
 * when absent. */
int queue_meta_get(queue_t *q, const char *name, void *buf, size_t cap, size_t *len);

/* The pid of the eddyd holding q's daemon lock in *pid, as queue_daemon_pid:
 * this process's own when q holds the lock (even if the lock file's path is
 * gone). */
int queue_daemon_of(queue_t *q, long *pid);

/* Consistent compacting hot copy into dest_dir (created 0700 if missing,
 * must be empty): mdb_env_copy2 with MDB_CP_COMPACT. */
int queue_backup(queue_t *q, const char *dest_dir);

/* ---- compacting (eddy compact, with eddyd stopped) -------------------- */

/* Entries in all databases of q (the total queue_compact_check walks). */
int queue_entries(queue_t *q, uint64_t *n);

/* Compares every database of copy with orig, key and value byte for byte,
 * in one read transaction on each: QUEUE_OK only when they hold the same.
 * progress(ctx, entries so far) is called every 4096 entries; non-zero
 * stops (QUEUE_STOPPED). *checked counts the entries compared. */
int queue_compact_check(queue_t *orig, queue_t *copy, queue_progress_fn progress, void *ctx,
                        uint64_t *checked);

/* Exchanges the data dirs a and b in one rename (renameat2 RENAME_EXCHANGE),
 * so each path holds a complete store at every instant. */
int queue_swap_dirs(const char *a, const char *b);

/* Deletes a closed store's files and its dir (nothing else may be in it). */
int queue_remove_store(const char *dir);

/* The pid of the eddyd holding dir's daemon lock in *pid: 0 when no process
 * holds it (eddyd not running), -1 when held but the pid is unreadable.
 * Takes no lock itself, so it never stands in a starting eddyd's way. */
int queue_daemon_pid(const char *dir, long *pid);

/* Checks that the files this queue_t has open are still the ones at the
 * data dir's paths: QUEUE_LOST (with the reason in err) once data.mdb,
 * lock.mdb or the daemon lock file was deleted or replaced (rm -rf of the
 * data dir, a backup moved over it). Nothing written to the open store from
 * then on would be found by any later process. A few stat calls; cheap
 * enough to run every second. */
int queue_check_identity(queue_t *q, char *err, size_t errlen);

/* Runs mdb_reader_check; *cleared (may be NULL) gets the stale slots freed. */
int queue_reader_check(queue_t *q, int *cleared);

/* ---- layout -------------------------------------------------------------
 * What callers above storage need to know of the files in a data dir, asked
 * here so that none of them knows LMDB's file names, its page size or the
 * record header. */

/* The data dir when none is given: eddyd's [storage] data_dir default, and
 * the eddy CLI's without -d, -c or EDDY_DATA_DIR. */
#define QUEUE_DEFAULT_DIR "./var/eddy"

/* The longest write key a record can hold: ingest and config refuse longer. */
#define QUEUE_KEY_MAX RECORD_KEY_MAX

/* The files LMDB keeps in a data dir, beside QUEUE_DAEMON_LOCK. */
enum queue_file { QUEUE_FILE_DATA = 0, QUEUE_FILE_LOCK, QUEUE_FILES };

/* Writes the path of file `which` of the store in dir into buf (len bytes);
 * returns what snprintf returns. */
int queue_file_path(const char *dir, enum queue_file which, char *buf, size_t len);

/* True when dir holds a store's data file (a start may create one if not). */
bool queue_store_exists(const char *dir);

/* Bytes the n batches at b take in the store at most, tree and meta pages
 * of their transaction included: each record rounded up to whole pages
 * (large bodies live in overflow pages). */
uint64_t queue_group_footprint(const struct queue_batch *b, size_t n);

/* The room on disk for the store in dir to hold used_after bytes: *growth
 * gets the bytes its data file must grow by (pages freed inside the file are
 * reused first, so 0 when it already is that large) and *avail the bytes
 * free to unprivileged users on its filesystem. QUEUE_ERROR when either
 * cannot be read. */
int queue_disk_room(const char *dir, uint64_t used_after, uint64_t *growth, uint64_t *avail);

#endif
