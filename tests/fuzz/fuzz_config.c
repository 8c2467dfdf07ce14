/*
 * fuzz_config.c - libFuzzer harness for eddyd's configuration parser.
 *
 * Each input is used twice: as an INI file given to config_load_file (through
 * a memfd, so no disk I/O), and as lines "section.key = value" given to
 * config_set one by one, which is how command-line flags reach the config.
 * Every value also goes through config_parse_size and config_parse_duration.
 * Properties: no memory error, leak or UB; a failure always names what is
 * wrong, a file failure with "FILE:LINE: " or "FILE: "; config_validate
 * accepts nothing with a high_water outside (0, 1]; no accepted credential
 * holds whitespace (an inline comment never becomes a key); a config that
 * passed config_validate differs from itself in nothing (config_changes).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_util.h"
#include "log.h"

static int conf_fd = -1;
static char conf_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* A bad line is logged by some paths; millions of them would only slow
     * the fuzzer down. */
    log_set_level(LOG_LVL_ERROR);
    conf_fd = memfd_create("fuzz.conf", 0);
    if (conf_fd < 0) {
        perror("memfd_create");
        abort();
    }
    fchmod(conf_fd, 0600);
    snprintf(conf_path, sizeof conf_path, "/proc/self/fd/%d", conf_fd);
    return 0;
}

static void check_failure(int rc, const char *err)
{
    FUZZ_CHECK(rc == 0 || rc == -1, "status %d", rc);
    if (rc)
        FUZZ_CHECK(err[0] != '\0', "failure without a message");
}

static void count_change(void *arg, const char *section, const char *name, enum config_live live,
                         const char *a, const char *b)
{
    (void)section, (void)name, (void)live, (void)a, (void)b;
    (*(int *)arg)++;
}

static void check_validated(const struct config *c)
{
    char err[512] = "";
    if (config_validate(c, err, sizeof err) == 0) {
        FUZZ_CHECK(c->high_water > 0 && c->high_water <= 1, "high_water %g accepted",
                   c->high_water);
        FUZZ_CHECK(c->npaths > 0, "no paths accepted");
        FUZZ_CHECK(c->ntokens == 0 || c->write_key[0], "tokens without [delivery] write_key");
        for (size_t i = 0; i < c->ntokens; i++)
            FUZZ_CHECK(!strpbrk(c->tokens[i], " \t\r\n\v\f"), "token with whitespace");
        for (size_t i = 0; i < c->nwrite_keys; i++)
            FUZZ_CHECK(!strpbrk(c->write_keys[i], " \t\r\n\v\f:"), "write key with space or :");
        int changes = 0;
        config_changes(c, c, count_change, &changes);
        FUZZ_CHECK(changes == 0, "a config differs from itself");
    } else {
        FUZZ_CHECK(err[0] != '\0', "validate failed without a message");
    }
}

static void fuzz_file(const uint8_t *data, size_t size)
{
    if (ftruncate(conf_fd, 0) != 0 || pwrite(conf_fd, data, size, 0) != (ssize_t)size)
        abort();
    struct config c;
    config_defaults(&c);
    char err[512] = "";
    int rc = config_load_file(&c, conf_path, err, sizeof err);
    check_failure(rc, err);
    if (rc)
        FUZZ_CHECK(strncmp(err, conf_path, strlen(conf_path)) == 0 && err[strlen(conf_path)] == ':',
                   "file error without FILE: \"%s\"", err);
    if (rc == 0)
        check_validated(&c);
    config_free(&c);
}

static void fuzz_lines(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    FUZZ_CHECK(text != NULL, "oom");
    memcpy(text, data, size);
    text[size] = '\0';
    struct config c;
    config_defaults(&c);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '='), *dot = strchr(line, '.');
        if (!eq || !dot || dot > eq)
            continue;
        *dot = '\0';
        *eq = '\0';
        const char *value = eq + 1;
        char err[512] = "";
        check_failure(config_set(&c, line, dot + 1, value, err, sizeof err), err);
        uint64_t v;
        if (config_parse_size(value, &v) == 0)
            FUZZ_CHECK(value[0] != '\0', "empty size parsed");
        if (config_parse_duration(value, &v) == 0)
            FUZZ_CHECK(value[0] != '\0', "empty duration parsed");
    }
    check_validated(&c);
    config_free(&c);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_file(data, size);
    fuzz_lines(data, size);
    return 0;
}
