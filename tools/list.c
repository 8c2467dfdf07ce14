/*
 * list.c - `pending list` and `dlq list`: a filtered scan in id order
 * (storage pages through short read transactions, so a long listing never
 * pins the store), printed as an aligned table or, with --json, one object
 * per line as it is read.
 */
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "../daemon/status.h"
#include "cli.h"
#include "filter.h"
#include "help.h"
#include "output.h"
#include "timefmt.h"

#include "lister.h"

void cli_lister_sources(struct cli_lister *l, queue_t *q)
{
    queue_default_source(q, l->default_source);
    status_probing(q, l->probing, sizeof l->probing / sizeof l->probing[0], &l->nprobing);
}

bool cli_lister_probing(const struct cli_lister *l, uint64_t seq)
{
    for (size_t i = 0; i < l->nprobing; i++)
        if (l->probing[i] == seq)
            return true;
    return false;
}

static void row_pending(struct cli_lister *l, const struct queue_entry *e)
{
    char id[24], ev[16], size[32], types[128], age[32], att[16], cnt[16], net[16], st[16], next[40],
        src[QUEUE_FP_SIZE];
    const struct record *r = &e->rec;
    const struct queue_attempts *a = &e->attempts;
    snprintf(id, sizeof id, "%" PRIu64, e->id);
    snprintf(ev, sizeof ev, "%" PRIu32, r->event_count);
    snprintf(att, sizeof att, "%" PRIu32, a->counted + a->uncounted + a->network);
    snprintf(cnt, sizeof cnt, "%" PRIu32, a->counted);
    snprintf(net, sizeof net, "%" PRIu32, a->network);
    queue_source_of(r->write_key, r->write_key_len, l->default_source, src);
    if (a->last_status)
        snprintf(st, sizeof st, "%" PRId32, a->last_status);
    else
        snprintf(st, sizeof st, "-");
    if (cli_lister_probing(l, e->id)) {
        snprintf(next, sizeof next, "probing");
    } else if (a->next_try_ms > l->now) {
        char in[32];
        snprintf(next, sizeof next, "in %s", timefmt_age(a->next_try_ms - l->now, in, sizeof in));
    } else {
        snprintf(next, sizeof next, "now");
    }
    const char *cells[] = {id,
                           ev,
                           timefmt_size(r->body_len, size, sizeof size),
                           timefmt_age(l->now - r->received_ms, age, sizeof age),
                           src,
                           att,
                           cnt,
                           net,
                           st,
                           next,
                           cli_types_text(r->types, r->types_len, 40, types, sizeof types)};
    if (cli_table_add(l->table, cells) != 0)
        l->failed = 1;
}

static void row_dead(struct cli_lister *l, const struct queue_entry *e)
{
    char id[24], ev[16], size[32], types[128], age[32], att[16], st[16], rep[16];
    const struct record *r = &e->rec;
    const struct queue_attempts *a = &e->attempts;
    snprintf(id, sizeof id, "%" PRIu64, e->id);
    snprintf(ev, sizeof ev, "%" PRIu32, r->event_count);
    snprintf(att, sizeof att, "%" PRIu32, a->counted + a->network);
    snprintf(rep, sizeof rep, "%" PRIu32, e->replays);
    if (a->last_status)
        snprintf(st, sizeof st, "%" PRId32, a->last_status);
    else
        snprintf(st, sizeof st, "-");
    const char *cells[] = {id,
                           ev,
                           timefmt_size(r->body_len, size, sizeof size),
                           st,
                           att,
                           rep,
                           timefmt_age(l->now - e->dead_ms, age, sizeof age),
                           cli_types_text(r->types, r->types_len, 40, types, sizeof types),
                           e->reason};
    if (cli_table_add(l->table, cells) != 0)
        l->failed = 1;
}

int cli_lister_begin(struct cli_lister *l, enum queue_db db, bool as_json, int64_t now)
{
    static const char *const dead_head[] = {"ID",      "EVENTS",   "SIZE",  "STATUS", "ATTEMPTS",
                                            "REPLAYS", "DEAD FOR", "TYPES", "REASON"};
    static const char *const pending_head[] = {"ID",     "EVENTS",   "SIZE",    "AGE",
                                               "SOURCE", "ATTEMPTS", "COUNTED", "NET",
                                               "STATUS", "NEXT TRY", "TYPES"};
    memset(l, 0, sizeof *l);
    l->db = db;
    l->as_json = as_json;
    l->now = now;
    if (as_json)
        return 0;
    l->table = db == QUEUE_DEAD ? cli_table_new(dead_head, 9, "rrrrrrrll")
                                : cli_table_new(pending_head, 11, "rrrrlrrrrll");
    return l->table ? 0 : -1;
}

