/*
 * status.h - the status object of DESIGN.md (GET /status, `eddy status`
 * and `--json`) and the two meta blobs eddyd records for it: "delivery"
 * (the delivery worker's state and every source's) and "eddyd" (the admin
 * thread's record: when eddyd last ran, whether ingest accepts).
 *
 * The blobs are written and read back here only, so their format has one
 * owner; storage keeps them as opaque bytes (queue_meta_put/get). The
 * object joins them with storage's counts (queue_stats, queue_sources) and
 * its daemon lock. This module needs storage/queue.h and jansson alone, so
 * eddyd (delivery.c, admin.c) and eddy (tools/status.c, tools/list.c) both
 * link it, and the human view can never disagree with what scripts read.
 */
#ifndef EDDY_STATUS_H
#define EDDY_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/queue.h"

/* One source as the delivery worker last saw it. */
struct status_source {
    const char *fp;
    const char *state; /* "ok", "backoff", "held", "paused" */
    int64_t since_ms;  /* wall-clock: when it entered state */
    int last_status;   /* 0: no HTTP answer (yet) */
    const char *last_error;
    uint64_t probing; /* the batch probed while held or backing off, 0: none */
};

/* The delivery worker's state: the worst of all sources, the latest answer. */
struct status_delivery {
    const char *state;
    int last_status;
    const char *last_error;
    int64_t updated_ms; /* wall-clock */
    const struct status_source *sources;
    size_t nsources;
};

/* Records d as meta "delivery". Returns NULL, or why it could not. */
const char *status_put_delivery(queue_t *q, const struct status_delivery *d);

/* Records eddyd's own record as meta "eddyd" at now_ms: ingest accepts
 * when error is NULL, else it refuses with error (the code ingest answers
 * with) and reason. Returns NULL, or why it could not. */
const char *status_put_eddyd(queue_t *q, int64_t now_ms, const char *error, const char *reason);

/* The batches the sources are probing (as last recorded), at most cap in
 * seqs; *n gets how many. None when nothing was recorded. */
void status_probing(queue_t *q, uint64_t *seqs, size_t cap, size_t *n);

/* The status object at now_ms (wall-clock), compact, into a malloc'd
 * NUL-terminated *json. Returns 0, or -1 with the reason in err. */
int status_json(queue_t *q, int64_t now_ms, char **json, char *err, size_t errlen);

#endif
