/*
 * lister.h - printing a sequence of records as a table or as JSON lines;
 * used by the list commands and by replay/purge --dry-run, so a dry run
 * shows exactly the columns `dlq list` shows.
 */
#ifndef EDDY_CLI_LISTER_H
#define EDDY_CLI_LISTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "output.h"
#include "../storage/queue.h"

struct cli_lister {
    enum queue_db db;
    bool as_json;
    int64_t now;
    struct cli_table *table; /* NULL with as_json: lines are printed at once */
    size_t rows, corrupt;
    uint64_t events;
    int failed;
    /* pending: the source of keyless batches, and the batches held or
     * backing-off sources are probing (as eddyd last recorded them) */
    char default_source[QUEUE_FP_SIZE];
    uint64_t probing[64];
    size_t nprobing;
};

int cli_lister_begin(struct cli_lister *l, enum queue_db db, bool as_json, int64_t now);
/* Reads what the pending columns need from the store (cli_lister_begin
 * first). */
void cli_lister_sources(struct cli_lister *l, queue_t *q);
/* True when pending batch seq is the probe of its source. */
bool cli_lister_probing(const struct cli_lister *l, uint64_t seq);
/* Adds one record; returns non-zero when output failed. */
int cli_lister_add(struct cli_lister *l, const struct queue_entry *e);
/* Prints the table (when print) and frees it. */
void cli_lister_end(struct cli_lister *l, bool print);

#endif
