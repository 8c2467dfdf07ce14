/*
 * log.h - leveled log lines on stderr, journald-friendly ("<N>" priority
 * prefix when stderr is the journal, plain "LEVEL msg" otherwise). Callers
 * never pass tokens, write keys or bodies.
 */
#ifndef EDDY_LOG_H
#define EDDY_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 3, LOG_LVL_WARN = 4, LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

void log_set_level(enum log_level lvl);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* At most one line a second for an event that can repeat thousands of times
 * a second (accept failures, requests refused by libevent). One struct per
 * kind of event, used by one thread, zero-initialized. */
struct log_limit {
    int64_t last_ms; /* CLOCK_MONOTONIC */
    uint64_t skipped;
};

/* True when a line may be written now; *skipped is then how many were left
 * out since the last one. */
bool log_limit_ok(struct log_limit *l, uint64_t *skipped);

#endif
