/*
 * show.c - one record in full: metadata, the whole kept attempt history and
 * the body pretty-printed without rewriting it (jsonfmt.c), or with --raw
 * the stored body byte for byte, for piping into a file or curl.
 */
#include "cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "help.h"
#include "jsonfmt.h"
#include "output.h"
#include "timefmt.h"

static void when(const char *label, int64_t ms, int64_t now)
{
    char t[TIMEFMT_RFC3339_LEN], age[32];
    if (!ms)
        return;
    printf("  %-14s %s (%s ago)\n", label, timefmt_rfc3339(ms, t, sizeof t),
           timefmt_age(now - ms, age, sizeof age));
}

static void print_history(const struct queue_attempts *a)
{
    printf("\nattempts: %" PRIu32 " counted toward max_attempts, %" PRIu32
           " not counted (an outage or hold of its source), %" PRIu32 " without an HTTP answer",
           a->counted, a->uncounted, a->network);
    if (a->dropped)
        printf(" (%" PRIu32 " in the middle not kept)", a->dropped);
    printf("\n");
    if (!a->nhistory)
        return;
    static const char *const head[] = {"#", "TIME", "STATUS", "ANSWER"};
    struct cli_table *t = cli_table_new(head, 4, "rlrl");
    if (!t)
        return;
    for (uint32_t i = 0; i < a->nhistory && i < QUEUE_HISTORY_MAX; i++) {
        const struct queue_attempt *h = &a->history[i];
        char n[16], at[TIMEFMT_RFC3339_LEN], st[16];
        char answer[QUEUE_ANSWER_MAX + 1];
        size_t len = h->answer_len < QUEUE_ANSWER_MAX ? h->answer_len : QUEUE_ANSWER_MAX;
        memcpy(answer, h->answer, len);
        answer[len] = '\0';
        for (size_t k = 0; k < len; k++)
            if (answer[k] == '\0')
                answer[k] = '?';
        snprintf(n, sizeof n, "%" PRIu32, i + 1);
        if (h->status)
            snprintf(st, sizeof st, "%" PRId32, h->status);
        else
            snprintf(st, sizeof st, "-");
        const char *cells[] = {n, timefmt_rfc3339(h->at_ms, at, sizeof at), st, answer};
        cli_table_add(t, cells);
    }
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static void print_entry(const struct queue_entry *e, enum queue_db db, int64_t now,
                        const char *default_source)
{
    const struct record *r = &e->rec;
    char size[32], types[4096];
    printf("%s %" PRIu64 "\n", db == QUEUE_DEAD ? "dead letter" : "pending batch", e->id);
    printf("  %-14s %" PRIu32 "\n", "events", r->event_count);
    printf("  %-14s %s (%zu bytes)\n", "size", timefmt_size(r->body_len, size, sizeof size),
           r->body_len);
    printf("  %-14s %s%s\n", "event types",
           cli_types_text(r->types, r->types_len, sizeof types, types, sizeof types),
           r->flags & RECORD_F_TYPES_CUT ? " (list cut)" : "");
    when("received", r->received_ms, now);
    if (db == QUEUE_DEAD) {
        when("dead-lettered", e->dead_ms, now);
        printf("  %-14s %s\n", "reason", e->reason);
        printf("  %-14s %" PRIu32 "\n", "replays", e->replays);
    } else {
        if (r->flags & RECORD_F_REPLAYED)
            printf("  %-14s yes\n", "replayed");
        when("next try", e->attempts.next_try_ms, now);
    }
    if (r->origin_seq)
        printf("  %-14s %s of pending batch %" PRIu64 "\n", "origin",
               r->flags & RECORD_F_SPLIT ? "split" : "from", r->origin_seq);
    /* The source, never the key: a fingerprint reveals nothing of it. */
    char fp[QUEUE_FP_SIZE];
    queue_source_of(r->write_key, r->write_key_len, default_source, fp);
    printf("  %-14s %s%s\n", "source", fp,
           r->write_key_len ? "" : " (stored without a key: [delivery] write_key)");
    if (e->attempts.last_status)
        printf("  %-14s %" PRId32 "\n", "last status", e->attempts.last_status);
    when("first failure", e->attempts.first_failed_ms, now);
    when("last failure", e->attempts.last_failed_ms, now);
    print_history(&e->attempts);

    char *pretty = NULL;
    size_t len = 0;
    if (jsonfmt_pretty(r->body, r->body_len, &pretty, &len) == 0) {
        printf("\nbody:\n");
        fwrite(pretty, 1, len, stdout);
        putchar('\n');
        free(pretty);
    } else {
        printf("\nbody (raw; it does not parse as JSON):\n");
        fwrite(r->body, 1, r->body_len, stdout);
        putchar('\n');
    }
}

int cli_show_command(struct cli *c, int argc, char **argv, enum queue_db db, const char *topic)
{
    static const struct option opts[] = {{"raw", no_argument, NULL, 'r'},
                                         {"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool raw = false, as_json = false;
    int opt;
    uint64_t id;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'r') {
            raw = true;
        } else if (opt == 'j') {
            as_json = true;
        } else if (opt == 'h') {
            cli_help(topic, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error(topic, "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error(topic, "give exactly one ID%s", "");
    if (cli_parse_id(argv[optind], &id) != 0)
        return cli_usage_error(topic, "'%s' is not an id (a positive number)", argv[optind]);
    if (raw && as_json)
        return cli_usage_error(topic, "--raw and --json exclude each other%s", "");
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;

    struct queue_entry e;
    memset(&e, 0, sizeof e);
    int rc = queue_get(c->q, db, id, &e);
    if (rc == QUEUE_NOT_FOUND) {
        cli_error("%s %" PRIu64 " not found", db == QUEUE_DEAD ? "dead letter" : "pending batch",
                  id);
        return CLI_FAIL;
    }
    if (rc != QUEUE_OK && rc != QUEUE_CORRUPT) {
        cli_error("reading %" PRIu64 " failed: %s", id, queue_last_error());
        return CLI_FAIL;
    }
    if (rc == QUEUE_CORRUPT || e.status != RECORD_OK) {
        cli_error("record %" PRIu64 " is damaged: %s", id,
                  record_strerror(e.status != RECORD_OK ? e.status : RECORD_BAD_CRC));
        queue_entry_free(&e);
        return CLI_FAIL;
    }
    rc = CLI_OK;
    if (raw) {
        if (fwrite(e.rec.body, 1, e.rec.body_len, stdout) != e.rec.body_len)
            rc = CLI_FAIL;
    } else if (as_json) {
        if (cli_json_print_line(cli_entry_json(&e, db, true), stdout) != 0)
            rc = CLI_FAIL;
    } else {
        char dflt[QUEUE_FP_SIZE];
        queue_default_source(c->q, dflt);
        print_entry(&e, db, c->now_ms, dflt);
    }
    queue_entry_free(&e);
    return rc;
}
