/*
 * policy.c - the delivery policy table of DESIGN.md as pure functions (see
 * policy.h). Kept apart from delivery.c so that every row is unit-tested
 * without a network or a store.
 */
#include "policy.h"

#include <curl/curl.h>

enum policy_action policy_classify(int curl_code, long http_status, bool aborted)
{
    if (aborted || curl_code == CURLE_ABORTED_BY_CALLBACK)
        return POLICY_ABORTED;
    /* Any transport error means we cannot know what RudderStack did with the
     * body; even a status line followed by a cut connection is treated as no
     * answer: retry (a duplicate at worst), never count it. */
    if (curl_code != CURLE_OK || http_status <= 0)
        return POLICY_NETWORK;
    if (http_status >= 200 && http_status < 300)
        return POLICY_ACK;
    switch (http_status) {
    case 400:
    case 415:
    case 422:
        return POLICY_BISECT;
    case 413:
        return POLICY_SPLIT;
    case 401:
    case 403:
    case 404:
        return POLICY_HOLD;
    case 408:
    case 429:
        return POLICY_RETRY;
    default:
        break;
    }
    /* A redirect means the URL is wrong (eddy never follows one: the body
     * would be re-posted elsewhere): a configuration fault like 404. */
    if (http_status >= 300 && http_status < 400)
        return POLICY_HOLD;
    /* 5xx, and answers the table does not name (1xx, 405, 409, ...): retry
     * and count, so a body that is never accepted ends in the DLQ after
     * max_attempts and retry_window, where it can be replayed. */
    return POLICY_RETRY;
}

const char *policy_action_name(enum policy_action a)
{
    switch (a) {
    case POLICY_ACK:
        return "ack";
    case POLICY_BISECT:
        return "bisect";
    case POLICY_SPLIT:
        return "split";
    case POLICY_HOLD:
        return "hold";
    case POLICY_RETRY:
        return "retry";
    case POLICY_NETWORK:
        return "network";
    case POLICY_ABORTED:
        return "aborted";
    }
    return "?";
}

uint64_t policy_backoff_ms(uint64_t min_ms, uint64_t max_ms, unsigned n, double u)
{
    if (max_ms < min_ms)
        max_ms = min_ms;
    if (n < 1)
        n = 1;
    uint64_t cap = min_ms ? min_ms : 1;
    for (unsigned i = 1; i < n && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    if (cap < min_ms)
        cap = min_ms;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999999;
    return min_ms + (uint64_t)((double)(cap - min_ms) * u);
}

uint64_t policy_retry_delay_ms(uint64_t min_ms, uint64_t max_ms, uint64_t retry_after_max_ms,
                               unsigned n, double u, int64_t retry_after_s)
{
    if (retry_after_s <= 0)
        return policy_backoff_ms(min_ms, max_ms, n, u);
    uint64_t cap = retry_after_max_ms < min_ms ? min_ms : retry_after_max_ms;
    /* Seconds beyond any sane horizon would overflow the product. */
    uint64_t ms = retry_after_s > (int64_t)(cap / 1000 + 1) ? cap : (uint64_t)retry_after_s * 1000;
    if (ms < min_ms)
        ms = min_ms;
    if (ms > cap)
        ms = cap;
    return ms;
}

bool policy_attempt_counts(enum policy_action act, int64_t prev_attempt_ms,
                           int64_t source_accepted_ms)
{
    return act == POLICY_RETRY && prev_attempt_ms > 0 && source_accepted_ms > prev_attempt_ms;
}

uint64_t policy_hold_probe_ms(uint64_t min_ms, uint64_t max_ms)
{
    uint64_t ms = max_ms < 30000 ? max_ms : 30000;
    return ms < min_ms ? min_ms : ms;
}

bool policy_give_up(uint32_t counted, int64_t first_failed_ms, int64_t now_ms,
                    unsigned max_attempts, uint64_t retry_window_ms)
{
    if (counted < max_attempts)
        return false;
    if (first_failed_ms <= 0)
        first_failed_ms = now_ms;
    return now_ms - first_failed_ms >= (int64_t)retry_window_ms;
}
