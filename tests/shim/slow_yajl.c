/*
 * slow_yajl.c - LD_PRELOAD shim for tests: holds yajl_parse on bodies of at
 * least 1 MiB until the test releases it, so a test can prove that a large
 * body being validated does not hold up small requests on other
 * connections (ordering, not wall-clock time).
 *
 *   SLOW_YAJL_MARKER   file created when a large parse starts
 *   SLOW_YAJL_RELEASE  the parse continues once this file exists (or after
 *                      30 s, so a broken test cannot hang eddyd forever)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*yajl_parse_fn)(void *h, const unsigned char *txt, size_t len);

int yajl_parse(void *h, const unsigned char *txt, size_t len)
{
    static yajl_parse_fn real;
    if (!real)
        real = (yajl_parse_fn)dlsym(RTLD_NEXT, "yajl_parse");
    const char *marker = getenv("SLOW_YAJL_MARKER");
    const char *release = getenv("SLOW_YAJL_RELEASE");
    if (len >= (1u << 20) && marker && release) {
        int fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0)
            close(fd);
        struct timespec ms10 = {0, 10 * 1000 * 1000};
        for (int i = 0; i < 3000 && access(release, F_OK) != 0; i++)
            nanosleep(&ms10, NULL);
    }
    return real(h, txt, len);
}
