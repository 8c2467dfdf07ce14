/*
 * peer_put.c - the load generator of tests/bench/peers.sh for the peers
 * that speak their own protocol: N client threads, each on its own
 * connection, sending one body per request and waiting for the answer
 * (which the server gives only after its fsync) before the next.
 *   peer_put redis     HOST PORT BODY CLIENTS SECONDS   RPUSH q <body>
 *   peer_put beanstalk HOST PORT BODY CLIENTS SECONDS   put 0 0 60 <len>
 * Prints "REQ_PER_S P50_MS P99_MS ERRORS".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define MAX_SAMPLES 2000000

static const char *mode, *host;
static int port;
static char *req;
static size_t req_len;
static double until;
static double *lat;
static size_t nlat;
static unsigned long errors;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Reads one answer line (up to "\r\n"); true when it is the success one. */
static bool answer_ok(int fd)
{
    char buf[256];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t r = read(fd, buf + n, 1);
        if (r <= 0)
            return false;
        n++;
        if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
            break;
    }
    buf[n] = '\0';
    return strcmp(mode, "redis") == 0 ? buf[0] == ':' : strncmp(buf, "INSERTED ", 9) == 0;
}

static void *client(void *arg)
{
    (void)arg;
    int fd = dial();
    if (fd < 0) {
        __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
        return NULL;
    }
    while (now_s() < until) {
        double t0 = now_s();
        size_t off = 0;
        while (off < req_len) {
            ssize_t w = write(fd, req + off, req_len - off);
            if (w <= 0)
                goto fail;
            off += (size_t)w;
        }
        if (!answer_ok(fd))
            goto fail;
        double dt = now_s() - t0;
        pthread_mutex_lock(&lock);
        if (nlat < MAX_SAMPLES)
            lat[nlat++] = dt;
        pthread_mutex_unlock(&lock);
    }
    close(fd);
    return NULL;
fail:
    __atomic_add_fetch(&errors, 1, __ATOMIC_RELAXED);
    close(fd);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    if (argc != 7) {
        fprintf(stderr, "usage: peer_put redis|beanstalk HOST PORT BODY CLIENTS SECONDS\n");
        return 2;
    }
    mode = argv[1];
    host = argv[2];
    port = atoi(argv[3]);
    int clients = atoi(argv[5]);
    double secs = atof(argv[6]);
    if (clients < 1 || clients > MAX_CLIENTS)
        return 2;
    FILE *f = fopen(argv[4], "rb");
    if (!f)
        return 1;
    static char body[1 << 22];
    size_t blen = fread(body, 1, sizeof body, f);
    fclose(f);
    req = malloc(blen + 128);
    lat = malloc(MAX_SAMPLES * sizeof(double));
    if (!req || !lat)
        return 1;
    int h = strcmp(mode, "redis") == 0
                ? sprintf(req, "*3\r\n$5\r\nRPUSH\r\n$1\r\nq\r\n$%zu\r\n", blen)
                : sprintf(req, "put 0 0 60 %zu\r\n", blen);
    memcpy(req + h, body, blen);
    memcpy(req + h + blen, "\r\n", 2);
    req_len = (size_t)h + blen + 2;
    pthread_t t[MAX_CLIENTS];
    double t0 = now_s();
    until = t0 + secs;
    for (int i = 0; i < clients; i++)
        pthread_create(&t[i], NULL, client, NULL);
    for (int i = 0; i < clients; i++)
        pthread_join(t[i], NULL);
    double el = now_s() - t0;
    qsort(lat, nlat, sizeof(double), cmp);
    double p50 = nlat ? lat[nlat / 2] : 0, p99 = nlat ? lat[(size_t)(nlat * 0.99)] : 0;
    printf("%.0f %.2f %.2f %lu\n", (double)nlat / el, 1000 * p50, 1000 * p99, errors);
    return 0;
}
