/*
 * test_workq.c - daemon/workq.c: every submitted item runs exactly once, on
 * the pool's threads, several at a time, at a lower priority than the
 * caller, and workq_stop runs what is still queued before it returns;
 * workq_unfinished counts what waits for a thread or runs on one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../../daemon/workq.h"

#define NITEMS 5000

struct item {
    struct workq_item w;
    atomic_int runs;
};

struct ctx {
    atomic_int done, running, max_running;
    pthread_t main_thread;
    atomic_bool ran_on_main;
};

static void work(void *arg, struct workq_item *wi)
{
    struct ctx *c = arg;
    struct item *it = (struct item *)wi;
    int now = atomic_fetch_add(&c->running, 1) + 1;
    int max = atomic_load(&c->max_running);
    while (now > max && !atomic_compare_exchange_weak(&c->max_running, &max, now))
        ;
    if (pthread_equal(pthread_self(), c->main_thread))
        atomic_store(&c->ran_on_main, true);
    if (atomic_load(&c->done) < 8)
        usleep(20000); /* the first items overlap, so several threads must run */
    atomic_fetch_add(&it->runs, 1);
    atomic_fetch_sub(&c->running, 1);
    atomic_fetch_add(&c->done, 1);
}

static void test_each_item_once_and_drained_on_stop(void **state)
{
    (void)state;
    static struct ctx c;
    memset(&c, 0, sizeof(c));
    c.main_thread = pthread_self();
    static struct item items[NITEMS];
    memset(items, 0, sizeof(items));
    struct workq *w;
    char err[128];
    struct workq_options o = {.name = "test-workq", .nthreads = 4, .fn = work, .arg = &c};
    assert_int_equal(workq_start(&w, &o, err, sizeof(err)), 0);
    for (int i = 0; i < NITEMS; i++)
        workq_submit(w, &items[i].w);
    workq_stop(w); /* must run everything queued */
    assert_int_equal(atomic_load(&c.done), NITEMS);
    for (int i = 0; i < NITEMS; i++)
        assert_int_equal(atomic_load(&items[i].runs), 1);
    assert_true(atomic_load(&c.max_running) > 1);
    assert_false(atomic_load(&c.ran_on_main));
}

static atomic_int job_nice = -100;

static void record_nice(void *arg, struct workq_item *wi)
{
    (void)arg, (void)wi;
    atomic_store(&job_nice, getpriority(PRIO_PROCESS, (id_t)gettid()));
}

/* Validation yields to the committer and the event loop on a busy machine:
 * the pool's threads run 5 nice levels below the thread that started it. */
static void test_threads_run_nicer(void **state)
{
    (void)state;
    int mine = getpriority(PRIO_PROCESS, (id_t)gettid());
    struct workq *w;
    struct workq_item it = {0};
    char err[128];
    struct workq_options o = {.name = "nicer", .nthreads = 1, .fn = record_nice};
    assert_int_equal(workq_start(&w, &o, err, sizeof(err)), 0);
    workq_submit(w, &it);
    workq_stop(w);
    int want = mine + 5 > 19 ? 19 : mine + 5;
    assert_int_equal(atomic_load(&job_nice), want);
    /* the caller's own priority is untouched */
    assert_int_equal(getpriority(PRIO_PROCESS, (id_t)gettid()), mine);
}

static void test_stop_idle_pool(void **state)
{
    (void)state;
    static struct ctx c;
    memset(&c, 0, sizeof(c));
    struct workq *w;
    char err[128];
    struct workq_options o = {.name = "idle", .nthreads = 0, .fn = work, .arg = &c}; /* 0 -> 1 */
    assert_int_equal(workq_start(&w, &o, err, sizeof(err)), 0);
    workq_stop(w);
    workq_stop(NULL);
    assert_int_equal(atomic_load(&c.done), 0);
}

static atomic_bool release;

static void hold(void *arg, struct workq_item *wi)
{
    struct ctx *c = arg;
    (void)wi;
    atomic_fetch_add(&c->running, 1);
    while (!atomic_load(&release))
        usleep(1000);
    atomic_fetch_add(&c->done, 1);
}

/* compress_level = auto reads this: an item counts from its submission
 * until its function has returned, whether it waits or runs. */
static void test_unfinished_counts_waiting_and_running_items(void **state)
{
    (void)state;
    static struct ctx c;
    memset(&c, 0, sizeof(c));
    atomic_store(&release, false);
    static struct item items[4];
    struct workq *w;
    char err[128];
    struct workq_options o = {.name = "unfinished", .nthreads = 1, .fn = hold, .arg = &c};
    assert_int_equal(workq_start(&w, &o, err, sizeof(err)), 0);
    assert_int_equal(workq_unfinished(w), 0);
    workq_submit(w, &items[0].w);
    while (atomic_load(&c.running) == 0) /* the one thread took it */
        usleep(1000);
    assert_int_equal(workq_unfinished(w), 1);
    for (int i = 1; i < 4; i++)
        workq_submit(w, &items[i].w);
    assert_int_equal(workq_unfinished(w), 4);
    atomic_store(&release, true);
    for (int i = 0; i < 1000 && workq_unfinished(w) > 0; i++) /* counted after fn returns */
        usleep(1000);
    assert_int_equal(workq_unfinished(w), 0);
    workq_stop(w);
    assert_int_equal(atomic_load(&c.done), 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_each_item_once_and_drained_on_stop),
        cmocka_unit_test(test_threads_run_nicer),
        cmocka_unit_test(test_stop_idle_pool),
        cmocka_unit_test(test_unfinished_counts_waiting_and_running_items),
    };
    return cmocka_run_group_tests_name("workq", tests, NULL, NULL);
}