int cli_lister_add(struct cli_lister *l, const struct queue_entry *e)
{
    l->rows++;
    if (e->status == RECORD_OK)
        l->events += e->rec.event_count;
    if (e->status != RECORD_OK)
        l->corrupt++;
    if (l->as_json) {
        json_t *o = cli_entry_json(e, l->db, false);
        if (o && l->db == QUEUE_PENDING && e->status == RECORD_OK) {
            char src[QUEUE_FP_SIZE];
            queue_source_of(e->rec.write_key, e->rec.write_key_len, l->default_source, src);
            json_object_set_new(o, "source", json_string(src));
            json_object_set_new(o, "probing", json_boolean(cli_lister_probing(l, e->id)));
        }
        if (cli_json_print_line(o, stdout) != 0)
            return l->failed = 1;
        return 0;
    }
    if (e->status != RECORD_OK) {
        char id[24], why[64];
        snprintf(id, sizeof id, "%" PRIu64, e->id);
        snprintf(why, sizeof why, "DAMAGED: %s", record_strerror(e->status));
        const char *cells[11] = {id, "?", "?", "?", "?", "?", "?", "?", why, "", ""};
        if (l->db == QUEUE_PENDING)
            cells[8] = "?", cells[10] = why;
        if (cli_table_add(l->table, cells) != 0)
            l->failed = 1;
        return l->failed;
    }
    if (l->db == QUEUE_DEAD)
        row_dead(l, e);
    else
        row_pending(l, e);
    return l->failed;
}

void cli_lister_end(struct cli_lister *l, bool print)
{
    if (l->table && print)
        cli_table_print(l->table, stdout);
    cli_table_free(l->table);
    l->table = NULL;
}

struct list_scan {
    struct cli_lister *l;
    uint64_t last_id; /* where a --limit listing stopped */
};

static int on_entry(void *ctx, const struct queue_entry *e)
{
    struct list_scan *ls = ctx;
    if (cli_interrupted)
        return 1;
    ls->last_id = e->id;
    return cli_lister_add(ls->l, e);
}

static int on_more(void *ctx, const struct queue_entry *e)
{
    (void)e;
    *(bool *)ctx = true;
    return 1;
}

int cli_list_command(struct cli *c, int argc, char **argv, enum queue_db db, const char *topic)
{
    static const struct option opts[] = {CLI_FILTER_OPTIONS,
                                         {"limit", required_argument, NULL, 'n'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct cli_filter cf;
    struct cli_lister l;
    bool as_json = false;
    size_t limit = 0;
    char err[256];
    int opt;
    cli_filter_init(&cf);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "hn:", opts, NULL)) != -1) {
        int f = cli_filter_option(&cf, opt, optarg, c->now_ms, err, sizeof err);
        if (f < 0)
            return cli_usage_error(topic, "%s", err);
        if (f > 0)
            continue;
        if (opt == 'n') {
            if (cli_parse_count(optarg, &limit) != 0)
                return cli_usage_error(topic, "--limit '%s': expected a positive number", optarg);
        } else if (opt == 'j') {
            as_json = true;
        } else if (opt == 'h') {
            cli_help(topic, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error(topic, "unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error(topic, "unexpected argument '%s'", argv[optind]);
    if (cli_filter_finish(&cf, err, sizeof err) != 0)
        return cli_usage_error(topic, "%s", err);
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;

    if (cli_lister_begin(&l, db, as_json, c->now_ms) != 0) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    cli_lister_sources(&l, c->q);
    memcpy(cf.f.default_source, l.default_source, sizeof cf.f.default_source);
    cli_catch_interrupts();
    struct list_scan ls = {.l = &l};
    int rc = queue_scan(c->q, db, cf.any ? &cf.f : NULL, 0, limit, on_entry, &ls);
    /* A listing cut by --limit says so: one more record after the last one
     * shown is all it takes to know. */
    bool more = false;
    if (rc >= 0 && limit && l.rows == limit && !cli_interrupted)
        rc = queue_scan(c->q, db, cf.any ? &cf.f : NULL, ls.last_id, 1, on_more, &more);
    int exit_code = CLI_OK;
    if (rc < 0) {
        cli_error("reading the store failed: %s", queue_last_error());
        exit_code = CLI_FAIL;
    } else if (l.failed) {
        cli_error("writing the listing failed");
        exit_code = CLI_FAIL;
    } else if (cli_interrupted) {
        cli_error("interrupted");
        exit_code = CLI_FAIL;
    }
    if (!as_json && l.rows == 0 && exit_code == CLI_OK)
        printf("no %s%s\n", db == QUEUE_DEAD ? "dead letters" : "pending batches",
               cf.any ? " match" : "");
    cli_lister_end(&l, l.rows > 0);
    if (l.corrupt)
        cli_error("%zu damaged record(s) listed; run eddy verify", l.corrupt);
    if (more && exit_code == CLI_OK)
        cli_error("showing the first %zu; more %s (raise --limit or narrow the filters)", limit,
                  cf.any ? "match" : "exist");
    return exit_code;
}
