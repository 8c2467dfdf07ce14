/*
 * source.c - `eddy pause SOURCE` and `eddy resume SOURCE`: stop and restart
 * the delivery of one RudderStack source. The flag lives in the store
 * (queue_set_paused), so it works with eddyd stopped, holds across
 * restarts, and a running eddyd follows it within a second.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "help.h"

int cli_cmd_pause(struct cli *c, int argc, char **argv)
{
    const char *cmd = argv[0];
    bool pause = strcmp(cmd, "pause") == 0;
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        cli_help(cmd, stdout);
        return CLI_OK;
    }
    if (argc != 2)
        return cli_usage_error(cmd, "give exactly one SOURCE (a fingerprint from eddy status)%s",
                               "");
    const char *fp = argv[1];
    if (strlen(fp) != QUEUE_FP_SIZE - 1 || strspn(fp, "0123456789abcdef") != strlen(fp))
        return cli_usage_error(cmd,
                               "'%s' is not a source fingerprint (8 hex digits, as eddy status "
                               "lists them)",
                               fp);
    if (cli_open_store(c) != CLI_OK)
        return CLI_FAIL;
    bool changed = false;
    if (queue_set_paused(c->q, fp, pause, &changed) != QUEUE_OK) {
        cli_error("%s %s failed: %s", cmd, fp, queue_last_error());
        return CLI_FAIL;
    }
    /* Say whether the store knows the source at all: a typo pauses nothing. */
    struct queue_source *list = NULL;
    size_t n = 0;
    bool known = false;
    if (queue_sources(c->q, &list, &n) == QUEUE_OK)
        for (size_t i = 0; i < n; i++)
            known = known || (!strcmp(list[i].fp, fp) && list[i].batches > 0);
    free(list);
    if (!changed)
        printf("source %s was already %s\n", fp, pause ? "paused" : "not paused");
    else if (pause)
        printf("source %s paused: its batches stay pending; a running eddyd stops sending them "
               "within a second\n",
               fp);
    else
        printf("source %s resumed: a running eddyd sends its batches again within a second\n", fp);
    if (!known)
        printf("note: no batch of source %s is pending\n", fp);
    return CLI_OK;
}
