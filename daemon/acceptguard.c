/*
 * acceptguard.c - pauses a listener while accept(2) fails for lack of
 * descriptors, logs that at most once a second, holds a spare
 * descriptor for a listener that must stay reachable, and pauses a listener
 * that would leave the rest of eddyd too few descriptors.
 *
 * Why a pause: the listening socket stays readable while connections wait,
 * so retrying at once spins a core and writes a log line per attempt
 * (measured before this: 55-92% CPU and over a million identical lines in
 * 3-5 s with `ulimit -n 64` and 80 connections). Connections wait in the
 * kernel's backlog meanwhile, and are accepted as descriptors free up.
 *
 * Why headroom: the kernel gives out the lowest free descriptor to whichever
 * thread asks first, so a listener retrying accept takes every descriptor
 * that frees up: delivery's sockets to RudderStack, and the one admin's spare
 * was given up for. Measured before: with `ulimit -n 64` and 80 idle ingest
 * connections, delivery could not connect until they closed.
 */
#include "acceptguard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define ACCEPT_PAUSE_MS 100
#define ACCEPT_STR_(x) #x
#define ACCEPT_STR(x) ACCEPT_STR_(x)
#define ACCEPT_GUARDS_MAX 4
#define ACCEPT_HEADROOM_MAX 256

struct accept_guard {
    struct evconnlistener *lev;
    struct event *resume_ev;
    const char *name;
    bool reserve;      /* keep a spare descriptor */
    unsigned headroom; /* descriptors to leave free */
    int spare_fd;      /* -1 while given up */
    bool paused;
    struct log_limit limit;
};

/* evconnlistener passes its error callback the argument of its accept
 * callback, which evhttp owns; so guards are found by listener. */
static pthread_mutex_t guards_lock = PTHREAD_MUTEX_INITIALIZER;
static struct accept_guard *guards[ACCEPT_GUARDS_MAX];

static struct accept_guard *find_guard(const struct evconnlistener *lev)
{
    struct accept_guard *g = NULL;
    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < ACCEPT_GUARDS_MAX && !g; i++)
        if (guards[i] && guards[i]->lev == lev)
            g = guards[i];
    pthread_mutex_unlock(&guards_lock);
    return g;
}

static bool register_guard(struct accept_guard *g, struct accept_guard *old)
{
    bool done = false;
    pthread_mutex_lock(&guards_lock);
    for (size_t i = 0; i < ACCEPT_GUARDS_MAX && !done; i++)
        if (guards[i] == old) {
            guards[i] = g;
            done = true;
        }
    pthread_mutex_unlock(&guards_lock);
    return done;
}

static int open_spare(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void arm(struct accept_guard *g)
{
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    event_add(g->resume_ev, &tv); /* libevent timers run on the monotonic clock */
}

/* Whether at least n descriptors are free: takes n (copies of fd) and
 * gives them back at once (~5 us for 16). While they are held, another
 * thread's open can fail, but only while n or fewer are free: then the
 * listener is paused, and this runs once every ACCEPT_PAUSE_MS. */
static bool fds_free(int fd, unsigned n)
{
    int held[ACCEPT_HEADROOM_MAX];
    unsigned got = 0;
    while (got < n && (held[got] = fcntl(fd, F_DUPFD_CLOEXEC, 0)) >= 0)
        got++;
    for (unsigned i = 0; i < got; i++)
        close(held[i]);
    return got == n;
}

static bool short_of_fds(const struct accept_guard *g)
{
    return g->headroom && !fds_free(evconnlistener_get_fd(g->lev), g->headroom);
}

static void pause_accepting(struct accept_guard *g)
{
    evconnlistener_disable(g->lev);
    g->paused = true;
    arm(g);
}

/* Logs what happened, at most once a second. */
static void log_stop(struct accept_guard *g, const char *what, const char *why, const char *then)
{
    uint64_t skipped;
    if (!log_limit_ok(&g->limit, &skipped))
        return;
    if (skipped)
        log_warn("%s: %s (%s); %s; %llu more since the last line", g->name, what, why, then,
                 (unsigned long long)skipped);
    else
        log_warn("%s: %s (%s); %s", g->name, what, why, then);
}

#define NOT_ACCEPTING "not accepting for " ACCEPT_STR(ACCEPT_PAUSE_MS) " ms"

void accept_guard_admit(struct accept_guard *g)
{
    if (!g || !short_of_fds(g))
        return;
    pause_accepting(g);
    char why[64];
    snprintf(why, sizeof(why), "fewer than %u free, kept for the rest of eddyd", g->headroom);
    log_stop(g, "out of file descriptors", why, NOT_ACCEPTING);
}

void accept_guard_reclaim(struct accept_guard *g)
{
    if (g && g->reserve && g->spare_fd < 0) {
        g->spare_fd = open_spare();
        if (g->spare_fd < 0)
            arm(g); /* still none free: try again later */
    }
}

/* Listener thread: the pause is over; take the spare back when possible. */
static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct accept_guard *g = arg;
    accept_guard_reclaim(g);
    if (g->paused) {
        if (short_of_fds(g)) {
            arm(g);
            return;
        }
        g->paused = false;
        evconnlistener_enable(g->lev);
    }
}

static void on_error(struct evconnlistener *lev, void *arg)
{
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct accept_guard *g = find_guard(lev);
    if (!g)
        return;
    bool no_fds = err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
    const char *what = no_fds ? "out of file descriptors" : "accept failed";
    if (no_fds && g->spare_fd >= 0) {
        /* The waiting connection gets this descriptor at the next try. */
        close(g->spare_fd);
        g->spare_fd = -1;
        arm(g);
        log_stop(g, what, strerror(err), "using the spare descriptor");
    } else {
        pause_accepting(g);
        log_stop(g, what, strerror(err), NOT_ACCEPTING);
    }
}

int accept_guard_start(struct accept_guard **out, const struct accept_guard_options *o, char *err,
                       size_t errlen)
{
    struct accept_guard *g = calloc(1, sizeof(*g));
    if (!g) {
        snprintf(err, errlen, "%s: out of memory", o->name);
        return -1;
    }
    g->lev = o->listener;
    g->name = o->name;
    g->reserve = o->reserve;
    g->headroom = o->headroom;
    g->spare_fd = o->reserve ? open_spare() : -1;
    const char *why = NULL;
    if (o->headroom > ACCEPT_HEADROOM_MAX)
        why = "headroom above " ACCEPT_STR(ACCEPT_HEADROOM_MAX) " descriptors";
    else if (o->reserve && g->spare_fd < 0)
        why = strerror(errno);
    else if (!(g->resume_ev = event_new(o->base, -1, 0, on_resume, g)))
        why = "out of memory";
    else if (!register_guard(g, NULL))
        why = "more than " ACCEPT_STR(ACCEPT_GUARDS_MAX) " listeners";
    if (why) {
        snprintf(err, errlen, "%s: cannot set up the listener: %s", o->name, why);
        g->lev = NULL;
        accept_guard_free(g);
        return -1;
    }
    evconnlistener_set_error_cb(g->lev, on_error);
    *out = g;
    return 0;
}

void accept_guard_free(struct accept_guard *g)
{
    if (!g)
        return;
    if (g->lev) {
        evconnlistener_set_error_cb(g->lev, NULL);
        register_guard(NULL, g);
    }
    if (g->resume_ev)
        event_free(g->resume_ev);
    if (g->spare_fd >= 0)
        close(g->spare_fd);
    free(g);
}
