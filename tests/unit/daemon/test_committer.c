/*
 * test_committer.c - daemon/committer.c against a real store in a temp dir:
 * every submitted request is handed back exactly once with its own new
 * sequence, groups respect the byte cap, committer_stop drains what is
 * queued, and the high-water flag follows queue_stats.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../daemon/committer.h"

#define BODY "{\"events\":[{\"id\":\"a\",\"event_type\":\"t\"}]}"
#define NREQ 200

struct tally {
    pthread_mutex_t lock;
    size_t done, groups, max_group_bytes, multi_groups;
    uint64_t seqs[NREQ + 1];
    int results[NREQ + 1];
    size_t cap;
    bool cap_violated;
};

static void on_done(void *arg, struct committer_req *group)
{
    struct tally *t = arg;
    size_t bytes = 0, n = 0;
    pthread_mutex_lock(&t->lock);
    for (struct committer_req *r = group; r; r = r->next, n++) {
        bytes += r->batch.body_len;
        t->seqs[t->done] = r->batch.seq;
        t->results[t->done] = r->result;
        t->done++;
    }
    t->groups++;
    if (n > 1)
        t->multi_groups++;
    if (n > 1 && bytes > t->cap)
        t->cap_violated = true;
    pthread_mutex_unlock(&t->lock);
}

static char dir[128];

static queue_t *open_store(uint64_t map_size)
{
    snprintf(dir, sizeof(dir), "/tmp/eddy-test-committer-%d", (int)getpid());
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    struct queue_options o = {.dir = dir, .map_size = map_size, .sync_full = true, .create = true};
    queue_t *q;
    char err[256];
    assert_int_equal(queue_open(&q, &o, err, sizeof(err)), QUEUE_OK);
    return q;
}

static void close_store(queue_t *q)
{
    queue_close(q);
    char cmd[200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

struct submitter {
    struct committer *c;
    struct committer_req *reqs;
    size_t n;
};

static void *submit_all(void *arg)
{
    struct submitter *s = arg;
    for (size_t i = 0; i < s->n; i++)
        committer_submit(s->c, &s->reqs[i]);
    return NULL;
}

static void test_every_request_once_with_its_own_seq(void **state)
{
    (void)state;
    queue_t *q = open_store(64 << 20);
    static struct tally t;
    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.lock, NULL);
    t.cap = 10 * sizeof(BODY); /* groups of at most 10 bodies */
    static struct metrics m;
    memset(&m, 0, sizeof(m));
    metrics_init(&m);
    struct committer_options o = {.queue = q,
                                  .metrics = &m,
                                  .group_max_bytes = t.cap,
                                  .high_water = 0.95,
                                  .done = on_done,
                                  .arg = &t};
    struct committer *c;
    char err[256];
    assert_int_equal(committer_start(&c, &o, err, sizeof(err)), 0);
    static struct committer_req reqs[NREQ];
    memset(reqs, 0, sizeof(reqs));
    for (size_t i = 0; i < NREQ; i++) {
        reqs[i].batch.body = (const unsigned char *)BODY;
        reqs[i].batch.body_len = sizeof(BODY) - 1;
        reqs[i].batch.types = "t";
        reqs[i].batch.types_len = 1;
        reqs[i].batch.event_count = 1;
        reqs[i].batch.received_ms = 1;
    }
    pthread_t th[4];
    struct submitter s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct submitter){c, reqs + i * (NREQ / 4), NREQ / 4};
        pthread_create(&th[i], NULL, submit_all, &s[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    committer_stop(c); /* drains: every request is handed back before it returns */

    assert_int_equal(t.done, NREQ);
    assert_false(t.cap_violated);
    bool seen[NREQ + 1] = {false};
    for (size_t i = 0; i < NREQ; i++) {
        assert_int_equal(t.results[i], QUEUE_OK);
        assert_true(t.seqs[i] >= 1 && t.seqs[i] <= NREQ);
        assert_false(seen[t.seqs[i]]);
        seen[t.seqs[i]] = true;
    }
    assert_int_equal(atomic_load(&m.commit_batches.count), t.groups);
    assert_int_equal(atomic_load(&m.commit_batches.sum_micro), (uint64_t)NREQ * 1000000);
    assert_int_equal(atomic_load(&m.ingest_events), NREQ);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, NREQ);
    pthread_mutex_destroy(&t.lock);
    close_store(q);
}

static void test_high_water_and_full(void **state)
{
    (void)state;
    queue_t *q = open_store(1 << 20);
    static struct tally t;
    memset(&t, 0, sizeof(t));
    pthread_mutex_init(&t.lock, NULL);
    t.cap = 1 << 20;
    struct committer_options o = {
        .queue = q, .group_max_bytes = t.cap, .high_water = 0.5, .done = on_done, .arg = &t};
    struct committer *c;
    char err[256];
    assert_int_equal(committer_start(&c, &o, err, sizeof(err)), 0);
    assert_false(committer_above_high_water(c));
    size_t len = 100000;
    unsigned char *body = malloc(len);
    memset(body, ' ', len);
    memcpy(body, "{\"events\":[1]}", 14);
    static struct committer_req reqs[NREQ];
    memset(reqs, 0, sizeof(reqs));
    /* One at a time until the map is full: QUEUE_FULL, nothing corrupted. */
    size_t i;
    for (i = 0; i < 30; i++) {
        reqs[i].batch.body = body;
        reqs[i].batch.body_len = len;
        reqs[i].batch.event_count = 1;
        size_t before = t.done;
        committer_submit(c, &reqs[i]);
        for (;;) { /* the lock orders the committer's writes before our reads */
            pthread_mutex_lock(&t.lock);
            size_t now = t.done;
            pthread_mutex_unlock(&t.lock);
            if (now != before)
                break;
            usleep(1000);
        }
        if (reqs[i].result != QUEUE_OK)
            break;
    }
    assert_true(i > 2 && i < 30);
    assert_int_equal(reqs[i].result, QUEUE_FULL);
    assert_true(committer_above_high_water(c));
    assert_false(committer_failed(c));
    committer_stop(c);
    struct queue_stats st;
    assert_int_equal(queue_stats(q, &st), QUEUE_OK);
    assert_int_equal(st.pending_batches, i);
    /* Refused before the store passed high water: headroom stays free. */
    assert_true(st.used_bytes <= st.max_bytes / 2);
    free(body);
    pthread_mutex_destroy(&t.lock);
    close_store(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_request_once_with_its_own_seq),
        cmocka_unit_test(test_high_water_and_full),
    };
    return cmocka_run_group_tests_name("committer", tests, NULL, NULL);
}
