/*
 * main.c - eddyd: reads the configuration, opens the store, starts the
 * committer, ingest, admin and delivery, and runs the ingest event loop on
 * the main thread until SIGTERM/SIGINT or a storage I/O failure.
 *
 * Exit status: 0 after a clean drain, 1 on a startup or storage failure
 * (after an fsync error the daemon must not go on: a retried fsync can
 * report success for data the kernel already dropped), 2 on a usage or
 * configuration error.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../storage/queue.h"
#include "admin.h"
#include "committer.h"
#include "config.h"
#include "delivery.h"
#include "ingest.h"
#include "log.h"
#include "metrics.h"

#ifndef EDDY_VERSION
#define EDDY_VERSION "0.1.0"
#endif

#define MAIN_READER_CHECK_S 60
#define MAIN_GROUP_MAX_BYTES (32u << 20)

static void usage(FILE *f)
{
    fprintf(f, "usage: eddyd [-c FILE] [--data-dir DIR] [--listen HOST:PORT]\n"
               "             [--admin-listen HOST:PORT] [--forward-url URL] [--write-key KEY]\n"
               "             [--check-config] [--version]\n"
               "\n"
               "  -c, --config FILE        INI config (see etc/eddy.conf); flags override it\n"
               "      --data-dir DIR       [storage] data_dir\n"
               "      --listen HOST:PORT   [ingest] listen (where Braze posts)\n"
               "      --admin-listen H:P   [admin] listen (/healthz /readyz /metrics /status)\n"
               "      --forward-url URL    [delivery] url (RudderStack webhook)\n"
               "      --write-key KEY      RudderStack write key: accepted from Braze\n"
               "                           ([ingest] write_keys) and used for batches that\n"
               "                           arrive without one ([delivery] write_key)\n"
               "      --check-config       validate the configuration and exit\n"
               "      --version            print the version and exit\n"
               "\n"
               "exit status: 0 clean stop, 1 startup or storage failure, 2 bad usage or config\n");
}

static void fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static bool has_secrets(const struct config *c)
{
    return c->ntokens || c->nwrite_keys || c->write_key[0];
}

/* The command line, kept for every (re)load: the file is read again on
 * SIGHUP and the flags still override it. */
#define MAIN_FLAGS_MAX 16
struct flags {
    const char *conf_path;
    const char *name[MAIN_FLAGS_MAX], *value[MAIN_FLAGS_MAX];
    size_t n;
};

/* Defaults < file < flags, then the rules between keys: the one way a
 * config is made, at start, for --check-config and on SIGHUP. */
