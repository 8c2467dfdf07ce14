/*
 * workq.c - a fixed pool of threads taking jobs from one mutex-protected
 * FIFO. Deliberately minimal: no priorities, no resizing; eddyd's jobs are
 * short (inflate + validate one body) and the FIFO keeps answers fair.
 * The threads run WORKQ_NICE nice levels below eddyd: validation is the work
 * that spreads over every core, while the committer (one thread, the
 * bottleneck under load) and the event loop do not, so on a saturated
 * machine they go first.
 * Measured on the ingest bench: +4% req/s, commits of 7 instead of 10.
 */
#include "workq.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

#define WORKQ_MAX_THREADS 64
#define WORKQ_NICE 5

struct workq {
    workq_fn fn;
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct workq_item *head, *tail;
    _Atomic size_t unfinished; /* items submitted whose fn has not returned */
    bool stopping;
    unsigned nthreads;
    pthread_t threads[WORKQ_MAX_THREADS];
};

/* Raising one's own nice value needs no privilege, but a system call filter
 * may refuse setpriority (systemd's ~@resources does, with EPERM when
 * SystemCallErrorNumber= is set). Then the thread keeps eddyd's priority,
 * which costs a few percent under load and nothing else: said once, not
 * once per thread. (getpriority can return -1 as a value; then the result
 * is merely 1 level off.) */
static void lower_priority(void)
{
    static atomic_bool said;
    id_t tid = (id_t)gettid();
    if (setpriority(PRIO_PROCESS, tid, getpriority(PRIO_PROCESS, tid) + WORKQ_NICE) == 0)
        return;
    int e = errno;
    if (!atomic_exchange(&said, true))
        log_warn("cannot lower the priority of the validation threads (setpriority: %s); they "
                 "run at eddyd's own priority",
                 strerror(e));
}

static void *run(void *p)
{
    struct workq *w = p;
    lower_priority();
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->head && !w->stopping)
            pthread_cond_wait(&w->wake, &w->lock);
        struct workq_item *it = w->head;
        if (!it)
            break; /* stopping and drained */
        w->head = it->next;
        if (!w->head)
            w->tail = NULL;
        pthread_mutex_unlock(&w->lock);
        it->next = NULL;
        w->fn(w->arg, it);
        atomic_fetch_sub_explicit(&w->unfinished, 1, memory_order_relaxed);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int workq_start(struct workq **out, const struct workq_options *o, char *err, size_t errlen)
{
    unsigned nthreads = o->nthreads;
    if (nthreads < 1)
        nthreads = 1;
    if (nthreads > WORKQ_MAX_THREADS)
        nthreads = WORKQ_MAX_THREADS;
    struct workq *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "worker pool: out of memory");
        return -1;
    }
    w->fn = o->fn;
    w->arg = o->arg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    for (unsigned i = 0; i < nthreads; i++) {
        int rc = pthread_create(&w->threads[i], NULL, run, w);
        if (rc != 0) {
            snprintf(err, errlen, "worker pool: cannot start thread: %s", strerror(rc));
            w->nthreads = i;
            workq_stop(w);
            return -1;
        }
        pthread_setname_np(w->threads[i], o->name);
    }
    w->nthreads = nthreads;
    *out = w;
    return 0;
}

void workq_submit(struct workq *w, struct workq_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->tail)
        w->tail->next = item;
    else
        w->head = item;
    w->tail = item;
    atomic_fetch_add_explicit(&w->unfinished, 1, memory_order_relaxed);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

size_t workq_unfinished(struct workq *w)
{
    return atomic_load_explicit(&w->unfinished, memory_order_relaxed);
}

void workq_stop(struct workq *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
}
