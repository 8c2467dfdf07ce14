/*
 * cli.c - what every eddy command shares (cli.h): finding and opening the
 * data dir, -d DIR or [storage] data_dir of an eddyd config (-c FILE, read
 * with inih; the CLI does not link daemon/ and ignores every other key),
 * then queue_open without creating anything and with the map size eddyd
 * stored, so the CLI never resizes a live daemon's map; error printing, id
 * and count parsing, the clock, and the interrupt flag long operations poll
 * between chunks.
 */
#include <errno.h>
#include <ini.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../storage/clock.h"
#include "cli.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout); /* what was said before the error comes before it */
    fputs("eddy: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int64_t cli_now_ms(void)
{
    return clock_wall_ms();
}

volatile sig_atomic_t cli_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

void cli_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESETHAND: a second ^C during the last chunk must not kill the
     * process mid-commit either; the chunk ends, then the command stops. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_parse_id(const char *s, uint64_t *id)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v == 0)
        return -1;
    *id = v;
    return 0;
}

int cli_parse_count(const char *s, size_t *n)
{
    uint64_t v;
    if (cli_parse_id(s, &v) != 0 || v > SIZE_MAX)
        return -1;
    *n = (size_t)v;
    return 0;
}

struct config_read {
    char *buf;
    size_t cap;
    int found;
    int too_long;
};

static int on_ini(void *user, const char *section, const char *key, const char *value)
{
    struct config_read *r = user;
    if (strcmp(section, "storage") == 0 && strcmp(key, "data_dir") == 0) {
        if (strlen(value) >= r->cap)
            r->too_long = 1;
        else
            snprintf(r->buf, r->cap, "%s", value);
        r->found = 1;
    }
    return 1; /* eddyd validates its own keys; the CLI only needs this one */
}

int cli_config_data_dir(const char *path, char *buf, size_t cap, char *err, size_t errlen)
{
    struct config_read r = {.buf = buf, .cap = cap};
    /* Comments as eddyd reads them (daemon/config.c): "data_dir = D # x"
     * is D for both, not D for one and "D # x" for the other. */
    ini_start_comment_prefixes = ";#";
    ini_allow_inline_comments = true;
    ini_inline_comment_prefixes = ";#";
    int rc = ini_parse(path, on_ini, &r);
    if (rc == -1) {
        snprintf(err, errlen, "cannot read config %s: %s", path, strerror(errno));
        return -1;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s:%d: not valid INI", path, rc);
        return -1;
    }
    if (r.too_long) {
        snprintf(err, errlen, "%s: [storage] data_dir is too long", path);
        return -1;
    }
    if (!r.found || !*buf) {
        /* eddyd's built-in default (DESIGN.md "Config"). */
        snprintf(buf, cap, "%s", QUEUE_DEFAULT_DIR);
    }
    return 0;
}

int cli_open_store(struct cli *c)
{
    struct stat st;
    char err[512] = "";
    if (c->q)
        return CLI_OK;
    if (stat(c->data_dir, &st) != 0) {
        cli_error("data dir %s: %s (give the store with -d DIR or -c eddy.conf)", c->data_dir,
                  strerror(errno));
        return CLI_FAIL;
    }
    if (!S_ISDIR(st.st_mode)) {
        cli_error("data dir %s is not a directory", c->data_dir);
        return CLI_FAIL;
    }
    struct queue_options o = {
        .dir = c->data_dir, .map_size = 0, .sync_full = true, .create = false};
    int rc = QUEUE_ERROR;
    /* lmdb.h: opening can fail while another process opens or closes the
     * same env at that instant; a short retry hides that race. */
    for (int i = 0; i < 5; i++) {
        err[0] = '\0';
        rc = queue_open(&c->q, &o, err, sizeof err);
        if (rc != QUEUE_ERROR)
            break;
        usleep(50000);
    }
    switch (rc) {
    case QUEUE_OK:
        return CLI_OK;
    case QUEUE_NOT_STORE:
        if (err[0])
            cli_error("%s", err);
        else
            cli_error("%s is not an eddy store", c->data_dir);
        break;
    case QUEUE_VERSION:
        cli_error("%s was written by a newer eddy; use that version's eddy CLI (%s)", c->data_dir,
                  err[0] ? err : "format version");
        break;
    default:
        cli_error("cannot open the store in %s: %s", c->data_dir, err[0] ? err : "unknown error");
        break;
    }
    c->q = NULL;
    return CLI_FAIL;
}

void cli_close_store(struct cli *c)
{
    if (c->q)
        queue_close(c->q);
    c->q = NULL;
}
