/*
 * seccomp_run.c - runs a program under a system call allow list, the way
 * systemd applies SystemCallFilter= (tests/reliability/unit.bats builds the
 * list from etc/eddyd.service with `systemd-analyze syscall-filter`).
 *
 *   seccomp_run [--errno NAME] ALLOW_FILE -- PROGRAM [ARGS...]
 *
 * ALLOW_FILE holds one system call name per line. A call not on it kills the
 * process with SIGSYS (systemd's default), or with --errno fails with that
 * error (SystemCallErrorNumber=). Only the native architecture is allowed
 * (SystemCallArchitectures=native), and no_new_privs is set
 * (NoNewPrivileges=yes, which libseccomp does by default).
 */
#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int errno_by_name(const char *name)
{
    static const struct {
        const char *name;
        int value;
    } known[] = {{"EPERM", EPERM}, {"EACCES", EACCES}, {"ENOSYS", ENOSYS}};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i].name, name) == 0)
            return known[i].value;
    return -1;
}

int main(int argc, char **argv)
{
    int argi = 1, err = 0;
    if (argi + 1 < argc && strcmp(argv[argi], "--errno") == 0) {
        err = errno_by_name(argv[argi + 1]);
        if (err < 0) {
            fprintf(stderr, "seccomp_run: unknown errno %s\n", argv[argi + 1]);
            return 2;
        }
        argi += 2;
    }
    if (argi + 2 >= argc || strcmp(argv[argi + 1], "--") != 0) {
        fprintf(stderr, "usage: seccomp_run [--errno NAME] ALLOW_FILE -- PROGRAM [ARGS...]\n");
        return 2;
    }
    FILE *f = fopen(argv[argi], "r");
    if (!f) {
        fprintf(stderr, "seccomp_run: %s: %s\n", argv[argi], strerror(errno));
        return 2;
    }
    scmp_filter_ctx ctx = seccomp_init(err ? SCMP_ACT_ERRNO((unsigned)err) : SCMP_ACT_KILL_PROCESS);
    if (!ctx) {
        fprintf(stderr, "seccomp_run: seccomp_init failed\n");
        return 2;
    }
    char line[128];
    unsigned allowed = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, " \t\r\n")] = '\0';
        if (!*line)
            continue;
        /* systemd's groups name calls of every architecture; one that does
         * not exist here is skipped, as systemd skips it. */
        int nr = seccomp_syscall_resolve_name(line);
        if (nr == __NR_SCMP_ERROR)
            continue;
        if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0)
            allowed++;
    }
    fclose(f);
    if (allowed == 0) {
        fprintf(stderr, "seccomp_run: no system call allowed: empty list?\n");
        return 2;
    }
    int rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        fprintf(stderr, "seccomp_run: seccomp_load: %s\n", strerror(-rc));
        return 2;
    }
    execv(argv[argi + 2], argv + argi + 2);
    fprintf(stderr, "seccomp_run: %s: %s\n", argv[argi + 2], strerror(errno));
    return 127;
}
