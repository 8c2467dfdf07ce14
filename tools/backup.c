/*
 * backup.c - `eddy backup`: storage's compacting hot copy (queue_backup),
 * then a look at the copy so the operator sees it is readable; and
 * cli_copy_store, the copy with a progress line, which eddy compact uses
 * too.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "../storage/clock.h"
#include "cli.h"
#include "help.h"
#include "progress.h"
#include "timefmt.h"

/* LMDB's copy is one blocking call with no callback, so on a terminal a
 * helper thread watches the copy's data file grow toward the bytes in use. */
struct backup_watch {
    struct cli_progress progress;
    char path[4096];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
};

static void *watch_backup(void *arg)
{
    struct backup_watch *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->done) {
        struct timespec until;
        clock_deadline(CLOCK_REALTIME, 100, &until); /* the condvar's default clock */
        pthread_cond_timedwait(&w->cond, &w->lock, &until);
        struct stat st;
        if (!w->done && stat(w->path, &st) == 0)
            cli_progress_update(&w->progress, (uint64_t)st.st_size);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int cli_copy_store(queue_t *q, const char *dest, const char *label)
{
    struct backup_watch w = {.done = false};
    struct queue_stats st;
    uint64_t total = queue_stats(q, &st) == QUEUE_OK ? st.used_bytes : 0;
    cli_progress_start(&w.progress, label, total);
    w.progress.bytes = true;
    pthread_t thread;
    bool watching = false;
    if (w.progress.enabled) {
        queue_file_path(dest, QUEUE_FILE_DATA, w.path, sizeof w.path);
        pthread_mutex_init(&w.lock, NULL);
        pthread_cond_init(&w.cond, NULL);
        watching = pthread_create(&thread, NULL, watch_backup, &w) == 0;
    }
    int rc = queue_backup(q, dest);
    if (watching) {
        pthread_mutex_lock(&w.lock);
        w.done = true;
        pthread_cond_signal(&w.cond);
        pthread_mutex_unlock(&w.lock);
        pthread_join(thread, NULL);
    }
    if (w.progress.enabled) {
        pthread_mutex_destroy(&w.lock);
        pthread_cond_destroy(&w.cond);
    }
    cli_progress_end(&w.progress);
    return rc;
}

int cli_cmd_backup(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'h') {
            cli_help("backup", stdout);
            return CLI_OK;
        }
        return cli_usage_error("backup", "unknown option %s", argv[optind - 1]);
    }
    if (optind + 1 != argc)
        return cli_usage_error("backup", "give exactly one DEST_DIR%s", "");
    const char *dest = argv[optind];
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;
    if (cli_copy_store(c->q, dest, "backup") != QUEUE_OK) {
        cli_error("backup to %s failed: %s", dest, queue_last_error());
        return CLI_FAIL;
    }
    /* Read the copy back: a backup nobody can open is not a backup. */
    queue_t *copy = NULL;
    char err[512] = "";
    struct queue_options o = {.dir = dest, .map_size = 0, .sync_full = true, .create = false};
    if (queue_open(&copy, &o, err, sizeof err) != QUEUE_OK) {
        cli_error("the backup in %s does not open: %s", dest, err);
        return CLI_FAIL;
    }
    struct queue_stats st;
    int rc = queue_stats(copy, &st);
    queue_close(copy);
    if (rc != QUEUE_OK) {
        cli_error("the backup in %s does not read: %s", dest, queue_last_error());
        return CLI_FAIL;
    }
    char size[32];
    printf("backup in %s: %" PRIu64 " pending batches (%" PRIu64 " events), %" PRIu64
           " dead letters, %s\n",
           dest, st.pending_batches, st.pending_events, st.dead_batches,
           timefmt_size(st.used_bytes, size, sizeof size));
    return CLI_OK;
}
