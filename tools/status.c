/*
 * status.c - `eddy status [--json]`. Both forms come from status_json
 * (daemon/status.c), the same object eddyd serves at GET /status, so the
 * human view can never disagree with what scripts and monitoring read.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/status.h"
#include "cli.h"
#include "help.h"
#include "output.h"
#include "timefmt.h"

static json_int_t get_int(json_t *o, const char *a, const char *b)
{
    return json_integer_value(json_object_get(json_object_get(o, a), b));
}

/* o.a.b as a string ("" when absent); b NULL reads o.a. */
static const char *get_str(json_t *o, const char *a, const char *b)
{
    json_t *v = json_object_get(o, a);
    const char *s = json_string_value(b ? json_object_get(v, b) : v);
    return s ? s : "";
}

static bool get_bool(json_t *o, const char *a, const char *b)
{
    return json_is_true(json_object_get(json_object_get(o, a), b));
}

/* One row per source: what is pending, its state and its last answer. */
static void print_sources(json_t *sources)
{
    if (json_array_size(sources) == 0)
        return;
    static const char *const head[] = {"SOURCE", "STATE",  "SINCE",  "BATCHES",
                                       "EVENTS", "OLDEST", "STATUS", "LAST ERROR"};
    struct cli_table *t = cli_table_new(head, 8, "lllrrrrl");
    if (!t)
        return;
    size_t i;
    json_t *s;
    json_array_foreach(sources, i, s)
    {
        char b[24], e[24], age[32], st[16];
        json_t *p = json_object_get(s, "pending");
        json_int_t batches = json_integer_value(json_object_get(p, "batches"));
        snprintf(b, sizeof b, "%lld", (long long)batches);
        snprintf(e, sizeof e, "%lld", (long long)json_integer_value(json_object_get(p, "events")));
        if (batches)
            timefmt_age(json_integer_value(json_object_get(p, "oldest_age_s")) * 1000, age,
                        sizeof age);
        else
            snprintf(age, sizeof age, "-");
        json_int_t last = json_integer_value(json_object_get(s, "last_status"));
        if (last)
            snprintf(st, sizeof st, "%lld", (long long)last);
        else
            snprintf(st, sizeof st, "-");
        const char *since = json_string_value(json_object_get(s, "since"));
        const char *err = json_string_value(json_object_get(s, "last_error"));
        const char *cells[] = {json_string_value(json_object_get(s, "source")),
                               json_string_value(json_object_get(s, "state")),
                               since && *since ? since : "-",
                               b,
                               e,
                               age,
                               st,
                               err && *err ? err : ""};
        cli_table_add(t, cells);
    }
    printf("\n");
    cli_table_print(t, stdout);
    cli_table_free(t);
}

static void print_human(json_t *st, int64_t now_ms)
{
    char size[32], max[32], age[32];
    /* Whether eddyd runs comes from its data-dir lock, not from what it last
     * wrote: a stopped eddyd leaves its last delivery state behind. */
    bool running = get_bool(st, "eddyd", "running");
    if (running)
        printf("eddyd     running, pid %lld\n", (long long)get_int(st, "eddyd", "pid"));
    else
        printf("eddyd     not running: nothing is accepted or delivered\n");
    json_int_t batches = get_int(st, "pending", "batches");
    printf("pending   %lld batches, %lld events, %s", (long long)batches,
           (long long)get_int(st, "pending", "events"),
           timefmt_size((uint64_t)get_int(st, "pending", "bytes"), size, sizeof size));
    if (batches)
        printf(", oldest %s",
               timefmt_age(get_int(st, "pending", "oldest_age_s") * 1000, age, sizeof age));
    printf("\ndead      %lld dead letters, %lld events\n",
           (long long)get_int(st, "dead", "batches"), (long long)get_int(st, "dead", "events"));
    printf("delivery  %s%s",
           running ? "" : "stopped; last recorded: ", get_str(st, "delivery", "state"));
    json_int_t last = get_int(st, "delivery", "last_status");
    if (last)
        printf(", last status %lld", (long long)last);
    const char *err = get_str(st, "delivery", "last_error");
    if (*err)
        printf(", last error: %s", err);
    /* The last moment eddyd was known to run, i.e. when that was true. */
    json_int_t updated = get_int(st, "delivery", "updated_ms");
    json_int_t seen = get_int(st, "eddyd", "updated_ms");
    if (seen > updated)
        updated = seen;
    if (!running && updated > 0)
        printf(" (%s ago)", timefmt_age(now_ms - updated, age, sizeof age));
    uint64_t used = (uint64_t)get_int(st, "storage", "used_bytes");
    uint64_t maxb = (uint64_t)get_int(st, "storage", "max_bytes");
    printf("\nstorage   %s used of %s", timefmt_size(used, size, sizeof size),
           timefmt_size(maxb, max, sizeof max));
    if (maxb)
        printf(" (%.1f%%)", 100.0 * (double)used / (double)maxb);
    uint64_t fileb = (uint64_t)get_int(st, "storage", "file_bytes");
    printf(", file %s", timefmt_size(fileb, size, sizeof size));
    json_t *ingest = json_object_get(json_object_get(st, "eddyd"), "ingest");
    if (running && json_is_false(json_object_get(ingest, "accepting")))
        printf("; ingest refusing (503 %s): %s", get_str(ingest, "error", NULL),
               get_str(ingest, "reason", NULL));
    putchar('\n');
    print_sources(json_object_get(st, "sources"));
}

int cli_cmd_status(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool as_json = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'j') {
            as_json = true;
        } else if (opt == 'h') {
            cli_help("status", stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("status", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;
    char *text = NULL, err[256];
    if (status_json(c->q, c->now_ms, &text, err, sizeof(err)) != 0) {
        cli_error("reading the status failed: %s", err);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    if (as_json) {
        printf("%s\n", text);
    } else {
        json_error_t jerr;
        json_t *st = json_loads(text, 0, &jerr);
        if (!st) {
            cli_error("unexpected status object: %s", jerr.text);
            rc = CLI_FAIL;
        } else {
            print_human(st, c->now_ms);
            json_decref(st);
        }
    }
    free(text);
    return rc;
}
