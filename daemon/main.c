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
#include <malloc.h>
#include <signal.h>
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

static void main_usage(FILE *f)
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

struct main_ctx {
    struct ingest *ingest;
    queue_t *queue;
    struct metrics *metrics;
};

static void main_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct main_ctx *ctx = arg;
    log_info("received %s: draining (stop accepting, answer what is in flight)",
             sig == SIGTERM ? "SIGTERM" : "SIGINT");
    ingest_shutdown(ctx->ingest, 0);
}

static void main_on_reader_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct main_ctx *ctx = arg;
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

static bool main_has_secrets(const struct config *c)
{
    return c->ntokens || c->nwrite_keys || c->write_key[0];
}

/* Applies the command line over the config. Returns 0, or 2 on error. */
static int main_apply_flag(struct config *c, const char *flag, const char *section, const char *key,
                           const char *value)
{
    char err[512];
    if (config_set(c, section, key, value, err, sizeof(err)) != 0) {
        fprintf(stderr, "eddyd: --%s: %s\n", flag, err);
        return 2;
    }
    return 0;
}

/* An existing data dir keeps its mode (eddyd creates new ones 0700): say so
 * when other users can reach the events and write keys it holds. */
static void warn_open_to_others(const char *dir)
{
    static const char *const names[] = {"", "/data.mdb", "/lock.mdb"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s%s", dir, names[i]);
        if (stat(path, &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)))
            log_warn("%s is open to other users (mode %03o) and holds every stored event and "
                     "write key: chmod %s it",
                     path, (unsigned)(st.st_mode & 0777), i == 0 ? "700" : "600");
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

int main(int argc, char **argv)
{
    keep_freed_memory();
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},
        {"admin-listen", required_argument, NULL, 'a'},
        {"forward-url", required_argument, NULL, 'f'},
        {"write-key", required_argument, NULL, 'k'},
        {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_path = NULL;
    const char *flag_data = NULL, *flag_listen = NULL, *flag_admin = NULL, *flag_url = NULL,
               *flag_key = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            conf_path = optarg;
            break;
        case 'd':
            flag_data = optarg;
            break;
        case 'l':
            flag_listen = optarg;
            break;
        case 'a':
            flag_admin = optarg;
            break;
        case 'f':
            flag_url = optarg;
            break;
        case 'k':
            flag_key = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'V':
            printf("eddyd %s\n", EDDY_VERSION);
            return 0;
        case 'h':
            main_usage(stdout);
            return 0;
        default:
            main_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "eddyd: unexpected argument \"%s\"\n", argv[optind]);
        main_usage(stderr);
        return 2;
    }

    /* Defaults < file < flags. */
    struct config cfg;
    char err[1024];
    config_defaults(&cfg);
    int rc = 0;
    if (conf_path && config_load_file(&cfg, conf_path, err, sizeof(err)) != 0) {
        fprintf(stderr, "eddyd: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    if ((flag_data && (rc = main_apply_flag(&cfg, "data-dir", "storage", "data_dir", flag_data))) ||
        (flag_listen && (rc = main_apply_flag(&cfg, "listen", "ingest", "listen", flag_listen))) ||
        (flag_admin &&
         (rc = main_apply_flag(&cfg, "admin-listen", "admin", "listen", flag_admin))) ||
        (flag_url && (rc = main_apply_flag(&cfg, "forward-url", "delivery", "url", flag_url))) ||
        (flag_key &&
         (rc = main_apply_flag(&cfg, "write-key", "delivery", "write_key", flag_key)))) {
        config_free(&cfg);
        return rc;
    }
    if (flag_key) {
        bool present = false;
        for (size_t i = 0; i < cfg.nwrite_keys; i++)
            present |= strcmp(cfg.write_keys[i], flag_key) == 0;
        if (!present && cfg.nwrite_keys < CONFIG_LIST_MAX)
            cfg.write_keys[cfg.nwrite_keys++] = strdup(flag_key);
    }
    if (config_validate(&cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "eddyd: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    struct stat st;
    if (conf_path && stat(conf_path, &st) == 0 && (st.st_mode & S_IROTH) && main_has_secrets(&cfg))
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

    int exit_code = 1;
    static struct metrics metrics;
    metrics_init(&metrics);
    struct event_base *base = event_base_new();
    queue_t *q = NULL;
    struct ingest *in = NULL;
    struct committer *com = NULL;
    struct admin *adm = NULL;
    struct delivery *dlv = NULL;
    struct event *ev_term = NULL, *ev_int = NULL, *ev_reader = NULL;
    struct main_ctx ctx = {0};
    if (!base) {
        log_error("cannot create the event loop");
        goto out;
    }
    /* One eddyd per data dir: two would deliver every batch twice. */
    struct queue_options qo = {.dir = cfg.data_dir,
                               .map_size = cfg.max_size,
                               .sync_full = cfg.sync_full,
                               .create = true,
                               .lock = true};
    int qrc = queue_open(&q, &qo, err, sizeof(err));
    if (qrc == QUEUE_LOCKED) {
        log_error("%s", err);
        goto out;
    } else if (qrc != QUEUE_OK) {
        log_error("cannot open the store in %s: %s", cfg.data_dir, err);
        goto out;
    }
    warn_open_to_others(cfg.data_dir);
    if (ingest_new(&in, base, &cfg, &metrics, err, sizeof(err)) != 0) {
        log_error("%s", err);
        goto out;
    }
    struct committer_options co = {.queue = q,
                                   .metrics = &metrics,
                                   .group_max_bytes = MAIN_GROUP_MAX_BYTES,
                                   .high_water = cfg.high_water,
                                   .data_dir = cfg.data_dir,
                                   .done = ingest_commit_done,
                                   .fatal = ingest_commit_fatal,
                                   .arg = in};
    if (committer_start(&com, &co, err, sizeof(err)) != 0) {
        log_error("%s", err);
        goto out;
    }
    ingest_set_committer(in, com);
    struct admin_options ao = {
        .cfg = &cfg, .queue = q, .metrics = &metrics, .ingest = in, .committer = com};
    if (admin_start(&adm, &ao, err, sizeof(err)) != 0) {
        log_error("%s", err);
        goto out;
    }
    if (delivery_start(&dlv, q, &cfg, &metrics, err, sizeof(err)) != 0) {
        log_error("cannot start delivery: %s", err);
        goto out;
    }
    ctx = (struct main_ctx){.ingest = in, .queue = q, .metrics = &metrics};
    ev_term = evsignal_new(base, SIGTERM, main_on_signal, &ctx);
    ev_int = evsignal_new(base, SIGINT, main_on_signal, &ctx);
    ev_reader = event_new(base, -1, EV_PERSIST, main_on_reader_check, &ctx);
    struct timeval every = {MAIN_READER_CHECK_S, 0};
    if (!ev_term || !ev_int || !ev_reader || event_add(ev_term, NULL) != 0 ||
        event_add(ev_int, NULL) != 0 || event_add(ev_reader, &every) != 0) {
        log_error("cannot set up signal handling");
        goto out;
    }
    log_info("eddyd %s: ingest on %s, admin on %s, store %s (max %llu bytes, sync %s), "
             "delivering to %s",
             EDDY_VERSION, cfg.listen, cfg.admin_listen, cfg.data_dir,
             (unsigned long long)cfg.max_size, cfg.sync_full ? "full" : "none", cfg.url);

    event_base_dispatch(base);
    exit_code = ingest_exit_code(in);
    if (committer_lost(com) && exit_code == 0)
        exit_code = 1; /* not a clean stop: what the lost store held is gone with it */

out:
    /* Everything accepted has been answered once the loop returns; stop the
     * producers before the store closes, the store last. */
    ingest_stop_workers(in);
    committer_stop(com);
    ingest_free(in);
    admin_stop(adm);
    if (dlv)
        delivery_stop(dlv);
    if (ev_term)
        event_free(ev_term);
    if (ev_int)
        event_free(ev_int);
    if (ev_reader)
        event_free(ev_reader);
    if (q)
        queue_close(q);
    if (base)
        event_base_free(base);
    curl_global_cleanup();
    config_free(&cfg);
    if (exit_code == 0)
        log_info("eddyd stopped cleanly");
    else
        log_error("eddyd stopped with exit status %d", exit_code);
    return exit_code;
}
