/*
 * progress.c - the stderr progress line (see progress.h).
 */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "../storage/clock.h"
#include "cli.h"
#include "timefmt.h"

void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total)
{
    const char *force = getenv("EDDY_PROGRESS");
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->start_ns = clock_mono_ns();
    p->forced = force && strcmp(force, "1") == 0;
    if (force && strcmp(force, "0") == 0)
        p->enabled = false;
    else
        p->enabled = p->forced || isatty(STDERR_FILENO);
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        p->cols = ws.ws_col;
}

static void clock_text(double secs, char *buf, size_t cap)
{
    long s = (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", s / 60, s % 60);
}

static void count_text(const struct cli_progress *p, uint64_t n, char *buf, size_t cap)
{
    if (p->bytes)
        timefmt_size(n, buf, cap);
    else
        snprintf(buf, cap, "%llu", (unsigned long long)n);
}

void cli_progress_format(const struct cli_progress *p, int64_t now_ns, char *buf, size_t cap)
{
    double secs = (double)(now_ns - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    char done[32], total[32], speed[32];
    count_text(p, p->done, done, sizeof done);
    count_text(p, (uint64_t)rate, speed, sizeof speed);
    int n = snprintf(buf, cap, "%s %s", p->label, done);
    if (n < 0 || (size_t)n >= cap)
        return;
    if (p->total) {
        char bar[21], eta[32];
        uint64_t d = p->done > p->total ? p->total : p->done;
        size_t fill = (size_t)(d * 20 / p->total);
        memset(bar, '#', fill);
        memset(bar + fill, '.', 20 - fill);
        bar[20] = '\0';
        if (rate > 0)
            clock_text((double)(p->total - d) / rate, eta, sizeof eta);
        else
            snprintf(eta, sizeof eta, "?");
        count_text(p, p->total, total, sizeof total);
        int pct = (int)(d * 100 / p->total);
        int m = snprintf(buf + n, cap - (size_t)n, "/%s [%s] %3d%%  %s/s  ETA %s", total, bar, pct,
                         speed, eta);
        if (p->cols && m > 0 && (size_t)(n + m) >= p->cols)
            snprintf(buf + n, cap - (size_t)n, "/%s %d%% ETA %s", total, pct, eta);
    } else {
        snprintf(buf + n, cap - (size_t)n, "  %s/s", speed);
    }
    if (p->cols && strlen(buf) >= p->cols && p->cols - 1 < cap)
        buf[p->cols - 1] = '\0';
}

void cli_progress_update(struct cli_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    int64_t now = clock_mono_ns();
    if ((!p->forced && now - p->start_ns < 500000000) ||
        (p->drawn && now - p->last_draw_ns < 100000000))
        return;
    char line[256];
    cli_progress_format(p, now, line, sizeof line);
    fprintf(stderr, "\r\033[K%s", line);
    fflush(stderr);
    p->last_draw_ns = now;
    p->drawn = true;
}

void cli_progress_end(struct cli_progress *p)
{
    if (p->drawn) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
    p->drawn = false;
}
