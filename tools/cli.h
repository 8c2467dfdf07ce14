/*
 * cli.h - what the files of the eddy operator CLI share: exit codes, the
 * per-run context (data dir, the open store, "now"), and the command entry
 * points that tools/eddy.c dispatches to. The shared helpers are in cli.c.
 *
 * Every command is `int cli_cmd_X(struct cli *c, int argc, char **argv)`,
 * with argv[0] the command name, and returns an exit code: the CLI never
 * calls exit() below main.
 */
#ifndef EDDY_CLI_H
#define EDDY_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/queue.h"

enum cli_exit {
    CLI_OK = 0,    /* done */
    CLI_FAIL = 1,  /* failed, an id not found, corruption found, interrupted */
    CLI_USAGE = 2, /* bad arguments or a refused unconfirmed purge */
};

struct cli {
    const char *data_dir; /* from -d, or [storage] data_dir of -c FILE */
    char data_dir_buf[4096];
    queue_t *q; /* opened by cli_open_store */
    int64_t now_ms;
};

/* Opens c->data_dir without creating anything and adopting the stored map
 * size. Prints an operator-readable message and returns CLI_FAIL on error. */
int cli_open_store(struct cli *c);
void cli_close_store(struct cli *c);

/* Reads [storage] data_dir from an eddyd INI config into buf. Returns 0, or
 * -1 with the reason in err. Relative paths stay relative to the current
 * directory, as eddyd reads them. */
int cli_config_data_dir(const char *path, char *buf, size_t cap, char *err, size_t errlen);

/* Milliseconds since the epoch (wall clock). */
int64_t cli_now_ms(void);

/* Set by SIGINT/SIGTERM once cli_catch_interrupts ran; long operations poll
 * it between chunks and stop cleanly. */
extern volatile sig_atomic_t cli_interrupted;
void cli_catch_interrupts(void);

/* Commands. */
int cli_cmd_status(struct cli *c, int argc, char **argv);
int cli_cmd_pending(struct cli *c, int argc, char **argv);
int cli_cmd_dlq(struct cli *c, int argc, char **argv);
int cli_cmd_find(struct cli *c, int argc, char **argv);
int cli_cmd_verify(struct cli *c, int argc, char **argv);
int cli_cmd_backup(struct cli *c, int argc, char **argv);
int cli_cmd_compact(struct cli *c, int argc, char **argv);

/* queue_backup(q, dest) with a progress line (label) of the copy's size
 * against the bytes in use, on a terminal (backup.c). Returns the queue
 * status. */
int cli_copy_store(queue_t *q, const char *dest, const char *label);

/* pause and resume (argv[0] tells which) */
int cli_cmd_pause(struct cli *c, int argc, char **argv);

/* pending bury ID... --reason TEXT (bury.c) */
int cli_pending_bury(struct cli *c, int argc, char **argv);

/* Shared by `pending` and `dlq` (list.c, show.c): list [FILTERS] [--limit N]
 * [--json] and show ID [--raw] [--json] over db; topic names the help. */
int cli_list_command(struct cli *c, int argc, char **argv, enum queue_db db, const char *topic);
int cli_show_command(struct cli *c, int argc, char **argv, enum queue_db db, const char *topic);

/* dlq subcommands (dlq.c dispatches): replay/purge (apply.c), export. */
int cli_dlq_apply(struct cli *c, int argc, char **argv, enum queue_dead_op op);
int cli_dlq_export(struct cli *c, int argc, char **argv);

/* Prints "eddy: " + message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a decimal record id (1..UINT64_MAX). Returns 0 or -1. */
int cli_parse_id(const char *s, uint64_t *id);

/* Parses a positive count for --limit. Returns 0 or -1. */
int cli_parse_count(const char *s, size_t *n);

#endif
