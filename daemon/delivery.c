/*
 * delivery.c - placeholder so eddyd links while the delivery worker is being
 * written (issue 4 replaces this file). Starts nothing; batches stay pending.
 */
#include "delivery.h"

#include <stdlib.h>

struct delivery {
    int unused;
};

int delivery_start(struct delivery **d, queue_t *q, const struct config *cfg, struct metrics *m,
                   char *err, size_t errlen)
{
    (void)q, (void)cfg, (void)m, (void)err, (void)errlen;
    *d = calloc(1, sizeof(**d));
    return *d ? 0 : -1;
}

void delivery_stop(struct delivery *d)
{
    free(d);
}
