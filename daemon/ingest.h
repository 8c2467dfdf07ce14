/*
 * ingest.h - the public HTTP listener where Braze posts Currents batches
 * (DESIGN.md "Ingest HTTP"). Runs on the caller's event loop; bodies are
 * inflated and validated on a worker pool and stored by the committer; every
 * answer is sent back on the loop thread.
 */
#ifndef EDDY_INGEST_H
#define EDDY_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>

#include "auth.h"
#include "committer.h"
#include "config.h"
#include "metrics.h"

struct ingest;

struct ingest_options {
    struct event_base *base; /* the caller's loop, which ingest runs on */
    const struct config *cfg;
    struct metrics *metrics;
};

/* Binds cfg->listen on base and starts the worker pools. Nothing is served
 * before ingest_set_committer. Returns 0 or -1 with the reason in err. */
int ingest_start(struct ingest **in, const struct ingest_options *o, char *err, size_t errlen);

/* Replaces the credentials requests are checked against (SIGHUP). Call on
 * the loop thread; takes creds and frees the set it replaces. */
void ingest_set_credentials(struct ingest *in, struct auth_creds *creds);

/* Connects the committer (create it with ingest_commit_done and
 * ingest_commit_fatal as its callbacks and in as their argument). */
void ingest_set_committer(struct ingest *in, struct committer *c);

/* committer_done_fn and committer_fatal_fn for the committer. */
void ingest_commit_done(void *in, struct committer_req *group);
void ingest_commit_fatal(void *in);

/* Starts a graceful stop (thread-safe, idempotent): stop accepting, answer
 * 503 to new requests, finish everything accepted, then exit the loop. The
 * largest exit_code asked for is kept (ingest_exit_code). */
void ingest_shutdown(struct ingest *in, int exit_code);
int ingest_exit_code(const struct ingest *in);

/* True until a shutdown started (for /readyz). */
bool ingest_accepting(const struct ingest *in);

/* After the loop exited: lets the workers finish what they hold and joins
 * them. Call before committer_stop (workers submit to the committer). */
void ingest_stop_workers(struct ingest *in);

/* After committer_stop: frees the listener, anything still unanswered, and
 * in. (After a clean drain nothing is unanswered.) */
void ingest_free(struct ingest *in);

#endif
