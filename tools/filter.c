/*
 * filter.c - FILTERS argument parsing for the CLI (see filter.h). Values are
 * checked here, before anything touches the store, so a typo is a usage
 * error (exit 2) and never a replay or purge of the wrong set.
 */
#include "filter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

void cli_filter_init(struct cli_filter *cf)
{
    memset(cf, 0, sizeof *cf);
}

static int parse_status(const char *s, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < 100 || v > 599)
        return -1;
    *out = (int32_t)v;
    return 0;
}

/* Why glob is not a pattern fnmatch(3) reads as meant, or NULL: glibc takes
 * an unclosed '[' as a literal, so `--type '['` would quietly match
 * nothing (or a literal bracket) instead of saying what is wrong. */
static const char *glob_problem(const char *glob)
{
    for (const char *p = glob; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return "it ends in a lone \\";
        } else if (*p == '[') {
            const char *q = p + 1;
            if (*q == '!' || *q == '^')
                q++;
            if (*q == ']') /* a ']' first in the set is a member */
                q++;
            while (*q && *q != ']')
                q++;
            if (!*q)
                return "a '[' is never closed by ']' (write \\[ for a literal bracket)";
            p = q;
        }
    }
    return NULL;
}

int cli_filter_option(struct cli_filter *cf, int opt, const char *arg, int64_t now_ms, char *err,
                      size_t errlen)
{
    int64_t ms;
    switch (opt) {
    case CLI_OPT_TYPE:
        if (!*arg) {
            snprintf(err, errlen, "--type needs a glob, e.g. --type 'users.*'");
            return -1;
        }
        const char *bad = glob_problem(arg);
        if (bad) {
            snprintf(err, errlen, "--type '%s': %s", arg, bad);
            return -1;
        }
        cf->f.type_glob = arg;
        break;
    case CLI_OPT_SINCE:
    case CLI_OPT_UNTIL:
        if (timefmt_parse_time(arg, now_ms, &ms) != 0) {
            snprintf(err, errlen,
                     "%s '%s': expected RFC 3339 (2026-11-28T10:00:00Z) or an age like 2h, 30m, "
                     "7d",
                     opt == CLI_OPT_SINCE ? "--since" : "--until", arg);
            return -1;
        }
        if (opt == CLI_OPT_SINCE)
            cf->f.since_ms = ms;
        else
            cf->f.until_ms = ms;
        break;
    case CLI_OPT_STATUS:
        if (parse_status(arg, &cf->f.status) != 0 || cf->f.status == 0) {
            snprintf(err, errlen,
                     "--status '%s': expected an HTTP status code (100 to 599) such as 400", arg);
            return -1;
        }
        break;
    case CLI_OPT_REASON:
        if (!*arg) {
            snprintf(err, errlen, "--reason needs some text to look for");
            return -1;
        }
        cf->f.reason = arg;
        break;
    case CLI_OPT_EVENT_ID:
        if (!*arg) {
            snprintf(err, errlen, "--event-id needs an event id");
            return -1;
        }
        cf->f.event_id = arg;
        break;
    case CLI_OPT_SOURCE:
        if (strlen(arg) != QUEUE_FP_SIZE - 1 || strspn(arg, "0123456789abcdef") != strlen(arg)) {
            snprintf(err, errlen,
                     "--source '%s': expected a source fingerprint (8 hex digits, as eddy "
                     "status lists them)",
                     arg);
            return -1;
        }
        cf->f.source = arg;
        break;
    case CLI_OPT_OLDER_THAN:
        if (timefmt_parse_duration(arg, &ms) != 0) {
            snprintf(err, errlen, "--older-than '%s': expected a duration like 7d, 12h, 30m", arg);
            return -1;
        }
        cf->older_than_until_ms = now_ms - ms;
        break;
    default:
        return 0;
    }
    cf->any = true;
    return 1;
}

int cli_filter_finish(struct cli_filter *cf, char *err, size_t errlen)
{
    if (cf->older_than_until_ms &&
        (cf->f.until_ms == 0 || cf->older_than_until_ms < cf->f.until_ms))
        cf->f.until_ms = cf->older_than_until_ms;
    if (cf->f.since_ms && cf->f.until_ms && cf->f.since_ms >= cf->f.until_ms) {
        snprintf(err, errlen, "the time range is empty: --since is not before --until");
        return -1;
    }
    return 0;
}
