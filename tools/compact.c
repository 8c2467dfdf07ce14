/*
 * compact.c - `eddy compact`: rewrites a store with eddyd stopped so its
 * data file holds only what is live (LMDB's file never shrinks by itself).
 *
 * The store is opened holding eddyd's daemon lock, so the command refuses
 * while eddyd runs and no eddyd can start until it is done. Then: a
 * compacting copy into the sibling DIR.compact (progress on a terminal);
 * the copy opened, locked too, and compared with the original entry by
 * entry; the two dirs exchanged in one rename; the new store at DIR opened
 * and its counts compared once more; only then the old store removed. An
 * interruption at any step leaves DIR a complete store (the old or the new
 * one) and DIR.compact to be looked at and removed by hand.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "help.h"
#include "progress.h"
#include "timefmt.h"

static int check_progress(void *ctx, uint64_t done)
{
    cli_progress_update(ctx, done);
    return cli_interrupted ? 1 : 0;
}

static int open_locked(const char *dir, queue_t **q)
{
    char err[512] = "";
    struct queue_options o = {
        .dir = dir, .map_size = 0, .sync_full = true, .create = false, .lock = true};
    int rc = queue_open(q, &o, err, sizeof err);
    long pid = 0;
    if (rc == QUEUE_LOCKED && queue_daemon_pid(dir, &pid) == QUEUE_OK && pid > 0)
        cli_error("eddyd (pid %ld) is running on %s: stop it before compacting", pid, dir);
    else if (rc == QUEUE_LOCKED)
        cli_error("eddyd is running on %s: stop it before compacting", dir);
    else if (rc != QUEUE_OK)
        cli_error("%s: %s", dir, err);
    return rc;
}

static int compact(const char *dir, bool keep_old)
{
    char side[4096];
    struct stat sb;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    snprintf(side, sizeof side, "%.*s.compact", (int)dl, dir);
    if (stat(side, &sb) == 0) {
        cli_error("%s exists (left by an interrupted compact?): look at it, remove it, run "
                  "eddy compact again",
                  side);
        return CLI_FAIL;
    }
    queue_t *old = NULL, *copy = NULL;
    if (open_locked(dir, &old) != QUEUE_OK)
        return CLI_FAIL;
    int ret = CLI_FAIL;
    struct queue_stats before, after;
    uint64_t entries = 0, checked = 0;
    if (queue_stats(old, &before) != QUEUE_OK || queue_entries(old, &entries) != QUEUE_OK) {
        cli_error("%s: %s", dir, queue_last_error());
        goto out;
    }
    cli_catch_interrupts();
    if (cli_copy_store(old, side, "copy") != QUEUE_OK) {
        cli_error("compacting copy into %s failed: %s (%s is unchanged)", side, queue_last_error(),
                  dir);
        goto out;
    }
    if (open_locked(side, &copy) != QUEUE_OK)
        goto out;
    struct cli_progress p;
    cli_progress_start(&p, "check", entries);
    int st = queue_compact_check(old, copy, check_progress, &p, &checked);
    cli_progress_end(&p);
    if (st != QUEUE_OK) {
        cli_error("the copy in %s does not match: %s; %s is unchanged", side, queue_last_error(),
                  dir);
        goto out;
    }
    if (queue_swap_dirs(dir, side) != QUEUE_OK) {
        cli_error("%s; %s is unchanged", queue_last_error(), dir);
        goto out;
    }
    /* dir now holds the copy, side the old store. */
    queue_close(copy);
    queue_close(old);
    copy = old = NULL;
    if (open_locked(dir, &copy) != QUEUE_OK || queue_stats(copy, &after) != QUEUE_OK ||
        after.pending_batches != before.pending_batches ||
        after.dead_batches != before.dead_batches || after.next_seq != before.next_seq) {
        cli_error("the new store in %s does not read back as the old one did; the old store "
                  "is kept in %s",
                  dir, side);
        goto out;
    }
    queue_close(copy);
    copy = NULL;
    if (!keep_old && queue_remove_store(side) != QUEUE_OK) {
        cli_error("compacted, but the old store was not removed: %s", queue_last_error());
        goto out;
    }
    char a[32], b[32], u[32];
    printf("compacted %s: file %s -> %s (%s in use), %" PRIu64 " entries checked; %" PRIu64
           " pending batches, %" PRIu64 " dead letters%s%s\n",
           dir, timefmt_size(before.file_bytes, a, sizeof a),
           timefmt_size(after.file_bytes, b, sizeof b), timefmt_size(after.used_bytes, u, sizeof u),
           checked, after.pending_batches, after.dead_batches, keep_old ? "; old store in " : "",
           keep_old ? side : "");
    ret = CLI_OK;
out:
    if (copy)
        queue_close(copy);
    if (old)
        queue_close(old);
    return ret;
}

int cli_cmd_compact(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"keep-old", no_argument, NULL, 'k'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    bool keep_old = false;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'k') {
            keep_old = true;
        } else if (opt == 'h') {
            cli_help("compact", stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("compact", "unknown option %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return cli_usage_error("compact", "unexpected argument '%s'", argv[optind]);
    struct stat st;
    if (stat(c->data_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cli_error("data dir %s: not a directory (give the store with -d DIR or -c eddy.conf)",
                  c->data_dir);
        return CLI_FAIL;
    }
    return compact(c->data_dir, keep_old);
}
