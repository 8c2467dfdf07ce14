/*
 * verify.c - `eddy verify`.
 *
 * verify reads every pending record and dead letter through queue_scan,
 * which decodes each one (magic, version, lengths, both CRC32s) and hands
 * damaged ones over with their record_status; on top of that it checks
 * that each body is still a Currents batch with the event count its header
 * claims (batch_validate), which catches a record written wrongly with
 * matching checksums.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../storage/batch.h"
#include "cli.h"
#include "help.h"
#include "progress.h"
#include "timefmt.h"

struct verify_ctx {
    enum queue_db db;
    struct cli_progress *progress;
    uint64_t seen, checked, damaged;
};

static const char *db_name(enum queue_db db)
{
    return db == QUEUE_DEAD ? "dead letter" : "pending batch";
}

static int on_record(void *ctx, const struct queue_entry *e)
{
    struct verify_ctx *v = ctx;
    if (cli_interrupted)
        return 1;
    v->seen++;
    cli_progress_update(v->progress, v->seen);
    if (e->status != RECORD_OK) {
        printf("DAMAGED  %s %" PRIu64 ": %s\n", db_name(v->db), e->id, record_strerror(e->status));
        v->damaged++;
        return 0;
    }
    struct batch_summary sum = {0};
    char err[256] = "";
    int rc = batch_validate(e->rec.body, e->rec.body_len, &sum, err, sizeof err);
    if (rc == BATCH_OK || rc == BATCH_EMPTY) {
        uint32_t events = rc == BATCH_OK ? sum.events : 0;
        free(sum.types);
        if (events != e->rec.event_count) {
            printf("DAMAGED  %s %" PRIu64 ": header says %" PRIu32 " events, body holds %" PRIu32
                   "\n",
                   db_name(v->db), e->id, e->rec.event_count, events);
            v->damaged++;
            return 0;
        }
    } else if (rc == BATCH_NOMEM) {
        cli_error("out of memory checking %s %" PRIu64, db_name(v->db), e->id);
        return -1;
    } else {
        printf("DAMAGED  %s %" PRIu64 ": body is no longer a Currents batch: %s\n", db_name(v->db),
               e->id, err);
        v->damaged++;
        return 0;
    }
    v->checked++;
    return 0;
}

int cli_cmd_verify(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'h') {
            cli_help("verify", stdout);
            return CLI_OK;
        }
        return cli_usage_error("verify", "unknown option %s", argv[optind - 1]);
    }
    if (optind < argc)
        return cli_usage_error("verify", "unexpected argument '%s'", argv[optind]);
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;
    cli_catch_interrupts();
    struct queue_stats st;
    uint64_t total = 0;
    if (queue_stats(c->q, &st) == QUEUE_OK)
        total = st.pending_batches + st.dead_batches;
    struct cli_progress progress;
    cli_progress_start(&progress, "verify", total);
    struct verify_ctx v = {.progress = &progress};
    static const enum queue_db dbs[] = {QUEUE_PENDING, QUEUE_DEAD};
    uint64_t pending = 0;
    for (size_t i = 0; i < 2; i++) {
        v.db = dbs[i];
        int rc = queue_scan(c->q, v.db, NULL, 0, 0, on_record, &v);
        if (rc < 0 || (rc != 0 && !cli_interrupted)) {
            cli_progress_end(&progress);
            cli_error("reading the store failed: %s", queue_last_error());
            return CLI_FAIL;
        }
        if (cli_interrupted) {
            cli_progress_end(&progress);
            cli_error("interrupted after %" PRIu64 " records; nothing is proven", v.seen);
            return CLI_FAIL;
        }
        if (i == 0)
            pending = v.seen;
    }
    cli_progress_end(&progress);
    if (v.damaged) {
        printf("verify: %" PRIu64 " of %" PRIu64 " records DAMAGED (%" PRIu64 " pending, %" PRIu64
               " dead checked)\n",
               v.damaged, v.seen, pending, v.seen - pending);
        return CLI_FAIL;
    }
    printf("verify: ok, %" PRIu64 " records (%" PRIu64 " pending, %" PRIu64
           " dead letters), checksums and structure intact\n",
           v.seen, pending, v.seen - pending);
    return CLI_OK;
}
