/*
 * dlq_fill.c - fills a store with dead letters (and optionally pending
 * batches) through the storage API, for the CLI's large tests and the
 * replay benchmark: producing 50,000+ dead letters through HTTP and real
 * 400 answers would take minutes. Each dead letter is a one-event Currents
 * batch whose event id is "fill-N" (N from 1), type one of three, with one
 * recorded 400 attempt before it is buried, as eddyd's delivery does.
 *
 *   dlq_fill DATA_DIR DEAD [PENDING]
 *
 * Creates the store when missing (map 4 GiB, sync off: a test fixture, not
 * data anyone needs after a crash). Prints "dead D pending P".
 *
 *   dlq_fill --ids DATA_DIR
 *
 * Prints "pending ID" or "dead ID" for every event of every record, so a
 * test can prove each event is in exactly one place (after an interrupted
 * replay, say); a damaged record prints "corrupt SEQ".
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../storage/batch.h"
#include "../../storage/queue.h"

#define GROUP 1000

static const char *const types[] = {"users.messages.email.Send", "users.behaviors.CustomEvent",
                                    "users.messages.pushnotification.Open"};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends n one-event batches numbered from *next; their sequences go to seqs. */
static int append(queue_t *q, uint64_t *next, size_t n, uint64_t *seqs)
{
    struct queue_batch b[GROUP];
    char *bodies[GROUP];
    for (size_t i = 0; i < n; i++) {
        uint64_t k = (*next)++;
        const char *type = types[k % 3];
        if (asprintf(&bodies[i],
                     "{\"events\":[{\"id\":\"fill-%" PRIu64 "\",\"event_type\":\"%s\","
                     "\"time\":%" PRId64 ",\"user\":{\"external_user_id\":\"user-%" PRIu64 "\"},"
                     "\"properties\":{\"campaign\":\"fill\",\"price\":19.99}}]}",
                     k, type, now_ms() / 1000, k % 977) < 0)
            return -1;
        b[i] = (struct queue_batch){.body = (const unsigned char *)bodies[i],
                                    .body_len = strlen(bodies[i]),
                                    .write_key = "test-key",
                                    .write_key_len = 8,
                                    .types = type,
                                    .types_len = strlen(type),
                                    .event_count = 1,
                                    .received_ms = now_ms()};
    }
    int rc = queue_append_group(q, b, n);
    for (size_t i = 0; i < n; i++) {
        seqs[i] = b[i].seq;
        free(bodies[i]);
    }
    return rc;
}

static int print_ids(void *ctx, const struct queue_entry *e)
{
    const char *where = ctx;
    struct batch_event *ev = NULL;
    size_t n = 0;
    if (e->status != RECORD_OK || batch_scan(e->rec.body, e->rec.body_len, &ev, &n) != BATCH_OK) {
        printf("corrupt %" PRIu64 "\n", e->id);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        printf("%s %.*s\n", where, (int)ev[i].id_len, (const char *)e->rec.body + ev[i].id_off);
    free(ev);
    return 0;
}

static int dump_ids(const char *dir)
{
    struct queue_options o = {.dir = dir, .map_size = 0, .sync_full = true, .create = false};
    queue_t *q;
    char err[512];
    if (queue_open(&q, &o, err, sizeof err) != QUEUE_OK) {
        fprintf(stderr, "dlq_fill: %s\n", err);
        return 1;
    }
    int rc = queue_scan(q, QUEUE_PENDING, NULL, 0, 0, print_ids, "pending") < 0 ||
             queue_scan(q, QUEUE_DEAD, NULL, 0, 0, print_ids, "dead") < 0;
    if (rc)
        fprintf(stderr, "dlq_fill: %s\n", queue_last_error());
    queue_close(q);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--ids") == 0)
        return dump_ids(argv[2]);
    if (argc < 3) {
        fprintf(stderr, "usage: dlq_fill DATA_DIR DEAD [PENDING]\n");
        return 2;
    }
    uint64_t dead = strtoull(argv[2], NULL, 10);
    uint64_t pending = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    struct queue_options o = {
        .dir = argv[1], .map_size = 4ULL << 30, .sync_full = false, .create = true};
    queue_t *q;
    char err[512];
    if (queue_open(&q, &o, err, sizeof err) != QUEUE_OK) {
        fprintf(stderr, "dlq_fill: %s\n", err);
        return 1;
    }
    uint64_t next = 1, seqs[GROUP];
    struct queue_attempt a = {.status = 400, .answer_len = 27};
    memcpy(a.answer, "{\"error\":\"invalid payload\"}", 27);
    for (uint64_t done = 0; done < dead;) {
        size_t n = dead - done < GROUP ? (size_t)(dead - done) : GROUP;
        if (append(q, &next, n, seqs) != QUEUE_OK)
            goto fail;
        for (size_t i = 0; i < n; i++) {
            a.at_ms = now_ms();
            if (queue_fail(q, seqs[i], &a, 0) != QUEUE_OK ||
                queue_bury(q, seqs[i], "rejected by RudderStack: HTTP 400", NULL) != QUEUE_OK)
                goto fail;
        }
        done += n;
    }
    for (uint64_t done = 0; done < pending;) {
        size_t n = pending - done < GROUP ? (size_t)(pending - done) : GROUP;
        if (append(q, &next, n, seqs) != QUEUE_OK)
            goto fail;
        done += n;
    }
    queue_close(q);
    printf("dead %" PRIu64 " pending %" PRIu64 "\n", dead, pending);
    return 0;
fail:
    fprintf(stderr, "dlq_fill: %s\n", queue_last_error());
    queue_close(q);
    return 1;
}
