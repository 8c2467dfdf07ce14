/*
 * apply.c - `dlq replay` and `dlq purge`: choose the dead letters (listed
 * ids, --all, or FILTERS), show them (--dry-run) or ask (purge on a
 * terminal), then hand them to storage's queue_dead_apply, which moves them
 * in chunks of short write transactions so eddyd keeps ingesting. SIGINT
 * sets a flag the progress callback returns, so the move stops between two
 * committed chunks with every record in exactly one place.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "filter.h"
#include "help.h"
#include "lister.h"
#include "progress.h"

#define APPLY_CHUNK_MAX 100000 /* --chunk; without it storage's default (queue.h) */

struct count_ctx {
    struct cli_lister *list; /* NULL: count only */
    struct cli_progress *progress;
    uint64_t n, events;
};

static int on_count(void *ctx, const struct queue_entry *e)
{
    struct count_ctx *k = ctx;
    if (cli_interrupted)
        return 1;
    k->n++;
    if (e->status == RECORD_OK)
        k->events += e->rec.event_count;
    if (k->progress)
        cli_progress_update(k->progress, k->n);
    if (k->list)
        return cli_lister_add(k->list, e);
    return 0;
}

static int on_progress(void *ctx, uint64_t done)
{
    cli_progress_update(ctx, done);
    return cli_interrupted ? 1 : 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorts and de-duplicates ids; returns the new count. */
static size_t unique_ids(uint64_t *ids, size_t n)
{
    size_t k = 0;
    qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || ids[k - 1] != ids[i])
            ids[k++] = ids[i];
    return k;
}

/* Checks that every listed id is a dead letter; lists them when list is set.
 * Returns CLI_OK, or CLI_FAIL after naming every missing id. */
