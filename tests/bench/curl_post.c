/*
 * curl_post.c - benchmark helper: the bare libcurl ceiling for the drain
 * benchmark. POSTs body files round robin to URL, N requests over C reused
 * connections with the curl multi interface, as eddyd's delivery worker does
 * but with no store behind it. Prints "requests seconds". Body files named
 * *.gz are gzip members, sent with Content-Encoding: gzip as eddyd forwards
 * stored gzip records.
 *
 *   curl_post URL N C BODY_FILE...
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct body {
    char *data;
    long len;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static int load(const char *path, struct body *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    b->len = ftell(f);
    fseek(f, 0, SEEK_SET);
    b->data = malloc(b->len > 0 ? (size_t)b->len : 1);
    size_t got = b->data ? fread(b->data, 1, (size_t)b->len, f) : 0;
    fclose(f);
    return got == (size_t)b->len ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: curl_post URL N CONNECTIONS BODY_FILE...\n");
        return 2;
    }
    long total = atol(argv[2]), conc = atol(argv[3]), started = 0, done = 0, failed = 0;
    int nbodies = argc - 4;
    struct body *bodies = calloc((size_t)nbodies, sizeof(*bodies));
    for (int i = 0; i < nbodies; i++)
        if (!bodies || load(argv[4 + i], &bodies[i]) != 0) {
            fprintf(stderr, "curl_post: cannot read %s\n", argv[4 + i]);
            return 1;
        }
    if (conc < 1 || conc > 256 || total < 1)
        return 2;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *multi = curl_multi_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    size_t n0 = strlen(argv[4]);
    if (n0 > 3 && strcmp(argv[4] + n0 - 3, ".gz") == 0)
        hdr = curl_slist_append(hdr, "Content-Encoding: gzip");
    CURL **easy = calloc((size_t)conc, sizeof(*easy));
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < conc && started < total; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, argv[1]);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
        const struct body *b = &bodies[started % nbodies];
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, b->data);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDSIZE, b->len);
        curl_multi_add_handle(multi, easy[i]);
        started++;
    }
    while (done < total) {
        int running, left;
        curl_multi_perform(multi, &running);
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(multi, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            failed += msg->data.result != CURLE_OK || code != 200;
            done++;
            curl_multi_remove_handle(multi, e);
            if (started < total) {
                const struct body *b = &bodies[started % nbodies];
                curl_easy_setopt(e, CURLOPT_POSTFIELDS, b->data);
                curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, b->len);
                curl_multi_add_handle(multi, e);
                started++;
            }
        }
        if (done < total)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%ld %.6f\n", done, (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    for (long i = 0; i < conc; i++)
        if (easy[i])
            curl_easy_cleanup(easy[i]);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
    curl_global_cleanup();
    for (int i = 0; i < nbodies; i++)
        free(bodies[i].data);
    free(bodies);
    free(easy);
    return failed ? 1 : 0;
}
