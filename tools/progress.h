/*
 * progress.h - a progress line on stderr for long operations (replay, purge,
 * export, verify): count, rate, and when the total is known a bar and an
 * ETA. Drawn only when stderr is a terminal, at most ten times a second and
 * not at all for operations that end within half a second; piped or
 * redirected output gets nothing.
 */
#ifndef EDDY_CLI_PROGRESS_H
#define EDDY_CLI_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_progress {
    const char *label;
    uint64_t total; /* 0 = unknown */
    uint64_t done;
    int64_t start_ns, last_draw_ns;
    bool enabled, drawn;
    bool forced;   /* EDDY_PROGRESS=1: also draw short operations (tests) */
    bool bytes;    /* count bytes: sizes in KiB/MiB instead of plain numbers */
    unsigned cols; /* the terminal's width (0 = unknown): the line stays narrower */
};

/* Starts a progress line; enabled only when stderr is a terminal (and
 * EDDY_PROGRESS is not "0"; EDDY_PROGRESS=1 forces it on from the first
 * update, for tests). */
void cli_progress_start(struct cli_progress *p, const char *label, uint64_t total);
/* Records done items and redraws when due. */
void cli_progress_update(struct cli_progress *p, uint64_t done);
/* Clears the line. */
void cli_progress_end(struct cli_progress *p);

/* Formats the line into buf (exposed for tests): "label 1200/5000 [###...] 24%
 * 812/s ETA 0:05". With p->cols set, a line that would not fit drops the
 * bar and the rate, and is cut to cols - 1 at most: a line that wraps
 * cannot be redrawn in place. */
void cli_progress_format(const struct cli_progress *p, int64_t now_ns, char *buf, size_t cap);

#endif
