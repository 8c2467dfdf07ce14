/*
 * log.c - leveled log lines on stderr.
 *
 * Under systemd (JOURNAL_STREAM names our stderr) each line starts with the
 * sd-daemon "<N>" priority prefix so journald files it at the right level;
 * elsewhere lines read "2026-01-01T00:00:00Z LEVEL message". One write(2)
 * per line so lines from different threads never interleave. Callers never
 * pass tokens, write keys or bodies.
 */
#include "log.h"

#include "../storage/clock.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int min_level = LOG_LVL_INFO;
static atomic_int on_journal = -1; /* -1 unknown, 0 no, 1 yes */

void log_set_level(enum log_level lvl)
{
    atomic_store(&min_level, lvl);
}

/* True when stderr is the journal stream systemd told us about. */
static int detect_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long dev, ino;
    if (!js || sscanf(js, "%lu:%lu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) != 0)
        return 0;
    return st.st_dev == (dev_t)dev && st.st_ino == (ino_t)ino;
}

static const char *level_name(enum log_level lvl)
{
    switch (lvl) {
    case LOG_LVL_ERROR:
        return "ERROR";
    case LOG_LVL_WARN:
        return "WARN";
    case LOG_LVL_INFO:
        return "INFO";
    default:
        return "DEBUG";
    }
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    if ((int)lvl > atomic_load(&min_level))
        return;
    int journal = atomic_load(&on_journal);
    if (journal < 0) {
        journal = detect_journal();
        atomic_store(&on_journal, journal);
    }
    char line[2048];
    size_t n;
    if (journal) {
        n = (size_t)snprintf(line, sizeof(line), "<%d>", (int)lvl);
    } else {
        struct tm tm;
        time_t now = (time_t)(clock_wall_ms() / 1000);
        gmtime_r(&now, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s ", level_name(lvl));
    }
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += (size_t)m;
    if (n > sizeof(line) - 2)
        n = sizeof(line) - 2;
    /* Messages are single lines: a stray newline would split a journal entry. */
    for (size_t i = 0; i < n; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, n);
    (void)w;
}

bool log_limit_ok(struct log_limit *l, uint64_t *skipped)
{
    int64_t now = clock_mono_ms();
    if (l->last_ms && now - l->last_ms < 1000) {
        l->skipped++;
        return false;
    }
    l->last_ms = now;
    *skipped = l->skipped;
    l->skipped = 0;
    return true;
}
