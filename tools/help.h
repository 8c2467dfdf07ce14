/*
 * help.h - help texts (help.c) and the usage-error message every command
 * prints before exiting 2.
 */
#ifndef EDDY_CLI_HELP_H
#define EDDY_CLI_HELP_H

#include <stdio.h>

/* Prints the help of topic ("eddy", "status", "dlq list", ...). */
void cli_help(const char *topic, FILE *out);

/* Prints "eddy: " + fmt (with one %s for arg) and a pointer to --help on
 * stderr; returns 2 (CLI_USAGE). */
int cli_usage_error(const char *topic, const char *fmt, const char *arg);

#endif
