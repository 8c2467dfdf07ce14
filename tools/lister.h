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
};

int cli_lister_begin(struct cli_lister *l, enum queue_db db, bool as_json, int64_t now);
/* Adds one record; returns non-zero when output failed. */
int cli_lister_add(struct cli_lister *l, const struct queue_entry *e);
/* Prints the table (when print) and frees it. */
void cli_lister_end(struct cli_lister *l, bool print);

#endif
