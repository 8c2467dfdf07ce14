/*
 * committer.h - the group-commit thread: the only thread of eddyd that
 * appends to pending. Submitted requests queue up while a commit is in
 * progress; the next commit takes all of them (up to a byte cap) in ONE
 * LMDB transaction with one fsync, then hands the whole group back.
 */
#ifndef EDDY_COMMITTER_H
#define EDDY_COMMITTER_H

#include <stdbool.h>
#include <stddef.h>

#include "../storage/queue.h"
#include "metrics.h"

/* One request to store. Embed it in your own job struct. */
struct committer_req {
    struct queue_batch batch; /* in: what to append; out: batch.seq on success */
    int result;               /* out: QUEUE_OK or the negative queue_status of the group */
    struct committer_req *next;
};

/* Called on the committer thread once per group, after its commit returned,
 * with the requests in submission order (linked by next, NULL-terminated).
 * It must hand them to their owners quickly (e.g. a completion queue) and
 * must not call committer functions. */
typedef void (*committer_done_fn)(void *arg, struct committer_req *group);

/* Called once, on the committer thread, when a commit failed with QUEUE_IO,
 * just before its group is handed back. eddyd must stop: a retried fsync can
 * report success for data it lost. */
typedef void (*committer_fatal_fn)(void *arg);

struct committer_options {
    queue_t *queue;
    struct metrics *metrics;
    size_t group_max_bytes; /* cap on body bytes per commit (one request always fits) */
    double high_water;      /* fraction of max_size above which ingest refuses */
    const char *data_dir;   /* the store's directory, for the free-disk check (NULL: none) */
    committer_done_fn done;
    committer_fatal_fn fatal;
    void *arg; /* for done and fatal */
};

struct committer;

/* Starts the thread. Returns 0 or -1 with the reason in err. */
int committer_start(struct committer **c, const struct committer_options *o, char *err,
                    size_t errlen);

/* Queues r (thread-safe). After a QUEUE_IO failure every later request is
 * handed back with QUEUE_IO, never committed. */
void committer_submit(struct committer *c, struct committer_req *r);

/* True while storage use is above high_water (refreshed after commits and
 * every 100 ms while idle, so it clears by itself when space is freed). */
bool committer_above_high_water(const struct committer *c);

/* True once a commit failed with QUEUE_IO. */
bool committer_failed(const struct committer *c);

/* True once the store was found to be no longer the one at data_dir (its
 * files deleted or replaced; checked with the usage refresh, so within
 * 100 ms). Every later request is handed back with QUEUE_LOST. */
bool committer_lost(const struct committer *c);

/* Why ingest refuses every request now (failed, lost, above high water),
 * with the error code it answers with in *error ("storage_error",
 * "storage_full"); NULL (and *error NULL) while it accepts. */
const char *committer_refusing(const struct committer *c, const char **error);

/* Commits everything still queued, hands it back, joins the thread, frees c. */
void committer_stop(struct committer *c);

#endif
