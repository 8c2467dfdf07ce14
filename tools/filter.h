/*
 * filter.h - the FILTERS arguments shared by `dlq list/replay/purge/export`
 * and `pending list`: --type GLOB --since TIME --until TIME --status CODE
 * --reason TEXT --event-id ID --source FP (and --older-than DUR for purge), turned into a
 * storage/queue.h struct queue_filter. Pure: no store access, unit-tested.
 */
#ifndef EDDY_CLI_FILTER_H
#define EDDY_CLI_FILTER_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../storage/queue.h"

enum cli_filter_opt {
    CLI_OPT_TYPE = 1000,
    CLI_OPT_SINCE,
    CLI_OPT_UNTIL,
    CLI_OPT_STATUS,
    CLI_OPT_REASON,
    CLI_OPT_EVENT_ID,
    CLI_OPT_OLDER_THAN,
    CLI_OPT_SOURCE,
};

/* getopt_long entries for the FILTERS; add CLI_OLDER_THAN_OPTION where
 * --older-than is allowed. */
#define CLI_FILTER_OPTIONS                                                                         \
    {"type", required_argument, NULL, CLI_OPT_TYPE},                                               \
        {"since", required_argument, NULL, CLI_OPT_SINCE},                                         \
        {"until", required_argument, NULL, CLI_OPT_UNTIL},                                         \
        {"status", required_argument, NULL, CLI_OPT_STATUS},                                       \
        {"reason", required_argument, NULL, CLI_OPT_REASON},                                       \
        {"source", required_argument, NULL, CLI_OPT_SOURCE},                                       \
    {                                                                                              \
        "event-id", required_argument, NULL, CLI_OPT_EVENT_ID                                      \
    }
#define CLI_OLDER_THAN_OPTION                                                                      \
    {                                                                                              \
        "older-than", required_argument, NULL, CLI_OPT_OLDER_THAN                                  \
    }

struct cli_filter {
    struct queue_filter f; /* what storage applies; strings point into argv */
    bool any;              /* at least one filter option was given */
    int64_t older_than_until_ms;
};

void cli_filter_init(struct cli_filter *cf);

/* Handles one getopt_long result. Returns 1 when opt was a filter option and
 * its value is good, 0 when opt is not a filter option, -1 (reason in err)
 * when the value is bad. */
int cli_filter_option(struct cli_filter *cf, int opt, const char *arg, int64_t now_ms, char *err,
                      size_t errlen);

/* Completes the filter after all options: folds --older-than into the until
 * bound and rejects an empty time range. Returns 0 or -1 (reason in err). */
int cli_filter_finish(struct cli_filter *cf, char *err, size_t errlen);

#endif
