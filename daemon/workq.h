/*
 * workq.h - a small pool of worker threads fed from one FIFO. Ingest uses it
 * to inflate and validate bodies off the event loop, so a large body never
 * holds up small requests on other connections.
 */
#ifndef EDDY_WORKQ_H
#define EDDY_WORKQ_H

#include <stddef.h>

/* Embed in the job; the pool links jobs through it. */
struct workq_item {
    struct workq_item *next;
};

typedef void (*workq_fn)(void *arg, struct workq_item *item);

struct workq;

struct workq_options {
    const char *name;  /* the threads' name, at most 15 bytes (shown by top -H) */
    unsigned nthreads; /* 1 to 64: 0 counts as 1, more as 64 */
    workq_fn fn;       /* runs fn(arg, item) for each submitted item */
    void *arg;
};

/* Starts the threads. Returns 0 or -1 with the reason in err. */
int workq_start(struct workq **w, const struct workq_options *o, char *err, size_t errlen);
void workq_submit(struct workq *w, struct workq_item *item);
/* Items submitted whose function has not yet returned, waiting or being
 * run (a caller inside fn counts its own item): a relaxed reading, for
 * choices that only need to know whether the threads have other work. */
size_t workq_unfinished(struct workq *w);
/* Runs everything still queued, joins the threads, frees w. */
void workq_stop(struct workq *w);

#endif
