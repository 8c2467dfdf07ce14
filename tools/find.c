/*
 * find.c - `eddy find EVENT_ID`: where is this event? Scans pending, then
 * the dead letters, with storage's event-id filter (which looks for the
 * event's "id" inside each body), and prints every place it is; an event can
 * legitimately be in two places after a replay of a batch that was also
 * re-sent by Braze. A damaged record cannot be searched: it is named, since
 * the event may be inside it, rather than letting "not here" claim more
 * than was checked. Exit 1 when it is nowhere.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "help.h"
#include "output.h"
#include "timefmt.h"

struct find_ctx {
    enum queue_db db;
    const char *event_id;
    bool as_json;
    int64_t now;
    size_t found, damaged;
};

static int on_match(void *ctx, const struct queue_entry *e)
{
    struct find_ctx *f = ctx;
    char age[32];
    if (cli_interrupted)
        return 1;
    bool dead = f->db == QUEUE_DEAD;
    if (e->status != RECORD_OK) {
        f->damaged++;
        if (f->as_json) {
            json_t *o = json_object();
            json_object_set_new(o, "event_id", cli_json_string(f->event_id, strlen(f->event_id)));
            json_object_set_new(o, "where", json_string("damaged"));
            json_object_set_new(o, "db", json_string(dead ? "dead" : "pending"));
            json_object_set_new(o, "id", json_integer((json_int_t)e->id));
            json_object_set_new(o, "error", json_string(record_strerror(e->status)));
            return cli_json_print_line(o, stdout) ? 1 : 0;
        }
        printf("damaged  %s %" PRIu64 " cannot be searched (%s): the event may be inside it\n",
               dead ? "dead letter" : "batch", e->id, record_strerror(e->status));
        return 0;
    }
    f->found++;
    if (f->as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "event_id", cli_json_string(f->event_id, strlen(f->event_id)));
        json_object_set_new(o, "where", json_string(dead ? "dead" : "pending"));
        json_object_set_new(o, "id", json_integer((json_int_t)e->id));
        if (dead)
            json_object_set_new(o, "reason", cli_json_string(e->reason, strlen(e->reason)));
        return cli_json_print_line(o, stdout) ? 1 : 0;
    }
    if (dead)
        printf("dead     dead letter %" PRIu64 " (%" PRIu32 " events, dead for %s): %s\n", e->id,
               e->rec.event_count, timefmt_age(f->now - e->dead_ms, age, sizeof age), e->reason);
    else
        printf("pending  batch %" PRIu64 " (%" PRIu32 " events, received %s ago)\n", e->id,
               e->rec.event_count, timefmt_age(f->now - e->rec.received_ms, age, sizeof age));
    return 0;
}

int cli_cmd_find(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    struct find_ctx f = {.now = c->now_ms};
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'j') {
            f.as_json = true;
        } else if (opt == 'h') {
            cli_help("find", stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("find", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc || !*argv[optind])
        return cli_usage_error("find", "give exactly one EVENT_ID%s", "");
    f.event_id = argv[optind];
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;
    cli_catch_interrupts();
    struct queue_filter filter = {.event_id = f.event_id};
    static const enum queue_db dbs[] = {QUEUE_PENDING, QUEUE_DEAD};
    for (size_t i = 0; i < 2; i++) {
        f.db = dbs[i];
        if (queue_scan(c->q, f.db, &filter, 0, 0, on_match, &f) < 0) {
            cli_error("reading the store failed: %s", queue_last_error());
            return CLI_FAIL;
        }
        if (cli_interrupted) {
            cli_error("interrupted");
            return CLI_FAIL;
        }
    }
    if (f.found)
        return CLI_OK;
    if (f.damaged) {
        if (!f.as_json)
            printf("%s: not in any intact record; %zu damaged record%s could not be searched "
                   "(eddy verify lists them)\n",
                   f.event_id, f.damaged, f.damaged == 1 ? "" : "s");
        return CLI_FAIL;
    }
    if (f.as_json) {
        json_t *o = json_object();
        json_object_set_new(o, "event_id", cli_json_string(f.event_id, strlen(f.event_id)));
        json_object_set_new(o, "where", json_string("none"));
        cli_json_print_line(o, stdout);
    } else {
        printf("%s: not here (neither pending nor dead)\n", f.event_id);
    }
    return CLI_FAIL;
}