static int build_config(struct config *c, const struct flags *f, char *err, size_t errlen)
{
    config_defaults(c);
    if (f->conf_path && config_load_file(c, f->conf_path, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < f->n; i++)
        if (config_apply_flag(c, f->name[i], f->value[i], err, errlen) != 0)
            return -1;
    return config_validate(c, err, errlen);
}

static void warn_log(const char *msg)
{
    log_warn("%s", msg);
}

/* LMDB never maps less than the store already uses (mdb_env_set_mapsize
 * raises a smaller size to the last used page without a word), so a
 * max_size below that would be printed but not applied: refuse it instead,
 * with the size in use. q is the store opened with map_size = max_size. */
static int check_map(const struct config *c, queue_t *q, char *err, size_t errlen)
{
    struct queue_stats st;
    if (queue_stats(q, &st) != QUEUE_OK || st.max_bytes <= c->max_size)
        return 0;
    char where[1100], want[32], need[32];
    config_where(c, "storage", "max_size", where, sizeof(where));
    config_format_size(c->max_size, want, sizeof(want));
    config_format_size(st.max_bytes, need, sizeof(need));
    fail(err, errlen,
         "%s: max_size: %s is below the %llu bytes the store in %s already uses (LMDB cannot "
         "shrink a store below its last used page): set max_size to at least %s, or start "
         "on a compact copy (eddy backup)",
         where, want, (unsigned long long)st.max_bytes, c->data_dir, need);
    return -1;
}

/* --check-config: what start would refuse of an existing store. */
static int check_store(const struct config *c, char *err, size_t errlen)
{
    if (!queue_store_exists(c->data_dir))
        return 0; /* start will create it */
    struct queue_options qo = {
        .dir = c->data_dir, .map_size = c->max_size, .sync_full = c->sync_full, .create = false};
    queue_t *q = NULL;
    char why[512];
    if (queue_open(&q, &qo, why, sizeof(why)) != QUEUE_OK) {
        fail(err, errlen, "cannot open the store in %s: %s", c->data_dir, why);
        return -1;
    }
    int rc = check_map(c, q, err, errlen);
    queue_close(q);
    return rc;
}

struct ctx {
    struct ingest *ingest;
    queue_t *queue;
    struct metrics *metrics;
    const struct config *cfg; /* as started */
    const struct flags *flags;
    struct delivery *delivery;
    struct config *last; /* the last reload applied, or NULL */
};

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct ctx *ctx = arg;
    log_info("received %s: draining (stop accepting, answer what is in flight)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ingest_shutdown(ctx->ingest, 0);
}

/* config_changes callback. The live keys are compared with what was last
 * in force, the others with what eddyd started with (what still runs). */
struct reload {
    bool live_pass;   /* this pass reports the live keys */
    bool delivery;    /* a delivery setting changed */
    unsigned restart; /* keys that need a restart */
};

static void on_change(void *arg, const char *section, const char *name, enum config_live live,
                      const char *old_text, const char *new_text)
{
    struct reload *r = arg;
    if (r->live_pass != (live != CONFIG_RESTART))
        return;
    if (live == CONFIG_RESTART) {
        r->restart++;
        log_warn("reload: [%s] %s changed (%s -> %s) but needs a restart; still %s", section, name,
                 old_text, new_text, old_text);
        return;
    }
    r->delivery |= live == CONFIG_LIVE_DELIVERY;
    log_info("reload: [%s] %s changed (%s -> %s)", section, name, old_text, new_text);
}

/* SIGHUP, on the loop thread: read the file again; swap in the new
 * credentials, hand delivery its live settings, name what needs a
 * restart; a bad file changes nothing. */
static void on_hup(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct ctx *ctx = arg;
    const struct config *run = ctx->cfg;
    const char *path = ctx->flags->conf_path ? ctx->flags->conf_path : "(no config file)";
    struct config *next = calloc(1, sizeof(*next));
    char err[1024];
    if (!next) {
        log_error("reload: out of memory; keeping the running configuration");
        return;
    }
    if (build_config(next, ctx->flags, err, sizeof(err)) != 0) {
        log_error("reload: %s; keeping the running configuration", err);
        goto drop;
    }
    /* Bearer posts are forwarded with the running [delivery] write_key,
     * which a reload does not change: new tokens need one already. */
    if (next->ntokens && !run->write_key[0]) {
        config_where(next, "ingest", "tokens", err, sizeof(err));
        log_error("reload: %s: tokens: Bearer-token posts would be forwarded with the running "
                  "[delivery] write_key, which is empty (it takes a restart to set); keeping the "
                  "running configuration",
                  err);
        goto drop;
    }
    struct auth_creds *creds = auth_creds_new(next);
    if (!creds) {
        log_error("reload: out of memory; keeping the running configuration");
        goto drop;
    }
    struct reload r = {.live_pass = true};
    config_changes(ctx->last ? ctx->last : run, next, on_change, &r);
    r.live_pass = false;
    config_changes(run, next, on_change, &r);
    ingest_set_credentials(ctx->ingest, creds);
    if (r.delivery)
        delivery_reconfigure(ctx->delivery, next);
    log_info("reloaded %s: %zu token(s), %zu write key(s) in force%s", path, next->ntokens,
             next->nwrite_keys, r.restart ? "; some settings need a restart (see above)" : "");
    /* kept: the next reload says what changed since this one */
    struct config *prev = ctx->last;
    ctx->last = next;
    next = prev;
drop:
    if (next)
        config_free(next);
    free(next);
}

static void on_reader_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct ctx *ctx = arg;
    int cleared = 0;
    if (queue_reader_check(ctx->queue, &cleared) != QUEUE_OK) {
        log_warn("mdb_reader_check failed: %s", queue_last_error());
        return;
    }
    if (cleared > 0) {
        metrics_inc(&ctx->metrics->reader_slots_cleared, (uint64_t)cleared);
        log_warn("freed %d stale LMDB reader slot(s) left by a dead process", cleared);
    }
}

/* An existing data dir keeps its mode (eddyd creates new ones 0700): say so
 * when other users can reach the events and write keys it holds. */
static void warn_open_to_others(const char *dir)
{
    for (int i = -1; i < QUEUE_FILES; i++) { /* the dir, then each file */
        char path[PATH_MAX + 16];
        struct stat st;
        if (i < 0)
            snprintf(path, sizeof(path), "%s", dir);
        else
            queue_file_path(dir, (enum queue_file)i, path, sizeof(path));
        if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
            log_warn("%s is open to other users (mode %03o) and holds every stored event and "
                     "write key: chmod %s it",
                     path, (unsigned)(st.st_mode & 0777), i < 0 ? "700" : "600");
    }
}

