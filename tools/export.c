/*
 * export.c - `dlq export [FILTERS] [-o FILE]`: one JSON object per line and
 * dead letter, the `dlq list --json` fields plus the attempt history and the
 * body. The body is spliced in verbatim (line breaks between tokens turned
 * into spaces, see jsonfmt_embed) so numbers, key order and duplicate keys
 * survive exactly; a body that is not valid UTF-8 JSON, which no JSON reader
 * could take verbatim, is written as "body_base64" instead.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "filter.h"
#include "help.h"
#include "jsonfmt.h"
#include "output.h"
#include "progress.h"

struct export_ctx {
    FILE *out;
    struct cli_progress *progress;
    uint64_t n, corrupt, base64;
    int failed;
};

static int write_line(struct export_ctx *x, const struct queue_entry *e)
{
    json_t *meta = cli_entry_json(e, QUEUE_DEAD, true);
    char *head = meta ? json_dumps(meta, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(meta);
    if (!head)
        return -1;
    size_t hlen = strlen(head);
    int rc = 0;
    if (e->status != RECORD_OK) {
        x->corrupt++;
        rc = fprintf(x->out, "%s\n", head) < 0 ? -1 : 0;
        free(head);
        return rc;
    }
    /* head is "{...}": drop the brace, append the body, close again. */
    fwrite(head, 1, hlen - 1, x->out);
    free(head);
    const struct record *r = &e->rec;
    if (jsonfmt_embeddable(r->body, r->body_len)) {
        char *line = malloc(r->body_len ? r->body_len : 1);
        if (!line)
            return -1;
        jsonfmt_embed(r->body, r->body_len, line);
        fputs(",\"body\":", x->out);
        fwrite(line, 1, r->body_len, x->out);
        free(line);
    } else {
        char *b64 = jsonfmt_base64(r->body, r->body_len);
        if (!b64)
            return -1;
        x->base64++;
        fprintf(x->out, ",\"body_base64\":\"%s\"", b64);
        free(b64);
    }
    if (fputs("}\n", x->out) == EOF || ferror(x->out))
        rc = -1;
    return rc;
}

static int on_entry(void *ctx, const struct queue_entry *e)
{
    struct export_ctx *x = ctx;
    if (cli_interrupted)
        return 1;
    if (write_line(x, e) != 0) {
        x->failed = 1;
        return 1;
    }
    x->n++;
    cli_progress_update(x->progress, x->n);
    return 0;
}

int cli_dlq_export(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_FILTER_OPTIONS,
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    struct cli_filter cf;
    const char *path = NULL;
    char err[256];
    int opt;
    cli_filter_init(&cf);
    optind = 0;
    while ((opt = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
        int f = cli_filter_option(&cf, opt, optarg, c->now_ms, err, sizeof err);
        if (f < 0)
            return cli_usage_error("dlq export", "%s", err);
        if (f > 0)
            continue;
        if (opt == 'o') {
            path = optarg;
        } else if (opt == 'h') {
            cli_help("dlq export", stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("dlq export", "unknown or incomplete option %s",
                                   argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("dlq export", "unexpected argument '%s'", argv[optind]);
    if (cli_filter_finish(&cf, err, sizeof err) != 0)
        return cli_usage_error("dlq export", "%s", err);
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;
    queue_default_source(c->q, cf.f.default_source); /* for --source */

    struct export_ctx x = {.out = stdout};
    if (path && strcmp(path, "-") != 0) {
        /* Dead letters are customer data: the export is private to its owner. */
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        x.out = fd < 0 ? NULL : fdopen(fd, "w");
        if (!x.out) {
            cli_error("cannot write %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return CLI_FAIL;
        }
    }
    uint64_t total = 0;
    struct queue_stats st;
    if (!cf.any && queue_stats(c->q, &st) == QUEUE_OK)
        total = st.dead_batches;
    struct cli_progress progress;
    cli_progress_start(&progress, "export", total);
    x.progress = &progress;
    cli_catch_interrupts();
    int s = queue_scan(c->q, QUEUE_DEAD, cf.any ? &cf.f : NULL, 0, 0, on_entry, &x);
    cli_progress_end(&progress);
    int rc = CLI_OK;
    if (s < 0) {
        cli_error("reading the dead letters failed: %s", queue_last_error());
        rc = CLI_FAIL;
    } else if (x.failed) {
        cli_error("writing the export failed: %s", strerror(errno));
        rc = CLI_FAIL;
    } else if (cli_interrupted) {
        cli_error("interrupted after %" PRIu64 " dead letters; the export is incomplete", x.n);
        rc = CLI_FAIL;
    }
    if (x.out != stdout) {
        if (fflush(x.out) != 0 || fsync(fileno(x.out)) != 0) {
            cli_error("writing %s failed: %s", path, strerror(errno));
            rc = CLI_FAIL;
        }
        fclose(x.out);
        if (rc == CLI_OK)
            fprintf(stderr, "exported %" PRIu64 " dead letters to %s\n", x.n, path);
    }
    if (x.base64)
        fprintf(stderr, "eddy: %" PRIu64 " bodies are not valid UTF-8 JSON: see body_base64\n",
                x.base64);
    if (x.corrupt) {
        cli_error("%" PRIu64 " damaged dead letters exported without a body; run eddy verify",
                  x.corrupt);
        rc = CLI_FAIL;
    }
    return rc;
}
