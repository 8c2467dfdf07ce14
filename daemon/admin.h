/*
 * admin.h - the admin listener (loopback by default): GET /healthz, /readyz,
 * /metrics (Prometheus text), /status (the `eddy status --json` object).
 * Runs its own event loop on its own thread so health checks and scrapes
 * answer even while the ingest loop is busy.
 */
#ifndef EDDY_ADMIN_H
#define EDDY_ADMIN_H

#include <stddef.h>

#include "../storage/queue.h"
#include "committer.h"
#include "config.h"
#include "ingest.h"
#include "metrics.h"

struct admin_options {
    const struct config *cfg;
    queue_t *queue;
    struct metrics *metrics;
    struct ingest *ingest;       /* for readiness: accepting */
    struct committer *committer; /* for readiness: high water, I/O failure */
};

struct admin;

/* Binds cfg->admin_listen and starts the thread. Returns 0 or -1 with the
 * reason in err. */
int admin_start(struct admin **a, const struct admin_options *o, char *err, size_t errlen);

/* Stops the thread and frees a. */
void admin_stop(struct admin *a);

#endif