/* Request bodies and LMDB's dirty pages are malloc'd and freed by the
 * hundred KB on every request and commit. glibc's defaults hand such memory
 * back to the kernel (trim above 128 KiB, mmap above a moving threshold), so
 * the next commit page-faults it in again: that was a third of the
 * committer's CPU in the ingest bench. Keeping up to 32 MiB free per arena
 * (never more than eddyd's peak use) took the committer from 179 to 108 us
 * of CPU per request, and ingest +5% in back-to-back runs. */
static void keep_freed_memory(void)
{
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

/* Reads the command line into flags and check_only. Returns -1 to go on,
 * else the exit code (--help, --version, a usage error). */
static int parse_flags(int argc, char **argv, struct flags *flags, bool *check_only)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'F'},
        {"listen", required_argument, NULL, 'F'},
        {"admin-listen", required_argument, NULL, 'F'},
        {"forward-url", required_argument, NULL, 'F'},
        {"write-key", required_argument, NULL, 'F'},
        {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt, idx;
    while ((opt = getopt_long(argc, argv, "c:h", opts, &idx)) != -1) {
        switch (opt) {
        case 'c':
            if (flags->conf_path) {
                fprintf(stderr,
                        "eddyd: -c/--config given twice (\"%s\", then \"%s\"); eddyd "
                        "reads one config file\n",
                        flags->conf_path, optarg);
                return 2;
            }
            flags->conf_path = optarg;
            break;
        case 'F': /* a flag that sets a key: applied in order over the file */
            if (flags->n == MAIN_FLAGS_MAX) {
                fprintf(stderr, "eddyd: too many flags\n");
                return 2;
            }
            flags->name[flags->n] = opts[idx].name;
            flags->value[flags->n++] = optarg;
            break;
        case 'C':
            *check_only = true;
            break;
        case 'V':
            printf("eddyd %s\n", EDDY_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "eddyd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return -1;
}

/* Opens (or creates) the store eddyd runs on. Returns 0, or the exit code
 * to stop with. */
static int open_store(queue_t **q, const struct config *cfg)
{
    char err[2048];
    /* One eddyd per data dir: two would deliver every batch twice. */
    struct queue_options qo = {.dir = cfg->data_dir,
                               .map_size = cfg->max_size,
                               .sync_full = cfg->sync_full,
                               .create = true,
                               .lock = true};
    int qrc = queue_open(q, &qo, err, sizeof(err));
    if (qrc == QUEUE_LOCKED) {
        log_error("%s", err);
        return 1;
    } else if (qrc != QUEUE_OK) {
        log_error("cannot open the store in %s: %s", cfg->data_dir, err);
        return 1;
    }
    if (check_map(cfg, *q, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return 2;
    }
    warn_open_to_others(cfg->data_dir);
    return 0;
}

/* What eddyd runs: started in order by start_parts, stopped in reverse by
 * stop_parts (which takes a partly started set). */
struct parts {
    struct event_base *base;
    queue_t *q;
    struct ingest *in;
    struct committer *com;
    struct admin *adm;
    struct delivery *dlv;
    struct event *ev_term, *ev_int, *ev_hup, *ev_reader;
};

/* Starts every part; ctx is what the signal and timer handlers get, filled
 * in once everything is up. Returns 0, or the exit code to stop with. */
static int start_parts(struct parts *p, struct config *cfg, const struct flags *flags,
                       struct metrics *metrics, struct ctx *ctx)
{
    char err[2048];
    p->base = event_base_new();
    if (!p->base) {
        log_error("cannot create the event loop");
        return 1;
    }
    /* The handlers go in before any listener or thread exists: /healthz
     * answers as soon as admin starts, and a SIGTERM before this point would
     * kill eddyd undrained. A signal caught early waits for the loop; ctx is
     * filled in before the loop runs. */
    p->ev_term = evsignal_new(p->base, SIGTERM, on_signal, ctx);
    p->ev_int = evsignal_new(p->base, SIGINT, on_signal, ctx);
    p->ev_hup = evsignal_new(p->base, SIGHUP, on_hup, ctx);
    if (!p->ev_term || !p->ev_int || !p->ev_hup || event_add(p->ev_term, NULL) != 0 ||
        event_add(p->ev_int, NULL) != 0 || event_add(p->ev_hup, NULL) != 0) {
        log_error("cannot set up signal handling");
        return 1;
    }
    int rc = open_store(&p->q, cfg);
    if (rc != 0)
        return rc;
    struct ingest_options io = {.base = p->base, .cfg = cfg, .metrics = metrics};
    if (ingest_start(&p->in, &io, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return 1;
    }
    struct committer_options co = {.queue = p->q,
                                   .metrics = metrics,
                                   .group_max_bytes = MAIN_GROUP_MAX_BYTES,
                                   .high_water = cfg->high_water,
                                   .data_dir = cfg->data_dir,
                                   .done = ingest_commit_done,
                                   .fatal = ingest_commit_fatal,
                                   .arg = p->in};
    if (committer_start(&p->com, &co, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return 1;
    }
    ingest_set_committer(p->in, p->com);
    struct admin_options ao = {
        .cfg = cfg, .queue = p->q, .metrics = metrics, .ingest = p->in, .committer = p->com};
    if (admin_start(&p->adm, &ao, err, sizeof(err)) != 0) {
        log_error("%s", err);
        return 1;
    }
    struct delivery_options dopt = {.queue = p->q, .cfg = cfg, .metrics = metrics};
    if (delivery_start(&p->dlv, &dopt, err, sizeof(err)) != 0) {
        log_error("cannot start delivery: %s", err);
        return 1;
    }
    *ctx = (struct ctx){.ingest = p->in,
                        .queue = p->q,
                        .metrics = metrics,
                        .cfg = cfg,
                        .flags = flags,
                        .delivery = p->dlv};
    p->ev_reader = event_new(p->base, -1, EV_PERSIST, on_reader_check, ctx);
    struct timeval every = {MAIN_READER_CHECK_S, 0};
    if (!p->ev_reader || event_add(p->ev_reader, &every) != 0) {
        log_error("cannot set up the reader check");
        return 1;
    }
    return 0;
}

/* Everything accepted has been answered once the loop returns; stop the
 * producers before the store closes, the store last. Admin goes first: its
 * thread reads ingest and the committer until it is joined. */
static void stop_parts(struct parts *p)
{
    admin_stop(p->adm);
    ingest_stop_workers(p->in);
    committer_stop(p->com);
    ingest_free(p->in);
    if (p->dlv)
        delivery_stop(p->dlv);
    struct event *evs[] = {p->ev_term, p->ev_int, p->ev_hup, p->ev_reader};
    for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
        if (evs[i])
            event_free(evs[i]);
    if (p->q)
        queue_close(p->q);
    if (p->base)
        event_base_free(p->base);
}

int main(int argc, char **argv)
{
    keep_freed_memory();
    static struct flags flags;
    bool check_only = false;
    int exit_code = parse_flags(argc, argv, &flags, &check_only);
    if (exit_code >= 0)
        return exit_code;

    struct config cfg;
    char err[2048];
    if (build_config(&cfg, &flags, err, sizeof(err)) != 0 ||
        config_check_system(&cfg, err, sizeof(err), warn_log) != 0 ||
        (check_only && check_store(&cfg, err, sizeof(err)) != 0)) {
        fprintf(stderr, "eddyd: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    const char *conf_path = flags.conf_path;
    struct stat st;
    if (conf_path && stat(conf_path, &st) == 0 && (st.st_mode & S_IROTH) && has_secrets(&cfg))
        log_warn("%s is readable by every user and holds tokens or write keys: chmod o-r it",
                 conf_path);
    if (check_only) {
        printf("%s: configuration ok\n", conf_path ? conf_path : "built-in defaults");
        config_free(&cfg);
        return 0;
    }

    /* Process-wide setup before any thread or event base exists. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("curl_global_init failed");
        config_free(&cfg);
        return 1;
    }
    if (evthread_use_pthreads() != 0) {
        log_error("evthread_use_pthreads failed");
        curl_global_cleanup();
        config_free(&cfg);
        return 1;
    }
    if (!cfg.sync_full)
        log_warn("[storage] sync = none: acknowledged batches can be lost on power failure or "
                 "kernel crash; never use this in production");

    static struct metrics metrics;
    metrics_init(&metrics);
    struct parts parts = {0};
    struct ctx ctx = {0};
    exit_code = start_parts(&parts, &cfg, &flags, &metrics, &ctx);
    if (exit_code == 0) {
        log_info("eddyd %s: ingest on %s, admin on %s, store %s (max %llu bytes, sync %s), "
                 "delivering to %s",
                 EDDY_VERSION, cfg.listen, cfg.admin_listen, cfg.data_dir,
                 (unsigned long long)cfg.max_size, cfg.sync_full ? "full" : "none", cfg.url);
        event_base_dispatch(parts.base);
        exit_code = ingest_exit_code(parts.in);
        if (committer_lost(parts.com) && exit_code == 0)
            exit_code = 1; /* not a clean stop: what the lost store held is gone with it */
    }
    stop_parts(&parts);
    curl_global_cleanup();
    if (ctx.last)
        config_free(ctx.last);
    free(ctx.last);
    config_free(&cfg);
    if (exit_code == 0)
        log_info("eddyd stopped cleanly");
    else
        log_error("eddyd stopped with exit status %d", exit_code);
    return exit_code;
}
