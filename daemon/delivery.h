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

struct delivery;

/* Starts the delivery thread. curl_global_init must have run. Returns 0 or -1
 * with the reason in err. */
int delivery_start(struct delivery **d, queue_t *q, const struct config *cfg, struct metrics *m,
                   char *err, size_t errlen);

/* Stops the thread: in-flight transfers are aborted and their batches stay
 * pending (redelivered later: at-least-once). Frees d. */
void delivery_stop(struct delivery *d);

#endif
