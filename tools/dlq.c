/*
 * dlq.c - `eddy dlq SUBCOMMAND` and `eddy pending SUBCOMMAND` dispatch.
 */
#include <string.h>

#include "cli.h"
#include "help.h"

int cli_cmd_dlq(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("dlq", "dlq needs a subcommand: list, show, replay, purge, export%s",
                               "");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        cli_help("dlq", stdout);
        return CLI_OK;
    }
    if (strcmp(sub, "list") == 0)
        return cli_list_command(c, argc - 1, argv + 1, QUEUE_DEAD, "dlq list");
    if (strcmp(sub, "show") == 0)
        return cli_show_command(c, argc - 1, argv + 1, QUEUE_DEAD, "dlq show");
    if (strcmp(sub, "replay") == 0)
        return cli_dlq_apply(c, argc - 1, argv + 1, QUEUE_REPLAY);
    if (strcmp(sub, "purge") == 0)
        return cli_dlq_apply(c, argc - 1, argv + 1, QUEUE_PURGE);
    if (strcmp(sub, "export") == 0)
        return cli_dlq_export(c, argc - 1, argv + 1);
    return cli_usage_error("dlq", "unknown dlq subcommand '%s'", sub);
}

int cli_cmd_pending(struct cli *c, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage_error("pending", "pending needs a subcommand: list, show, bury%s", "");
    const char *sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        cli_help("pending", stdout);
        return CLI_OK;
    }
    if (strcmp(sub, "list") == 0)
        return cli_list_command(c, argc - 1, argv + 1, QUEUE_PENDING, "pending");
    if (strcmp(sub, "show") == 0)
        return cli_show_command(c, argc - 1, argv + 1, QUEUE_PENDING, "pending");
    if (strcmp(sub, "bury") == 0)
        return cli_pending_bury(c, argc - 1, argv + 1);
    return cli_usage_error("pending", "unknown pending subcommand '%s'", sub);
}
