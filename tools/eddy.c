/*
 * eddy.c - main of the eddy operator CLI: global options (-c/-d), then
 * dispatch to a command. Commands live in their own files (status.c,
 * list.c, show.c, dlq.c, apply.c, export.c, find.c, verify.c, backup.c,
 * compact.c, source.c, bury.c), share cli.c, and return exit codes: 0 ok,
 * 1 failure, 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "help.h"

#ifndef EDDY_VERSION
#define EDDY_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*run)(struct cli *c, int argc, char **argv);
} commands[] = {
    {"status", cli_cmd_status},   {"pending", cli_cmd_pending}, {"dlq", cli_cmd_dlq},
    {"find", cli_cmd_find},       {"verify", cli_cmd_verify},   {"backup", cli_cmd_backup},
    {"compact", cli_cmd_compact}, {"pause", cli_cmd_pause},     {"resume", cli_cmd_pause},
};

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"data-dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct cli c;
    const char *config = NULL, *dir = NULL;
    int opt;
    memset(&c, 0, sizeof c);
    opterr = 0;
    /* "+": stop at the command name; its options are its own. */
    while ((opt = getopt_long(argc, argv, "+c:d:h", opts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config = optarg;
            break;
        case 'd':
            dir = optarg;
            break;
        case 'h':
            cli_help("eddy", stdout);
            return CLI_OK;
        case 'V':
            printf("eddy %s\n", EDDY_VERSION);
            return CLI_OK;
        default:
            return cli_usage_error("eddy", "unknown or incomplete option %s", argv[optind - 1]);
        }
    }
    if (config && dir)
        return cli_usage_error("eddy", "give either -c FILE or -d DATA_DIR, not both%s", "");
    if (optind >= argc)
        return cli_usage_error("eddy", "no command given%s", "");

    if (dir) {
        c.data_dir = dir;
    } else if (config) {
        char err[512];
        if (cli_config_data_dir(config, c.data_dir_buf, sizeof c.data_dir_buf, err, sizeof err) !=
            0) {
            cli_error("%s", err);
            return CLI_FAIL;
        }
        c.data_dir = c.data_dir_buf;
    } else {
        const char *env = getenv("EDDY_DATA_DIR");
        c.data_dir = env && *env ? env : QUEUE_DEFAULT_DIR;
    }
    c.now_ms = cli_now_ms();

    const char *name = argv[optind];
    if (strcmp(name, "help") == 0) {
        cli_help(optind + 1 < argc ? argv[optind + 1] : "eddy", stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) == 0) {
            int rc = commands[i].run(&c, argc - optind, argv + optind);
            cli_close_store(&c);
            if (fflush(stdout) != 0 && rc == CLI_OK) {
                cli_error("writing the output failed");
                rc = CLI_FAIL;
            }
            return rc;
        }
    }
    return cli_usage_error("eddy", "unknown command '%s'", name);
}
