/*
 * acceptguard.h - what a listener does when accept(2) fails: out of file
 * descriptors (EMFILE/ENFILE) it stops accepting for a short while instead of
 * retrying at once (libevent's default: a busy loop and a log line per
 * attempt), logs at most once a second, and can keep one spare descriptor to
 * give up so that a listener that must keep answering (admin) still can. A
 * listener of many connections (ingest) can also leave descriptors free for
 * the rest of eddyd: it stops accepting while fewer than that are free.
 */
#ifndef EDDY_ACCEPTGUARD_H
#define EDDY_ACCEPTGUARD_H

#include <stdbool.h>

#include <event2/event.h>
#include <event2/listener.h>

struct accept_guard;

struct accept_guard_options {
    struct event_base *base;
    struct evconnlistener *listener; /* runs on base */
    const char *name;                /* starts the log lines; kept, not copied */
    /* Hold a descriptor open and release it at the first EMFILE or
     * ENFILE, so the connection waiting is accepted; it is taken back once
     * descriptors are free again. */
    bool reserve;
    /* Stop accepting while fewer than this many descriptors are free (see
     * accept_guard_admit); 0: only when accept(2) fails. */
    unsigned headroom;
};

/* Watches o->listener. Returns 0 or -1 with the reason in err. */
int accept_guard_start(struct accept_guard **g, const struct accept_guard_options *o, char *err,
                       size_t errlen);

/* Listener thread, for each connection it accepted: pauses the listener
 * while fewer than the headroom descriptors are free. */
void accept_guard_admit(struct accept_guard *g);

/* Takes the spare descriptor back now if it was given up (call after a
 * connection of this listener closed, so that no other listener gets its
 * descriptor first); otherwise it is retried every 100 ms. */
void accept_guard_reclaim(struct accept_guard *g);

/* Detaches from the listener (call before the listener is freed). */
void accept_guard_free(struct accept_guard *g);

#endif
