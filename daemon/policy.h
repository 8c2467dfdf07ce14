/*
 * policy.h - the delivery policy of DESIGN.md as pure functions: what an
 * answer from RudderStack means (deliver, bisect, split, hold, back off with
 * or without counting), how long to wait (full-jitter exponential backoff,
 * Retry-After clamped), and when a batch gives up to the dead-letter queue.
 * No I/O, no clock, no randomness of its own: callers pass time and a uniform
 * random number, so every rule is unit-tested (tests/unit/daemon/test_policy.c).
 */
#ifndef EDDY_POLICY_H
#define EDDY_POLICY_H

#include <stdbool.h>
#include <stdint.h>

enum policy_action {
    POLICY_ACK,     /* 2xx: RudderStack stored it; delete from pending */
    POLICY_BISECT,  /* 400, 415, 422: this body is unusable; halve, bury single events */
    POLICY_SPLIT,   /* 413: too large; halve, bury a single event */
    POLICY_HOLD,    /* 401, 403, 404, 3xx: configuration fault; keep all, probe slowly */
    POLICY_RETRY,   /* 408, 429, 5xx, other answers: back off, counts toward max_attempts */
    POLICY_NETWORK, /* no HTTP answer (refused, DNS, timeout, TLS): back off, not counted */
    POLICY_ABORTED, /* eddyd is stopping: not an attempt; the batch stays pending as is */
};

/* Classifies one attempt. curl_code is the CURLcode of the transfer (0 =
 * CURLE_OK); http_status the answer's status (0 when none); aborted is true
 * when the transfer was cut by eddyd's own stop flag. */
enum policy_action policy_classify(int curl_code, long http_status, bool aborted);

/* Name of an action, for logs. */
const char *policy_action_name(enum policy_action a);

/* Full-jitter exponential backoff for the n-th consecutive failure (n >= 1):
 * a delay uniform in [min_ms, min(max_ms, min_ms * 2^(n-1))], u in [0, 1). */
uint64_t policy_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned n, double u);

/* The wait after a transient answer: Retry-After (seconds, as libcurl's
 * CURLINFO_RETRY_AFTER reports both the seconds and the HTTP-date forms;
 * <= 0 when absent) clamped to [min_ms, retry_after_max_ms] whatever max_ms
 * says (the server knows when it will be back), else policy_backoff_ms. */
uint64_t policy_retry_delay_ms(uint64_t min_ms, uint64_t max_ms, uint64_t retry_after_max_ms,
                               unsigned n, double u, int64_t retry_after_s);

/* How often a held queue probes RudderStack: backoff_max, at most 30 s and at
 * least backoff_min. */
uint64_t policy_hold_probe_ms(uint64_t min_ms, uint64_t max_ms);

/* The outage rule: a failed attempt (act POLICY_RETRY) counts toward
 * max_attempts only when the batch's source accepted some other batch since
 * this batch's previous attempt: the source is healthy and this batch keeps
 * failing (a poison batch). While every batch of a source fails it is an
 * outage of that source and nothing counts, whatever it answers; a first
 * attempt never counts (there is no "since"). prev_attempt_ms is the batch's
 * last failure (0: none), source_accepted_ms the source's last 2xx (0:
 * none), both wall-clock as stored. Network failures and holds never count. */
bool policy_attempt_counts(enum policy_action act, int64_t prev_attempt_ms,
                           int64_t source_accepted_ms);

/* The dead-letter rule for transient answers: true only when BOTH `counted`
 * HTTP answers reached max_attempts AND retry_window passed since the first
 * failure. first_failed_ms <= 0 means "never failed before" (now). */
bool policy_give_up(uint32_t counted, int64_t first_failed_ms, int64_t now_ms,
                    unsigned max_attempts, uint64_t retry_window_ms);

#endif
