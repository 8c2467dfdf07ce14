/*
 * timefmt.c - TIME and duration parsing, RFC 3339 / age / size formatting
 * for the CLI. Ages and sizes are what an operator reads in a table; the
 * RFC 3339 form (UTC, milliseconds) is what scripts read in --json lines, and
 * it is also accepted back by --since/--until so a listed time can be pasted.
 */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t unit_ms(const char *u, size_t len)
{
    static const struct {
        const char *name;
        int64_t ms;
    } units[] = {
        {"ms", 1},         {"s", 1000},        {"sec", 1000},       {"m", 60000},
        {"min", 60000},    {"h", 3600000},     {"d", 86400000},     {"w", 604800000},
        {"secs", 1000},    {"mins", 60000},    {"hour", 3600000},   {"hours", 3600000},
        {"day", 86400000}, {"days", 86400000}, {"week", 604800000}, {"weeks", 604800000},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strlen(units[i].name) == len && strncmp(units[i].name, u, len) == 0)
            return units[i].ms;
    return 0;
}

int timefmt_parse_duration(const char *s, int64_t *ms)
{
    int64_t total = 0;
    const char *p = s;
    if (!s || !*s)
        return -1;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            return -1;
        errno = 0;
        char *end;
        unsigned long long n = strtoull(p, &end, 10);
        if (errno || n > (unsigned long long)INT64_MAX / 604800000)
            return -1;
        const char *u = end;
        while (*end && isalpha((unsigned char)*end))
            end++;
        int64_t m = unit_ms(u, (size_t)(end - u));
        if (m == 0)
            return -1; /* a bare number is ambiguous: refuse rather than guess */
        int64_t add = (int64_t)n * m;
        if (total > INT64_MAX - add)
            return -1;
        total += add;
        p = end;
    }
    *ms = total;
    return 0;
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int parse_rfc3339(const char *s, int64_t *ms)
{
    const char *p = s;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int64_t frac_ms = 0, offset_s = 0;
    if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d))
        return -1;
    if (*p) {
        if (*p != 'T' && *p != 't' && *p != ' ')
            return -1;
        p++;
        if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
            return -1;
        if (*p == ':') {
            p++;
            if (digits(&p, 2, &sec))
                return -1;
            if (*p == '.' || *p == ',') {
                p++;
                int64_t scale = 100;
                if (!isdigit((unsigned char)*p))
                    return -1;
                while (isdigit((unsigned char)*p)) {
                    frac_ms += (*p - '0') * scale;
                    scale /= 10;
                    p++;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int sign = *p == '-' ? -1 : 1, oh, om;
            p++;
            if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om) || oh > 23 || om > 59)
                return -1;
            offset_s = sign * (oh * 3600 + om * 60);
        } else {
            return -1; /* a time without a zone is ambiguous */
        }
    }
    if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = y - 1900,
                    .tm_mon = mo - 1,
                    .tm_mday = d,
                    .tm_hour = h,
                    .tm_min = mi,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != d)
        return -1; /* timegm normalised an impossible date such as 02-30 */
    *ms = ((int64_t)t - offset_s) * 1000 + frac_ms;
    return 0;
}

int timefmt_parse_time(const char *s, int64_t now_ms, int64_t *ms)
{
    int64_t d;
    if (!s || !*s)
        return -1;
    if (timefmt_parse_duration(s, &d) == 0) {
        *ms = now_ms - d;
        return 0;
    }
    return parse_rfc3339(s, ms);
}

char *timefmt_rfc3339(int64_t ms, char *buf, size_t cap)
{
    int64_t secs = ms / 1000, rem = ms % 1000;
    if (rem < 0) {
        rem += 1000;
        secs -= 1;
    }
    time_t t = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        snprintf(buf, cap, "?");
        return buf;
    }
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)rem);
    return buf;
}

char *timefmt_age(int64_t ms, char *buf, size_t cap)
{
    const char *sign = "";
    if (ms < 0) {
        sign = "-"; /* clocks of two hosts disagree; show it rather than hide it */
        ms = -ms;
    }
    int64_t s = ms / 1000;
    if (s < 60) /* "0s", so "0s ago" and "in 0s" read right */
        snprintf(buf, cap, "%s%" PRId64 "s", sign, s);
    else if (s < 3600)
        snprintf(buf, cap, "%s%" PRId64 "m", sign, s / 60);
    else if (s < 86400)
        snprintf(buf, cap, "%s%" PRId64 "h%02" PRId64 "m", sign, s / 3600, s % 3600 / 60);
    else if (s < 100 * 86400)
        snprintf(buf, cap, "%s%" PRId64 "d%02" PRId64 "h", sign, s / 86400, s % 86400 / 3600);
    else
        snprintf(buf, cap, "%s%" PRId64 "d", sign, s / 86400);
    return buf;
}

char *timefmt_size(uint64_t bytes, char *buf, size_t cap)
{
    static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        snprintf(buf, cap, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes / 1024;
    size_t u = 0;
    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    /* One decimal below 100 keeps the column narrow but still informative. */
    if (v < 99.95)
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    else
        snprintf(buf, cap, "%.0f %s", v, units[u]);
    return buf;
}