static int check_ids(struct cli *c, const uint64_t *ids, size_t n, struct count_ctx *k)
{
    size_t missing = 0;
    for (size_t i = 0; i < n; i++) {
        struct queue_entry e;
        memset(&e, 0, sizeof e);
        int rc = queue_get(c->q, QUEUE_DEAD, ids[i], &e);
        if (rc == QUEUE_NOT_FOUND) {
            cli_error("dead letter %" PRIu64 " not found", ids[i]);
            missing++;
            continue;
        }
        if (rc != QUEUE_OK && rc != QUEUE_CORRUPT) {
            cli_error("reading dead letter %" PRIu64 " failed: %s", ids[i], queue_last_error());
            return CLI_FAIL;
        }
        on_count(k, &e);
        queue_entry_free(&e);
    }
    if (missing) {
        cli_error("nothing changed: %zu of the listed ids %s", missing,
                  missing == 1 ? "is not a dead letter" : "are not dead letters");
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* y/N on the terminal. */
static bool confirm(const char *what, uint64_t n, uint64_t events)
{
    char line[64];
    fprintf(stderr, "%s %" PRIu64 " dead letter%s (%" PRIu64 " events) for good? [y/N] ", what, n,
            n == 1 ? "" : "s", events);
    fflush(stderr);
    if (!fgets(line, sizeof line, stdin))
        return false;
    return strcmp(line, "y\n") == 0 || strcmp(line, "Y\n") == 0 || strcmp(line, "yes\n") == 0;
}

/* What a replay or purge was asked to do. */
struct apply_args {
    bool replay;
    const char *topic;
    struct cli_filter cf;
    bool all, dry, yes, as_json;
    size_t chunk;  /* records per write transaction; 0: queue_dead_apply's default */
    uint64_t *ids; /* sorted, unique; NULL when none were listed */
    size_t nids;
};

/* Reads the command line into a. Returns -1 to go on, else the exit code
 * (--help, a usage error). */
static int parse_args(struct cli *c, int argc, char **argv, struct apply_args *a)
{
    static const struct option replay_opts[] = {CLI_FILTER_OPTIONS,
                                                {"all", no_argument, NULL, 'a'},
                                                {"dry-run", no_argument, NULL, 'n'},
                                                {"json", no_argument, NULL, 'j'},
                                                {"chunk", required_argument, NULL, 'k'},
                                                {"help", no_argument, NULL, 'h'},
                                                {NULL, 0, NULL, 0}};
    static const struct option purge_opts[] = {CLI_FILTER_OPTIONS,
                                               CLI_OLDER_THAN_OPTION,
                                               {"all", no_argument, NULL, 'a'},
                                               {"dry-run", no_argument, NULL, 'n'},
                                               {"json", no_argument, NULL, 'j'},
                                               {"yes", no_argument, NULL, 'y'},
                                               {"chunk", required_argument, NULL, 'k'},
                                               {"help", no_argument, NULL, 'h'},
                                               {NULL, 0, NULL, 0}};
    const char *topic = a->topic;
    char err[256];
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, a->replay ? "h" : "hy",
                              a->replay ? replay_opts : purge_opts, NULL)) != -1) {
        int f = cli_filter_option(&a->cf, opt, optarg, c->now_ms, err, sizeof err);
        if (f < 0)
            return cli_usage_error(topic, "%s", err);
        if (f > 0)
            continue;
        switch (opt) {
        case 'a':
            a->all = true;
            break;
        case 'n':
            a->dry = true;
            break;
        case 'j':
            a->as_json = true;
            break;
        case 'y':
            a->yes = true;
            break;
        case 'k':
            if (cli_parse_count(optarg, &a->chunk) != 0 || a->chunk > APPLY_CHUNK_MAX)
                return cli_usage_error(topic, "--chunk '%s': expected 1 to 100000", optarg);
            break;
        case 'h':
            cli_help(topic, stdout);
            return CLI_OK;
        default:
            return cli_usage_error(topic, "unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    size_t nids = (size_t)(argc - optind);
    if (cli_filter_finish(&a->cf, err, sizeof err) != 0)
        return cli_usage_error(topic, "%s", err);
    if ((nids > 0) + a->all + a->cf.any != 1)
        return cli_usage_error(topic,
                               "choose the dead letters with exactly one of: ids, --all, or "
                               "filters%s",
                               "");
    if (a->as_json && !a->dry)
        return cli_usage_error(topic, "--json goes with --dry-run%s", "");
    if (!nids)
        return -1;
    a->ids = calloc(nids, sizeof *a->ids);
    if (!a->ids) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < nids; i++) {
        if (cli_parse_id(argv[optind + (int)i], &a->ids[i]) != 0) {
            free(a->ids);
            a->ids = NULL;
            return cli_usage_error(topic, "'%s' is not an id (a positive number)",
                                   argv[optind + (int)i]);
        }
    }
    a->nids = unique_ids(a->ids, nids);
    return -1;
}

/* Learns what the command will touch: needed for a dry run (which lists
 * it), for the question, and for an ETA on a terminal. *counted tells
 * whether count holds the number. Returns CLI_OK or CLI_FAIL. */
static int count_chosen(struct cli *c, const struct apply_args *a, bool ask,
                        struct count_ctx *count, bool *counted)
{
    int rc = CLI_OK;
    struct cli_lister list;
    struct cli_progress progress;
    if (a->dry && cli_lister_begin(&list, QUEUE_DEAD, a->as_json, c->now_ms) != 0) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    count->list = a->dry ? &list : NULL;
    *counted = true;
    cli_progress_start(&progress, "counting", 0);
    if (a->nids) {
        rc = check_ids(c, a->ids, a->nids, count);
    } else if (a->dry || ask || progress.enabled) {
        count->progress = &progress;
        int s = queue_scan(c->q, QUEUE_DEAD, a->cf.any ? &a->cf.f : NULL, 0, 0, on_count, count);
        if (s < 0) {
            cli_error("reading the dead letters failed: %s", queue_last_error());
            rc = CLI_FAIL;
        } else if (cli_interrupted) {
            cli_error("interrupted; nothing changed");
            rc = CLI_FAIL;
        } else if (a->dry && list.failed) {
            cli_error("writing the listing failed");
            rc = CLI_FAIL;
        }
    } else {
        *counted = false;
    }
    cli_progress_end(&progress);
    count->progress = NULL;
    count->list = NULL;
    if (a->dry) {
        cli_lister_end(&list, rc == CLI_OK && count->n > 0);
        if (rc == CLI_OK && !a->as_json)
            printf("dry run: would %s %" PRIu64 " dead letter%s (%" PRIu64
                   " events); nothing changed\n",
                   a->replay ? "replay" : "purge", count->n, count->n == 1 ? "" : "s",
                   count->events);
    }
    return rc;
}

/* Says how queue_dead_apply ended after done records; the exit code. */
static int report(bool replay, int s, uint64_t done)
{
    const char *verb = replay ? "replayed" : "purged";
    switch (s) {
    case QUEUE_OK:
        printf("%s %" PRIu64 " dead letter%s%s\n", verb, done, done == 1 ? "" : "s",
               replay ? " to pending" : "");
        return CLI_OK;
    case QUEUE_STOPPED:
        printf("%s %" PRIu64 " dead letter%s\n", verb, done, done == 1 ? "" : "s");
        cli_error("interrupted after %" PRIu64 "; every other dead letter is untouched", done);
        return CLI_FAIL;
    case QUEUE_NOT_FOUND:
        printf("%s %" PRIu64 " dead letter%s\n", verb, done, done == 1 ? "" : "s");
        cli_error("some listed dead letters disappeared meanwhile (another eddy?)");
        return CLI_FAIL;
    case QUEUE_CORRUPT:
        printf("%s %" PRIu64 " dead letter%s\n", verb, done, done == 1 ? "" : "s");
        cli_error("damaged records were left where they are (%s); run eddy verify",
                  queue_last_error());
        return CLI_FAIL;
    default:
        cli_error("%s stopped after %" PRIu64 ": %s", replay ? "replay" : "purge", done,
                  queue_last_error());
        return CLI_FAIL;
    }
}

/* Moves what was chosen; the exit code. */
static int run_chosen(struct cli *c, const struct apply_args *a, enum queue_dead_op op, bool ask)
{
    struct count_ctx count = {0};
    bool counted;
    int rc = count_chosen(c, a, ask, &count, &counted);
    if (rc != CLI_OK || a->dry)
        return rc;
    if (counted && count.n == 0) {
        printf("no dead letters %s; nothing changed\n", a->all ? "at all" : "match");
        return CLI_OK;
    }
    if (ask && !confirm("Delete", count.n, count.events)) {
        fprintf(stderr, "eddy: not confirmed; nothing changed\n");
        return CLI_FAIL;
    }
    uint64_t total = count.n;
    if (!total && a->all) {
        struct queue_stats st;
        if (queue_stats(c->q, &st) == QUEUE_OK)
            total = st.dead_batches;
    }
    uint64_t done = 0;
    struct cli_progress progress;
    cli_progress_start(&progress, a->replay ? "replay" : "purge", total);
    int s = queue_dead_apply(c->q, op, a->ids, a->nids, a->cf.any ? &a->cf.f : NULL, a->chunk,
                             on_progress, &progress, &done);
    cli_progress_end(&progress);
    return report(a->replay, s, done);
}

int cli_dlq_apply(struct cli *c, int argc, char **argv, enum queue_dead_op op)
{
    struct apply_args a = {.replay = op == QUEUE_REPLAY};
    a.topic = a.replay ? "dlq replay" : "dlq purge";
    cli_filter_init(&a.cf);
    int rc = parse_args(c, argc, argv, &a);
    if (rc >= 0)
        return rc;
    /* Purge never runs unattended by accident: a script must say --yes. */
    bool ask = !a.replay && !a.dry && !a.yes;
    if (ask && !isatty(STDIN_FILENO)) {
        rc = cli_usage_error(a.topic,
                             "refusing to purge without --yes: stdin is not a terminal to "
                             "confirm on%s",
                             "");
    } else if (cli_open_store(c) != CLI_OK) {
        rc = CLI_FAIL;
    } else {
        queue_default_source(c->q, a.cf.f.default_source); /* for --source */
        cli_catch_interrupts();
        rc = run_chosen(c, &a, op, ask);
    }
    free(a.ids);
    return rc;
}
