/*
 * bury.c - `eddy pending bury ID... --reason TEXT`: sets pending batches
 * aside into the dead-letter queue by hand (reason "operator: TEXT"), for
 * instance the batch a held source keeps probing. Each move is one
 * transaction in storage (queue_bury), so the batch is always in exactly
 * one place; it can be replayed like any dead letter.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "help.h"

#define BURY_REASON_MAX 200

int cli_pending_bury(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {{"reason", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *why = NULL;
    int opt;
    optind = 0;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (opt == 'r') {
            why = optarg;
        } else if (opt == 'h') {
            cli_help("pending bury", stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("pending bury", "unknown or incomplete option %s",
                                   argv[optind - 1]);
        }
    }
    if (!why || !*why)
        return cli_usage_error("pending bury",
                               "--reason TEXT is required (it is kept with the "
                               "dead letter)%s",
                               "");
    if (strlen(why) > BURY_REASON_MAX)
        return cli_usage_error("pending bury", "--reason is longer than 200 characters%s", "");
    if (optind >= argc)
        return cli_usage_error("pending bury", "give the ids of the pending batches to bury%s", "");
    size_t n = (size_t)(argc - optind);
    uint64_t *ids = calloc(n, sizeof(*ids));
    if (!ids) {
        cli_error("out of memory");
        return CLI_FAIL;
    }
    for (size_t i = 0; i < n; i++)
        if (cli_parse_id(argv[optind + (int)i], &ids[i]) != 0) {
            free(ids);
            return cli_usage_error("pending bury", "'%s' is not an id (a positive number)",
                                   argv[optind + (int)i]);
        }
    if (cli_open_store(c) != CLI_OK) {
        free(ids);
        return CLI_FAIL;
    }
    char reason[BURY_REASON_MAX + 16];
    snprintf(reason, sizeof reason, "operator: %s", why);
    int rc = CLI_OK;
    for (size_t i = 0; i < n; i++) {
        uint64_t dead = 0;
        int st = queue_bury(c->q, ids[i], reason, &dead);
        if (st == QUEUE_OK) {
            printf("pending batch %" PRIu64 " buried as dead letter %" PRIu64 "\n", ids[i], dead);
        } else if (st == QUEUE_NOT_FOUND) {
            cli_error("pending batch %" PRIu64 " not found (delivered or moved meanwhile?)",
                      ids[i]);
            rc = CLI_FAIL;
        } else {
            cli_error("burying pending batch %" PRIu64 " failed: %s", ids[i], queue_last_error());
            rc = CLI_FAIL;
        }
    }
    free(ids);
    return rc;
}
