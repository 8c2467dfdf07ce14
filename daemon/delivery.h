/*
 * delivery.h - the delivery worker: replays pending batches to RudderStack
 * with libcurl, at least once, following DESIGN.md "Delivery policy".
 */
#ifndef EDDY_DELIVERY_H
#define EDDY_DELIVERY_H

#include <stddef.h>

#include "../storage/queue.h"
#include "config.h"
#include "metrics.h"

/* A source's delivery state (DESIGN.md "Sources"); worse states are
 * larger, and the values are those of the eddy_delivery_state and
 * eddy_source_state gauges. */
enum delivery_state {
    DELIVERY_OK = 0,
    DELIVERY_BACKOFF = 1, /* 408/429/5xx or a network failure: gated, one probe at a time */
    DELIVERY_HELD = 2,    /* 401/403/404/3xx: a configuration fault, probed slowly */
    DELIVERY_PAUSED = 3,  /* eddy pause: nothing is sent */
};

struct delivery;

struct delivery_options {
    queue_t *queue;
    const struct config *cfg; /* copied: the [delivery] settings and write_key */
    struct metrics *metrics;  /* the delivery and per-source series */
};

/* Starts the delivery threads (the sender and the acker). curl_global_init
 * must have run. Returns 0 or -1 with the reason in err. */
int delivery_start(struct delivery **d, const struct delivery_options *o, char *err, size_t errlen);

/* From another thread (SIGHUP): the [delivery] settings that can change
 * while delivery runs (url, timeout, max_attempts, retry_window, backoff_min,
 * backoff_max, retry_after_max, max_batch_bytes, require_external_user_id)
 * take effect from the sender's next turn; requests in flight finish as
 * they started. cfg is copied. */
void delivery_reconfigure(struct delivery *d, const struct config *cfg);

/* Stops the thread: in-flight transfers are aborted and their batches stay
 * pending (redelivered later: at-least-once). Frees d. */
void delivery_stop(struct delivery *d);

#endif
