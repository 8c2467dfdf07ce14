/*
 * output.h - how the CLI prints: aligned tables for people, one JSON object
 * per line (--json) for scripts, and the JSON form of a stored record that
 * `dlq list --json`, `pending list --json` and `dlq export` share.
 */
#ifndef EDDY_CLI_OUTPUT_H
#define EDDY_CLI_OUTPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "../storage/queue.h"

/* ---- tables ---------------------------------------------------------- */

struct cli_table;

/* A table with ncols columns; align[i] is 'r' for right-aligned (numbers)
 * and 'l' otherwise. Returns NULL when out of memory. */
struct cli_table *cli_table_new(const char *const *headers, size_t ncols, const char *align);
/* Adds a row of ncols cells (copied; control bytes shown as '?'). */
int cli_table_add(struct cli_table *t, const char *const *cells);
size_t cli_table_rows(const struct cli_table *t);
/* Prints header and rows, columns padded to their widest cell (counted in
 * UTF-8 characters), two spaces apart, no trailing blanks. */
void cli_table_print(const struct cli_table *t, FILE *out);
void cli_table_free(struct cli_table *t);

/* ---- JSON ------------------------------------------------------------ */

/* A JSON string for bytes that may not be valid UTF-8 (reasons and types
 * come from the outside world): invalid bytes become U+FFFD. */
json_t *cli_json_string(const char *s, size_t len);

/* Prints o compactly as one line and decrefs it. Returns 0 or -1. */
int cli_json_print_line(json_t *o, FILE *out);

/* The '\n'-separated type list of a record as a JSON array. */
json_t *cli_json_types(const char *types, size_t len);

/* The metadata of a pending (db QUEUE_PENDING) or dead record as a JSON
 * object: id, events, event_types, bytes, received_at, attempts,
 * last_status, first_failed_at, last_failed_at, and for dead letters
 * dead_at, reason, replays; with history, the attempt list too. A corrupt
 * record gives {"id":N,"corrupt":"why"}. Times are RFC 3339 UTC or null. */
json_t *cli_entry_json(const struct queue_entry *e, enum queue_db db, bool history);

/* The event types of a record as "a, b, c", cut to max characters with a
 * trailing "...". */
char *cli_types_text(const char *types, size_t len, size_t max, char *buf, size_t cap);

#endif
